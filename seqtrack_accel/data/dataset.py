"""Training samples: the original "order" frame sampler over LaSOT sequences, then the crops and augmentation.

A source may also render its clips on the fly (``procedural``): a sample then draws a new clip from it and renders
only the parts of the clip's frames that its crops read.

Every sample is a pure function of ``(seed, epoch, i)``: ``__getitem__`` takes the global index
``epoch * samples_per_epoch + i`` (``EpochSampler`` yields them), seeds ``numpy.random.default_rng((seed, epoch,
i))`` and draws everything of that sample from it, re-draws included. The bytes of a sample are therefore the same
for any number of DataLoader workers or processes, with persistent workers, and after a resume.

    dataset = build_train_dataset(cfg)
    sampler = EpochSampler(cfg.data.samples_per_epoch)
    loader = DataLoader(dataset, batch_size=16, sampler=sampler, num_workers=8, persistent_workers=True,
                        worker_init_fn=worker_init_fn)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in loader:  # template_images (B, T, 3, Hz, Wz), search_images (B, 3, Hx, Wx), search_anno (B, 4)
            ...
"""

from __future__ import annotations

import dataclasses
import logging
import signal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

from ..config import Config, DataConfig
from .image import FrameDecoder, ImageDecodeError
from .index import as_index
from .sequence import Sequence
from .sources import Source, build_sources
from .processing import CropPlan, decode_scale, plan_crop, render_crop, window_hits_image
from .procedural import Clip

logger = logging.getLogger(__name__)

MIN_SEQUENCE_FRAMES = 20  # the original sampler skips shorter sequences
_COUNTER_SLOTS = 257  # one row per DataLoader worker (+ the main process), so no two processes write one cell
_DECODE_ERRORS, _REDRAWS, _READ_ERRORS = 0, 1, 2


class EpochSampler(Sampler[int]):
    """Yields the global indices ``epoch * samples_per_epoch + i`` for i in range(samples_per_epoch).

    The epoch travels inside the index, so workers (persistent or not) never need to be told the epoch.
    """

    def __init__(self, samples_per_epoch: int, epoch: int = 0):
        if samples_per_epoch < 1:
            raise ValueError(f"samples_per_epoch must be >= 1, got {samples_per_epoch}")
        self.samples_per_epoch = samples_per_epoch
        self.epoch = epoch

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def __iter__(self):
        start = self.epoch * self.samples_per_epoch
        return iter(range(start, start + self.samples_per_epoch))

    def __len__(self) -> int:
        return self.samples_per_epoch


class TrackingDataset(Dataset):
    """Template/search crops of the sequences of one or more sources, one sample per global index.

    Args:
        data_cfg: sampler, crop and augmentation settings.
        sources: the datasets to draw from, with their shares (``sources.build_sources``), or the sequences of
            one (``load_lasot`` ...).
        seed: the run's seed; samples are a function of (seed, epoch, i).

    A sample is a dict of
        ``template_images``: uint8 (T, 3, Hz, Wz), RGB;
        ``search_images``: uint8 (3, Hx, Wx) (or (S, 3, Hx, Wx) when ``data.search.number`` > 1), RGB;
        ``template_brightness``: float32 (T,), ``search_brightness``: float32 () (or (S,)): each crop's
        brightness factor, applied with the ImageNet normalisation by ``normalize_batch`` on the training device;
        ``search_anno``: float32 (4,) (or (S, 4)): the object box ``x, y, w, h`` in the search crop, normalised
        by the crop size (it may reach outside [0, 1] when the jitter pushes the object out of the crop).

    Crops leave the workers as uint8 because the float conversion is a per-pixel map that the GPU does for free:
    it saves the workers about 0.3 ms per crop and cuts the host-to-device copy (and pinned memory) by 4x.

    Undecodable frames (corrupt or truncated) and unreadable ones (permission denied, I/O error) are logged
    (naming the file), counted in ``stats`` and the sample is re-drawn; an invalid sample (window side < 1 pixel,
    window entirely outside the frame) is re-drawn; after ``data_cfg.max_redraws`` draws without a valid sample,
    RuntimeError names the sequences tried. Sequences too short for the sampler are left out with a warning
    naming them.
    """

    def __init__(self, data_cfg: DataConfig, sources: list[Source] | list[Sequence], seed: int):
        if sources and isinstance(sources[0], Sequence):
            sources = [Source("data", list(sources))]
        if not sources or not any(len(s.sequences) or s.clips is not None for s in sources):
            raise ValueError("TrackingDataset needs at least one sequence; check the sources' classes and splits "
                             "(data.datasets)")
        self.cfg = data_cfg
        self.seed = int(seed)
        self.samples_per_epoch = data_cfg.samples_per_epoch
        self.num_templates = data_cfg.template.number
        self.num_searches = data_cfg.search.number
        self.sources = [self._usable(dataclasses.replace(s, sequences=as_index(s.sequences))) for s in sources]
        # The dataset of a sample is drawn first, in proportion to the ratios (the original's sampler does the
        # same); a single source draws nothing, so its samples are those of its sequences alone.
        ratios = np.array([s.ratio for s in self.sources], dtype=np.float64)
        self._probabilities = ratios / ratios.sum()
        self._decoder = FrameDecoder(data_cfg.decoder)
        # Shared memory, so the counts of DataLoader workers are readable from the main process.
        self._counters = torch.zeros((_COUNTER_SLOTS, 3), dtype=torch.int64).share_memory_()
        self._drawn = torch.zeros((_COUNTER_SLOTS, len(self.sources)), dtype=torch.int64).share_memory_()

    def _usable(self, source: Source) -> Source:
        """The source without the sequences the sampler cannot use (it names them); an error if none is left."""
        if source.clips is not None:  # every clip it renders has enough frames (ProceduralConfig.frames >= 20)
            return source
        needed = 2 * (self.num_templates + self.num_searches)
        # The original picks a sequence uniformly and keeps it only if it has enough frames; picking uniformly
        # among the eligible ones is the same distribution without the rejection loop. A still image (COCO) needs
        # only its one visible frame.
        index = source.sequences
        usable = np.where(index.still, index.first_visible,
                          (index.visible_counts > needed) & (index.lengths >= MIN_SEQUENCE_FRAMES))
        if not usable.any():
            raise ValueError(
                f"none of the {len(index)} sequences of {source.name} ({_names(index.names)}) has "
                f"more than {needed} visible frames and at least {MIN_SEQUENCE_FRAMES} frames; use longer sequences "
                "or more classes")
        if usable.all():
            return source
        skipped = [index.names[k] for k in np.flatnonzero(~usable)]
        logger.warning("the sampler skips %d of %d sequences of %s, which have fewer than %d frames or at most "
                       "%d visible ones: %s", len(skipped), len(index), source.name, MIN_SEQUENCE_FRAMES, needed,
                       _names(skipped, 50))
        return Source(source.name, index.take(np.flatnonzero(usable)), source.ratio)

    def __len__(self) -> int:
        return self.samples_per_epoch

    @property
    def sequences(self) -> list[Sequence]:
        """Every sequence the sampler draws from, source after source (made one by one: for small datasets)."""
        return [q for s in self.sources for q in s.sequences]

    @property
    def drawn(self) -> dict[str, int]:
        """Samples made so far from each source, over every process using this dataset object."""
        return dict(zip((s.name for s in self.sources), (int(v) for v in self._drawn.sum(dim=0).tolist())))

    @property
    def stats(self) -> dict[str, int]:
        """Counts over every process using this dataset object: undecodable frames met (corrupt or truncated),
        unreadable frames met (permission denied, I/O error), re-drawn samples."""
        totals = self._counters.sum(dim=0).tolist()
        return {"decode_errors": int(totals[_DECODE_ERRORS]), "read_errors": int(totals[_READ_ERRORS]),
                "redraws": int(totals[_REDRAWS])}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        epoch, i = self._split_index(index)
        rng = np.random.default_rng((self.seed, epoch, i))
        tried: list[str] = []
        for _ in range(self.cfg.max_redraws):
            source, sequence, frame_ids = self._sample_frames(rng, epoch)
            tried.append(sequence.name)
            sample = self._make_sample(sequence, frame_ids, rng)
            if sample is not None:
                self._drawn[self._slot(), source] += 1
                return sample
            self._count(_REDRAWS)
        raise RuntimeError(
            f"sample {index} (epoch {epoch}, item {i}): no valid sample in {self.cfg.max_redraws} draws "
            f"(data.max_redraws) from sequences {', '.join(sorted(set(tried)))}; the warnings above name "
            "undecodable or unreadable frames, otherwise check the groundtruth boxes of these sequences"
        )

    def first_draw(self, index: int) -> tuple[Sequence | Clip, list[int], list[CropPlan | None]]:
        """The first draw of sample ``index``: its sequence, frame ids (templates, then searches) and crop plans.

        For benchmarks and inspection; ``__getitem__`` re-draws when this draw turns out invalid.
        """
        epoch, i = self._split_index(index)
        rng = np.random.default_rng((self.seed, epoch, i))
        _, sequence, frame_ids = self._sample_frames(rng, epoch)
        return sequence, frame_ids, self._plan_crops(sequence, frame_ids, rng)

    # ------------------------------------------------------------------------------------------------------------

    def _split_index(self, index: int) -> tuple[int, int]:
        index = int(index)
        if index < 0:
            raise IndexError(f"sample index must be >= 0 (epoch * samples_per_epoch + i), got {index}")
        return divmod(index, self.samples_per_epoch)

    def _sample_frames(self, rng: np.random.Generator, epoch: int) -> tuple[int, Sequence | Clip, list[int]]:
        """The original "order" mode: a source, a sequence (a new clip, from a source that renders them), then
        templates + searches around a visible base frame (a still image gives every crop its one frame). Returns
        the source's index too."""
        s = int(rng.choice(len(self.sources), p=self._probabilities)) if len(self.sources) > 1 else 0
        source = self.sources[s]
        if source.clips is not None:
            sequence = source.clips.draw(rng, epoch)
        else:
            sequence = source.sequences[int(rng.integers(len(source.sequences)))]
        count = self.num_templates + self.num_searches
        if sequence.still:
            return s, sequence, [0] * count
        visible_ids = np.flatnonzero(sequence.visible)
        base = int(visible_ids[rng.integers(len(visible_ids))])
        gap = self.cfg.max_sample_interval
        # Visible frames in [base - gap, base + gap), drawn with replacement. The original widens the window by
        # 5 frames whenever it holds no visible frame; it always holds the visible base frame, so it never widens.
        low, high = np.searchsorted(visible_ids, [base - gap, base + gap])
        frame_ids = np.sort(visible_ids[low + rng.integers(high - low, size=count)])
        if rng.random() < 0.5:
            frame_ids = frame_ids[::-1]
        return s, sequence, [int(f) for f in frame_ids]

    def _plan_crops(self, sequence: Sequence, frame_ids: list[int],
                    rng: np.random.Generator) -> list[CropPlan | None]:
        cfg = self.cfg
        grayscale = bool(rng.random() < cfg.grayscale_prob)  # one roll for every frame of the sample
        frame_flip = bool(rng.random() < cfg.flip_prob)
        crop_cfgs = [cfg.template] * self.num_templates + [cfg.search] * self.num_searches
        return [
            plan_crop(sequence.boxes[f], crop_cfg, rng, frame_flip=frame_flip, grayscale=grayscale,
                      flip_prob=cfg.flip_prob, brightness_jitter=cfg.brightness_jitter)
            for f, crop_cfg in zip(frame_ids, crop_cfgs)
        ]

    def _make_sample(self, sequence: Sequence | Clip, frame_ids: list[int],
                     rng: np.random.Generator) -> dict[str, torch.Tensor] | None:
        cfg = self.cfg
        plans = self._plan_crops(sequence, frame_ids, rng)
        if any(p is None for p in plans):
            return None
        if isinstance(sequence, Clip):
            rendered = _render_windows(sequence, frame_ids, plans)
            if rendered is None:
                return None
            images, plans = rendered
            scales = dict.fromkeys(images, 1)
        else:
            images, scales = self._decode_frames(sequence, frame_ids, plans)
            if images is None:
                return None

        t = self.num_templates
        templates = np.empty((t, 3, cfg.template.size, cfg.template.size), dtype=np.uint8)
        searches = np.empty((self.num_searches, 3, cfg.search.size, cfg.search.size), dtype=np.uint8)
        outputs = list(templates) + list(searches)
        for f, plan, out in zip(frame_ids, plans, outputs):
            if not window_hits_image(plan, images[f].shape, scales[f]):
                return None
            out[:] = render_crop(images[f], scales[f], plan)[..., ::-1].transpose(2, 0, 1)  # BGR HWC -> RGB CHW
        brightness = torch.tensor([plan.brightness for plan in plans], dtype=torch.float32)
        search_images = torch.from_numpy(searches)
        search_anno = torch.tensor([plan.box for plan in plans[t:]], dtype=torch.float32)
        search_brightness = brightness[t:]
        if self.num_searches == 1:
            search_images, search_anno, search_brightness = search_images[0], search_anno[0], search_brightness[0]
        return {"template_images": torch.from_numpy(templates), "search_images": search_images,
                "template_brightness": brightness[:t], "search_brightness": search_brightness,
                "search_anno": search_anno}

    def _decode_frames(self, sequence: Sequence, frame_ids: list[int],
                       plans: list[CropPlan]) -> tuple[dict[int, np.ndarray] | None, dict[int, int]]:
        """Each frame read and decoded once, at the smallest reduction any of its crops allows; None for the images
        (the failure logged and counted) when a frame cannot be read or decoded."""
        scales: dict[int, int] = {}
        for f, plan in zip(frame_ids, plans):
            scale = decode_scale(plan.side, plan.out_size) if self.cfg.reduced_decode else 1
            scales[f] = min(scale, scales.get(f, scale))
        images: dict[int, np.ndarray] = {}
        for slot, (f, scale) in enumerate(scales.items()):
            path = sequence.frame_path(f)
            try:
                data = path.read_bytes()
            except OSError as error:  # permission denied, I/O error, deleted since the reader saw it
                self._count(_READ_ERRORS)
                logger.warning("skipping unreadable frame %s (sequence %s): %s; the sample is re-drawn",
                               path, sequence.name, error.strerror or error)
                return None, scales
            try:
                images[f] = self._decoder.decode_bytes(data, path, scale, slot)
            except ImageDecodeError as error:
                self._count(_DECODE_ERRORS)
                logger.warning("skipping undecodable frame (sequence %s): %s; the sample is re-drawn",
                               sequence.name, error)
                return None, scales
        return images, scales

    def _count(self, which: int) -> None:
        self._counters[self._slot(), which] += 1

    @staticmethod
    def _slot() -> int:
        info = get_worker_info()
        return 0 if info is None else (info.id + 1) % _COUNTER_SLOTS


def _render_windows(clip: Clip, frame_ids: list[int],
                    plans: list[CropPlan]) -> tuple[dict[int, np.ndarray], list[CropPlan]] | None:
    """The parts of a clip's frames that the crops read (the union of each frame's crop windows, cut to the frame)
    and the plans moved into them. Outside a part is outside the frame, so the crops equal those of whole frames.
    None when a window misses its frame."""
    width, height = clip.config.width, clip.config.height
    windows: dict[int, tuple[int, int, int, int]] = {}
    for f, plan in zip(frame_ids, plans):
        x0, y0 = max(plan.x1, 0), max(plan.y1, 0)
        x1, y1 = min(plan.x1 + plan.side, width), min(plan.y1 + plan.side, height)
        if x1 <= x0 or y1 <= y0:
            return None
        if f in windows:
            u = windows[f]
            x0, y0, x1, y1 = min(u[0], x0), min(u[1], y0), max(u[2], x1), max(u[3], y1)
        windows[f] = (x0, y0, x1, y1)
    images = {f: clip.render(f, window) for f, window in windows.items()}
    moved = [dataclasses.replace(plan, x1=plan.x1 - windows[f][0], y1=plan.y1 - windows[f][1])
             for f, plan in zip(frame_ids, plans)]
    return images, moved


def worker_init_fn(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: each worker runs OpenCV sequentially and leaves stops to the main process.

    PyTorch already gives each worker one intra-op thread; OpenCV would otherwise run a thread pool the size of
    the machine in every worker, and W workers x all cores oversubscribe the CPU (a crop's warp costs 0.16 ms of
    one core single-threaded, 0.19 core-ms spread over two). ``setNumThreads(0)`` (no pool), not 1: in a worker
    forked from a process whose OpenCV pool has run, resizing the pool to one thread waits forever.

    SIGTERM and SIGINT reach every process of a process group (``timeout``, SLURM's ``scancel``, preemption,
    Ctrl-C); a worker killed by one makes the main process fail before it can write its stop checkpoint. So the
    workers ignore both: the main process stops at the next step, writes the checkpoint and shuts its workers down.
    """
    cv2.setNumThreads(0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def build_train_dataset(cfg: Config) -> TrackingDataset:
    """The training dataset of a run: the sources of ``cfg.data`` (``seqtrack_accel.data.sources``)."""
    return TrackingDataset(cfg.data, build_sources(cfg.data), seed=cfg.train.seed)


def _names(names, limit: int = 12) -> str:
    shown = [names[k] for k in range(min(limit, len(names)))]
    return ", ".join(shown) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
