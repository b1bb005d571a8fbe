"""seqtrack-accel: train the SeqTrack visual object tracker with Hugging Face Accelerate."""

__version__ = "0.1.0"


def versions() -> dict[str, str]:
    """This package's version and those of the libraries that decide what a run computes (written into every
    checkpoint's ``training_state.json`` and every benchmark line)."""
    # Imported here: ``import seqtrack_accel`` (and every command's --help) stays light.
    import accelerate
    import huggingface_hub
    import timm
    import torch

    return {"seqtrack_accel": __version__, "torch": torch.__version__, "accelerate": accelerate.__version__,
            "timm": timm.__version__, "huggingface_hub": huggingface_hub.__version__}
