"""HubMirror: what reaches the Hub, in which order, and how failures are handled without stopping training."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time

import pytest

from fake_hub import FakeHub, Fault
from hub_helpers import HUB_TOKEN, make_fake_checkpoint, make_fake_run

from seqtrack_accel.config import HubConfig
from seqtrack_accel.hub import HubMirror, check_repo, remote
from seqtrack_accel.hub import mirror as mirror_module
from seqtrack_accel.hub.mirror import lower_thread_priority

REPO = "org/run"


def fast_cfg(**changes) -> HubConfig:
    """Small backoffs and timeouts so that failure tests take a second or two."""
    values = dict(repo_id=REPO, upload_full_state=True, request_timeout=2.0, backoff_base=0.02, backoff_max=0.1,
                  max_retries=8, final_wait=30.0)
    values.update(changes)
    return HubConfig(**values)


def mirror_for(hub: FakeHub, run_dir, cfg: HubConfig | None = None, token: str = HUB_TOKEN) -> HubMirror:
    mirror = HubMirror(cfg or fast_cfg(), run_dir, token=token, endpoint=hub.endpoint)
    mirror.start()
    return mirror


def committed_paths(hub: FakeHub) -> list[tuple[str, ...]]:
    return [c.added for c in hub.commits(REPO)]


def test_mirror_uploads_checkpoint_plots_tensorboard_card_and_latest(hub, tmp_path):
    checkpoints = make_fake_run(tmp_path / "run", epochs=2)
    mirror = mirror_for(hub, tmp_path / "run")

    for ckpt in checkpoints:
        mirror.submit_checkpoint(ckpt, phase=1)
    assert mirror.close() == []

    files = hub.files(REPO)
    for epoch in (1, 2):
        for name in ("model.safetensors", "training_state.json", "config.yaml", "optimizer.bin", "scheduler.bin",
                     "random_states_0.pkl"):
            assert files[f"phase_1/checkpoint_{epoch}/{name}"] == (
                (tmp_path / "run/config.yaml") if name == "config.yaml" else checkpoints[epoch - 1] / name
            ).read_bytes()
    for path in ("plots/loss.png", "plots/iou.png", "phase_1/plots/loss.png", "phase_1/plots/iou.png",
                 "tensorboard/events.out.tfevents.1700000000.host.1.0"):
        assert files[path] == (tmp_path / "run" / path).read_bytes()
    card = files["README.md"].decode()
    assert "library_name: seqtrack-accel" in card and "- object-tracking" in card
    assert "| 1 | 2 | 4.0000 | 0.2000 |" in card
    assert json.loads(files["latest.json"]) == {"path": "phase_1/checkpoint_2", "phase": 1, "epoch": 2,
                                                "global_step": 32, "full_state": True}


def test_a_mirrored_checkpoint_keeps_the_evaluation_results_on_the_card(hub, tmp_path):
    from huggingface_hub import ModelCard

    from seqtrack_accel.hub.results import BenchmarkResult, push_results_to_card, results_in_card

    first, second = make_fake_run(tmp_path / "run", epochs=2)
    mirror = mirror_for(hub, tmp_path / "run")
    mirror.submit_checkpoint(first, phase=1)
    assert mirror.close() == []
    lasot = BenchmarkResult("lasot", "test", "run", {"auc": 61.5, "precision": 64.0, "norm_precision": 70.1}, 280,
                            30.0, "2026-11-29", "ab" * 32)
    push_results_to_card(REPO, [lasot], token=HUB_TOKEN, endpoint=hub.endpoint)  # seqtrack-evaluate --push_to_hub

    mirror = mirror_for(hub, tmp_path / "run")  # training goes on (a resumed phase, say)
    mirror.submit_checkpoint(second, phase=1)
    assert mirror.close() == []

    card = ModelCard(hub.files(REPO)["README.md"].decode())
    assert "| 1 | 2 | 4.0000 | 0.2000 |" in card.text  # the training table of the newest checkpoint
    assert results_in_card(card) == [lasot]
    assert {(e.dataset_type, e.metric_type) for e in card.data.eval_results} >= {("lasot", "auc")}


def test_latest_json_is_committed_after_the_checkpoint_files(hub, tmp_path):
    (ckpt,) = make_fake_run(tmp_path / "run", epochs=1)
    mirror = mirror_for(hub, tmp_path / "run")

    mirror.submit_checkpoint(ckpt, phase=1)
    mirror.close()

    commits = committed_paths(hub)
    weights_commit = next(i for i, added in enumerate(commits) if "phase_1/checkpoint_1/model.safetensors" in added)
    latest_commit = next(i for i, added in enumerate(commits) if "latest.json" in added)
    assert latest_commit > weights_commit


def test_best_json_is_mirrored_after_its_checkpoint_files_and_the_card_names_it(hub, tmp_path):
    checkpoints = make_fake_run(tmp_path / "run", epochs=2)
    best = {"path": "phase_1/checkpoints/checkpoint_1", "phase": 1, "epoch": 1, "metric": "loss", "value": 4.5}
    (tmp_path / "run/best.json").write_text(json.dumps(best))  # as the trainer's checkpoint saver writes it
    mirror = mirror_for(hub, tmp_path / "run")

    for ckpt in checkpoints:
        mirror.submit_checkpoint(ckpt, phase=1)
    assert mirror.close() == []

    files, commits = hub.files(REPO), committed_paths(hub)
    assert json.loads(files["best.json"]) == {**best, "path": "phase_1/checkpoint_1"}
    assert [i for i, added in enumerate(commits) if "best.json" in added] == [  # once: it did not change
        next(i for i, added in enumerate(commits) if "latest.json" in added)  # ... after checkpoint_1's latest.json
        + 1]
    assert "The best checkpoint by epoch loss (`train.best_metric`) is `phase_1/checkpoint_1`: 4.5000 at epoch 1" \
        in files["README.md"].decode()
    assert check_repo(REPO, token=HUB_TOKEN, endpoint=hub.endpoint) == []


def test_check_repo_names_a_best_json_that_points_at_no_checkpoint(hub, tmp_path):
    checkpoints = make_fake_run(tmp_path / "run", epochs=1)
    mirror = mirror_for(hub, tmp_path / "run")
    mirror.submit_checkpoint(checkpoints[0], phase=1)
    mirror.close()
    hub.commit_files(REPO, {"best.json": json.dumps({"path": "phase_1/checkpoint_7"}).encode()})

    assert check_repo(REPO, token=HUB_TOKEN, endpoint=hub.endpoint) == [
        f"{REPO}/best.json points at phase_1/checkpoint_7, which is not in the repo"]


def test_without_full_state_only_weights_state_and_config_are_uploaded(hub, tmp_path):
    (ckpt,) = make_fake_run(tmp_path / "run", epochs=1)
    mirror = mirror_for(hub, tmp_path / "run", fast_cfg(upload_full_state=False))

    mirror.submit_checkpoint(ckpt, phase=1)
    mirror.close()

    files = hub.files(REPO)
    assert sorted(p for p in files if p.startswith("phase_1/checkpoint_1/")) == [
        "phase_1/checkpoint_1/config.yaml", "phase_1/checkpoint_1/model.safetensors",
        "phase_1/checkpoint_1/training_state.json"]
    assert json.loads(files["latest.json"])["full_state"] is False


def test_staged_snapshot_survives_deleting_the_checkpoint_right_after_submit(hub, tmp_path):
    first, second = make_fake_run(tmp_path / "run", epochs=2)
    expected = (second / "model.safetensors").read_bytes()
    mirror = mirror_for(hub, tmp_path / "run")
    hub.inject([Fault.hang(0.5, match="/commit/")])  # keeps the worker on the first checkpoint meanwhile

    mirror.submit_checkpoint(first, phase=1)
    mirror.submit_checkpoint(second, phase=1)
    shutil.rmtree(second)  # checkpoint rotation, before the worker reaches it

    assert mirror.close() == []
    assert hub.files(REPO)["phase_1/checkpoint_2/model.safetensors"] == expected
    assert not (tmp_path / "run/.hub_staging").exists()


def test_transient_failures_are_retried_until_everything_is_on_the_hub(hub, tmp_path):
    (ckpt,) = make_fake_run(tmp_path / "run", epochs=1)
    mirror = mirror_for(hub, tmp_path / "run", fast_cfg(request_timeout=0.3))
    hub.inject([Fault.status(500, match="/commit/"), Fault.status(502, match="/commit/"),
                Fault.status(429, retry_after=0.2, match="/commit/"), Fault.hang(1.0, match="/commit/"),
                Fault.down(0.5)])

    mirror.submit_checkpoint(ckpt, phase=1)

    assert mirror.close() == []
    assert hub.pending_faults() == []
    files = hub.files(REPO)
    assert "phase_1/checkpoint_1/model.safetensors" in files and "README.md" in files
    assert json.loads(files["latest.json"])["path"] == "phase_1/checkpoint_1"


def test_a_429_waits_the_retry_after_seconds(hub, tmp_path):
    (ckpt,) = make_fake_run(tmp_path / "run", epochs=1)
    mirror = mirror_for(hub, tmp_path / "run")  # exponential backoff would wait 0.02 s
    hub.inject([Fault.status(429, retry_after=1, match="/commit/")])

    mirror.submit_checkpoint(ckpt, phase=1)
    mirror.close()

    commit_requests = [r for r in hub.requests if r.path.endswith("/commit/main")]
    assert commit_requests[0].status == 429
    assert commit_requests[1].time - commit_requests[0].time >= 1.0


def test_a_permanent_client_error_drops_the_item_logs_the_cause_and_goes_on(hub, tmp_path, caplog):
    first, second = make_fake_run(tmp_path / "run", epochs=2)
    mirror = mirror_for(hub, tmp_path / "run")
    hub.inject([Fault.status(422, match="/commit/")])  # the first checkpoint's commit

    mirror.submit_checkpoint(first, phase=1)
    mirror.submit_checkpoint(second, phase=1)
    not_mirrored = mirror.close()

    files = hub.files(REPO)
    assert "phase_1/checkpoint_1/model.safetensors" not in files
    assert "phase_1/checkpoint_2/model.safetensors" in files
    assert json.loads(files["latest.json"])["path"] == "phase_1/checkpoint_2"
    assert len([r for r in hub.requests if r.status == 422]) == 1  # not retried
    assert any(line.startswith("phase_1/checkpoint_1: checkpoint files") for line in not_mirrored)
    assert "HTTP 422" in caplog.text


@pytest.mark.parametrize("when", ["at start", "during the run"])
def test_an_authentication_failure_is_reported_once(hub, tmp_path, caplog, when):
    checkpoints = make_fake_run(tmp_path / "run", epochs=2)
    if when == "at start":
        mirror = mirror_for(hub, tmp_path / "run", token="hf_revoked_token")
    else:
        mirror = mirror_for(hub, tmp_path / "run")
        hub.token = "hf_rotated_token"  # the token is revoked while training

    for ckpt in checkpoints:
        mirror.submit_checkpoint(ckpt, phase=1)
    not_mirrored = mirror.close()

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("seqtrack_accel")]
    assert len(errors) == 1
    assert "authentication" in errors[0].getMessage() and "HF_TOKEN" in errors[0].getMessage()
    assert len(not_mirrored) >= 2


def test_the_token_is_never_written_anywhere(hub, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    checkpoints = make_fake_run(tmp_path / "run", epochs=2)
    mirror = mirror_for(hub, tmp_path / "run")
    hub.inject([Fault.status(500, match="/commit/"), Fault.status(422, match="/commit/")])  # error paths log too

    for ckpt in checkpoints:
        mirror.submit_checkpoint(ckpt, phase=1)
    mirror.close()

    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()] + list(hub.files(REPO).values())
    assert all(HUB_TOKEN.encode() not in content for content in written)
    assert HUB_TOKEN not in caplog.text


def test_sync_missing_uploads_only_what_the_hub_lacks(hub, tmp_path):
    run = tmp_path / "run"
    first, second = make_fake_run(run, epochs=2)
    mirror = mirror_for(hub, run)
    mirror.submit_checkpoint(first, phase=1)
    mirror.submit_checkpoint(second, phase=1)
    mirror.close()
    before = len(hub.commits(REPO))
    make_fake_checkpoint(run, phase=1, epoch=3)  # written by a run whose mirror did not get to upload it

    resumed = mirror_for(hub, run)
    resumed.sync_missing()
    assert resumed.close() == []

    new_commits = committed_paths(hub)[before:]
    assert [sorted(added) for added in new_commits] == [
        sorted(f"phase_1/checkpoint_3/{n}" for n in ("config.yaml", "model.safetensors", "optimizer.bin",
                                                     "random_states_0.pkl", "scheduler.bin", "training_state.json")),
        ["latest.json"],
    ]


def test_a_checkpoint_that_could_not_be_mirrored_is_uploaded_by_the_next_runs_sync(hub, tmp_path):
    run = tmp_path / "run"
    (ckpt,) = make_fake_run(run, epochs=1)
    mirror = mirror_for(hub, run)
    hub.inject([Fault.status(400, match="/commit/")])
    mirror.submit_checkpoint(ckpt, phase=1)
    assert mirror.close() != []
    shutil.rmtree(ckpt)  # rotated out locally: only the staged copy is left

    resumed = mirror_for(hub, run)
    resumed.sync_missing()
    assert resumed.close() == []

    assert "phase_1/checkpoint_1/optimizer.bin" in hub.files(REPO)
    assert json.loads(hub.files(REPO)["latest.json"])["path"] == "phase_1/checkpoint_1"
    assert not (run / ".hub_staging").exists()


def test_start_survives_an_unreachable_hub_and_the_upload_happens_later(hub, tmp_path):
    (ckpt,) = make_fake_run(tmp_path / "run", epochs=1)
    hub.inject([Fault.down(0.5)])

    mirror = mirror_for(hub, tmp_path / "run")  # start() meets connection resets and must not raise
    mirror.submit_checkpoint(ckpt, phase=1)
    time.sleep(0.6)  # the Hub is back before the run ends (it would not wait for one that never answered)

    assert mirror.close() == []
    assert "phase_1/checkpoint_1/model.safetensors" in hub.files(REPO)


@pytest.fixture
def silent_host(monkeypatch) -> str:
    """HF_ENDPOINT at a local port that never completes a connection: its accept queue is full, so new ones hang."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        with socket.create_connection(sock.getsockname()):  # fills the queue: nothing accepts it
            endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
            monkeypatch.setenv("HF_ENDPOINT", endpoint)
            yield endpoint


@pytest.mark.parametrize("host", ["closed_port", "silent_host"])
def test_start_on_an_unreachable_hub_warns_at_once_that_uploads_are_queued(request, tmp_path, caplog, monkeypatch,
                                                                           host):
    endpoint = request.getfixturevalue(host)
    monkeypatch.setattr(remote, "CONNECT_TIMEOUT", 1.0)  # not hub.request_timeout (60 s)
    mirror = HubMirror(HubConfig(repo_id=REPO), tmp_path / "run", token=HUB_TOKEN)

    began = time.monotonic()
    mirror.start()
    took = time.monotonic() - began  # huggingface_hub's own first request (3 s at most, once a process) included
    mirror.close()

    assert took < 6.0
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "unreachable" in
                  r.getMessage()]
    assert endpoint in warning and "Training goes on" in warning and str(tmp_path / "run/.hub_staging") in warning
    assert "same hub.repo_id" in warning


def test_close_after_a_run_that_never_reached_the_hub_lists_what_is_pending_without_waiting(closed_port, tmp_path,
                                                                                            caplog):
    checkpoints = make_fake_run(tmp_path / "run", epochs=2)
    mirror = HubMirror(HubConfig(repo_id=REPO, final_wait=600.0), tmp_path / "run", token=HUB_TOKEN)
    mirror.start()
    mirror.sync_missing()
    for ckpt in checkpoints:
        mirror.submit_checkpoint(ckpt, phase=1)

    began = time.monotonic()
    not_mirrored = mirror.close()

    assert time.monotonic() - began < 10.0
    assert [line.split(":")[0] for line in not_mirrored] == [
        "files missing from the Hub (sync)", "phase_1/checkpoint_1", "phase_1/checkpoint_2"]
    assert all("gave up at once on an unreachable Hub" in line for line in not_mirrored)
    assert sorted(p.name.split("-")[1] for p in (tmp_path / "run/.hub_staging").iterdir()) == [
        "checkpoint_1", "checkpoint_2"]  # kept for the next run's sync_missing
    assert "same hub.repo_id" in caplog.text and mirror.upload_command() in caplog.text


def test_close_waits_for_a_hub_that_answered_and_logs_what_is_pending(hub, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(mirror_module, "PROGRESS_EVERY", 0.4)
    (ckpt,) = make_fake_run(tmp_path / "run", epochs=1)
    mirror = mirror_for(hub, tmp_path / "run", fast_cfg(request_timeout=1.0, final_wait=1.5))  # start() answered
    hub.inject([Fault.hang(10.0, match="/commit/")] * 5)

    mirror.submit_checkpoint(ckpt, phase=1)
    began = time.monotonic()
    not_mirrored = mirror.close()

    assert 1.5 <= time.monotonic() - began < 4.0
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("waiting up to")]
    assert len(progress) >= 3 and all("phase_1/checkpoint_1" in line for line in progress)
    assert not_mirrored[0].startswith("phase_1/checkpoint_1: still pending when close() gave up after 1.5 s")


def test_close_stops_after_the_grace_when_the_hub_went_away_during_the_run(hub, tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT")  # a shell without it: the command printed for later must name the Hub
    checkpoints = make_fake_run(tmp_path / "run", epochs=2)
    # Backoffs that keep the uploads retrying through the wait; a final_wait far longer than the grace.
    cfg = fast_cfg(backoff_base=0.5, backoff_max=5.0, final_wait=60.0, unreachable_grace=1.0)
    mirror = mirror_for(hub, tmp_path / "run", cfg)  # start() reached the Hub
    hub.stop()  # ... which then refuses every connection
    for ckpt in checkpoints:
        mirror.submit_checkpoint(ckpt, phase=1)

    began = time.monotonic()
    not_mirrored = mirror.close()

    assert 1.0 <= time.monotonic() - began < 5.0
    assert [line.split(":")[0] for line in not_mirrored] == ["phase_1/checkpoint_1", "phase_1/checkpoint_2"]
    assert all("still pending when close() gave up after 1 s on a Hub that did not answer" in line
               for line in not_mirrored)
    (stopped,) = [r.getMessage() for r in caplog.records if "has answered no request" in r.getMessage()]
    assert "Connection refused" in stopped and "hub.unreachable_grace=1 s" in stopped
    command = f"HF_ENDPOINT={mirror.endpoint} seqtrack-upload-checkpoint {tmp_path / 'run'} --repo_id {REPO}"
    assert mirror.upload_command() == command and command in caplog.text


def test_the_command_close_prints_uploads_what_was_pending_once_the_hub_is_back(hub, tmp_path, monkeypatch):
    import shlex

    from seqtrack_accel.cli import upload_checkpoint

    monkeypatch.delenv("HF_ENDPOINT")  # a shell without it: the command sets it
    checkpoints = make_fake_run(tmp_path / "run", epochs=2)
    cfg = fast_cfg(backoff_base=0.5, backoff_max=5.0, unreachable_grace=0.5)
    mirror = mirror_for(hub, tmp_path / "run", cfg)
    hub.inject([Fault.down(3.0)])  # every connection reset for 3 s from the next request on
    for ckpt in checkpoints:
        mirror.submit_checkpoint(ckpt, phase=1)
    assert len(mirror.close()) == 2
    went_down = next(r.time for r in hub.requests if r.fault == "down")
    time.sleep(max(0.0, went_down + 3.1 - time.monotonic()))  # the Hub is back

    env, program, *argv = shlex.split(mirror.upload_command())
    monkeypatch.setenv(*env.split("=", 1))
    assert program == "seqtrack-upload-checkpoint" and upload_checkpoint.main(argv) == 0
    files = hub.files(REPO)
    assert {"phase_1/checkpoint_1/optimizer.bin", "phase_1/checkpoint_2/optimizer.bin", "README.md"} <= set(files)
    assert json.loads(files["latest.json"])["path"] == "phase_1/checkpoint_2"
    assert not (tmp_path / "run" / ".hub_staging").exists()  # the staged copies went up and were removed


def test_close_waits_the_whole_final_wait_for_a_hub_that_answers(hub, tmp_path):
    (ckpt,) = make_fake_run(tmp_path / "run", epochs=1)
    cfg = fast_cfg(backoff_base=0.2, backoff_max=0.2, max_retries=100, final_wait=2.0, unreachable_grace=0.3)
    mirror = mirror_for(hub, tmp_path / "run", cfg)
    hub.inject([Fault.status(503)] * 100)  # an answer, every time: the Hub is there, busy

    mirror.submit_checkpoint(ckpt, phase=1)
    began = time.monotonic()
    not_mirrored = mirror.close()

    assert 2.0 <= time.monotonic() - began < 4.0
    assert not_mirrored[0].startswith("phase_1/checkpoint_1: still pending when close() gave up after 2 s")


def test_close_gives_up_after_its_timeout_and_lists_what_is_pending(hub, tmp_path):
    (ckpt,) = make_fake_run(tmp_path / "run", epochs=1)
    mirror = mirror_for(hub, tmp_path / "run", fast_cfg(request_timeout=1.0))
    hub.inject([Fault.hang(5.0, match="/commit/")])

    mirror.submit_checkpoint(ckpt, phase=1)
    not_mirrored = mirror.close(timeout=0.3)

    assert len(not_mirrored) == 1
    assert not_mirrored[0].startswith("phase_1/checkpoint_1: still pending") and ".hub_staging" in not_mirrored[0]


def test_a_request_given_up_by_close_is_not_retried(hub, tmp_path):
    (ckpt,) = make_fake_run(tmp_path / "run", epochs=1)
    mirror = mirror_for(hub, tmp_path / "run")
    hub.inject([Fault.status(503, match="preupload")] * 50)  # huggingface_hub retries these, 1, 2, 4, 8 s apart

    mirror.submit_checkpoint(ckpt, phase=1)
    mirror.close(timeout=1.5)
    closed = time.monotonic()
    mirror._worker.join(timeout=20.0)

    after = [r for r in hub.requests if r.time > closed]
    assert not mirror._worker.is_alive() and after == []


def test_unchanged_plots_and_event_files_are_not_sent_again(hub, tmp_path):
    run = tmp_path / "run"
    first, second = make_fake_run(run, epochs=2)
    mirror = mirror_for(hub, run)
    mirror.submit_checkpoint(first, phase=1)
    while "latest.json" not in hub.files(REPO):  # the first checkpoint's last commit
        time.sleep(0.01)
    (run / "plots" / "loss.png").write_bytes(b"redrawn loss plot")
    mirror.submit_checkpoint(second, phase=1)
    assert mirror.close() == []
    run_file_commits = [c.added for c in hub.commits(REPO) if "README.md" in c.added]
    assert len(run_file_commits) == 2
    assert "tensorboard/events.out.tfevents.1700000000.host.1.0" in run_file_commits[0]
    assert "plots/loss.png" in run_file_commits[1]
    assert "tensorboard/events.out.tfevents.1700000000.host.1.0" not in run_file_commits[1]
    assert hub.files(REPO)["plots/loss.png"] == b"redrawn loss plot"


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread niceness is a Linux feature")
def test_mirror_thread_runs_at_the_lowest_priority_and_leaves_the_trainer_alone():
    seen = {}

    def worker():
        lower_thread_priority()
        seen["worker"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["worker"] == 19 and os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
