"""Training: the Accelerate loop, crash-consistent checkpoints, plots."""

from .checkpoint import CheckpointError, History, TrainingState, latest_checkpoint, list_checkpoints
from .trainer import Trainer, TrainResult

__all__ = ["CheckpointError", "History", "Trainer", "TrainResult", "TrainingState", "latest_checkpoint",
           "list_checkpoints"]
