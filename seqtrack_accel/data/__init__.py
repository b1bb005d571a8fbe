"""LaSOT data: a synthetic tree generator, the reader, JPEG decoding, crops and augmentation, the training dataset."""

from .dataset import EpochSampler, TrackingDataset, build_train_dataset, worker_init_fn
from .image import FrameDecoder, ImageDecodeError, read_image
from .lasot import BUILTIN_TEST_SEQUENCES, Sequence, load_lasot, read_split_file
from .processing import crop_around, normalize_batch, normalize_crops
from .synthetic import ensure_dataset_root, make_synthetic_lasot

__all__ = [
    "BUILTIN_TEST_SEQUENCES",
    "EpochSampler",
    "FrameDecoder",
    "ImageDecodeError",
    "Sequence",
    "TrackingDataset",
    "build_train_dataset",
    "crop_around",
    "ensure_dataset_root",
    "load_lasot",
    "make_synthetic_lasot",
    "normalize_batch",
    "normalize_crops",
    "read_image",
    "read_split_file",
    "worker_init_fn",
]
