"""The trainer mirroring a real (tiny) run to a local Hub: every item arrives, faults change nothing in training,
a kill mid-upload heals on resume, a run resumes from the Hub alone, and the token stays out of the run folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_hub import FakeHub, Fault
from hub_helpers import HUB_TOKEN
from model_helpers import NANO_NETWORK
from train_helpers import REPO, SUBPROCESS_ENV, cli_args, run_cli, sha, tiny_config, train

from seqtrack_accel.hub import check_repo

EPOCHS = 2
# Small backoffs: a fault costs a fraction of a second, and close() waits for the retries. The request timeout
# leaves room for the local Hub to decode a checkpoint commit (~50 MB of weights and Adam moments of the nano network,
# sent as ~70 MB of base64) on a busy CPU.
HUB = ["hub.upload_full_state=true", "hub.backoff_base=0.05", "hub.backoff_max=0.5", "hub.max_retries=8",
       "hub.final_wait=120"]
CHECKPOINT_FILES = ("model.safetensors", "training_state.json", "config.yaml", "optimizer.bin", "scheduler.bin",
                    "random_states_0.pkl")


# One intra-op thread for the in-process benchmark too (train() holds it for its own runs).
pytestmark = pytest.mark.usefixtures("module_one_thread")


def mirrored(root: Path, repo: str, *, request_timeout: float = 10.0):
    return tiny_config(root, *NANO_NETWORK, f"hub.repo_id={repo}", *HUB, f"hub.request_timeout={request_timeout}")


def run_files(run_dir: Path) -> dict[str, Path]:
    """Repo path -> local file of everything the mirror must carry: checkpoints, plots, TensorBoard files."""
    out = {}
    for ckpt in sorted((run_dir / "phase_1" / "checkpoints").iterdir()):
        out.update({f"phase_1/{ckpt.name}/{p.name}": p for p in ckpt.iterdir()})
    for local_root, repo_root in ((run_dir / "plots", "plots"), (run_dir / "phase_1" / "plots", "phase_1/plots"),
                                  (run_dir / "tensorboard", "tensorboard")):
        out.update({f"{repo_root}/{p.relative_to(local_root).as_posix()}": p
                    for p in local_root.rglob("*") if p.is_file()})
    return out


def not_on_the_hub(hub: FakeHub, repo: str, run_dir: Path) -> list[str]:
    remote = hub.files(repo)
    return sorted(path for path, local in run_files(run_dir).items() if remote.get(path) != local.read_bytes())


@pytest.fixture(scope="module")
def reference(synthetic_lasot, tmp_path_factory):
    """A straight run without mirroring, to epoch EPOCHS + 1 (the lr schedule does not depend on the last epoch, so
    its checkpoint_EPOCHS is what a EPOCHS-epoch run ends with)."""
    run_dir = tmp_path_factory.mktemp("reference")
    train(tiny_config(synthetic_lasot, *NANO_NETWORK), run_dir, epochs=EPOCHS + 1)
    return run_dir / "phase_1" / "checkpoints"


@pytest.fixture(scope="module")
def mirrored_run(module_hub, synthetic_lasot, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("mirrored")
    train(mirrored(synthetic_lasot, "org/run"), run_dir, epochs=EPOCHS)
    return run_dir


# ---------------------------------------------------------------------------------------------------------------
# 1. a run mirrors every item


def test_every_checkpoint_file_is_on_the_hub_byte_for_byte(module_hub, mirrored_run):
    files = module_hub.files("org/run")
    for epoch in range(1, EPOCHS + 1):
        local = mirrored_run / "phase_1" / "checkpoints" / f"checkpoint_{epoch}"
        for name in CHECKPOINT_FILES:
            assert files[f"phase_1/checkpoint_{epoch}/{name}"] == (local / name).read_bytes(), name


def test_plots_tensorboard_files_and_the_model_card_are_on_the_hub(module_hub, mirrored_run):
    files = module_hub.files("org/run")
    for plot in ("plots/loss.png", "plots/iou.png", "phase_1/plots/loss.png", "phase_1/plots/iou.png"):
        assert files[plot] == (mirrored_run / plot).read_bytes(), plot
    events = sorted(p for p in files if p.startswith("tensorboard/") and "tfevents" in p)
    assert events and all(files[p] == (mirrored_run / p).read_bytes() for p in events)
    assert "library_name: seqtrack-accel" in files["README.md"].decode()
    assert not_on_the_hub(module_hub, "org/run", mirrored_run) == []


def test_latest_json_points_at_the_last_checkpoint(module_hub, mirrored_run):
    assert json.loads(module_hub.files("org/run")["latest.json"]) == {
        "path": f"phase_1/checkpoint_{EPOCHS}", "phase": 1, "epoch": EPOCHS, "global_step": 4 * EPOCHS,
        "full_state": True}


def test_check_repo_finds_no_problem_in_the_mirrored_run(module_hub, mirrored_run):
    assert check_repo("org/run", endpoint=module_hub.endpoint, token=HUB_TOKEN) == []


# ---------------------------------------------------------------------------------------------------------------
# 2. Hub faults during training


@pytest.fixture(scope="module")
def faulty_run(module_hub, synthetic_lasot, tmp_path_factory):
    """A mirrored run while the Hub answers 500 and 503, then 429 with Retry-After, then hangs past the request
    timeout, then is unreachable for a second; the faults are queued before training starts."""
    run_dir = tmp_path_factory.mktemp("faulty")
    module_hub.inject([Fault.status(500, match="/commit/"), Fault.status(503, match="/commit/"),
                       Fault.status(429, retry_after=0.3, match="/commit/"), Fault.hang(3.0, match="/commit/"),
                       Fault.down(1.0)])
    train(mirrored(synthetic_lasot, "org/faulty", request_timeout=2.0), run_dir, epochs=EPOCHS)
    return run_dir


def test_hub_faults_leave_the_trained_weights_bit_identical(module_hub, faulty_run, reference):
    assert module_hub.pending_faults() == []  # every fault was met
    final = f"checkpoint_{EPOCHS}/model.safetensors"
    assert sha(faulty_run / "phase_1" / "checkpoints" / final) == sha(reference / final)


def test_after_hub_faults_close_leaves_everything_on_the_hub(module_hub, faulty_run):
    met = {r.fault for r in module_hub.requests if r.fault is not None}
    assert met == {"status", "hang", "down"}
    assert not_on_the_hub(module_hub, "org/faulty", faulty_run) == []
    assert check_repo("org/faulty", endpoint=module_hub.endpoint, token=HUB_TOKEN) == []


# ---------------------------------------------------------------------------------------------------------------
# 3. killed mid-upload, resumed


def _commits_named(hub: FakeHub, repo: str, prefix: str) -> list:
    return [c for c in hub.commits(repo) if c.summary.startswith(prefix)] if hub.repo_exists(repo) else []


def _wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the trainer exited before {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout:g} s"
        time.sleep(0.01)


def test_kill_during_an_upload_then_resume_completes_the_repo_and_latest_never_leads(hub, synthetic_lasot, tmp_path):
    repo, epochs = "org/killed", 5
    args = ["--output_dir", str(tmp_path), "--epochs", str(epochs),
            *cli_args(synthetic_lasot, *NANO_NETWORK, f"hub.repo_id={repo}", *HUB, "hub.request_timeout=10")]
    proc = subprocess.Popen([sys.executable, str(REPO / "train.py"), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=REPO, env={**os.environ, **SUBPROCESS_ENV})
    try:
        # Once latest.json points at the first checkpoint, the next commit is the next checkpoint's files: hold it
        # (the server keeps the request open, as a slow upload would) and kill the trainer while it is in flight.
        _wait_for(lambda: _commits_named(hub, repo, "Point latest.json"), proc, "latest.json reached the local Hub")
        hub.inject([Fault.hang(30.0, match=f"/{repo}/commit/")])
        _wait_for(lambda: not hub.pending_faults(), proc, "the next commit reached the local Hub")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / "phase_1" / "checkpoints" / f"checkpoint_{epochs}").exists(), \
        "training had finished before the kill: the uploads lag more than the epochs left to train"

    out = run_cli([*args, "--resume_from_checkpoint", "latest"])
    assert out.returncode == 0, out.stderr[-3000:]

    assert check_repo(repo, endpoint=hub.endpoint, token=HUB_TOKEN) == []
    assert not_on_the_hub(hub, repo, tmp_path) == []
    for commit in _commits_named(hub, repo, "Point latest.json"):
        snapshot = hub.files(repo, revision=commit.oid)
        folder = json.loads(snapshot["latest.json"])["path"]
        local = tmp_path / "phase_1" / "checkpoints" / folder.split("/")[1]
        missing = [p.name for p in local.iterdir() if f"{folder}/{p.name}" not in snapshot]
        assert missing == [], f"commit {commit.summary!r} points at {folder} before {missing} were committed"


# ---------------------------------------------------------------------------------------------------------------
# 4. resume on an empty machine


def test_resume_from_the_hub_alone_gives_the_weights_of_a_straight_run(hub, synthetic_lasot, reference, tmp_path):
    cfg = mirrored(synthetic_lasot, "org/moved")
    train(cfg, tmp_path / "first", epochs=EPOCHS)
    shutil.rmtree(tmp_path / "first")  # the machine that trained is gone; only the Hub is left

    train(cfg, tmp_path / "second", epochs=EPOCHS + 1, resume_from="hf://org/moved")

    final = f"checkpoint_{EPOCHS + 1}/model.safetensors"
    assert sha(tmp_path / "second" / "phase_1" / "checkpoints" / final) == sha(reference / final)


# ---------------------------------------------------------------------------------------------------------------
# 5. the token


def test_the_token_appears_in_no_file_of_the_run_folders(mirrored_run, faulty_run):
    written = [p for run in (mirrored_run, faulty_run) for p in run.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in written) and any("tfevents" in p.name for p in written)
    assert [p for p in written if HUB_TOKEN.encode() in p.read_bytes()] == []


# ---------------------------------------------------------------------------------------------------------------
# the overhead benchmark


def test_bench_mirror_prints_both_arms_and_the_slowdown(synthetic_lasot, capsys):
    import bench_mirror

    bench_mirror.main(["--config", str(REPO / "configs" / "demo.yaml"), "--steps", "3", "--warmup", "1",
                       "--repeats", "1", "--checkpoint_every", "2", "--latency", "0.2", "--server", "thread",
                       "--weights_only", "data.datasets[0].synthetic=null", f"data.datasets[0].root={synthetic_lasot}",
                       "data.num_workers=0", "data.search.size=32", "data.template.size=16", "train.batch_size=4",
                       *NANO_NETWORK])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]

    assert [line.get("arm") for line in lines] == ["no_mirror", "mirror", None]
    assert lines[0]["steps"] == lines[1]["steps"] == 3
    assert lines[1]["commits"] >= 3 and lines[1]["held_commit_attempts"] >= 1  # a checkpoint, run files, latest.json
    assert {"slowdown", "slowdown_median", "target", "device"} <= set(lines[2])
    assert lines[0]["versions"]["huggingface_hub"] and lines[0]["config"]["checkpoint_every_steps"] == 2


def test_bench_mirror_splits_commit_attempts_into_encoding_and_waiting():
    from bench_mirror import upload_phases

    timeline = {"requests": [(1.0, "/api/models/a/b/preupload/main", None, 200),
                             (1.5, "/api/models/a/b/commit/main", "hang", None),
                             (2.0, "/api/models/a/b/preupload/main", None, 200),
                             (2.4, "/api/models/a/b/commit/main", None, 200)],
                "commits": [(2.9, "Add phase_1/checkpoint_1")]}

    assert upload_phases(timeline, latency=0.3) == {"encoding": [(1.0, 1.5), (2.0, 2.4)],
                                                    "waiting": [(1.5, 1.8), (2.4, 2.9)]}
