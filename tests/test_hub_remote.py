"""Reading a mirrored repo: resume downloads, repo checks, request timeouts, checkpoint specs."""

from __future__ import annotations

import json
import socket
import time
import traceback
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from fake_hub import FakeHub, Fault
from hub_helpers import make_fake_run

from seqtrack_accel.config import HubConfig
from seqtrack_accel.hub import HubError, check_repo, download_checkpoint, parse_spec
from seqtrack_accel.hub.remote import Failure, classify_error, configure_request_timeout

TOKEN = "hf_remote_test_token"
REPO = "org/run"


@pytest.fixture
def hub():
    with FakeHub(token=TOKEN) as server:
        yield server


def publish(hub: FakeHub, run_dir: Path, *, full_state: bool = True, epochs: int = 2) -> list[Path]:
    """A repo laid out as the mirror writes it, committed straight on the server."""
    checkpoints = make_fake_run(run_dir, epochs=epochs, full_state=full_state)
    hub.create_repo(REPO)
    files = {}
    for ckpt in checkpoints:
        for f in ckpt.iterdir():
            files[f"phase_1/{ckpt.name}/{f.name}"] = f.read_bytes()
        files[f"phase_1/{ckpt.name}/config.yaml"] = (run_dir / "config.yaml").read_bytes()
    for local in ("tensorboard/events.out.tfevents.1700000000.host.1.0", "plots/loss.png", "plots/iou.png"):
        files[local] = (run_dir / local).read_bytes()
    files["README.md"] = b"---\nlibrary_name: seqtrack-accel\n---\n# run\n"
    files["latest.json"] = json.dumps({"path": f"phase_1/checkpoint_{epochs}", "phase": 1, "epoch": epochs,
                                       "global_step": 16 * epochs, "full_state": full_state}).encode()
    hub.commit_files(REPO, files)
    return checkpoints


def test_download_of_the_repo_fetches_the_checkpoint_latest_json_points_at(hub, tmp_path):
    checkpoints = publish(hub, tmp_path / "run")

    folder = download_checkpoint(f"hf://{REPO}", tmp_path / "dl", token=TOKEN, endpoint=hub.endpoint)

    assert folder == tmp_path / "dl/phase_1/checkpoint_2"
    for f in checkpoints[1].iterdir():
        assert (folder / f.name).read_bytes() == f.read_bytes()


def test_download_of_a_named_checkpoint_fetches_that_one(hub, tmp_path):
    checkpoints = publish(hub, tmp_path / "run")

    folder = download_checkpoint(f"hf://{REPO}/phase_1/checkpoint_1", tmp_path / "dl", token=TOKEN,
                                 endpoint=hub.endpoint)

    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [p.name for p in checkpoints[0].iterdir()] + ["config.yaml"])
    assert (folder / "optimizer.bin").read_bytes() == (checkpoints[0] / "optimizer.bin").read_bytes()


def test_download_of_a_checkpoint_without_full_state_says_how_to_mirror_one(hub, tmp_path):
    publish(hub, tmp_path / "run", full_state=False)

    with pytest.raises(HubError, match=r"hub\.upload_full_state=true"):
        download_checkpoint(f"hf://{REPO}", tmp_path / "dl", token=TOKEN, endpoint=hub.endpoint)


def test_weights_only_download_needs_no_full_state(hub, tmp_path):
    publish(hub, tmp_path / "run", full_state=False)

    folder = download_checkpoint(f"hf://{REPO}", tmp_path / "dl", token=TOKEN, endpoint=hub.endpoint,
                                 weights_only=True)

    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml", "model.safetensors", "training_state.json"]


@pytest.mark.parametrize("spec, message", [
    ("hf://org/absent", "repository org/absent was not found"),
    (f"hf://{REPO}/phase_1/checkpoint_9", "phase_1/checkpoint_9 is not in org/run; the repo holds: "
                                          "phase_1/checkpoint_1, phase_1/checkpoint_2"),
])
def test_download_errors_name_what_is_missing(hub, tmp_path, spec, message):
    publish(hub, tmp_path / "run")

    with pytest.raises(HubError, match=message):
        download_checkpoint(spec, tmp_path / "dl", token=TOKEN, endpoint=hub.endpoint)


def test_download_from_an_unreachable_hub_says_so_in_one_sentence(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on: the connection is refused
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)

    began = time.monotonic()
    with pytest.raises(HubError) as err:
        download_checkpoint(f"hf://{REPO}", tmp_path / "dl", token=TOKEN)

    assert time.monotonic() - began < 5.0
    assert str(err.value).startswith(f"the Hub at {endpoint} could not be reached (ConnectError: ")
    assert "HF_ENDPOINT" in str(err.value) and "local checkpoint" in str(err.value)
    assert "httpx" not in "".join(traceback.format_exception(err.value))  # no transport traceback chained to it


@pytest.mark.parametrize("spec", ["hf://org", "hf://org/run/checkpoint_1", "hf://org/run/phase_1/ckpt_1",
                                  "org/run"])
def test_malformed_hub_specs_are_refused(spec):
    with pytest.raises(HubError, match="hf://ORG/NAME"):
        parse_spec(spec)


def test_check_repo_finds_no_problem_in_a_well_formed_repo(hub, tmp_path):
    publish(hub, tmp_path / "run")

    assert check_repo(REPO, token=TOKEN, endpoint=hub.endpoint) == []


def test_check_repo_lists_every_problem_of_a_broken_repo(hub, tmp_path):
    publish(hub, tmp_path / "run")
    hub.commit_files(REPO, {"latest.json": b'{"path": "phase_1/checkpoint_7", "phase": 1, "epoch": 7, '
                                           b'"global_step": 112, "full_state": true}',
                            "phase_1/stray.bin": b"?"},
                     delete=["phase_1/checkpoint_1/model.safetensors", "tensorboard/events.out.tfevents.1700000000"
                             ".host.1.0", "README.md"])

    problems = check_repo(REPO, token=TOKEN, endpoint=hub.endpoint)

    assert problems == [
        "org/run/phase_1/checkpoint_1 has no weights (model*.safetensors); re-upload it with "
        "scripts/upload_checkpoint.py or delete the folder",
        "org/run/phase_1/stray.bin is outside any phase_N/checkpoint_E/ or phase_N/plots/ folder",
        "org/run/latest.json points at phase_1/checkpoint_7, which is not in the repo",
        "org/run has no TensorBoard event files under tensorboard/",
        "org/run has no model card (README.md)",
    ]


def test_check_repo_reports_a_missing_repo(hub):
    assert check_repo("org/absent", token=TOKEN, endpoint=hub.endpoint)[0].startswith(
        "repository org/absent was not found")


@pytest.fixture
def short_timeout():
    configure_request_timeout(0.2)
    yield
    configure_request_timeout(HubConfig().request_timeout)  # the process-wide timeout other tests expect


def test_every_request_gets_the_configured_timeout(hub, short_timeout):
    hub.create_repo(REPO)
    hub.inject([Fault.hang(3.0)])
    api = HfApi(endpoint=hub.endpoint, token=TOKEN)

    with pytest.raises(Exception) as err:  # repo_info passes timeout=None, which alone would wait forever
        api.repo_info(REPO)

    assert "Timeout" in type(err.value).__name__
    assert classify_error(err.value)[0] is Failure.TRANSIENT
