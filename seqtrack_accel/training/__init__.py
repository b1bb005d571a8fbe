"""Training: the Accelerate loop (``trainer``), where a phase starts (``resume``), writing checkpoints (``saver``),
stopping on request (``stop``), free-running validation, plots. The run folder itself is ``seqtrack_accel.run_folder``."""

__all__ = ["StepOutput", "Trainer", "TrainResult", "compute_loss"]


def __getattr__(name):
    # Not imported here: ``seqtrack_accel.training.stop`` must import without torch (the command-line program installs
    # the signal handlers before its long imports), and importing a submodule runs this file first.
    if name in __all__:
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(name)
