"""What every benchmark line says about where it ran: the device's name and the library versions.

Imported by the benchmark scripts next to it (``python scripts/bench_*.py`` puts this folder on ``sys.path``)."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from seqtrack_accel import versions as package_versions


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what platform knows
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """The GPU's name for a CUDA device, the CPU model otherwise."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def versions() -> dict:
    """Python and the libraries that decide the speed of training, data loading and tracking."""
    import cv2
    import numpy
    import torchvision

    import simplejpeg

    return {"python": platform.python_version(), **package_versions(), "torchvision": torchvision.__version__,
            "numpy": numpy.__version__, "opencv": cv2.__version__,
            "simplejpeg": getattr(simplejpeg, "__version__", None),
            "cuda": torch.version.cuda if torch.cuda.is_available() else None}
