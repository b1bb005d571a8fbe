"""The trainer as users launch it, in separate processes: kills, signals, two gloo processes."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from train_helpers import REPO, SUBPROCESS_ENV, TINY, cli_args, free_port, run_cli, sha

from seqtrack_accel.run_folder import latest_checkpoint, list_checkpoints

EPOCHS = 3


@pytest.fixture(scope="module")
def reference(synthetic_lasot, tmp_path_factory):
    """A straight CLI run of EPOCHS epochs with a checkpoint every step (so a kill often lands inside a write)."""
    run_dir = tmp_path_factory.mktemp("reference")
    out = run_cli(["--output_dir", str(run_dir), "--epochs", str(EPOCHS),
                   *cli_args(synthetic_lasot, "train.checkpoint_every_steps=1", "train.keep_last=2")])
    assert out.returncode == 0, out.stderr[-3000:]
    return run_dir / "phase_1" / "checkpoints" / f"checkpoint_{EPOCHS}"


def test_sigkill_at_a_random_moment_then_resume_gives_the_same_weights(synthetic_lasot, reference, tmp_path):
    args = ["--output_dir", str(tmp_path), "--epochs", str(EPOCHS),
            *cli_args(synthetic_lasot, "train.checkpoint_every_steps=1", "train.keep_last=2")]
    rng = random.Random(os.environ.get("SEQTRACK_KILL_SEED", 0))
    for attempt in range(3):  # kill at up to three random moments, resuming each time
        proc = subprocess.Popen([sys.executable, str(REPO / "train.py"), *args,
                                 *(["--resume_from_checkpoint"] if latest_checkpoint(tmp_path, 1) else [])],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                                env={**os.environ, **SUBPROCESS_ENV})
        # wait until training has started writing checkpoints, then kill somewhere in the next few steps
        deadline = time.time() + 120
        while latest_checkpoint(tmp_path, 1) is None and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    out = run_cli([*args, "--resume_from_checkpoint"]) if latest_checkpoint(tmp_path, 1).name != f"checkpoint_{EPOCHS}" else None
    assert out is None or out.returncode == 0, out.stderr[-3000:]
    final = tmp_path / "phase_1" / "checkpoints" / f"checkpoint_{EPOCHS}"
    assert sha(final / "model.safetensors") == sha(reference / "model.safetensors")


def test_sigterm_stops_at_a_step_boundary_writes_a_checkpoint_and_exits_0(synthetic_lasot, reference, tmp_path):
    args = ["--output_dir", str(tmp_path), "--epochs", str(EPOCHS), *cli_args(synthetic_lasot)]
    proc = subprocess.Popen([sys.executable, str(REPO / "train.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=REPO, env={**os.environ, **SUBPROCESS_ENV})
    log = tmp_path / "logs" / "seqtrack-demo.log"
    deadline = time.time() + 120
    while not (log.is_file() and "[train: 1, 2 / 4]" in log.read_text()) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output[-3000:]
    assert "stopped on request" in output
    assert list_checkpoints(tmp_path, 1), "no checkpoint was written on SIGTERM"
    out = run_cli([*args, "--resume_from_checkpoint", "latest"])
    assert out.returncode == 0, out.stderr[-3000:]
    final = tmp_path / "phase_1" / "checkpoints" / f"checkpoint_{EPOCHS}"
    assert sha(final / "model.safetensors") == sha(reference / "model.safetensors")


def _launch_two(script, run_dir, epochs, resume, root):
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "accelerate_configs" / "cpu_two_process.yaml"), "--main_process_port", str(free_port()),
           str(script), str(run_dir), str(epochs), resume or "-", str(REPO / "configs" / "demo.yaml"),
           f"data.datasets[0].root={root}", *TINY, "train.batch_size=2"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=REPO)


RANK_SCRIPT = """
import hashlib, sys
from pathlib import Path
from accelerate import PartialState
from seqtrack_accel.config import load_config
from seqtrack_accel.training import Trainer

run_dir, epochs, resume = Path(sys.argv[1]), int(sys.argv[2]), (None if sys.argv[3] == "-" else sys.argv[3])
cfg = load_config(sys.argv[4], sys.argv[5:])
trainer = Trainer(cfg, run_dir=run_dir, epochs=epochs, resume_from=resume)
trainer.fit()
digest = hashlib.sha256()
for name, tensor in sorted(trainer.model.state_dict().items()):
    digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
(run_dir / f"weights_rank{PartialState().process_index}.sha256").write_text(digest.hexdigest())
"""


@pytest.fixture(scope="module")
def two_process_run(synthetic_lasot, tmp_path_factory):
    base = tmp_path_factory.mktemp("two")
    script = base / "rank_script.py"
    script.write_text(RANK_SCRIPT)
    run_dir = base / "straight"
    out = _launch_two(script, run_dir, 2, None, synthetic_lasot)
    assert out.returncode == 0, out.stderr[-4000:]
    return script, run_dir, base


def test_two_gloo_processes_hold_identical_weights(two_process_run):
    _, run_dir, _ = two_process_run
    assert (run_dir / "weights_rank0.sha256").read_text() == (run_dir / "weights_rank1.sha256").read_text()


def test_two_processes_write_one_weight_file_and_one_rng_file_per_rank(two_process_run):
    _, run_dir, _ = two_process_run
    folder = run_dir / "phase_1" / "checkpoints" / "checkpoint_2"
    assert sorted(p.name for p in folder.glob("*.safetensors")) == ["model.safetensors"]
    assert sorted(p.name for p in folder.glob("random_states_*.pkl")) == ["random_states_0.pkl", "random_states_1.pkl"]


def test_two_process_run_resumes_exactly(two_process_run, synthetic_lasot):
    script, run_dir, base = two_process_run
    resumed = base / "resumed"
    resumed.mkdir()
    shutil.copytree(run_dir / "phase_1" / "checkpoints" / "checkpoint_1", resumed / "from")
    out = _launch_two(script, resumed, 2, str(resumed / "from"), synthetic_lasot)
    assert out.returncode == 0, out.stderr[-4000:]
    a = run_dir / "phase_1" / "checkpoints" / "checkpoint_2" / "model.safetensors"
    b = resumed / "phase_1" / "checkpoints" / "checkpoint_2" / "model.safetensors"
    assert sha(a) == sha(b)


def test_two_process_free_running_iou_is_that_of_the_saved_weights_on_one_process(two_process_run, one_thread):
    import json

    from seqtrack_accel.data import build_train_dataset
    from seqtrack_accel.tracking import load_tracker_model
    from seqtrack_accel.training.validation import FreeRunValidation

    _, run_dir, _ = two_process_run
    folder = run_dir / "phase_1" / "checkpoints" / "checkpoint_2"
    logged = json.loads((folder / "training_state.json").read_text())["history"]["free_iou"]["2"]
    model, cfg = load_tracker_model(str(folder))
    assert FreeRunValidation.build(cfg, build_train_dataset(cfg)).run(model, "cpu").iou == logged


def test_a_killed_run_leaves_its_folder_free(tmp_path):
    from seqtrack_accel.run_folder import RunLock

    code = ("import sys, time; from seqtrack_accel.run_folder import RunLock; "
            f"lock = RunLock({str(tmp_path)!r}); lock.acquire(); print('held', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(Exception, match=f"PID {proc.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    lock = RunLock(tmp_path)
    lock.acquire()  # the kernel dropped the dead holder's lock
    lock.release()


def _wait_for(predicate, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, "timed out waiting for training to start"
        time.sleep(0.05)


def _log_says(run_dir, text: str) -> bool:
    log = run_dir / "logs" / "seqtrack-demo.log"
    return log.is_file() and text in log.read_text()


def _sigterm_to_the_group_once_training(cmd: list[str], run_dir, env: dict) -> tuple[int, str]:
    """Start ``cmd`` in a process group of its own, send SIGTERM to the whole group once training has begun (as
    timeout, SLURM's scancel and preemption do: the DataLoader workers get it too); its exit status and output."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            start_new_session=True, env=env)
    try:
        _wait_for(lambda: _log_says(run_dir, "[train: 1, 2 / 4]"))
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, output


def test_sigterm_to_the_whole_process_group_with_data_workers_writes_a_checkpoint_and_exits_0(synthetic_lasot,
                                                                                             tmp_path):
    cmd = [sys.executable, str(REPO / "train.py"), "--output_dir", str(tmp_path), "--epochs", "20",
           *cli_args(synthetic_lasot, "data.num_workers=2")]
    returncode, output = _sigterm_to_the_group_once_training(cmd, tmp_path, {**os.environ, **SUBPROCESS_ENV})
    assert returncode == 0, output[-3000:]
    assert "stopped on request" in output and "DataLoader worker" not in output
    assert list_checkpoints(tmp_path, 1), "no checkpoint was written on SIGTERM"


def test_sigterm_to_the_process_group_of_two_launched_processes_stops_both_at_one_step(synthetic_lasot, tmp_path):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "accelerate_configs" / "cpu_two_process.yaml"), "--main_process_port", str(free_port()),
           str(REPO / "train.py"), "--output_dir", str(tmp_path), "--epochs", "20",
           *cli_args(synthetic_lasot, "data.num_workers=1", "train.batch_size=2")]
    _, output = _sigterm_to_the_group_once_training(cmd, tmp_path,
                                                    {**os.environ, **SUBPROCESS_ENV, "ACCELERATE_USE_CPU": "1"})
    assert _log_says(tmp_path, "stopped on request"), output[-3000:]
    stop = list_checkpoints(tmp_path, 1)[-1]  # written by both processes at the step they agreed on
    assert sorted(p.name for p in stop.glob("random_states_*.pkl")) == ["random_states_0.pkl", "random_states_1.pkl"]
    assert "DataLoader worker" not in output


def test_sigterm_to_accelerate_launch_alone_stops_the_training_process_too(synthetic_lasot, tmp_path):
    # One process: accelerate 1.15 returns at once on SIGTERM, and the training process must not train on as an
    # orphan (it notices its launcher is gone); accelerate 1.16 passes the SIGTERM on (and kills 5 s later). Either
    # way the training process stops on request.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu",
           str(REPO / "train.py"), "--output_dir", str(tmp_path), "--epochs", "20", *cli_args(synthetic_lasot)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                            env={**os.environ, **SUBPROCESS_ENV})
    try:
        _wait_for(lambda: _log_says(tmp_path, "[train: 1, 2 / 4]"))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        _wait_for(lambda: _log_says(tmp_path, "stopped on request"), seconds=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _log_says(tmp_path, "the launcher (PID") or _log_says(tmp_path, "received SIGTERM")
    assert not (tmp_path / "phase_1" / "checkpoints" / "checkpoint_20").exists()
