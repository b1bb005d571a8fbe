"""The sample stream of every training source is fixed: for a given seed, the draws (source, sequence, frames,
crop plans) are the same as those of the readers that held one Python object per sequence, which these digests
were recorded from. Everything a sample's pixels depend on besides the frames' bytes is in a draw: the sequence, the
frame files and every random choice of the crops. The trees are the package's synthetic generators, whose boxes
come from one seeded numpy Generator."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from train_helpers import tiny_config

from seqtrack_accel.data import (TrackingDataset, build_sources, make_synthetic_coco, make_synthetic_custom,
                                 make_synthetic_got10k, make_synthetic_lasot, make_synthetic_trackingnet)

DRAWS = 300
SIZE = (64, 48)


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("stream")
    return {
        "lasot": make_synthetic_lasot(out / "lasot", ("book", "coin"), 4, 25, SIZE, seed=1),
        "got10k": make_synthetic_got10k(out / "got10k", sequences=5, frames=24, size=SIZE, seed=2),
        "trackingnet": make_synthetic_trackingnet(out / "trackingnet", chunks=2, sequences_per_chunk=3, frames=22,
                                                  size=SIZE, seed=3),
        "coco17": make_synthetic_coco(out / "coco", images=6, objects_per_image=3, size=SIZE, seed=4),
        "custom": make_synthetic_custom(out / "custom", ("cat", "dog"), 3, 21, SIZE, seed=5),
    }


SOURCES = {
    "lasot": "{name: lasot, root: %s, split: all}",
    "got10k": "{name: got10k, root: %s, split: train_full}",
    "trackingnet": "{name: trackingnet, root: %s}",
    "coco17": "{name: coco17, root: %s}",
    "custom": "{name: custom, root: %s, split: all}",
}


def stream_digest(trees: dict[str, Path], names: list[str], seed: int = 7) -> str:
    """SHA-256 of the first draws of ``DRAWS`` samples of a dataset over the sources ``names`` (ratios 1, 2, ...)."""
    entries = ", ".join(SOURCES[n].replace("}", f", ratio: {i + 1}}}") % trees[n] for i, n in enumerate(names))
    cfg = tiny_config(trees["lasot"], f"data.datasets=[{entries}]", "data.samples_per_epoch=100")
    dataset = TrackingDataset(cfg.data, build_sources(cfg.data), seed=seed)
    base = trees["lasot"].parent
    digest = hashlib.sha256()
    for index in range(DRAWS):
        sequence, frame_ids, plans = dataset.first_draw(index)
        paths = [sequence.frame_path(f).relative_to(base).as_posix() for f in frame_ids]
        digest.update(repr((sequence.name, sequence.class_name, frame_ids, paths, plans)).encode())
    return digest.hexdigest()


EXPECTED = {
    "lasot": "f54a336233a57a611afd6fbbe879a006bd1a58a98034a6a0523d0c5a365f9c96",
    "got10k": "1483a58e2c95d6246d63ccc8d6994acb6c8209d3636d1721969ad5ac611cd2e3",
    "trackingnet": "0ad473e8edb653f90c859700c5dedc8f93b4643dd47e25db2eeeb1f6e82435a2",
    "coco17": "b448f4ea34ba223c608d491e64ddda84c64840edc6de636c5a9a3a1a30eb2f60",
    "custom": "6d6c25535c039aad058f3848e62e77da897642e762b029acfe46e01c925ff858",
    "lasot+got10k+coco17+trackingnet": "8081b8c182b8272add3206577a31ee51cbaf1338bd47b3464ba76a2410a1d057",
}


@pytest.mark.parametrize("names", list(EXPECTED))
def test_the_sample_stream_of_each_source_and_of_the_b256_mix_is_unchanged(trees, names):
    assert stream_digest(trees, names.split("+")) == EXPECTED[names]
