"""Training sources: datasets mixed by ratio, roots from the config or the environment, per-source counts."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader
from train_helpers import sha, tiny_config, train

from seqtrack_accel.config import ConfigError, DataConfig, SourceConfig, load_config
from seqtrack_accel.data import EpochSampler, TrackingDataset, load_lasot, make_synthetic_coco, worker_init_fn
from seqtrack_accel.data.sources import Source, source_root

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
    train(cfg, tmp_path / "straight", epochs=2)
    train(cfg, tmp_path / "resumed", epochs=1)
    train(cfg, tmp_path / "resumed", epochs=2, resume_from="latest")
    final = "phase_1/checkpoints/checkpoint_2/model.safetensors"
    assert sha(tmp_path / "straight" / final) == sha(tmp_path / "resumed" / final)
    events = EventAccumulator(str(tmp_path / "straight" / "tensorboard")).Reload()
    drawn = {tag: events.Scalars(tag)[-1].value for tag in ("data/samples_lasot", "data/samples_coco17")}
    assert sum(drawn.values()) == 2 * cfg.data.samples_per_epoch and min(drawn.values()) > 0


def test_a_dataset_without_a_root_names_its_variable(monkeypatch):
    monkeypatch.delenv("GOT10K_ROOT", raising=False)
    with pytest.raises(ConfigError, match=r"data.datasets\[0\].root.*'got10k'.*export GOT10K_ROOT"):
        source_root(SourceConfig("got10k"), DataConfig(), "data.datasets[0]")


def test_a_root_that_is_not_a_folder_names_the_dataset_the_variable_and_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKINGNET_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"'trackingnet' \(\$TRACKINGNET_ROOT\) is .*nowhere"):
        source_root(SourceConfig("trackingnet"), DataConfig(), "data.datasets[0]")


def test_the_same_dataset_and_split_twice_is_refused(synthetic_lasot):
    from seqtrack_accel.data.sources import build_sources

    entry = f"{{name: lasot, root: {synthetic_lasot}}}"
    cfg = load_config("demo", [f"data.datasets=[{entry}, {entry}]"])
    with pytest.raises(ConfigError, match="lists lasot more than once"):
        build_sources(cfg.data)
