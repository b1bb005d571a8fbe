"""Training data: the dataset readers (LaSOT, GOT-10k, TrackingNet, COCO 2017, your own folders), synthetic trees
in each layout, the class-agnostic procedural source, JPEG decoding, crops and augmentation, the sources of a run
and the training dataset."""

from .coco import load_coco
from .custom import load_custom
from .dataset import EpochSampler, TrackingDataset, build_train_dataset, worker_init_fn
from .got10k import load_got10k
from .image import FrameDecoder, ImageDecodeError, read_image
from .lasot import load_lasot, protocol_test_sequences, read_split_file
from .processing import crop_around, normalize_batch, normalize_crops
from .procedural import draw_clip, make_procedural_tree
from .sequence import Sequence
from .sources import KINDS, Source, build_sources, evaluation_sequences, evaluation_source, load_source, resolve_root
from .synthetic import (
    make_synthetic_coco,
    make_synthetic_custom,
    make_synthetic_got10k,
    make_synthetic_lasot,
    make_synthetic_trackingnet,
)
from .trackingnet import load_trackingnet

__all__ = [
    "KINDS",
    "EpochSampler",
    "FrameDecoder",
    "ImageDecodeError",
    "Sequence",
    "Source",
    "TrackingDataset",
    "build_sources",
    "build_train_dataset",
    "crop_around",
    "draw_clip",
    "evaluation_sequences",
    "evaluation_source",
    "load_coco",
    "load_custom",
    "load_got10k",
    "load_lasot",
    "load_source",
    "load_trackingnet",
    "make_procedural_tree",
    "make_synthetic_coco",
    "make_synthetic_custom",
    "make_synthetic_got10k",
    "make_synthetic_lasot",
    "make_synthetic_trackingnet",
    "normalize_batch",
    "normalize_crops",
    "protocol_test_sequences",
    "read_image",
    "read_split_file",
    "resolve_root",
    "worker_init_fn",
]
