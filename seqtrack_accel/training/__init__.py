"""Training: the Accelerate loop, crash-consistent checkpoints, plots."""

from .checkpoint import CheckpointError, History, TrainingState, latest_checkpoint, list_checkpoints

__all__ = ["CheckpointError", "History", "StepOutput", "Trainer", "TrainResult", "TrainingState", "compute_loss",
           "latest_checkpoint", "list_checkpoints"]


def __getattr__(name):
    # The trainer pulls in the model and data stacks; checkpoint tools and scripts do not need them.
    if name in ("Trainer", "TrainResult", "StepOutput", "compute_loss"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(name)
