"""The registry of dataset kinds, the one root resolver, and the sources a run reads.

A data source is named one way, for training and evaluation alike: a ``SourceConfig`` (``name`` is one of ``KINDS``)::

    data:
      datasets:                                   # the training sources: the original B256 recipe's four
        - {name: lasot}                           # root: $LASOT_ROOT
        - {name: got10k, split: vottrain}
        - {name: coco17}
        - {name: trackingnet}
    eval:
      dataset: {name: got10k, split: val}         # null (the default): the first training source's held-out split

``KINDS`` is one table (as pytracking's ``evaluation/datasets.py``): each kind's environment variable, layout,
reader, splits and synthetic writer. Sequences are read only when a source is loaded (``load_source``); the
benchmarks of ``seqtrack-evaluate --dataset`` (``seqtrack_accel.tracking.benchmarks``) are a kind and a split of
this table. Adding a kind is one entry here.

The root of a source (``resolve_root``) is its ``root``, else its kind's environment variable, relative to the
working directory. A source with ``synthetic`` set generates its tree where the root is missing, checks an existing
tree only where it holds the generator's manifest (``synthetic.json``), and reads a folder without one as the real
dataset it is: a demo's config evaluates another LaSOT-layout folder with only its root changed. A root that a command
line sets (``--root``; a benchmark's variable for ``seqtrack-evaluate --dataset``) is read as it is: no generator
writes or checks it.

A kind may render its training split on the fly (``procedural``, ``seqtrack_accel.data.procedural``): such a
training source has no root and no sequences, each of its samples draws a new clip (``Source.clips``); its held-out
``test`` split, of looks no training clip has, is a LaSOT-layout tree written at the root on first use and checked
by its manifest as a synthetic tree is::

    data:
      datasets: [{name: procedural}, {name: lasot, ratio: 3}]       # rendered clips beside LaSOT
    eval:
      dataset: {name: procedural, split: test, root: data/procedural_test}
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, ConfigError, DataConfig, ProceduralConfig, SourceConfig, SyntheticConfig
from . import got10k, lasot, trackingnet
from .benchmarks import load_lasot_ext, load_nfs, load_otb100, load_tnl2k, load_uav123, some_names
from .coco import load_coco
from .custom import load_custom
from .index import SequenceIndex, as_index
from .procedural import ProceduralClips, ensure_procedural_tree
from .sequence import Sequence
from .synthetic import MANIFEST_FILE, check_synthetic_tree, make_synthetic_custom, make_synthetic_lasot

logger = logging.getLogger(__name__)

Reader = Callable[[SourceConfig, Path], SequenceIndex | list[Sequence]]  # (the source, its split resolved; its root) -> sequences
Writer = Callable[[Path, SyntheticConfig], Path]
Renderer = Callable[[SourceConfig, DataConfig], ProceduralClips]  # (a training source, the data settings) -> clips
HeldOutWriter = Callable[[Path, SourceConfig, str], None]  # (its root, the source, its config key)


@dataclass(frozen=True)
class Kind:
    """One kind of dataset.

    Attributes:
        name: what ``SourceConfig.name`` takes.
        title: as papers name it, for messages.
        variable: the environment variable holding its root where the source sets none.
        layout: what its root holds, for messages.
        read: its reader; it receives the source with ``split`` resolved.
        splits: the splits it has; the first is a training source's default.
        held_out: the annotated split an evaluation source reads by default ("": none; TrackingNet's and GOT-10k's
            test sets have no public ground truth).
        write_synthetic: writes a synthetic tree in its layout at a missing root (``SourceConfig.synthetic``).
        render: renders its training split (the first of ``splits``) on the fly: a training source of it has no root
            and no sequences, its samples draw clips from what this returns (``Source.clips``).
        write_held_out: writes the held-out split's tree at a missing root and checks an existing one's manifest
            against the source's settings.
    """

    name: str
    title: str
    variable: str
    layout: str
    read: Reader
    splits: tuple[str, ...]
    held_out: str = ""
    write_synthetic: Writer | None = None
    render: Renderer | None = None
    write_held_out: HeldOutWriter | None = None

    def renders(self, split: str) -> bool:
        """Whether ``split`` (empty: the first) is rendered on the fly, with no sequences on disk."""
        return self.render is not None and (split or self.splits[0]) == self.splits[0]


def _write_tree(make) -> Writer:
    return lambda root, syn: make(root, syn.classes, syn.sequences_per_class, syn.frames, (syn.width, syn.height),
                                  syn.seed)


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("lasot", "LaSOT", "LASOT_ROOT", "<class>/<class>-<n>/img, groundtruth.txt",
         lambda s, root: lasot.load_lasot(root, classes=s.classes, split=s.split, split_file=s.split_file),
         lasot.SPLITS, held_out="test", write_synthetic=_write_tree(make_synthetic_lasot)),
    Kind("got10k", "GOT-10k", "GOT10K_ROOT", "train/list.txt and train/<sequence>/ (val/ and test/ alike)",
         lambda s, root: got10k.load_got10k(root, split=s.split), got10k.SPLITS, held_out="val"),
    Kind("trackingnet", "TrackingNet", "TRACKINGNET_ROOT", "TRAIN_<k>/anno/ and TRAIN_<k>/frames/ (TEST/ alike)",
         lambda s, root: trackingnet.load_trackingnet(root, chunks=s.chunks or None, split=s.split),
         trackingnet.SPLITS),
    Kind("coco17", "COCO 2017", "COCO_ROOT", "annotations/instances_train2017.json and train2017/",
         lambda s, root: load_coco(root, classes=s.classes), ("train",)),
    Kind("custom", "custom dataset", "CUSTOM_ROOT",
         "<sequence>/groundtruth.txt and its frames (or <class>/<sequence>/)",
         lambda s, root: load_custom(root, split=s.split, classes=s.classes, split_file=s.split_file,
                                     test_ratio=s.test_ratio),
         lasot.SPLITS, held_out="test", write_synthetic=_write_tree(make_synthetic_custom)),
    Kind("lasot_ext", "LaSOT_ext", "LASOT_EXT_ROOT",
         "<class>/<class>-<n>/img, groundtruth.txt (the 15 extension classes)",
         lambda s, root: load_lasot_ext(root, s.classes), ("test",), held_out="test"),
    Kind("tnl2k", "TNL2K", "TNL2K_ROOT", "<sequence>/imgs, groundtruth.txt",
         lambda s, root: load_tnl2k(root), ("test",), held_out="test"),
    Kind("uav123", "UAV123", "UAV123_ROOT", "data_seq/UAV123/<folder>/ and anno/UAV123/",
         lambda s, root: load_uav123(root), ("test",), held_out="test"),
    Kind("otb100", "OTB100", "OTB_ROOT", "<Sequence>/img, groundtruth_rect.txt",
         lambda s, root: load_otb100(root), ("test",), held_out="test"),
    Kind("nfs", "NFS (30 fps)", "NFS_ROOT",
         "<name>/30/<name>/ and <name>/30/<name>.txt (the download; or pytracking's sequences/ and anno/)",
         lambda s, root: load_nfs(root), ("test",), held_out="test"),
    # Class-agnostic clips: the training split rendered for every sample, the test split (held-out looks) a tree.
    Kind("procedural", "procedural clips", "PROCEDURAL_ROOT",
         "<shape>/<shape>-<n>/img, groundtruth.txt (its test split, written there on first use)",
         lambda s, root: lasot.load_lasot(root, split="all"), ("train", "test"), held_out="test",
         render=lambda s, data: ProceduralClips(s.procedural or ProceduralConfig(), data.search.size),
         write_held_out=lambda root, s, key: ensure_procedural_tree(root, "test", s.procedural or ProceduralConfig(),
                                                                    f"{key}.procedural")),
)}


def kind_of(source: SourceConfig, key: str) -> Kind:
    """The kind ``source.name`` names; an error naming ``key`` (the source's config key) lists the kinds."""
    if source.name not in KINDS:
        raise ConfigError(f"{key}.name", f"must be one of {', '.join(KINDS)}, got {source.name!r}")
    return KINDS[source.name]


def resolve_root(source: SourceConfig, key: str, root_key: str | None = None) -> Path:
    """The source's root as an absolute path: ``root``, else its kind's environment variable, relative to the
    working directory; a synthetic source's tree, or a procedural source's test split, is generated or checked here
    unless the root is named on a command line (module docstring).

    Args:
        key: the source's config key (``data.datasets[0]``, ``eval.dataset``), for messages.
        root_key: what sets the root, for messages: ``--root`` on a command line; default ``<key>.root``.
    Raises:
        ConfigError (or FileNotFoundError for an option): no root is set; the message names the key and the
            variable.
        FileNotFoundError: the root is not a folder; the message names the key, the variable and the path.
        FileExistsError: a generated tree of other settings is there.
    """
    kind = kind_of(source, key)
    _check_generators(kind, source, key)
    root_key = root_key or f"{key}.root"
    command_line = root_key.startswith("--")
    set_by = f"pass {root_key} /path" if command_line else f"set {root_key}=/path"
    text = source.root or os.environ.get(kind.variable, "")
    if not text:
        message = (f"no root is set for {kind.title} ({source.name}): {set_by}, or export {kind.variable}=/path (the "
                   f"folder that holds {kind.layout})")
        raise FileNotFoundError(f"{root_key}: {message}") if command_line else \
            ConfigError(root_key, message)
    path = Path(text).expanduser().resolve()
    if not command_line:  # a folder named on a command line is read as it is
        _generate_or_check(kind, source, key, path)
    if not path.is_dir():
        taken = root_key if source.root else f"${kind.variable}"
        raise FileNotFoundError(f"the root of {kind.title} ({taken}) is {path}, which is not a folder; {set_by} or "
                                f"export {kind.variable}=/path at the folder that holds {kind.layout}")
    return path


def _check_generators(kind: Kind, source: SourceConfig, key: str) -> None:
    """A generator's settings on a source of a kind without that generator are an error naming the key."""
    if source.synthetic is not None and kind.write_synthetic is None:
        writers = ", ".join(k.name for k in KINDS.values() if k.write_synthetic is not None)
        raise ConfigError(f"{key}.synthetic", f"is generated for {writers} sources, not {source.name!r}; write "
                                              "other layouts with seqtrack-make-synthetic --layout")
    if source.procedural is not None and kind.render is None:
        raise ConfigError(f"{key}.procedural", f"sets the procedural generator, not a {kind.title} source; leave it "
                                               "out")


def _generate_or_check(kind: Kind, source: SourceConfig, key: str, path: Path) -> None:
    """The tree the source's generator settings describe: written where ``path`` is missing, compared with the
    manifest of an existing tree that holds one (a synthetic source's; the procedural source's test split)."""
    if source.synthetic is not None:
        if not path.exists():
            syn = source.synthetic
            logger.info("generating a synthetic %s tree at %s: classes %s, %d sequences x %d frames of %dx%d, "
                        "seed %d", source.name, path, ",".join(syn.classes), syn.sequences_per_class, syn.frames,
                        syn.width, syn.height, syn.seed)
            kind.write_synthetic(path, syn)
        elif (path / MANIFEST_FILE).is_file():
            check_synthetic_tree(path, source.synthetic, f"{key}.synthetic")
    elif kind.write_held_out is not None and source.split == kind.held_out:
        kind.write_held_out(path, source, key)


def load_source(source: SourceConfig, key: str, root_key: str | None = None) -> SequenceIndex:
    """The sequences of one source: its kind's reader on its root (``resolve_root``), of its split (empty: the
    kind's first, the training split), of ``classes`` where given; as an index (``index.SequenceIndex``: the large
    training sets are cached columns, not objects).

    Args:
        key: the source's config key, for messages (``data.datasets[1]``, ``eval.dataset``).
        root_key: what sets the root, for messages (``resolve_root``).
    """
    kind = kind_of(source, key)
    split = source.split or kind.splits[0]
    if split not in kind.splits:
        raise ConfigError(f"{key}.split", f"{kind.title} has the splits {', '.join(kind.splits)}, not {split!r}")
    if kind.renders(split):
        raise ConfigError(f"{key}.split", f"the {split} split of {kind.title} is rendered on the fly and has no "
                                          f"sequences on disk; validate and evaluate on its {kind.held_out} split "
                                          f"(split: {kind.held_out})")
    root = resolve_root(source, key, root_key)
    sequences = as_index(kind.read(dataclasses.replace(source, split=split), root))
    if source.classes is not None:  # the kinds whose readers take no classes: their sequences' classes
        found = sequences.class_names() - {""}
        unknown = [c for c in source.classes if c not in found]
        if unknown:
            raise ValueError(f"class(es) {', '.join(unknown)} not found in {kind.title} at {root}; "
                             + (f"its classes: {some_names(found, 12)}" if found else "it has no classes"))
        sequences = sequences.of_classes(source.classes)
    if not len(sequences):
        raise ValueError(f"no sequence of {kind.title} under {root} in split {split!r}; check {key} (the root holds "
                         f"{kind.layout})")
    return sequences


@dataclass(frozen=True)
class Source:
    """The sequences of one dataset and its share of the samples (relative to the other sources' ``ratio``), or,
    for a source that renders them, ``clips``: each sample draws a new clip from it (``sequences`` is empty)."""

    name: str
    sequences: SequenceIndex | list[Sequence]
    ratio: float = 1.0
    clips: ProceduralClips | None = None


def build_sources(data_cfg: DataConfig) -> list[Source]:
    """The training sources of ``data_cfg.datasets``, each logged with its size and share."""
    sources = [_training_source(s, f"data.datasets[{i}]", data_cfg) for i, s in enumerate(data_cfg.datasets)]
    names = [s.name for s in sources]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError("data.datasets", f"lists {', '.join(repeated)} more than once; give each dataset one entry "
                                           "(one split each)")
    total = sum(s.ratio for s in sources)
    for s in sources:
        if s.clips is not None:
            logger.info("training source %s: %s, %.0f%% of the samples", s.name, s.clips.describe(),
                        100 * s.ratio / total)
        else:
            logger.info("training source %s: %d sequences, %d frames, %.0f%% of the samples", s.name,
                        len(s.sequences), s.sequences.frames, 100 * s.ratio / total)
    return sources


def _training_source(source: SourceConfig, key: str, data_cfg: DataConfig) -> Source:
    name = source.name if source.split == "" else f"{source.name}_{source.split}"
    kind = kind_of(source, key)
    if kind.renders(source.split):
        _check_generators(kind, source, key)
        return Source(name, as_index([]), source.ratio, kind.render(source, data_cfg))
    return Source(name, load_source(source, key), source.ratio)


def evaluation_source(cfg: Config) -> tuple[SourceConfig, str]:
    """The evaluation set of ``cfg`` with its split resolved, and its config key: ``eval.dataset``, else the
    held-out split of the first training source (LaSOT and custom: ``test``, GOT-10k: ``val``). A split left empty
    is the kind's held-out split; a kind without one is an error that says to set ``eval.dataset``."""
    if cfg.eval.dataset is not None:
        source, key = cfg.eval.dataset, "eval.dataset"
    else:
        source, key = dataclasses.replace(cfg.data.datasets[0], split="", ratio=1.0), "data.datasets[0]"
    if not source.split:
        kind = kind_of(source, key)
        if not kind.held_out:
            raise ConfigError("eval.dataset", f"is not set, and {key} ({kind.title}) has no annotated held-out split "
                                              "to evaluate on; set eval.dataset, for example "
                                              "eval.dataset={name: lasot, root: /data/LaSOT, split: test}")
        source = dataclasses.replace(source, split=kind.held_out)
    return source, key


def evaluation_sequences(cfg: Config, names: tuple[str, ...] | list[str] = ()) -> SequenceIndex:
    """The sequences of ``evaluation_source(cfg)``, only those of ``names`` where given (in that order)."""
    source, key = evaluation_source(cfg)
    where = (f"split {source.split!r} of the evaluation source {key} ({source.name}, classes "
             f"{list(source.classes) if source.classes else 'all'}); check eval.validate_sequences")
    return named(load_source(source, key), names, where)


def named(sequences: SequenceIndex, names: tuple[str, ...] | list[str], where: str) -> SequenceIndex:
    """The sequences of ``names`` (in that order), all of ``sequences`` when ``names`` is empty; a name that is not
    there is a KeyError naming it and ``where`` the sequences came from (and what to check)."""
    if not names:
        return sequences
    by_name = {name: k for k, name in enumerate(sequences.names)}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise KeyError(f"sequences {unknown} are not in {where}")
    return sequences.take([by_name[n] for n in names])
