"""How a run ends when something fails or a stop comes early: at once, with one error line, leaving no process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from train_helpers import REPO, SUBPROCESS_ENV, cli_args, free_port

from seqtrack_accel.run_folder import list_checkpoints

# train.py with a fault injected into the first training step (what a bug, a CUDA error or running out of memory
# look like to the trainer), or with a slow start-up (the datasets take a while to read).
FAULTY_TRAIN = """
import sys, time
from seqtrack_accel.training import trainer

if sys.argv[1] == "fault":
    def train_step(self, batch):
        raise RuntimeError("injected fault in the training step")
    trainer.Trainer.train_step = train_step
else:
    read = trainer.build_train_dataset
    def slow_read(cfg):
        print("reading the datasets", flush=True)
        time.sleep(8)
        return read(cfg)
    trainer.build_train_dataset = slow_read
from seqtrack_accel.cli.train import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture
def faulty_train(tmp_path) -> Path:
    script = tmp_path / "faulty_train.py"
    script.write_text(FAULTY_TRAIN)
    return script


def _group_alive(pgid: int) -> bool:
    """Whether any process of the process group is alive (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _run_in_own_group(cmd: list[str], env: dict, timeout: float = 240) -> tuple[int, str, str, float, int]:
    """Run ``cmd`` in a new process group; its status, stdout, stderr, seconds, and the group id."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            start_new_session=True, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out, err, time.monotonic() - started, proc.pid


@pytest.fixture(scope="module")
def crashed_run(synthetic_lasot, tmp_path_factory):
    """One process with two DataLoader workers whose first step raises."""
    run_dir = tmp_path_factory.mktemp("crashed")
    script = run_dir / "faulty_train.py"
    script.write_text(FAULTY_TRAIN)
    cmd = [sys.executable, str(script), "fault", "--output_dir", str(run_dir / "run"),
           *cli_args(synthetic_lasot, "data.num_workers=2")]
    status, out, err, seconds, pgid = _run_in_own_group(cmd, {**os.environ, **SUBPROCESS_ENV})
    time.sleep(1)  # a worker that outlived the run would still be there
    return status, err, seconds, _group_alive(pgid), run_dir / "run"


def test_a_fault_in_the_training_step_ends_the_run_with_status_1(crashed_run):
    status, err, *_ = crashed_run
    assert status == 1, err[-3000:]


def test_a_crashed_run_ends_within_seconds(crashed_run):
    _, err, seconds, *_ = crashed_run
    assert seconds < 90, f"took {seconds:.0f} s: {err[-2000:]}"  # start-up included; a hang would never end


def test_a_crashed_run_leaves_no_data_worker_behind(crashed_run):
    *_, alive, _ = crashed_run
    assert not alive


def test_a_crash_is_one_error_line_with_the_traceback_in_the_log_file(crashed_run):
    _, err, _, _, run_dir = crashed_run
    log = run_dir / "logs" / "seqtrack-demo.log"
    errors = [line for line in err.splitlines() if "error:" in line]
    assert errors == [f"error: RuntimeError: injected fault in the training step (traceback in {log})"], err[-3000:]
    assert "Traceback" not in err
    assert "Traceback (most recent call last)" in log.read_text()


def test_a_crash_of_two_launched_processes_prints_one_error_line_and_leaves_no_process(synthetic_lasot,
                                                                                      faulty_train, tmp_path):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "accelerate_configs" / "cpu_two_process.yaml"), "--main_process_port", str(free_port()),
           str(faulty_train), "fault", "--output_dir", str(tmp_path / "run"),
           *cli_args(synthetic_lasot, "data.num_workers=1", "train.batch_size=2")]
    status, _, err, seconds, pgid = _run_in_own_group(cmd, {**os.environ, **SUBPROCESS_ENV, "ACCELERATE_USE_CPU": "1"})
    time.sleep(1)
    assert status == 1 and seconds < 120, err[-3000:]  # the launcher's status for any failed process
    assert [line for line in err.splitlines() if line.strip().startswith("error:")] == [
        f"error: RuntimeError: injected fault in the training step (traceback in {tmp_path / 'run' / 'logs'}"
        "/seqtrack-demo.log)"]
    assert not _group_alive(pgid)
    log = (tmp_path / "run" / "logs" / "seqtrack-demo.log").read_text()
    assert "process 0 of 2: the run failed" in log and "process 1 of 2: the run failed" in log


def test_bad_input_under_two_launched_processes_is_one_error_line(synthetic_lasot, tmp_path):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "accelerate_configs" / "cpu_two_process.yaml"), "--main_process_port", str(free_port()),
           str(REPO / "train.py"), "--output_dir", str(tmp_path / "run"),
           *cli_args(synthetic_lasot, "train.batch_size=2", "data.datasets[0].classes=[cup]")]
    status, _, err, _, _ = _run_in_own_group(cmd, {**os.environ, **SUBPROCESS_ENV, "ACCELERATE_USE_CPU": "1"})
    assert status == 1, err[-3000:]
    assert [line for line in err.splitlines() if line.strip().startswith("error:")] == [
        f"error: class(es) cup not found under {synthetic_lasot}; classes found: book, coin"]


def test_a_stop_while_the_datasets_are_read_exits_0_before_the_first_step(synthetic_lasot, faulty_train, tmp_path):
    cmd = [sys.executable, str(faulty_train), "slow", "--output_dir", str(tmp_path / "run"), *cli_args(synthetic_lasot)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, **SUBPROCESS_ENV})
    try:
        assert proc.stdout.readline().strip() == "reading the datasets"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "stopped on request: phase 1, before the first step" in out
    assert list_checkpoints(tmp_path / "run", 1) == []
    assert "stopped on request while the data was read" in (tmp_path / "run" / "logs" / "seqtrack-demo.log").read_text()
