"""scripts/slurm/train.sbatch on a real SLURM of this machine (tests/slurm_cluster.py).

One run is stopped three times inside an epoch: by the time-limit warning (the USR1 that ``--signal=B:USR1@300``
sends the batch shell), by ``scontrol requeue`` and by ``scancel``; the same sbatch command then finishes it. Its
job has two nodes (two slurmd on this machine) of one gloo process each, whose launchers meet as on two machines;
the uninterrupted run it is compared with has one node of two processes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from model_helpers import NANO_NETWORK
from slurm_cluster import SlurmCluster, install_slurm
from train_helpers import REPO, SUBPROCESS_ENV, TINY, sha

from seqtrack_accel.run_folder import list_checkpoints, verify_checkpoint

pytestmark = pytest.mark.timeout(900)  # the module's one scenario runs in the first test's set-up

SCRIPT = REPO / "scripts" / "slurm" / "train.sbatch"
EPOCHS = 3
STEPS = 12  # per epoch: 48 samples in batches of 2 on each of 2 processes
TRAIN = [*TINY, *NANO_NETWORK, "data.samples_per_epoch=48", "train.batch_size=2", "train.log_images=0"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = install_slurm()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"), nodes=2).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def submit(cluster: SlurmCluster, run_dir: Path, root: Path, *, nodes: int, per_node: int) -> str:
    """sbatch the script as a user would (CONFIG RUN_DIR, then train.py's arguments), for CPU processes over gloo."""
    env = {**os.environ, **SUBPROCESS_ENV, "ACCELERATE_USE_CPU": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # accelerate, python
           "SEQTRACK_ACCELERATE_CONFIG": str(REPO / "accelerate_configs" / "cpu_two_process.yaml"),
           "SEQTRACK_PROCESSES_PER_NODE": str(per_node)}
    return cluster.sbatch([f"--nodes={nodes}", "--gpus-per-node=0", "--time=10", f"--chdir={REPO}",
                           f"--output={run_dir}-%j.out", str(SCRIPT),
                           str(REPO / "configs" / "demo.yaml"), str(run_dir), "--epochs", str(EPOCHS),
                           f"data.datasets[0].root={root}", *TRAIN], env)


class Log:
    """The run's text log (appended to by every start), read forward from where the last wait stopped."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def wait_for(self, cluster: SlurmCluster, job: str, text: str, timeout: float = 300) -> None:
        def seen(_fields) -> bool:
            if not self.path.is_file():
                return False
            found = self.path.read_text().find(text, self.offset)
            if found >= 0:
                self.offset = found + len(text)
            return found >= 0

        cluster.wait_for(job, seen, timeout=timeout, what=f"{text!r} in {self.path}")


def restarted(cluster: SlurmCluster, job: str, restarts: int) -> dict[str, str]:
    """Wait for the requeued job to be pending again on idle nodes, start it without the two minutes SLURM makes it
    wait (a start in the second its last run ended would be refused: "Job credential revoked"), wait until it runs."""
    cluster.wait_for(job, lambda j: j["Restarts"] == str(restarts) and j["JobState"] == "PENDING"
                     and cluster.node_states() == ["idle"] * len(cluster.nodes), timeout=120,
                     what=f"requeued ({restarts} restarts) and its nodes idle")
    cluster.command("scontrol", "update", f"JobId={job}", "StartTime=now+2")
    return cluster.wait_for(job, lambda j: j["JobState"] == "RUNNING", timeout=120, what="running again")


def newest_checkpoint(run_dir: Path) -> str:
    return list_checkpoints(run_dir, 1)[-1].name


@pytest.fixture(scope="module")
def runs(cluster, synthetic_lasot, tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    done = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}
    straight = base / "straight"
    job = submit(cluster, straight, synthetic_lasot, nodes=1, per_node=2)
    straight_job = cluster.wait_for(job, lambda j: j["JobState"] in done, timeout=300, what="the end")

    run = base / "interrupted"
    job = submit(cluster, run, synthetic_lasot, nodes=2, per_node=1)
    log, stops = Log(run / "logs" / "seqtrack-demo.log"), []
    log.wait_for(cluster, job, f"[train: 1, 2 / {STEPS}]")
    cluster.command("scancel", "--batch", "--signal=USR1", job)  # what --signal=B:USR1@300 sends before the limit
    restarted(cluster, job, 1)
    stops.append(newest_checkpoint(run))
    log.wait_for(cluster, job, f"[train: 2, 2 / {STEPS}]")
    cluster.command("scontrol", "requeue", job)
    restarted(cluster, job, 2)
    stops.append(newest_checkpoint(run))
    log.wait_for(cluster, job, f"[train: 3, 2 / {STEPS}]")
    cluster.command("scancel", job)
    cancelled = cluster.wait_for(job, lambda j: j["JobState"] == "CANCELLED" and cluster.node_states() == [
        "idle"] * len(cluster.nodes), timeout=120, what="cancelled and its processes ended")
    stops.append(newest_checkpoint(run))

    again = submit(cluster, run, synthetic_lasot, nodes=2, per_node=1)  # the same command, for good
    finished = cluster.wait_for(again, lambda j: j["JobState"] in done, timeout=300, what="the end")
    record = {"straight": (straight, straight_job), "run": run, "job": job, "cancelled": cancelled, "stops": stops,
              "again": (again, finished)}
    final = f"phase_1/checkpoints/checkpoint_{EPOCHS}/model.safetensors"
    digest = {d: sha(d / final)[:16] if (d / final).is_file() else None for d in (straight, run)}
    print(f"\nSLURM uninterrupted job {straight_job['JobId']}: {straight_job['JobState']}, exit "
          f"{straight_job['ExitCode']}, weights sha256 {digest[straight]}",
          f"interrupted job {job}: its stops wrote {', '.join(stops)}; {cancelled['JobState']}, exit "
          f"{cancelled['ExitCode']}, after {cancelled['Restarts']} restarts",
          f"resumed from (checkpoint, epoch, global step): {resumed_from(run)}",
          f"resubmitted job {again}: {finished['JobState']}, exit {finished['ExitCode']}, weights sha256 {digest[run]}",
          sep="\n")
    return record


def resumed_from(run_dir: Path) -> list[tuple[str, int, int]]:
    """(checkpoint name, epoch, global step) of every resume the run's log records."""
    return [(Path(path).name, int(epoch), int(step)) for path, epoch, step in re.findall(
        r"resuming from (\S+) \(full state\): epoch (\d+), global step (\d+)", (run_dir / "logs" /
                                                                                 "seqtrack-demo.log").read_text())]


def step_of(name: str) -> tuple[int, int]:
    epoch, step = re.fullmatch(r"checkpoint_(\d+)_step(\d+)", name).groups()
    return int(epoch), int(step)


def test_an_uninterrupted_job_finishes_with_exit_status_0(runs):
    run_dir, job = runs["straight"]
    assert (job["JobState"], job["ExitCode"]) == ("COMPLETED", "0:0")
    assert newest_checkpoint(run_dir) == f"checkpoint_{EPOCHS}"


def test_the_time_limit_warning_stops_inside_the_epoch_with_a_checkpoint_and_requeues(runs):
    epoch, global_step = step_of(runs["stops"][0])
    assert epoch == 1 and 2 <= global_step < STEPS
    assert "the time limit is near" in Path(f"{runs['run']}-{runs['job']}.out").read_text()


def test_scontrol_requeue_stops_inside_the_epoch_with_a_checkpoint(runs):
    epoch, global_step = step_of(runs["stops"][1])
    assert epoch == 2 and STEPS + 2 <= global_step < 2 * STEPS


def test_each_start_resumes_from_the_checkpoint_the_stop_before_it_wrote(runs):
    expected = [(name, step_of(name)[0], step_of(name)[1]) for name in runs["stops"]]
    assert resumed_from(runs["run"]) == expected


def test_scancel_leaves_a_resumable_checkpoint_and_exit_status_0(runs):
    job = runs["cancelled"]
    assert (job["JobState"], job["ExitCode"], job["Restarts"]) == ("CANCELLED", "0:0", "2")
    epoch, global_step = step_of(runs["stops"][2])
    assert epoch == 3 and 2 * STEPS + 2 <= global_step < 3 * STEPS
    verify_checkpoint(runs["run"] / "phase_1" / "checkpoints" / runs["stops"][2], world_size=2)


def test_each_node_runs_one_launcher_with_its_machine_rank_and_the_first_nodes_address(runs):
    for node in (0, 1):
        text = (runs["run"] / "logs" / f"slurm-{runs['job']}-node{node}.out").read_text()
        launches = re.findall(r"node \d \(\S+\): accelerate launch (.*)", text)
        assert len(launches) == 3  # one per start
        assert all(f"--num_machines 2 --machine_rank {node} --num_processes 2 --main_process_ip 127.0.0.1 " in line
                   and "--resume_from_checkpoint auto" in line for line in launches), launches


def test_every_node_stops_its_process_cleanly_on_each_signal(runs):
    for node in (0, 1):
        text = (runs["run"] / "logs" / f"slurm-{runs['job']}-node{node}.out").read_text()
        assert text.count("stopped on request: ") == 3, text[-3000:]


def test_the_resubmitted_run_ends_bit_identical_to_the_uninterrupted_one(runs):
    again, job = runs["again"]
    assert (job["JobState"], job["ExitCode"]) == ("COMPLETED", "0:0")
    final = f"phase_1/checkpoints/checkpoint_{EPOCHS}/model.safetensors"
    assert sha(runs["run"] / final) == sha(runs["straight"][0] / final)


def test_the_script_outside_slurm_says_how_to_submit_it():
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30,
                         env={k: v for k, v in os.environ.items() if not k.startswith("SLURM_")})
    assert out.returncode == 2
    assert out.stderr.startswith("error: submit with: sbatch scripts/slurm/train.sbatch CONFIG RUN_DIR")
