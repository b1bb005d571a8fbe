"""The tracking benchmarks ``seqtrack-evaluate --dataset NAME`` runs: where each one's data is, how it is scored, and
the tracker settings the original SeqTrack uses on it.

Template update (``eval.template_update_interval`` / ``eval.template_update_threshold``): the original looks the
benchmark's name up in ``cfg.TEST.UPDATE_INTERVALS`` of ``lib/config/seqtrack/config.py`` (LASOT 450,
LASOT_EXTENSION_SUBSET 9999, GOT10K_TEST 1, TRACKINGNET 25, TNL2K 25, OTB, NFS and UAV 9999, DEFAULT 9999) and uses
``UPDATE_THRESHOLD.DEFAULT`` 0.6 for all of them. GOT-10k val takes the test split's interval 1 here (the original
would fall back to DEFAULT for the name ``got10k_val``): val is where a GOT-10k test submission is rehearsed, so it
runs the tracker the submission runs. An ``eval.template_update_interval=...`` override on the command line wins.

Protocols:
- ``ope``: one-pass evaluation, AUC / precision / normalised precision as the LaSOT toolkit computes them
  (``seqtrack_accel.tracking.metrics``), per class where the dataset has classes and per attribute where it has them;
- ``got10k``: GOT-10k's AO, SR0.50, SR0.75 (``seqtrack_accel.tracking.got10k_metrics``), with the one-pass scores
  beside them;
- ``server``: no ground truth beyond the first frame; the results are packed into the evaluation server's archive
  (``seqtrack_accel.tracking.submission``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..data.benchmarks import (lasot_ext_test_set, load_lasot_ext, load_nfs, load_otb100, load_tnl2k, load_uav123,
                               nfs_test_set, otb100_test_set, uav123_attributes, uav123_test_set)
from ..data.custom import natural_key
from ..data.got10k import load_got10k
from ..data.lasot import load_lasot, protocol_test_sequences
from ..data.sequence import Sequence
from ..data.trackingnet import load_trackingnet

PROTOCOLS = ("ope", "got10k", "server")
UPDATE_THRESHOLD = 0.6  # the original's UPDATE_THRESHOLD.DEFAULT
NEVER = 9999  # the original's UPDATE_INTERVALS.DEFAULT: no update within a benchmark sequence


@dataclass(frozen=True)
class Benchmark:
    """One benchmark's test set.

    Attributes:
        name: what ``--dataset`` takes.
        title: as papers name it.
        variable: the environment variable that holds its root (``--root`` overrides it).
        protocol: one of ``PROTOCOLS``.
        update_interval, update_threshold: the original's template update on this benchmark.
        layout: the folder layout the reader expects, for error messages and the README.
        load: the reader: root -> sequences.
        server: where a ``server`` benchmark's archive is submitted.
        labels: root -> {sequence: attribute names}, for a benchmark that labels its sequences.
        test_set: class -> the names of its test sequences, for a benchmark whose set is fixed (a table, LaSOT's
            protocol split, LaSOT_ext's 15 x 10); None where the root's own list is the set (TNL2K, GOT-10k,
            TrackingNet), which is then taken as complete.
    """

    name: str
    title: str
    variable: str
    protocol: str
    update_interval: int
    layout: str
    load: Callable[[Path], list[Sequence]]
    update_threshold: float = UPDATE_THRESHOLD
    server: str = ""
    labels: Callable[[Path], dict[str, tuple[str, ...]]] | None = None
    test_set: Callable[[], Mapping[str, Collection[str]]] | None = None

    def attributes(self, root: Path) -> dict[str, tuple[str, ...]] | None:
        """Sequence name -> its attribute names, for benchmarks that label them (None for the others)."""
        return self.labels(root) if self.labels is not None else None

    def part_scored(self, scored: Iterable[str], classes: Collection[str] | None = None) -> dict | None:
        """What the sequences ``scored`` (names) lack of the benchmark's test set: None when they are all of it (or the
        set is not fixed), else summary.json's ``partial``: ``{"sequences": how many are scored, "of": how many the
        set holds, "missing": names not scored, "left_out": names of classes not in ``classes`` (None: all classes),
        "not_in_benchmark": scored names outside the set}``."""
        if self.test_set is None:
            return None
        expected = {name: class_name for class_name, names in self.test_set().items() for name in names}
        scored = set(scored)
        left_out = {n for n, c in expected.items() if classes is not None and c not in classes and n not in scored}
        missing = set(expected) - scored - left_out
        others = scored - set(expected)
        if not (missing or left_out or others):
            return None
        return {"sequences": len(scored), "of": len(expected), **{key: sorted(names, key=natural_key) for key, names in
                (("missing", missing), ("left_out", left_out), ("not_in_benchmark", others))}}

    def overrides(self) -> list[str]:
        """The config overrides that set this benchmark's tracker settings."""
        return [f"eval.template_update_interval={self.update_interval}",
                f"eval.template_update_threshold={self.update_threshold}"]

    def root(self, given: str | os.PathLike | None) -> Path:
        """``given`` (``--root``), else ``$variable``; an error names both when neither is a folder."""
        text = given or os.environ.get(self.variable, "")
        if not text:
            raise FileNotFoundError(f"no root for {self.title}: pass --root /path/to/{self.name} or export "
                                    f"{self.variable}=/path (the folder that holds {self.layout})")
        path = Path(text).expanduser().resolve()
        if not path.is_dir():
            source = "--root" if given else f"${self.variable}"
            raise FileNotFoundError(f"the {self.title} root ({source}) is {path}, which is not a folder; point it at "
                                    f"the folder that holds {self.layout}")
        return path


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("lasot", "LaSOT", "LASOT_ROOT", "ope", 450, "<class>/<class>-<n>/img, groundtruth.txt",
              partial(load_lasot, split="test"), test_set=protocol_test_sequences),
    Benchmark("lasot_ext", "LaSOT_ext", "LASOT_EXT_ROOT", "ope", NEVER,
              "<class>/<class>-<n>/img, groundtruth.txt (the 15 extension classes)", load_lasot_ext, test_set=lasot_ext_test_set),
    Benchmark("got10k_val", "GOT-10k val", "GOT10K_ROOT", "got10k", 1, "val/list.txt and val/<sequence>/",
              partial(load_got10k, split="val")),
    Benchmark("got10k_test", "GOT-10k test", "GOT10K_ROOT", "server", 1, "test/list.txt and test/<sequence>/",
              partial(load_got10k, split="test"),
              server="http://got-10k.aitestunion.com (Submit)"),
    Benchmark("trackingnet", "TrackingNet test", "TRACKINGNET_ROOT", "server", 25,
              "TEST/anno/<sequence>.txt and TEST/frames/<sequence>/", partial(load_trackingnet, split="test"),
              server="https://tracking-net.org (its evaluation server on EvalAI)"),
    Benchmark("tnl2k", "TNL2K", "TNL2K_ROOT", "ope", 25, "<sequence>/imgs, groundtruth.txt", load_tnl2k),
    Benchmark("uav123", "UAV123", "UAV123_ROOT", "ope", NEVER, "data_seq/UAV123/<folder>/ and anno/UAV123/",
              load_uav123, labels=uav123_attributes, test_set=uav123_test_set),
    Benchmark("otb100", "OTB100", "OTB_ROOT", "ope", NEVER, "<Sequence>/img, groundtruth_rect.txt", load_otb100, test_set=otb100_test_set),
    Benchmark("nfs", "NFS (30 fps)", "NFS_ROOT", "ope", NEVER,
              "<name>/30/<name>/ and <name>/30/<name>.txt (the download; or pytracking's sequences/ and anno/)",
              load_nfs, test_set=nfs_test_set),
)}


def get_benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; --dataset takes one of {', '.join(BENCHMARKS)}") from None
