"""SeqTrackTracker: box mapping, clipping, template update, tiny random models, model loading."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from seqtrack_accel.cli.evaluate import main as evaluate_main
from seqtrack_accel.config import Config, dump_config, load_config
from seqtrack_accel.data.image import read_image
from seqtrack_accel.data.lasot import load_lasot
from seqtrack_accel.data.synthetic import make_synthetic_lasot
from seqtrack_accel.model import SeqTrack, SeqTrackConfig
from seqtrack_accel.tracking.evaluate import track_sequence, validate
from seqtrack_accel.tracking.metrics import sequence_errors
from seqtrack_accel.tracking.tracker import SeqTrackTracker, clip_box, load_tracker_model, map_box_back

TINY = ["model.encoder=tiny", "model.init=scratch", "model.bins=64", "model.hidden_dim=32", "model.decoder_heads=4",
        "model.decoder_ffn=64", "data.search.size=32", "data.search.factor=3.0", "data.template.size=16",
        "data.template.factor=2.0"]


def tiny_config(*overrides: str) -> Config:
    return load_config(None, [*TINY, *overrides])


def tiny_model(cfg: Config) -> SeqTrack:
    torch.manual_seed(0)
    return SeqTrack(SeqTrackConfig.from_config(cfg)).eval()


@pytest.fixture(scope="module")
def tiny() -> tuple[Config, SeqTrack]:
    """A tiny random network (built once: building the ViT takes most of a test's time)."""
    cfg = tiny_config()
    return cfg, tiny_model(cfg)


@pytest.fixture(scope="module")
def tiny_lasot(tmp_path_factory):
    """book-1..4 and coin-1..4, 16 frames of 96x72 (some invisible): the test split is book-3 and coin-3."""
    return make_synthetic_lasot(tmp_path_factory.mktemp("lasot") / "lasot", ("book", "coin"), 4, 16, (96, 72), 1)


@pytest.fixture(scope="module")
def lasot_test_split(tiny_lasot):
    return load_lasot(tiny_lasot, split="test")


@pytest.fixture(scope="module")
def book_3(tiny_lasot):
    return load_lasot(tiny_lasot, classes=["book"], split="test")[0]


# ---------------------------------------------------------------------------------------------------------------
# geometry


def test_map_box_back_shifts_by_previous_center_minus_half_the_crop():
    # previous box center (30, 40); a 64 px crop starts at (-2, 8); a crop-center box lands on the old center
    box = map_box_back(np.array([32.0, 32.0, 10.0, 20.0]), np.array([20.0, 20.0, 20.0, 40.0]), crop_side=64.0)
    np.testing.assert_allclose(box, [25.0, 30.0, 10.0, 20.0])


def test_clip_box_keeps_a_10_pixel_margin_inside_the_image():
    np.testing.assert_allclose(clip_box(np.array([-5.0, 90.0, 20.0, 30.0]), height=100, width=50), [0, 90, 15, 10])
    np.testing.assert_allclose(clip_box(np.array([45.0, 10.0, 30.0, 2.0]), height=100, width=50), [40, 10, 10, 10])


# ---------------------------------------------------------------------------------------------------------------
# template update, with a model whose output is fixed


class FixedOutputModel(torch.nn.Module):
    """Always predicts the crop-centred box of half the crop side; records the templates it is given."""

    def __init__(self, cfg: Config, confidence: float):
        super().__init__()
        self.config = SeqTrackConfig.from_config(cfg)
        self.confidence = confidence
        self.seen_templates: list[list[int]] = []

    def generate(self, template_images, search_images, window=True, use_cache=True):
        # Frames are uniform grey levels and the crops stay inside them: one pixel identifies the source frame.
        self.seen_templates.append([round(float(t[0, 0, 0]) * 255) for t in template_images[0]])
        return {"boxes": torch.tensor([[0.5, 0.5, 0.5, 0.5]]), "confidence": torch.tensor([self.confidence])}


def _grey(level: int) -> np.ndarray:
    return np.full((64, 64, 3), level, dtype=np.uint8)


def _seen_templates(confidence: float, threshold: float = 0.6, number: int = 2, frames: int = 7) -> list[list[int]]:
    cfg = tiny_config("data.mean=[0, 0, 0]", "data.std=[1, 1, 1]", f"data.template.number={number}",
                      "eval.template_update_interval=3", f"eval.template_update_threshold={threshold}",
                      "data.search.factor=2.0")
    model = FixedOutputModel(cfg, confidence)
    tracker = SeqTrackTracker(model, cfg)
    tracker.initialize(_grey(0), np.array([24.0, 24.0, 16.0, 16.0]))  # 32 px crops, inside the 64 px frame
    for index in range(1, frames + 1):
        box, _ = tracker.track(_grey(10 * index))
        np.testing.assert_allclose(box, [24.0, 24.0, 16.0, 16.0])  # the box stays put, so crops stay inside
    return model.seen_templates


def test_template_update_replaces_the_last_template_every_interval_when_confident():
    # generate() at frame k sees the templates chosen after frame k - 1; updates happen on frames 3 and 6.
    assert _seen_templates(confidence=0.7) == [[0, 0], [0, 0], [0, 0], [0, 30], [0, 30], [0, 30], [0, 60]]


def test_no_template_update_when_confidence_is_not_above_the_threshold():
    assert _seen_templates(confidence=0.5) == [[0, 0]] * 7
    assert _seen_templates(confidence=0.5, threshold=0.5) == [[0, 0]] * 7  # strictly above, as the original


def test_with_three_templates_the_update_drops_the_oldest_updatable_one_as_the_original():
    # The original appends the new template and removes index 1; the first frame's template always stays.
    assert _seen_templates(confidence=0.7, number=3)[3:] == [[0, 0, 30], [0, 0, 30], [0, 0, 30], [0, 30, 60]]


# ---------------------------------------------------------------------------------------------------------------
# a model that sees the object: crops, normalisation and the way back to image pixels fit together


class BrightObjectModel(torch.nn.Module):
    """Answers the box of the bright pixels of the search crop: the synthetic objects are bright (luma >= 170) on a
    dark background (<= 90). Where none is seen it answers the crop centre."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.config = SeqTrackConfig.from_config(cfg)
        self.mean = torch.tensor(cfg.data.mean)[:, None, None]
        self.std = torch.tensor(cfg.data.std)[:, None, None]
        self.factor = cfg.data.search.factor

    def generate(self, template_images, search_images, window=True, use_cache=True):
        rgb = search_images[0].float() * self.std + self.mean  # (3, H, W) in [0, 1]
        bright = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) > 0.6
        size = bright.shape[0]
        rows, cols = torch.nonzero(bright.any(dim=1)), torch.nonzero(bright.any(dim=0))
        if len(rows) == 0:
            box = [0.5, 0.5, 1 / self.factor, 1 / self.factor]
        else:
            x1, x2, y1, y2 = float(cols.min()), float(cols.max()) + 1, float(rows.min()), float(rows.max()) + 1
            box = [(x1 + x2) / 2 / size, (y1 + y2) / 2 / size, (x2 - x1) / size, (y2 - y1) / size]
        return {"boxes": torch.tensor([box]), "confidence": torch.tensor([40.0])}


def test_a_model_that_sees_the_object_tracks_it_on_every_visible_frame(lasot_test_split):
    cfg = tiny_config("data.search.size=64")
    assert any(not s.visible.all() for s in lasot_test_split)  # the sequences include occluded / out-of-view frames
    for sequence in lasot_test_split:
        boxes, _ = track_sequence(SeqTrackTracker(BrightObjectModel(cfg), cfg), sequence)
        errors = sequence_errors(boxes, sequence.boxes, sequence.visible, sequence.name)
        visible_overlaps = errors.overlap[errors.valid]
        assert visible_overlaps.min() > 0.6 and visible_overlaps.mean() > 0.8, (sequence.name, visible_overlaps)


def _track(book_3, cfg: Config, model: torch.nn.Module, dtype: torch.dtype,
           device: str = "cpu") -> tuple[np.ndarray, list[float]]:
    tracker = SeqTrackTracker(model, cfg, device=device, dtype=dtype)
    tracker.initialize(read_image(book_3.frame_path(0)), book_3.boxes[0])
    boxes, confidences = [], []
    for index in range(1, len(book_3)):
        box, confidence = tracker.track(read_image(book_3.frame_path(index)))
        boxes.append(box)
        confidences.append(confidence)
    return np.array(boxes), confidences


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("device, dtype", [
    ("cpu", torch.float32),
    ("cpu", torch.bfloat16),
    pytest.param("cuda", torch.float32, marks=CUDA),
    pytest.param("cuda", torch.bfloat16, marks=CUDA),
], ids=["cpu-fp32", "cpu-bf16-autocast", "cuda-fp32", "cuda-bf16-autocast"])
def test_tracker_boxes_stay_inside_the_image(book_3, tiny, device, dtype):
    cfg, model = tiny
    boxes, confidences = _track(book_3, cfg, model, dtype, device)
    height, width = read_image(book_3.frame_path(0)).shape[:2]
    assert boxes.shape == (len(book_3) - 1, 4) and np.isfinite(boxes).all()
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] >= 10).all()
    assert (boxes[:, 0] + boxes[:, 2] <= width).all() and (boxes[:, 1] + boxes[:, 3] <= height).all()
    assert all(0.0 <= c <= 40.0 for c in confidences)


def test_validate_scores_the_sequences_and_restores_train_mode(book_3, tiny):
    cfg, model = tiny
    model.cpu().train()
    result = validate(model, cfg, [book_3], max_frames=4)
    assert set(result) >= {"auc", "op50", "op75", "precision", "norm_precision", "fps"}
    assert 0.0 <= result["auc"] <= 100.0 and result["fps"] > 0
    assert model.training


# ---------------------------------------------------------------------------------------------------------------
# loading


def _training_checkpoint(folder, cfg: Config, model: SeqTrack):
    folder.mkdir(parents=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "config.yaml").write_text(dump_config(cfg))
    return folder


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def test_loads_a_training_checkpoint_folder_with_its_config(tmp_path, tiny):
    _, model = tiny
    cfg = tiny_config("name=tiny_run")
    loaded, loaded_cfg = load_tracker_model(str(_training_checkpoint(tmp_path / "ckpt", cfg, model)))
    assert loaded_cfg == cfg and _same_weights(loaded, model) and not loaded.training


def test_loads_a_save_pretrained_folder_with_the_given_config(tmp_path, tiny):
    cfg, model = tiny
    model.save_pretrained(tmp_path / "export")
    loaded, loaded_cfg = load_tracker_model(str(tmp_path / "export"), cfg)
    assert loaded_cfg == cfg and _same_weights(loaded, model)


def test_a_config_that_builds_another_network_is_refused(tmp_path, tiny):
    cfg, model = tiny
    folder = _training_checkpoint(tmp_path / "ckpt", cfg, model)
    with pytest.raises(ValueError, match="data.search.size"):
        load_tracker_model(str(folder), tiny_config("data.search.size=48"))


def test_an_original_checkpoint_without_a_config_is_refused(tmp_path):
    path = tmp_path / "SEQTRACK_ep0500.pth.tar"
    torch.save({"net": {}}, path)
    with pytest.raises(ValueError, match="--config"):
        load_tracker_model(str(path))


def test_a_missing_checkpoint_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_tracker_model(str(tmp_path / "nowhere"))


def test_an_unreachable_hub_repo_id_is_an_error_naming_it(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network in tests
    with pytest.raises(FileNotFoundError, match="runs/missing is neither a local checkpoint nor"):
        load_tracker_model("runs/missing")


def test_cli_tracks_with_a_checkpoint_and_reports_speed(tmp_path, tiny_lasot, tiny, capsys):
    cfg = tiny_config("name=tiny_run", "eval.classes=[book]")
    folder = _training_checkpoint(tmp_path / "ckpt", cfg, tiny[1])
    argv = ["--checkpoint", str(folder), "--root", str(tiny_lasot), "--output", str(tmp_path / "out"),
            "--device", "cpu", "--max_frames", "4", "--no_plots"]
    evaluate_main(argv)
    document = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(document["trackers"]) == ["tiny_run"]
    assert document["trackers"]["tiny_run"]["overall"]["frames"] == 4
    speed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(speed) == 1 and speed[0]["metric"] == "tracking_speed"
    assert speed[0]["frames"] == 4 and speed[0]["tracked_frames"] == 4 and speed[0]["fps"] > 0


def test_cli_run_again_resumes_and_reports_the_speed_from_the_result_files(tmp_path, tiny_lasot, tiny, capsys):
    folder = _training_checkpoint(tmp_path / "ckpt", tiny_config("name=tiny_run", "eval.classes=[book]"), tiny[1])
    argv = ["--checkpoint", str(folder), "--root", str(tiny_lasot), "--output", str(tmp_path / "out"),
            "--device", "cpu", "--max_frames", "4", "--no_plots"]
    evaluate_main(argv)
    first = json.loads(capsys.readouterr().out.splitlines()[-2])
    evaluate_main(argv)
    again = json.loads(capsys.readouterr().out.splitlines()[-2])
    assert again["tracked_frames"] == 0 and again["skipped_sequences"] == 1
    assert again["fps"] == first["fps"] and again["frames"] == 4
