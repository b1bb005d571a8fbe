"""Sources: datasets mixed by ratio, the one root resolver (the config or the environment), the registry's kinds and
splits, the evaluation source, per-source counts."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader
from train_helpers import resumes_exactly, tiny_config

from seqtrack_accel.config import ConfigError, DataConfig, SourceConfig, load_config
from seqtrack_accel.data import (EpochSampler, TrackingDataset, load_lasot, make_synthetic_coco, make_synthetic_got10k,
                                 worker_init_fn)
from seqtrack_accel.data.sources import Source, evaluation_source, load_source, resolve_root

def two_sources(root) -> list[Source]:
    return [Source("books", load_lasot(root, classes=["book"], split="all"), 1.0),
            Source("coins", load_lasot(root, classes=["coin"], split="all"), 3.0)]


def small_data_cfg(root) -> DataConfig:
    return tiny_config(root, "data.samples_per_epoch=4000").data


def test_each_sample_comes_from_a_source_in_proportion_to_its_ratio(synthetic_lasot):
    dataset = TrackingDataset(small_data_cfg(synthetic_lasot), two_sources(synthetic_lasot), seed=0)
    coins = sum(dataset.first_draw(i)[0].class_name == "coin" for i in range(4000))
    assert abs(coins / 4000 - 0.75) < 0.03  # 3:1; the binomial standard deviation is 0.007


@pytest.mark.parametrize("workers", [1, 2])
def test_two_sources_give_the_same_samples_for_any_number_of_workers(synthetic_lasot, workers):
    cfg = dataclasses.replace(small_data_cfg(synthetic_lasot), samples_per_epoch=8)

    def samples(num_workers):
        dataset = TrackingDataset(cfg, two_sources(synthetic_lasot), seed=0)
        loader = DataLoader(dataset, batch_size=4, sampler=EpochSampler(8), num_workers=num_workers,
                            worker_init_fn=worker_init_fn, timeout=60 if num_workers else 0)
        return [batch["search_images"] for batch in loader]

    assert all(torch.equal(a, b) for a, b in zip(samples(0), samples(workers)))


def test_a_run_on_lasot_and_coco_resumes_exactly_and_logs_the_samples_of_each(synthetic_lasot, tmp_path):
    coco = make_synthetic_coco(tmp_path / "coco", images=6, objects_per_image=2, size=(160, 120), seed=0)
    cfg = tiny_config(synthetic_lasot, f"data.datasets=[{{name: lasot, root: {synthetic_lasot}}}, "
                                       f"{{name: coco17, root: {coco}, ratio: 2}}]")
    assert resumes_exactly(cfg, tmp_path)
    events = EventAccumulator(str(tmp_path / "straight" / "tensorboard")).Reload()
    drawn = {tag: events.Scalars(tag)[-1].value for tag in ("data/samples_lasot", "data/samples_coco17")}
    assert sum(drawn.values()) == 2 * cfg.data.samples_per_epoch and min(drawn.values()) > 0


def test_a_source_without_a_root_names_the_key_and_the_variable(monkeypatch):
    monkeypatch.delenv("GOT10K_ROOT", raising=False)
    with pytest.raises(ConfigError, match=r"'data.datasets\[0\].root': no root is set for GOT-10k \(got10k\): set "
                                          r"data.datasets\[0\].root=/path, or export GOT10K_ROOT=/path"):
        resolve_root(SourceConfig("got10k"), "data.datasets[0]")


def test_a_root_that_is_not_a_folder_names_the_kind_the_variable_and_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKINGNET_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"root of TrackingNet \(\$TRACKINGNET_ROOT\) is .*nowhere, which is "
                                                r"not a folder; set data.datasets\[2\].root=/path or export "
                                                r"TRACKINGNET_ROOT"):
        resolve_root(SourceConfig("trackingnet"), "data.datasets[2]")


def test_the_root_comes_from_the_kinds_variable_relative_to_the_working_directory(monkeypatch, tmp_path):
    (tmp_path / "lasot").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LASOT_ROOT", "lasot")
    assert resolve_root(SourceConfig("lasot"), "data.datasets[0]") == tmp_path.resolve() / "lasot"


def test_a_root_given_on_a_command_line_is_named_as_its_option(monkeypatch):
    monkeypatch.delenv("OTB_ROOT", raising=False)
    with pytest.raises(FileNotFoundError, match=r"--root: no root is set for OTB100 .*pass --root /path, or export "
                                                r"OTB_ROOT"):
        resolve_root(SourceConfig("otb100"), "--dataset otb100", "--root")


def test_an_unknown_kind_is_an_error_listing_the_kinds(synthetic_lasot):
    with pytest.raises(ConfigError, match=r"'data.datasets\[1\].name': must be one of lasot, got10k, trackingnet, "
                                          r"coco17, custom, lasot_ext, tnl2k, uav123, otb100, nfs, procedural, got "
                                          r"'lasott'"):
        load_source(SourceConfig("lasott", root=str(synthetic_lasot)), "data.datasets[1]")


def test_a_split_the_kind_does_not_have_is_an_error_listing_its_splits(synthetic_lasot):
    with pytest.raises(ConfigError, match=r"'eval.dataset.split': LaSOT has the splits train, test, all, not 'val'"):
        load_source(SourceConfig("lasot", root=str(synthetic_lasot), split="val"), "eval.dataset")


@pytest.mark.parametrize("first, split", [("lasot", "test"), ("custom", "test"), ("got10k", "val")])
def test_the_evaluation_source_is_the_first_training_sources_held_out_split(first, split):
    cfg = load_config("demo", [f"data.datasets=[{{name: {first}, root: /data/x, classes: [a]}}, {{name: coco17}}]"])
    source, key = evaluation_source(cfg)
    assert source == SourceConfig(first, root="/data/x", classes=("a",), split=split) and key == "data.datasets[0]"


def test_a_first_source_without_a_held_out_split_asks_for_an_evaluation_source():
    cfg = load_config("demo", ["data.datasets=[{name: trackingnet}]"])
    with pytest.raises(ConfigError, match=r"'eval.dataset': is not set, and data.datasets\[0\] \(TrackingNet\) has "
                                          r"no annotated held-out split .*set eval.dataset"):
        evaluation_source(cfg)


def test_an_evaluation_source_without_a_split_reads_its_held_out_split():
    cfg = load_config("demo", ["eval.dataset={name: got10k, root: /data/GOT-10k}"])
    assert evaluation_source(cfg) == (SourceConfig("got10k", root="/data/GOT-10k", split="val"), "eval.dataset")


def test_classes_of_a_kind_whose_reader_takes_none_keep_those_sequences(tmp_path):
    root = make_synthetic_got10k(tmp_path / "got10k", sequences=6, frames=6, size=(64, 48))
    sequences = load_source(SourceConfig("got10k", root=str(root), classes=("cup", "fish")), "data.datasets[0]")
    assert sorted({s.class_name for s in sequences}) == ["cup", "fish"] and len(sequences) == 2
    with pytest.raises(ValueError, match=r"class\(es\) dog not found in GOT-10k at .*; its classes: bird, book"):
        load_source(SourceConfig("got10k", root=str(root), classes=("dog",)), "data.datasets[0]")


def test_the_same_dataset_and_split_twice_is_refused(synthetic_lasot):
    from seqtrack_accel.data.sources import build_sources

    entry = f"{{name: lasot, root: {synthetic_lasot}}}"
    cfg = load_config("demo", [f"data.datasets=[{entry}, {entry}]"])
    with pytest.raises(ConfigError, match="lists lasot more than once"):
        build_sources(cfg.data)
