"""The repo tools: create a repo, upload one checkpoint, check a repo; each returns its exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from huggingface_hub import HfApi

from fake_hub import Fault
from hub_helpers import HUB_TOKEN, make_fake_checkpoint, make_fake_run

from seqtrack_accel.cli import check_repo, create_hf_repo, upload_checkpoint

REPO = "org/run"


def test_create_hf_repo_creates_a_private_repo_then_reports_it_exists(hub, capsys):
    assert create_hf_repo.main([REPO]) == 0
    assert create_hf_repo.main([REPO, "--public"]) == 0

    out = capsys.readouterr().out
    assert "created the private repo" in out and "org/run already exists (private)" in out
    assert hub.repo_exists(REPO)


def test_upload_checkpoint_puts_it_in_its_phase_folder_and_points_latest_at_it(hub, tmp_path):
    ckpt = make_fake_checkpoint(tmp_path / "run", phase=2, epoch=4)

    assert upload_checkpoint.main([str(ckpt), "--repo_id", REPO]) == 0

    files = hub.files(REPO)
    assert files["phase_2/checkpoint_4/model.safetensors"] == (ckpt / "model.safetensors").read_bytes()
    assert json.loads(files["latest.json"]) == {"path": "phase_2/checkpoint_4", "phase": 2, "epoch": 4,
                                                "global_step": 64, "full_state": True}
    assert HfApi(endpoint=hub.endpoint, token=HUB_TOKEN).repo_info(REPO).private  # created as the trainer would


def test_upload_checkpoint_of_an_older_checkpoint_leaves_latest_json_alone(hub, tmp_path):
    run = tmp_path / "run"
    older, newer = make_fake_run(run, epochs=2)
    assert upload_checkpoint.main([str(newer), "--repo_id", REPO]) == 0

    assert upload_checkpoint.main([str(older), "--repo_id", REPO]) == 0

    assert "phase_1/checkpoint_1/optimizer.bin" in hub.files(REPO)
    assert json.loads(hub.files(REPO)["latest.json"])["path"] == "phase_1/checkpoint_2"


def test_upload_checkpoint_that_fails_exits_1_and_says_what_was_not_mirrored(hub, tmp_path, capsys):
    (ckpt,) = make_fake_run(tmp_path / "run", epochs=1)
    hub.create_repo(REPO)
    hub.inject([Fault.status(422, match="/commit/")])  # the checkpoint's commit

    assert upload_checkpoint.main([str(ckpt), "--repo_id", REPO]) == 1

    assert "not mirrored: phase_1/checkpoint_1: checkpoint files" in capsys.readouterr().err
    assert "phase_1/checkpoint_1/model.safetensors" not in hub.files(REPO) and "latest.json" not in hub.files(REPO)


def test_upload_checkpoint_refuses_a_folder_outside_a_run_folder(hub, tmp_path, capsys):
    ckpt = make_fake_checkpoint(tmp_path / "run", phase=1, epoch=1)
    moved = ckpt.rename(tmp_path / ckpt.name)

    assert upload_checkpoint.main([str(moved), "--repo_id", REPO]) == 1
    assert "is not in DIR/phase_1/checkpoints/ of a run folder" in capsys.readouterr().err
    assert not hub.repo_exists(REPO)


def test_check_repo_exits_0_on_a_mirrored_run_and_1_when_something_is_missing(hub, tmp_path, capsys):
    run = tmp_path / "run"
    make_fake_run(run, epochs=1)
    create_hf_repo.main([REPO])
    upload_checkpoint.main([str(run / "phase_1/checkpoints/checkpoint_1"), "--repo_id", REPO])
    hub.commit_files(REPO, {"README.md": b"# run\n",
                            "tensorboard/events.out.tfevents.1.host": (run / "tensorboard/events.out.tfevents."
                                                                        "1700000000.host.1.0").read_bytes()})
    assert check_repo.main([REPO]) == 0
    assert "phase_1/\n  checkpoint_1" in capsys.readouterr().out

    hub.commit_files(REPO, delete=["phase_1/checkpoint_1/training_state.json"])
    assert check_repo.main([REPO]) == 1
    assert "phase_1/checkpoint_1 has no training_state.json" in capsys.readouterr().err


def test_the_script_file_passes_the_exit_code_to_the_shell(hub):
    script = Path(__file__).resolve().parents[1] / "scripts" / "check_repo.py"
    done = subprocess.run([sys.executable, str(script), "org/absent"], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_DISABLE_XET": "1"}, timeout=120)

    assert done.returncode == 1
    assert "repository org/absent was not found" in done.stderr
