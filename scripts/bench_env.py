"""What every benchmark line says about where it ran: the device's name and the library versions.

Imported by the benchmark scripts next to it (``python scripts/bench_*.py`` puts this folder on ``sys.path``).
``cpu_name`` and ``device_name`` live in the package (``seqtrack-profile`` names the device too) and are re-exported
here for the scripts."""

from __future__ import annotations

import platform

import torch

from seqtrack_accel import cpu_name, device_name  # noqa: F401 (re-exported)
from seqtrack_accel import versions as package_versions


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
