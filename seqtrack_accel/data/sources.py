"""Where the training sequences come from: one reader per dataset, roots from the config or the environment.

    data:
      datasets:                                   # the original B256 recipe: four datasets, equal shares
        - {name: lasot}
        - {name: got10k, split: vottrain}
        - {name: coco17}
        - {name: trackingnet}

Each entry is a ``SourceConfig``; its root is ``root``, else the environment variable of ``ROOT_VARIABLES``
(``LASOT_ROOT``, ``GOT10K_ROOT``, ``TRACKINGNET_ROOT``, ``COCO_ROOT``, ``CUSTOM_ROOT``; LaSOT takes ``data.root``
first). With no ``data.datasets`` the run reads LaSOT at ``data.root`` with ``data.classes``, ``data.split`` and
``data.split_file``, generating a synthetic tree there when ``data.synthetic`` is set.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..config import ROOT_VARIABLES, ConfigError, DataConfig, SourceConfig
from .coco import load_coco
from .custom import load_custom
from .got10k import load_got10k
from .lasot import load_lasot
from .sequence import Sequence
from .trackingnet import load_trackingnet
from .synthetic import check_synthetic_tree, ensure_dataset_root, make_synthetic_custom, make_synthetic_lasot

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """The sequences of one dataset and its share of the samples (relative to the other sources' ``ratio``)."""

    name: str
    sequences: list[Sequence]
    ratio: float = 1.0


def source_root(source: SourceConfig, data_cfg: DataConfig, key: str) -> Path:
    """The dataset's root as an absolute path; an error names the dataset, the variable and the path looked at."""
    variable = ROOT_VARIABLES[source.name]
    root = source.root or (data_cfg.root if source.name == "lasot" else "") or os.environ.get(variable, "")
    if not root:
        raise ConfigError(f"{key}.root", f"no root is set for dataset {source.name!r}: set {key}.root=/path in the "
                                         f"config or on the command line, or export {variable}=/path")
    path = Path(root).expanduser().resolve()
    syn = source.synthetic
    if syn is not None:  # a demo's tree: made on first use, and refused if made with other settings
        if path.is_dir():
            check_synthetic_tree(path, syn)
        else:
            make = make_synthetic_lasot if source.name == "lasot" else make_synthetic_custom
            logger.info("generating a synthetic %s tree at %s: classes %s, %d sequences x %d frames of %dx%d, "
                        "seed %d", source.name, path, ",".join(syn.classes), syn.sequences_per_class, syn.frames,
                        syn.width, syn.height, syn.seed)
            make(path, syn.classes, syn.sequences_per_class, syn.frames, (syn.width, syn.height), syn.seed)
    if not path.is_dir():
        taken = f"{key}.root" if source.root else ("data.root" if source.name == "lasot" and data_cfg.root
                                                   else f"${variable}")
        raise FileNotFoundError(f"the root of dataset {source.name!r} ({taken}) is {path}, which is not a folder; "
                                f"point {key}.root or {variable} at the dataset")
    return path


def _lasot(source: SourceConfig, root: Path) -> list[Sequence]:
    return load_lasot(root, classes=source.classes, split=source.split or "train", split_file=source.split_file)


def _got10k(source: SourceConfig, root: Path) -> list[Sequence]:
    return load_got10k(root, split=source.split or "train_full")


def _trackingnet(source: SourceConfig, root: Path) -> list[Sequence]:
    return load_trackingnet(root, chunks=source.chunks or None)


def _coco17(source: SourceConfig, root: Path) -> list[Sequence]:
    return load_coco(root)


def _custom(source: SourceConfig, root: Path) -> list[Sequence]:
    return load_custom(root, split=source.split or "train", classes=source.classes, split_file=source.split_file,
                       test_ratio=source.test_ratio)


READERS = {"lasot": _lasot, "got10k": _got10k, "trackingnet": _trackingnet, "coco17": _coco17, "custom": _custom}


def load_source(source: SourceConfig, data_cfg: DataConfig, key: str = "data.datasets") -> list[Sequence]:
    """The sequences of one configured dataset (``key`` names the entry in errors)."""
    return READERS[source.name](source, source_root(source, data_cfg, key))


def build_sources(data_cfg: DataConfig) -> list[Source]:
    """The training sources of ``data_cfg`` (see the module docstring), each logged with its size and share."""
    if not data_cfg.datasets:
        root = ensure_dataset_root(data_cfg)
        sequences = load_lasot(root, classes=data_cfg.classes, split=data_cfg.split, split_file=data_cfg.split_file)
        return [Source("lasot", sequences)]
    sources = [Source(s.name if s.split == "" else f"{s.name}_{s.split}",
                      load_source(s, data_cfg, f"data.datasets[{i}]"), s.ratio)
               for i, s in enumerate(data_cfg.datasets)]
    names = [s.name for s in sources]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError("data.datasets", f"lists {', '.join(repeated)} more than once; give each dataset one entry "
                                           "(one split each)")
    total = sum(s.ratio for s in sources)
    for s in sources:
        logger.info("training source %s: %d sequences, %d frames, %.0f%% of the samples", s.name, len(s.sequences),
                    sum(len(q) for q in s.sequences), 100 * s.ratio / total)
    return sources
