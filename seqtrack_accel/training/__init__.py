"""Training: the Accelerate loop, crash-consistent checkpoints, plots."""

from .checkpoint import CheckpointError, History, TrainingState, latest_checkpoint, list_checkpoints

__all__ = ["CheckpointError", "History", "Trainer", "TrainResult", "TrainingState", "latest_checkpoint",
           "list_checkpoints"]


def __getattr__(name):
    # The trainer pulls in the model and data stacks; checkpoint tools and scripts do not need them.
    if name in ("Trainer", "TrainResult"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(name)
