"""SeqTrackTracker: box mapping, clipping, template update, tiny random models, model loading."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard, constants
from safetensors.torch import save_file

from fake_hub import FakeHub
from seqtrack_accel.hub import HubError
from seqtrack_accel.cli.evaluate import main as evaluate_main
from seqtrack_accel.cli.track import main as track_main
from seqtrack_accel.config import Config, dump_config, load_config
from seqtrack_accel.data.image import read_image
from seqtrack_accel.data.lasot import load_lasot
from seqtrack_accel.data.synthetic import make_synthetic_lasot
from seqtrack_accel.model import SeqTrack, SeqTrackConfig
from seqtrack_accel.tracking.evaluate import track_sequence, validate
from seqtrack_accel.tracking.metrics import sequence_errors
from seqtrack_accel.tracking.tracker import (SeqTrackTracker, clip_box, load_tracker_checkpoint, load_tracker_model,
                                             map_box_back)

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


def _training_checkpoint(folder, cfg: Config, model: SeqTrack, shift: float = 0.0):
    """``model``'s weights (every floating-point one plus ``shift``: another training's) and ``cfg``."""
    folder.mkdir(parents=True)
    weights = {k: (v.detach().cpu() + shift if v.is_floating_point() else v.detach().cpu()).contiguous()
               for k, v in model.state_dict().items()}
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "config.yaml").write_text(dump_config(cfg))
    return folder


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def test_a_save_pretrained_folder_with_its_config_is_evaluated_and_tracked_without_config(tmp_path, tiny_lasot,
                                                                                         tiny):
    cfg, model = tiny
    cfg = dataclasses.replace(cfg, name="tiny_export")
    model.save_pretrained(tmp_path / "export", config=cfg)
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [
        "README.md", "config.json", "config.yaml", "model.safetensors"]
    assert load_tracker_model(str(tmp_path / "export"))[1] == cfg
    assert evaluate_main(["--checkpoint", str(tmp_path / "export"), "--root", str(tiny_lasot), "--output",
                          str(tmp_path / "evaluation"), "--device", "cpu", "--max_frames", "4", "--no_plots"]) == 0
    assert "tiny_export" in json.loads((tmp_path / "evaluation" / "summary.json").read_text())["trackers"]
    frames = tiny_lasot / "book" / "book-3" / "img"
    box = (tiny_lasot / "book" / "book-3" / "groundtruth.txt").read_text().splitlines()[0]
    assert track_main([str(frames), "--box", box, "--checkpoint", str(tmp_path / "export"), "--output",
                       str(tmp_path / "track"), "--device", "cpu", "--max_frames", "4"]) == 0
    assert len((tmp_path / "track" / "book-3.txt").read_text().splitlines()) == 4


def test_a_save_pretrained_folder_has_a_model_card_saying_what_it_is_and_how_to_use_it(tmp_path, tiny):
    cfg, model = tiny
    model.save_pretrained(tmp_path / "export", config=cfg)
    card = ModelCard.load(tmp_path / "export" / "README.md")
    assert card.data.library_name == "seqtrack-accel" and "visual-object-tracking" in card.data.tags
    assert "[More Information Needed]" not in card.text
    assert "ViT-tiny encoder reads\n2 template crops of 16 px and a search crop of 32 px" in card.text
    assert "search region at 3x and the templates at 2x the target's" in card.text
    assert "seqtrack-track video.mp4 --checkpoint FOLDER" in card.text
    assert "seqtrack-evaluate --checkpoint FOLDER" in card.text and "load_tracker_model(\"FOLDER\")" in card.text


def test_a_folder_saved_without_its_config_says_to_give_one(tmp_path, tiny):
    model = tiny[1]
    model.save_pretrained(tmp_path / "export")
    assert "This folder has no `config.yaml`" in (tmp_path / "export" / "README.md").read_text()
    with pytest.raises(FileNotFoundError, match=r"no config.yaml .* --config CONFIG, or save it again with "
                                                r"model.save_pretrained\(folder, config=cfg\)"):
        load_tracker_model(str(tmp_path / "export"))


def test_save_pretrained_refuses_the_config_of_another_network(tmp_path, tiny):
    with pytest.raises(ValueError, match="data.search.size"):
        tiny[1].save_pretrained(tmp_path / "export", config=tiny_config("data.search.size=48"))
    assert not (tmp_path / "export").exists()


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


def test_the_identity_of_a_checkpoint_is_the_hash_of_its_weights_file(tmp_path, tiny):
    cfg, model = tiny
    folder = _training_checkpoint(tmp_path / "ckpt", cfg, model)
    identity = load_tracker_checkpoint(str(folder)).identity
    assert identity == {"weights_sha256": _sha256(folder / "model.safetensors"), "source": str(folder)}


def test_a_relative_path_that_does_not_exist_fails_at_once_without_asking_the_hub(tmp_path, monkeypatch):
    def no_hub(*args, **kwargs):
        raise AssertionError("the Hub was asked")

    monkeypatch.setattr("seqtrack_accel.tracking.tracker.download", no_hub)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"checkpoint runs/nothere does not exist.* hf://runs/nothere"):
        load_tracker_model("runs/nothere")


def test_offline_a_hub_model_missing_from_the_cache_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # no network in tests
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(HubError, match="hf://org/missing: HF_HUB_OFFLINE is set and the download cache holds no copy "
                                       "of an export or checkpoint of org/missing at its root"):
        load_tracker_model("hf://org/missing")


@pytest.mark.parametrize("source", ["hf://org", "hf://org//name", "hf://org/name@"])
def test_a_malformed_hub_source_says_how_to_write_it(source):
    with pytest.raises(HubError, match=r"write hf://ORG/NAME\[@REVISION\]\[/PATH\]"):
        load_tracker_model(source)


HUB_TOKEN = "hf_tracker_test_token"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A local Hub that the loader finds through HF_ENDPOINT / HF_TOKEN, with an empty download cache."""
    with FakeHub(token=HUB_TOKEN) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub_cache"))
        yield server


def _publish_export(hub: FakeHub, folder, cfg: Config, model: SeqTrack, repo: str = "org/export") -> str:
    """Commit ``model.save_pretrained`` with the training config to ``repo``; returns the commit."""
    model.save_pretrained(folder, config=cfg)
    if not hub.repo_exists(repo):
        hub.create_repo(repo)
    return hub.commit_files(repo, {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file()})


def test_loads_a_save_pretrained_export_from_the_hub_written_hf_org_name(tmp_path, hub, tiny):
    cfg, model = tiny
    commit = _publish_export(hub, tmp_path / "export", cfg, model)
    loaded = load_tracker_checkpoint("hf://org/export")
    assert loaded.cfg == cfg and _same_weights(loaded.model, model)
    assert loaded.identity == {"weights_sha256": _sha256(tmp_path / "export" / "model.safetensors"),
                               "source": "hf://org/export", "hub_commit": commit}


def test_a_hub_revision_loads_the_weights_of_that_commit(tmp_path, hub, tiny):
    cfg, model = tiny
    first = _publish_export(hub, tmp_path / "first", cfg, model)
    retrained = tiny_model(cfg)
    with torch.no_grad():
        next(retrained.parameters()).add_(1.0)
    _publish_export(hub, tmp_path / "second", cfg, retrained)
    loaded = load_tracker_checkpoint(f"hf://org/export@{first}")
    assert _same_weights(loaded.model, model) and loaded.identity["hub_commit"] == first


def test_offline_a_cached_hub_export_loads_without_asking_the_hub(tmp_path, hub, tiny, monkeypatch):
    cfg, model = tiny
    _publish_export(hub, tmp_path / "export", cfg, model)
    load_tracker_model("hf://org/export")  # into the cache
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing answers there
    loaded, loaded_cfg = load_tracker_model("hf://org/export")
    assert loaded_cfg == cfg and _same_weights(loaded, model)


def _publish_run(hub: FakeHub, folder, cfg: Config, models: dict[int, SeqTrack], best: int) -> str:
    """A mirrored run's repo: ``phase_1/checkpoint_E`` of each model (weights, training state, config), latest.json
    at the last, best.json at epoch ``best``; returns the commit."""
    files = {}
    for epoch, model in models.items():
        checkpoint = _training_checkpoint(folder / f"checkpoint_{epoch}", cfg, model)
        (checkpoint / "training_state.json").write_text("{}")
        files.update({f"phase_1/checkpoint_{epoch}/{f.name}": f.read_bytes() for f in checkpoint.iterdir()})
    files["latest.json"] = json.dumps({"path": f"phase_1/checkpoint_{max(models)}"}).encode()
    files["best.json"] = json.dumps({"path": f"phase_1/checkpoint_{best}", "metric": "free_iou"}).encode()
    hub.create_repo("org/run")
    return hub.commit_files("org/run", files)


def test_a_mirrored_run_on_the_hub_loads_its_newest_its_best_or_a_named_checkpoint(tmp_path, hub, tiny):
    cfg, model = tiny
    later = tiny_model(cfg)
    with torch.no_grad():
        next(later.parameters()).add_(1.0)
    commit = _publish_run(hub, tmp_path / "run", cfg, {1: model, 2: later}, best=1)

    newest, best = load_tracker_checkpoint("hf://org/run"), load_tracker_checkpoint("hf://org/run/best")
    named, named_cfg = load_tracker_model("hf://org/run/phase_1/checkpoint_2")

    assert _same_weights(newest.model, later) and _same_weights(named, later) and _same_weights(best.model, model)
    assert best.cfg == named_cfg == cfg and best.identity["hub_commit"] == commit


def test_a_hub_repo_with_neither_an_export_nor_a_run_says_what_it_holds(hub):
    hub.create_repo("org/empty")
    hub.commit_files("org/empty", {"README.md": b"# nothing here\n"})
    with pytest.raises(HubError, match=r"hf://org/empty is neither a save_pretrained export \(no config.json\) nor a "
                                       r"mirrored run with a latest.json.*the repo holds: no checkpoints"):
        load_tracker_model("hf://org/empty")


def test_cli_with_a_checkpoint_that_does_not_exist_fails_at_once_with_one_error_line(tmp_path, monkeypatch,
                                                                                    capsys):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    assert evaluate_main(["--checkpoint", "runs/nothere", "--no_plots"]) == 2
    assert time.perf_counter() - start < 0.5
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint runs/nothere does not exist") and "hf://runs/nothere" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_tracks_with_a_checkpoint_and_reports_speed(tmp_path, tiny_lasot, tiny, capsys):
    cfg = tiny_config("name=tiny_run", "eval.dataset.classes=[book]")
    folder = _training_checkpoint(tmp_path / "ckpt", cfg, tiny[1])
    argv = ["--checkpoint", str(folder), "--root", str(tiny_lasot), "--output", str(tmp_path / "out"),
            "--device", "cpu", "--max_frames", "4", "--no_plots"]
    evaluate_main(argv)
    document = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(document["trackers"]) == ["tiny_run"]
    assert document["trackers"]["tiny_run"]["overall"]["frames"] == 4
    produced_by = document["trackers"]["tiny_run"]["produced_by"]
    assert produced_by["weights_sha256"] == _sha256(folder / "model.safetensors")
    assert produced_by["max_frames"] == 4 and produced_by["settings"]["eval.template_update_interval"] == 450
    speed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(speed) == 1 and speed[0]["metric"] == "tracking_speed"
    assert speed[0]["frames"] == 4 and speed[0]["tracked_frames"] == 4 and speed[0]["fps"] > 0


def test_cli_run_again_resumes_and_reports_the_speed_from_the_result_files(tmp_path, tiny_lasot, tiny, capsys):
    folder = _training_checkpoint(tmp_path / "ckpt", tiny_config("name=tiny_run", "eval.dataset.classes=[book]"),
                                  tiny[1])
    argv = ["--checkpoint", str(folder), "--root", str(tiny_lasot), "--output", str(tmp_path / "out"),
            "--device", "cpu", "--max_frames", "4", "--no_plots"]
    evaluate_main(argv)
    first = json.loads(capsys.readouterr().out.splitlines()[-2])
    evaluate_main(argv)
    again = json.loads(capsys.readouterr().out.splitlines()[-2])
    assert again["tracked_frames"] == 0 and again["skipped_sequences"] == 1
    assert again["fps"] == first["fps"] and again["frames"] == 4


def _evaluate_two_checkpoints(tmp_path, tiny_lasot, tiny, *second_flags: str) -> int:
    """Evaluate a checkpoint, then another training's checkpoint of the same config into the default output folder
    (both are tiny_run: output/evaluation/tiny_run/tiny_run/). Returns the exit status of the second."""
    cfg = tiny_config("name=tiny_run", "eval.dataset.classes=[book]")
    first = _training_checkpoint(tmp_path / "first" / "checkpoint_1", cfg, tiny[1])
    second = _training_checkpoint(tmp_path / "second" / "checkpoint_1", cfg, tiny[1], shift=0.01)
    common = ["--root", str(tiny_lasot), "--device", "cpu", "--max_frames", "4", "--no_plots"]
    assert evaluate_main(["--checkpoint", str(first), *common]) == 0
    return evaluate_main(["--checkpoint", str(second), *second_flags, *common])


def test_cli_refuses_the_results_of_another_checkpoint_naming_what_differs(tmp_path, tiny_lasot, tiny, capsys,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert _evaluate_two_checkpoints(tmp_path, tiny_lasot, tiny) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("error: output/evaluation/tiny_run/tiny_run holds results of "
                                                     "other weights or settings: weights_sha256")
    assert "--overwrite" in err and "Traceback" not in err
    assert out.count("tracking_speed") == 1  # the first run's only: no stale scores are reported


def test_cli_overwrite_tracks_another_checkpoint_again(tmp_path, tiny_lasot, tiny, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _evaluate_two_checkpoints(tmp_path, tiny_lasot, tiny, "--overwrite") == 0
    speed = json.loads(capsys.readouterr().out.splitlines()[-2])
    assert speed["tracked_frames"] == 4 and speed["skipped_sequences"] == 0
    document = json.loads((tmp_path / "output/evaluation/tiny_run/summary.json").read_text())
    weights = tmp_path / "second" / "checkpoint_1" / "model.safetensors"
    assert document["trackers"]["tiny_run"]["produced_by"]["weights_sha256"] == _sha256(weights)
