"""The procedural source: clips of objects no other clip shows, rendered on the fly, and a held-out test split whose
looks no training clip has."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from train_helpers import resumes_exactly, sha, tiny_config

from seqtrack_accel.cli.evaluate import main as evaluate_main
from seqtrack_accel.config import ConfigError, DataConfig, ProceduralConfig, SourceConfig, load_config
from seqtrack_accel.data import EpochSampler, TrackingDataset, load_lasot, worker_init_fn
from seqtrack_accel.data import looks, procedural
from seqtrack_accel.data.procedural import ProceduralClips, draw_clip, make_procedural_tree
from seqtrack_accel.data.sources import Source, build_sources, load_source
from seqtrack_accel.tracking.benchmarks import BENCHMARKS

SMALL = ProceduralConfig(width=128, height=96, frames=24, test_sequences=5, backgrounds=3)
SOURCE = "{name: procedural, procedural: {width: 128, height: 96, frames: 24, backgrounds: 3}}"


def test_a_clip_is_a_pure_function_of_its_seed():
    a, b = draw_clip("train", 11, SMALL), draw_clip("train", 11, SMALL)
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.visible, b.visible)
    assert all(np.array_equal(a.render(t), b.render(t)) for t in (0, 9, 23))
    assert not np.array_equal(a.render(9), draw_clip("train", 12, SMALL).render(9))


def test_the_same_arguments_write_the_same_tree_bytes(tmp_path):
    first = make_procedural_tree(tmp_path / "a", "test", sequences=2, frames=20, size=(96, 64), seed=3)
    second = make_procedural_tree(tmp_path / "b", "test", sequences=2, frames=20, size=(96, 64), seed=3)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == 2 * 24 + 2  # 20 frames and 4 text files per sequence; the manifest and README
    assert all(sha(first / f) == sha(second / f) for f in files)


def test_the_two_splits_share_no_look_family():
    train, test = looks.SPLITS["train"], looks.SPLITS["test"]
    for kind in ("shapes", "textures", "schemes", "backgrounds"):
        assert getattr(train, kind) and getattr(test, kind)
    assert not train.names() & test.names()


@pytest.mark.parametrize("split", ["train", "test"])
def test_everything_in_a_clip_is_drawn_from_its_own_splits_families(split, monkeypatch):
    """Objects, distractors, occluders, backgrounds and everything inside them: every family that is drawn."""
    drawn = set()
    for module in (looks, procedural):
        for name in ("shape_alpha", "texture", "palette", "background"):
            if hasattr(module, name):
                original = getattr(looks, name)

                def record(family, *args, _original=original, **kwargs):
                    drawn.add(family)
                    return _original(family, *args, **kwargs)

                monkeypatch.setattr(module, name, record)
    for seed in range(12):
        clip = draw_clip(split, seed, SMALL)
        for t in range(0, 24, 6):
            clip.render(t)
    assert drawn <= looks.SPLITS[split].names()
    assert looks.SPLITS[split].backgrounds[0] in drawn or looks.SPLITS[split].backgrounds[1] in drawn


def test_the_test_tree_states_that_its_looks_are_held_out(tmp_path):
    root = make_procedural_tree(tmp_path / "test", "test", sequences=5, frames=20, size=(96, 64), seed=0)
    manifest = json.loads((root / "synthetic.json").read_text())
    assert manifest["split"] == "test" and manifest["looks"]["shapes"] == list(looks.SPLITS["test"].shapes)
    assert not set(sum(manifest["looks"].values(), [])) & set(sum(manifest["train_looks"].values(), []))
    readme = (root / "README.md").read_text()
    assert "none of them is used by the train split" in readme and "star, ring, cross" in readme
    sequences = load_lasot(root, split="all")
    assert sorted({s.class_name for s in sequences}) == sorted(looks.SPLITS["test"].shapes)


def test_every_test_sequence_starts_with_its_object_whole_in_view(tmp_path):
    root = make_procedural_tree(tmp_path / "test", "test", sequences=10, frames=20, size=(96, 64), seed=1)
    for sequence in load_lasot(root, split="all"):
        x, y, w, h = sequence.boxes[0]
        assert sequence.visible[0] and x > 0 and y > 0 and x + w < 96 and y + h < 64, sequence.name


def test_the_box_is_the_drawn_objects_box_within_a_pixel_and_a_half():
    for seed in range(6):
        clip = draw_clip("train", seed, SMALL)
        for t in np.flatnonzero(clip.visible)[::5]:
            ys, xs = np.nonzero(clip.silhouette(t) >= 0.5)
            if len(xs) == 0:  # a sliver at the border: its box is a pixel or two
                continue
            x, y, w, h = clip.boxes[t]
            drawn = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            assert np.abs(drawn - [x, y, x + w, y + h]).max() <= 1.5, (seed, t)


def test_hidden_frames_are_flagged_and_have_no_box_when_out_of_view():
    clips = [draw_clip("test", seed, SMALL) for seed in range(30)]
    for clip in clips:
        assert np.array_equal(clip.visible, ~clip.occluded & ~clip.out_of_view)
        assert np.array_equal(clip.out_of_view, (clip.boxes == 0).all(axis=1))
    assert any(c.occluded.any() for c in clips) and any(c.out_of_view.any() for c in clips)


def test_every_training_sample_shows_a_new_clip():
    clips = ProceduralClips(SMALL)
    seeds = {clips.draw(np.random.default_rng((0, 0, i))).seed for i in range(50)}
    assert len(seeds) == 50
    fixed = ProceduralClips(dataclasses.replace(SMALL, clips=3))
    assert len({fixed.draw(np.random.default_rng((0, 0, i))).seed for i in range(50)}) == 3


def _dataset(data: DataConfig, seed: int = 0) -> TrackingDataset:
    return TrackingDataset(data, build_sources(data), seed=seed)


@pytest.mark.parametrize("workers", [1, 2])
def test_rendered_samples_are_the_same_for_any_number_of_workers(synthetic_lasot, workers):
    data = dataclasses.replace(tiny_config(synthetic_lasot, f"data.datasets=[{SOURCE}]").data, samples_per_epoch=8)

    def samples(num_workers):
        loader = DataLoader(_dataset(data), batch_size=4, sampler=EpochSampler(8, epoch=1), num_workers=num_workers,
                            worker_init_fn=worker_init_fn, timeout=60 if num_workers else 0)
        return [batch for batch in loader]

    reference, others = samples(0), samples(workers)
    assert len(reference) == len(others) == 2
    assert all(torch.equal(a[k], b[k]) for a, b in zip(reference, others) for k in a)


def test_the_procedural_source_mixes_with_a_dataset_on_disk(synthetic_lasot):
    data = tiny_config(synthetic_lasot, f"data.datasets=[{SOURCE}, {{name: lasot, root: {synthetic_lasot}}}]",
                       "data.samples_per_epoch=24").data
    dataset = _dataset(data)
    batch = next(iter(DataLoader(dataset, batch_size=24, sampler=EpochSampler(24))))
    assert batch["search_images"].shape == (24, 3, 32, 32) and batch["template_images"].shape == (24, 2, 3, 16, 16)
    assert min(dataset.drawn.values()) > 0 and set(dataset.drawn) == {"procedural", "lasot"}


def test_a_run_on_procedural_data_resumes_exactly(synthetic_lasot, tmp_path):
    # validated on the LaSOT tree's test split: the procedural source's own test split is a tree written on first use
    cfg = tiny_config(synthetic_lasot, f"data.datasets=[{SOURCE}]",
                      f"eval.dataset={{name: lasot, root: {synthetic_lasot}, split: test}}")
    assert resumes_exactly(cfg, tmp_path)


def test_the_test_split_is_written_on_first_use_and_read_as_sequences(tmp_path):
    source = SourceConfig("procedural", split="test", root=str(tmp_path / "held_out"), procedural=SMALL)
    sequences = load_source(source, "eval.dataset")
    assert len(sequences) == 5 and all(len(s) == 24 for s in sequences)
    assert (tmp_path / "held_out" / "README.md").is_file()
    changed = dataclasses.replace(source, procedural=dataclasses.replace(SMALL, frames=30))
    with pytest.raises(FileExistsError, match="frames 24 there, 30 in eval.dataset.procedural"):
        load_source(changed, "eval.dataset")


def test_seqtrack_evaluate_scores_a_procedural_test_tree_at_root_as_it_is(tmp_path):
    """--dataset procedural: the tree at --root, of any settings (here not the defaults), is read and scored as your
    own sequences are, never published to a model card."""
    root = make_procedural_tree(tmp_path / "held_out", "test", sequences=2, frames=20, size=(96, 64), seed=4)
    written = sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*.jpg"))
    assert evaluate_main(["--dataset", "procedural", "--root", str(root), "--baseline", "first-box", "--output",
                          str(tmp_path / "out"), "--no_plots"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert sorted(summary["trackers"]["first-box"]["per_sequence"]) == sorted(
        s.name for s in load_lasot(root, split="all"))
    assert sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*.jpg")) == written
    assert not BENCHMARKS["procedural"].public


def test_a_root_given_on_the_command_line_is_not_written(tmp_path, capsys):
    """The demo's evaluation source is the procedural test split, written at its config root on first use; a --root
    names a folder to read as it is, so a missing one is an error, not a new tree."""
    missing = tmp_path / "no_such_tree"
    assert evaluate_main(["--config", "demo", "--root", str(missing), "--baseline", "first-box", "--output",
                          str(tmp_path / "out"), "--no_plots"]) == 2
    assert f"{missing}, which is not a folder" in capsys.readouterr().err and not missing.exists()


def test_the_training_split_has_no_sequences_to_evaluate():
    with pytest.raises(ConfigError, match="eval.dataset.split.*rendered on the fly.*split: test"):
        load_source(SourceConfig("procedural"), "eval.dataset")


@pytest.mark.parametrize("override, key", [
    ("data.datasets=[{name: lasot, procedural: {frames: 30}}]", "procedural"),
    ("data.datasets=[{name: procedural, split: val}]", "split"),
    ("data.datasets=[{name: procedural, procedural: {frames: 10}}]", "frames"),
])
def test_procedural_settings_are_checked_naming_the_key(override, key):
    """A value when the config loads; which kind takes it and its splits when the sources are built (the registry's
    checks), before anything is read or rendered."""
    with pytest.raises(ConfigError, match=rf"data.datasets\[0\].*{key}"):
        build_sources(load_config("demo", [override]).data)


def test_a_source_of_rendered_clips_needs_no_sequences():
    source = Source("procedural", [], 1.0, ProceduralClips(SMALL))
    data = DataConfig(samples_per_epoch=4, max_sample_interval=10)
    sample = TrackingDataset(data, [source], seed=0)[3]
    assert sample["search_images"].dtype == torch.uint8 and sample["search_anno"].shape == (4,)
