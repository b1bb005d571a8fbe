"""seqtrack-accel: train the SeqTrack visual object tracker with Hugging Face Accelerate."""

import platform
from pathlib import Path

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


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what platform knows
    return platform.processor() or platform.machine()


def device_name(device) -> str:
    """The GPU's name for a CUDA device, the CPU model otherwise (``device``: a ``torch.device`` or its string)."""
    import torch

    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
