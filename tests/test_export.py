"""seqtrack-export: the ONNX export folder, parity with PyTorch under onnxruntime, tracking and evaluating with
``--backend onnx``, and what a failed or refused export leaves behind. Skipped without the optional export extra."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
onnxruntime = pytest.importorskip("onnxruntime")

from model_helpers import write_checkpoint  # noqa: E402

from seqtrack_accel import export  # noqa: E402
from seqtrack_accel.cli.evaluate import main as evaluate_main  # noqa: E402
from seqtrack_accel.cli.export import main as export_main  # noqa: E402
from seqtrack_accel.cli.track import main as track_main  # noqa: E402
from seqtrack_accel.config import load_config  # noqa: E402
from seqtrack_accel.model import SeqTrack  # noqa: E402

# The demo's crops (64 px search, 32 px templates) on the smallest encoder, 64 bins; evaluated on the session's
# synthetic tree (conftest), so no tree of the demo's settings is asked for.
NANO = ["model.encoder=nano", "model.init=scratch", "model.bins=64", "data.datasets[0].synthetic=null"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A training checkpoint folder (config.yaml + model.safetensors) of a small random network."""
    return write_checkpoint(tmp_path_factory.mktemp("checkpoint"), "demo", NANO)


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory) -> tuple[str, dict, list[str]]:
    """The checkpoint exported with the CLI (once for the module: the exporter takes about 15 s) with --overwrite, over
    an earlier export of other files: the folder, the JSON line it printed and the package's log lines (INFO and
    above)."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("exports") / "nano"
    folder.mkdir()
    for name, text in ((export.MODEL_FILE, "an earlier model"), (export.CONFIG_FILE, "name: earlier\n"),
                       (export.INFO_FILE, json.dumps({"source": "an earlier export"}))):
        (folder / name).write_text(text)
    out = io.StringIO()
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    log = logging.getLogger("seqtrack_accel")
    level = log.level
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        with contextlib.redirect_stdout(out):
            assert export_main(["--checkpoint", checkpoint, "--output", str(folder), "--overwrite"]) == 0
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    return str(folder), json.loads(out.getvalue()), lines


@pytest.fixture(scope="module")
def torch_model(checkpoint) -> SeqTrack:
    from seqtrack_accel.tracking.tracker import load_tracker_model

    return load_tracker_model(checkpoint)[0]


def _crops(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 2, 3, 32, 32, generator=generator), torch.randn(batch, 3, 64, 64, generator=generator)


def test_export_folder_holds_the_model_its_config_and_what_was_checked(exported, checkpoint):
    folder, line, _ = exported
    info = json.loads((export.Path(folder) / export.INFO_FILE).read_text())
    assert sorted(p.name for p in export.Path(folder).iterdir()) == ["config.yaml", "export.json", "seqtrack.onnx"]
    assert load_config(export.Path(folder) / "config.yaml") == load_config(export.Path(checkpoint) / "config.yaml")
    assert info["parity"]["tokens_equal"] and info["parity"]["max_prob_abs_diff"] <= export.PROB_ATOL
    assert info["source"] == checkpoint and len(info["source_identity"]["weights_sha256"]) == 64
    assert line["model_sha256"] == info["model_sha256"] and line["parity"] == info["parity"]


def test_export_logs_each_stage_as_it_goes(exported, checkpoint):
    stages = ["loading the checkpoint", "exporting the network", "wrote seqtrack.onnx", "parity check: onnxruntime",
              "parity check passed", "wrote the export folder"]
    lines = [line for line in exported[2] if line.startswith(tuple(stages))]
    assert [next(s for s in stages if line.startswith(s)) for line in lines] == stages
    assert checkpoint in lines[0] and "encoder nano" in lines[1] and exported[0] in lines[-1]


def test_the_graph_takes_any_batch_size(exported):
    import onnx

    graph = onnx.load(str(export.Path(exported[0]) / export.MODEL_FILE)).graph
    batch_dims = [tensor.type.tensor_type.shape.dim[0] for tensor in (*graph.input, *graph.output)]
    assert [t.name for t in graph.input] == list(export.INPUT_NAMES)
    assert [t.name for t in graph.output] == list(export.OUTPUT_NAMES)
    assert all(dim.dim_param and not dim.dim_value for dim in batch_dims)


@pytest.mark.parametrize("batch", [1, 5])
def test_onnxruntime_gives_the_pytorch_tokens_and_probabilities(exported, torch_model, batch):
    session = onnxruntime.InferenceSession(str(export.Path(exported[0]) / export.MODEL_FILE),
                                           providers=["CPUExecutionProvider"])
    templates, search = _crops(batch, seed=10 + batch)
    tokens, probs = session.run(None, {"template_images": templates.numpy(), "search_images": search.numpy()})
    with torch.inference_mode():
        expected = torch_model.generate(templates, search)
    np.testing.assert_array_equal(tokens, expected["tokens"].numpy())
    np.testing.assert_allclose(probs, expected["probs"].numpy(), rtol=0, atol=export.PROB_ATOL)


def test_onnx_model_generates_what_the_pytorch_model_generates(exported, torch_model):
    model, _ = export.load_onnx_tracker_model(exported[0])
    templates, search = _crops(2, seed=3)
    got = model.to("cpu").eval().generate(templates, search)
    with torch.inference_mode():
        expected = torch_model.generate(templates, search)
    assert torch.equal(got["tokens"], expected["tokens"]) and torch.equal(got["boxes"], expected["boxes"])
    torch.testing.assert_close(got["confidence"], expected["confidence"], rtol=0, atol=10 * 4 * export.PROB_ATOL)


def test_tracking_a_video_with_the_onnx_backend_gives_the_boxes_of_the_torch_backend(
        exported, checkpoint, synthetic_lasot, tmp_path):
    frames = synthetic_lasot / "coin" / "coin-3" / "img"
    box = (synthetic_lasot / "coin" / "coin-3" / "groundtruth.txt").read_text().splitlines()[0]
    results = {}
    for backend, source in (("torch", checkpoint), ("onnx", exported[0])):
        assert track_main([str(frames), "--box", box, "--checkpoint", source, "--backend", backend,
                           "--output", str(tmp_path / backend), "--device", "cpu"]) == 0
        results[backend] = np.loadtxt(tmp_path / backend / "coin-3.txt", delimiter=",")
    np.testing.assert_array_equal(results["onnx"][:, :4], results["torch"][:, :4])
    np.testing.assert_allclose(results["onnx"][1:, 4], results["torch"][1:, 4], atol=10 * 4 * export.PROB_ATOL)


def test_evaluating_the_onnx_export_scores_as_the_pytorch_model(exported, checkpoint, synthetic_lasot, tmp_path):
    aucs = {}
    for backend, source in (("torch", checkpoint), ("onnx", exported[0])):
        output = tmp_path / backend
        assert evaluate_main(["--checkpoint", source, "--backend", backend, "--root", str(synthetic_lasot),
                              "--output", str(output), "--device", "cpu", "--no_plots", "--max_frames", "10",
                              "--classes", "coin"]) == 0
        document = json.loads((output / "summary.json").read_text())
        (tracker,) = document["trackers"].values()
        aucs[backend] = tracker["overall"]["auc"]
        assert tracker["produced_by"]["loaded_from"]["source"] == source
    assert aucs["onnx"] == aucs["torch"]
    assert export_record_backend(tmp_path / "onnx") == "onnx"


def export_record_backend(output) -> str | None:
    (tracker,) = json.loads((output / "summary.json").read_text())["trackers"].values()
    return tracker["produced_by"]["loaded_from"].get("backend")


def test_an_existing_export_folder_is_kept_without_overwrite(exported, checkpoint, capsys):
    before = (export.Path(exported[0]) / export.INFO_FILE).read_text()
    assert export_main(["--checkpoint", checkpoint, "--output", exported[0]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--overwrite" in err and exported[0] in err
    assert (export.Path(exported[0]) / export.INFO_FILE).read_text() == before


def test_a_failed_export_leaves_no_folder_behind(checkpoint, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("the exporter failed")

    from seqtrack_accel.tracking.tracker import load_tracker_model

    model, cfg = load_tracker_model(checkpoint)
    monkeypatch.setattr(torch.onnx, "export", fail)
    with pytest.raises(RuntimeError, match="the exporter failed"):
        export.export_onnx(model, cfg, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_window_other_than_the_exported_one_is_refused(exported):
    model, _ = export.load_onnx_tracker_model(exported[0])
    templates, search = _crops(1, seed=0)
    with pytest.raises(ValueError, match="eval.hanning=False"):
        model.generate(templates, search, window=False)


def test_a_folder_that_is_not_an_export_is_named(checkpoint):
    with pytest.raises(FileNotFoundError, match="export.json is missing.*seqtrack-export"):
        export.load_onnx_tracker_model(checkpoint)


# --overwrite replaces an earlier export and nothing else


def _tree(folder) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes): what must survive a refused export."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(checkpoint, output, capsys) -> str:
    assert export_main(["--checkpoint", checkpoint, "--output", str(output), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
    return err


@pytest.fixture
def run_folder(tmp_path):
    """A training run folder as the trainer leaves it: config, checkpoints, logs, TensorBoard."""
    run = tmp_path / "runs" / "demo"
    for name in ("config.yaml", "train.log", "phase_1/checkpoints/checkpoint_1/model.safetensors",
                 "phase_1/checkpoints/checkpoint_1/training_state.json", "plots/loss.png",
                 "tensorboard/events.out.tfevents.1.host"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(f"{name} of the run")
    return run


def test_overwrite_refuses_a_training_run_folder_and_leaves_it_as_it_was(checkpoint, run_folder, capsys):
    before = _tree(run_folder)
    err = _refused(checkpoint, run_folder, capsys)
    assert f"{run_folder} is not an export folder (it has no export.json; it holds config.yaml, phase_1/" in err
    assert _tree(run_folder) == before


def test_overwrite_refuses_a_folder_of_the_users_own_files(checkpoint, tmp_path, capsys):
    mine = tmp_path / "holiday"
    (mine / "photos").mkdir(parents=True)
    (mine / "photos" / "beach.jpg").write_bytes(b"\xff\xd8 a photo")
    (mine / "notes.txt").write_text("do not delete")
    before = _tree(mine)
    err = _refused(checkpoint, mine, capsys)
    assert "it holds notes.txt, photos/" in err and _tree(mine) == before


def test_overwrite_refuses_an_export_folder_that_holds_the_users_files_too(exported, checkpoint, tmp_path, capsys):
    import shutil

    folder = shutil.copytree(exported[0], tmp_path / "export")
    (folder / "results.csv").write_text("my measurements")
    before = _tree(folder)
    err = _refused(checkpoint, folder, capsys)
    assert "holds files an export does not write: results.csv" in err and _tree(folder) == before


def test_a_folder_whose_run_lock_is_held_is_never_touched(exported, checkpoint, tmp_path, capsys):
    import shutil

    from seqtrack_accel.run_folder import RunLock

    folder = shutil.copytree(exported[0], tmp_path / "export")  # an export, even: the running run wins
    lock = RunLock(folder)
    lock.acquire()
    try:
        before = _tree(folder)
        err = _refused(checkpoint, folder, capsys)
    finally:
        lock.release()
    assert "training run in progress (PID " in err and _tree(folder) == before


def test_overwrite_replaces_an_earlier_export(exported, checkpoint):
    folder = export.Path(exported[0])  # written over an earlier export (the fixture)
    assert json.loads((folder / export.INFO_FILE).read_text())["source"] == checkpoint
    assert (folder / export.MODEL_FILE).read_bytes() != b"an earlier model"
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no staging or old copy left beside it


# what an export names is what loads


def test_a_swapped_model_is_refused_naming_both_hashes(exported, tmp_path, capsys, synthetic_lasot):
    import shutil

    import onnx

    folder = shutil.copytree(exported[0], tmp_path / "export")
    other = onnx.load(str(folder / export.MODEL_FILE))
    other.producer_version += "-retrained"  # another model: a valid ONNX file with other bytes
    onnx.save(other, str(folder / export.MODEL_FILE))
    recorded, actual = exported[1]["model_sha256"], export._sha256(folder / export.MODEL_FILE)
    with pytest.raises(ValueError, match=f"its SHA-256 is {actual}, export.json records {recorded}"):
        export.load_onnx_tracker_model(folder)
    frames = synthetic_lasot / "coin" / "coin-3" / "img"
    assert track_main([str(frames), "--box", "10,10,20,20", "--checkpoint", str(folder), "--backend", "onnx",
                       "--output", str(tmp_path / "track"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and actual in err and recorded in err
    assert not (tmp_path / "track").exists()


@pytest.mark.parametrize("model_file", ["../elsewhere/seqtrack.onnx", "/tmp/seqtrack.onnx", "sub/seqtrack.onnx"])
def test_a_model_file_outside_the_export_folder_is_refused(exported, tmp_path, model_file):
    import shutil

    folder = shutil.copytree(exported[0], tmp_path / "export")
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(folder / export.MODEL_FILE, tmp_path / "elsewhere" / export.MODEL_FILE)  # the same bytes, even
    info = json.loads((folder / export.INFO_FILE).read_text())
    (folder / export.INFO_FILE).write_text(json.dumps({**info, "model_file": model_file}))
    with pytest.raises(ValueError, match=f"model_file names {model_file!r}, which is not a file of the export"):
        export.load_onnx_tracker_model(folder)


def test_a_model_file_that_links_out_of_the_export_folder_is_refused(exported, tmp_path):
    import shutil

    folder = shutil.copytree(exported[0], tmp_path / "export")
    (tmp_path / "elsewhere").mkdir()
    outside = shutil.move(folder / export.MODEL_FILE, tmp_path / "elsewhere" / export.MODEL_FILE)
    (folder / export.MODEL_FILE).symlink_to(outside)
    with pytest.raises(ValueError, match="leads out of the export folder"):
        export.load_onnx_tracker_model(folder)
