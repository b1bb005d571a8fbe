"""Reading a repo: what an hf:// address names and its download, repo checks, request timeouts."""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from fake_hub import FakeHub, Fault
from hub_helpers import HUB_TOKEN, make_fake_checkpoint, make_fake_run

from seqtrack_accel.config import HubConfig
from seqtrack_accel.hub import HubAddress, HubError, check_repo, download, parse_address
from seqtrack_accel.hub.remote import Failure, classify_error, configure_request_timeout

REPO = "org/run"


def publish(hub: FakeHub, run_dir: Path, *, full_state: bool = True, epochs: int = 2, best: int | None = None,
            repo: str = REPO) -> list[Path]:
    """A repo laid out as the mirror writes it (with best.json pointing at epoch ``best``), committed straight on the
    server."""
    checkpoints = make_fake_run(run_dir, epochs=epochs, full_state=full_state)
    hub.create_repo(repo)
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
    if best is not None:
        files["best.json"] = json.dumps({"path": f"phase_1/checkpoint_{best}", "phase": 1, "epoch": best,
                                         "metric": "free_iou", "value": 0.5}).encode()
    hub.commit_files(repo, files)
    return checkpoints


def fetch(hub: FakeHub, address: str, dest: Path | None, **kwargs) -> Path:
    return download(address, dest=dest, token=HUB_TOKEN, endpoint=hub.endpoint, **kwargs).folder


def test_download_of_the_repo_fetches_the_checkpoint_latest_json_points_at(hub, tmp_path):
    checkpoints = publish(hub, tmp_path / "run")

    folder = fetch(hub, f"hf://{REPO}", tmp_path / "dl", full_state=True)

    assert folder == tmp_path / "dl/phase_1/checkpoint_2"
    for f in checkpoints[1].iterdir():
        assert (folder / f.name).read_bytes() == f.read_bytes()


def test_download_of_a_named_checkpoint_fetches_that_one(hub, tmp_path):
    checkpoints = publish(hub, tmp_path / "run")

    folder = fetch(hub, f"hf://{REPO}/phase_1/checkpoint_1", tmp_path / "dl", full_state=True)

    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [p.name for p in checkpoints[0].iterdir()] + ["config.yaml"])
    assert (folder / "optimizer.bin").read_bytes() == (checkpoints[0] / "optimizer.bin").read_bytes()


def test_download_of_a_checkpoint_without_full_state_says_how_to_mirror_one(hub, tmp_path):
    publish(hub, tmp_path / "run", full_state=False)

    with pytest.raises(HubError, match=r"hub\.upload_full_state=true"):
        fetch(hub, f"hf://{REPO}", tmp_path / "dl", full_state=True)


def test_weights_only_download_needs_no_full_state(hub, tmp_path):
    publish(hub, tmp_path / "run", full_state=False)

    folder = fetch(hub, f"hf://{REPO}", tmp_path / "dl")

    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml", "model.safetensors", "training_state.json"]


@pytest.mark.parametrize("spec, message", [
    ("hf://org/absent", "repository org/absent was not found"),
    (f"hf://{REPO}/phase_1/checkpoint_9", "phase_1/checkpoint_9 is not in org/run; the repo holds: "
                                          "phase_1/checkpoint_1, phase_1/checkpoint_2"),
    (f"hf://{REPO}/checkpoint_1", "has no checkpoint_1/config.json, so checkpoint_1 is not a save_pretrained export; a "
                                  "mirrored run's checkpoint is named phase_N/checkpoint_E, latest or best"),
    (f"hf://{REPO}/best", r"hf://org/run/best is neither a save_pretrained export \(no best/config.json\) nor a "
                          r"mirrored run with a best.json; name a checkpoint, hf://org/run/phase_N/checkpoint_E"),
    (f"hf://{REPO}@v9", "org/run has no revision 'v9'"),
])
def test_download_errors_name_what_is_missing(hub, tmp_path, spec, message):
    publish(hub, tmp_path / "run")

    with pytest.raises(HubError, match=message):
        fetch(hub, spec, tmp_path / "dl")


def test_download_from_an_unreachable_hub_says_so_in_one_sentence(tmp_path, closed_port):
    endpoint = closed_port
    began = time.monotonic()
    with pytest.raises(HubError) as err:
        download(f"hf://{REPO}", dest=tmp_path / "dl", token=HUB_TOKEN)

    assert time.monotonic() - began < 5.0
    assert str(err.value).startswith(f"the Hub at {endpoint} could not be reached (ConnectError: ")
    assert "HF_ENDPOINT" in str(err.value) and "local checkpoint" in str(err.value)
    assert "httpx" not in "".join(traceback.format_exception(err.value))  # no transport traceback chained to it


@pytest.mark.parametrize("text, address", [
    ("hf://org/run", HubAddress("org/run")),
    ("hf://org/run@v1/best", HubAddress("org/run", "v1", "best")),
    ("hf://org/run/phase_1/checkpoint_6/", HubAddress("org/run", None, "phase_1/checkpoint_6")),
    ("hf://org/run@refs%2Fpr%2F1/exports/v1", HubAddress("org/run", "refs/pr/1", "exports/v1")),
])
def test_an_address_is_org_name_revision_and_path_and_reads_back_as_written(text, address):
    assert parse_address(text) == address
    assert parse_address(str(address)) == address


@pytest.mark.parametrize("spec", ["hf://org", "hf://org/run@", "hf://org//run", "hf://org/run/../x", "org/run"])
def test_malformed_addresses_are_refused_saying_how_to_write_one(spec):
    with pytest.raises(HubError, match=r"write hf://ORG/NAME\[@REVISION\]\[/PATH\]"):
        parse_address(spec)


def test_the_best_of_a_mirrored_run_is_the_checkpoint_best_json_names(hub, tmp_path):
    checkpoints = publish(hub, tmp_path / "run", epochs=3, best=2)

    folder = fetch(hub, f"hf://{REPO}/best", tmp_path / "dl", full_state=True)

    assert folder == tmp_path / "dl/phase_1/checkpoint_2"
    assert (folder / "model.safetensors").read_bytes() == (checkpoints[1] / "model.safetensors").read_bytes()


def test_an_export_is_a_model_that_cannot_resume_training(hub, tmp_path):
    hub.create_repo("org/export")
    hub.commit_files("org/export", {"config.json": b"{}", "model.safetensors": b"weights", "config.yaml": b"name: x\n"})

    fetched = download("hf://org/export", dest=tmp_path / "dl", token=HUB_TOKEN, endpoint=hub.endpoint)
    assert fetched.kind == "export"
    assert sorted(p.name for p in fetched.folder.glob("[!.]*")) == ["config.json", "config.yaml", "model.safetensors"]
    with pytest.raises(HubError, match=r"hf://org/export is a save_pretrained export \(config.json\): a model "
                                       r"without a training state, so it cannot resume training. Start a new run from "
                                       r"it with model.init=pretrained model.init_weights=hf://org/export"):
        fetch(hub, "hf://org/export", tmp_path / "dl2", full_state=True)


def test_an_export_in_a_folder_of_a_repo_loads_from_its_path(hub, tmp_path):
    publish(hub, tmp_path / "run")
    hub.commit_files(REPO, {"exports/v1/config.json": b"{}", "exports/v1/model.safetensors": b"weights"})

    fetched = download(f"hf://{REPO}/exports/v1", dest=tmp_path / "dl", token=HUB_TOKEN, endpoint=hub.endpoint)

    assert fetched.kind == "export" and fetched.folder == tmp_path / "dl/exports/v1"


def test_a_revision_reads_the_run_as_it_was_at_that_commit(hub, tmp_path):
    publish(hub, tmp_path / "run", epochs=1)
    then = hub.commit_files(REPO, {"README.md": b"# run\n"})
    second = make_fake_checkpoint(tmp_path / "run", epoch=2)
    hub.commit_files(REPO, {**{f"phase_1/checkpoint_2/{f.name}": f.read_bytes() for f in second.iterdir()},
                            "latest.json": json.dumps({"path": "phase_1/checkpoint_2"}).encode()})

    assert fetch(hub, f"hf://{REPO}", tmp_path / "now").name == "checkpoint_2"
    assert fetch(hub, f"hf://{REPO}@{then}", tmp_path / "then").name == "checkpoint_1"


def test_a_hub_address_in_model_init_weights_becomes_the_local_folder_of_its_weights(hub, tmp_path):
    from seqtrack_accel.config import load_config
    from seqtrack_accel.hub import with_hub_weights

    checkpoints = publish(hub, tmp_path / "run")
    cfg = load_config("demo", ["model.init=pretrained", f"model.init_weights=hf://{REPO}/phase_1/checkpoint_1"])

    local = with_hub_weights(cfg)

    weights = Path(local.model.init_weights) / "model.safetensors"
    assert weights.read_bytes() == (checkpoints[0] / "model.safetensors").read_bytes()
    assert local.model.init == "pretrained" and with_hub_weights(load_config("demo")) == load_config("demo")


def test_check_repo_finds_no_problem_in_a_well_formed_repo(hub, tmp_path):
    publish(hub, tmp_path / "run")

    assert check_repo(REPO, token=HUB_TOKEN, endpoint=hub.endpoint) == []


def test_check_repo_lists_every_problem_of_a_broken_repo(hub, tmp_path):
    publish(hub, tmp_path / "run")
    hub.commit_files(REPO, {"latest.json": b'{"path": "phase_1/checkpoint_7", "phase": 1, "epoch": 7, '
                                           b'"global_step": 112, "full_state": true}',
                            "phase_1/stray.bin": b"?"},
                     delete=["phase_1/checkpoint_1/model.safetensors", "tensorboard/events.out.tfevents.1700000000"
                             ".host.1.0", "README.md"])

    problems = check_repo(REPO, token=HUB_TOKEN, endpoint=hub.endpoint)

    assert problems == [
        "org/run/phase_1/checkpoint_1 has no weights (model*.safetensors); re-upload it with "
        "scripts/upload_checkpoint.py or delete the folder",
        "org/run/phase_1/stray.bin is outside any phase_N/checkpoint_E/ or phase_N/plots/ folder",
        "org/run/latest.json points at phase_1/checkpoint_7, which is not in the repo",
        "org/run has no TensorBoard event files under tensorboard/",
        "org/run has no model card (README.md)",
    ]


def test_check_repo_reports_a_missing_repo(hub):
    assert check_repo("org/absent", token=HUB_TOKEN, endpoint=hub.endpoint)[0].startswith(
        "repository org/absent was not found")


@pytest.fixture
def short_timeout():
    configure_request_timeout(0.2)
    yield
    configure_request_timeout(HubConfig().request_timeout)  # the process-wide timeout other tests expect


def test_every_request_gets_the_configured_timeout(hub, short_timeout):
    hub.create_repo(REPO)
    hub.inject([Fault.hang(3.0)])
    api = HfApi(endpoint=hub.endpoint, token=HUB_TOKEN)

    with pytest.raises(Exception) as err:  # repo_info passes timeout=None, which alone would wait forever
        api.repo_info(REPO)

    assert "Timeout" in type(err.value).__name__
    assert classify_error(err.value)[0] is Failure.TRANSIENT
