"""seqtrack-export: the ONNX export folder, parity with PyTorch under onnxruntime, tracking and evaluating with
``--backend onnx``, and what a failed or refused export leaves behind. Skipped without the optional export extra."""

from __future__ import annotations

import json

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
NANO = ["model.encoder=nano", "model.init=scratch", "model.bins=64", "data.synthetic=null"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A training checkpoint folder (config.yaml + model.safetensors) of a small random network."""
    return write_checkpoint(tmp_path_factory.mktemp("checkpoint"), "demo", NANO)


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory) -> tuple[str, dict]:
    """The checkpoint exported with the CLI (once for the module: the exporter takes about 15 s): the folder and
    the JSON line it printed."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("exports") / "nano"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert export_main(["--checkpoint", checkpoint, "--output", str(folder)]) == 0
    return str(folder), json.loads(out.getvalue())


@pytest.fixture(scope="module")
def torch_model(checkpoint) -> SeqTrack:
    from seqtrack_accel.tracking.tracker import load_tracker_model

    return load_tracker_model(checkpoint)[0]


def _crops(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 2, 3, 32, 32, generator=generator), torch.randn(batch, 3, 64, 64, generator=generator)


def test_export_folder_holds_the_model_its_config_and_what_was_checked(exported, checkpoint):
    folder, line = exported
    info = json.loads((export.Path(folder) / export.INFO_FILE).read_text())
    assert sorted(p.name for p in export.Path(folder).iterdir()) == ["config.yaml", "export.json", "seqtrack.onnx"]
    assert load_config(export.Path(folder) / "config.yaml") == load_config(export.Path(checkpoint) / "config.yaml")
    assert info["parity"]["tokens_equal"] and info["parity"]["max_prob_abs_diff"] <= export.PROB_ATOL
    assert info["source"] == checkpoint and len(info["source_identity"]["weights_sha256"]) == 64
    assert line["model_sha256"] == info["model_sha256"] and line["parity"] == info["parity"]


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
        results[backend] = np.loadtxt(tmp_path / backend / "boxes.txt", delimiter=",")
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
