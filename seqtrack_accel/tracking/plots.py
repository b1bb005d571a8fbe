"""Success, precision and normalised precision plots of one or more trackers (LaSOT one-pass evaluation), and the
confidence of one tracked video.

Each tracker is the ``overall`` part of a summary (see ``metrics.aggregate``): curves x100 and scores x100.
Figures are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state), so they are safe in
training processes and headless machines.

    figures = success_figure({"SeqTrack": summary["overall"], "first-box": baseline["overall"]})
    save_figure(figures, Path("out/success.png"))
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..files import atomic_write
from .metrics import NORM_PRECISION_THRESHOLDS, PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS


def _curve_figure(trackers: Mapping[str, dict], curve_key: str, score_key: str, thresholds, title: str,
                  xlabel: str, ylabel: str, legend_loc: str) -> Figure:
    if not trackers:
        raise ValueError(f"{title}: no trackers to plot")
    fig = Figure(figsize=(6.0, 4.5), dpi=100)
    ax = fig.add_subplot()
    # Best tracker first in the legend, as in the published plots.
    for name, overall in sorted(trackers.items(), key=lambda item: -item[1][score_key]):
        curve = overall[curve_key]
        if len(curve) != len(thresholds):
            raise ValueError(f"{title}: tracker {name!r} has a {curve_key} of {len(curve)} points, "
                             f"expected {len(thresholds)}; was its summary written by this package?")
        ax.plot(thresholds, curve, linewidth=2, label=f"{name} [{overall[score_key]:.1f}]")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(thresholds[0], thresholds[-1])
    ax.set_ylim(0, 100)
    ax.grid(True, linestyle=":")
    ax.legend(loc=legend_loc)
    fig.tight_layout()
    return fig


def success_figure(trackers: Mapping[str, dict]) -> Figure:
    """Success rate (%) against the overlap threshold 0..1; the legend gives each tracker's AUC."""
    return _curve_figure(trackers, "success_curve", "auc", SUCCESS_THRESHOLDS, "Success plot (AUC)",
                         "Overlap threshold", "Success rate [%]", "lower left")


def precision_figure(trackers: Mapping[str, dict]) -> Figure:
    """Precision (%) against the center error threshold 0..50 px; the legend gives precision @20 px."""
    return _curve_figure(trackers, "precision_curve", "precision", PRECISION_THRESHOLDS,
                         "Precision plot (@20 px)", "Location error threshold [pixels]", "Precision [%]",
                         "lower right")


def norm_precision_figure(trackers: Mapping[str, dict]) -> Figure:
    """Normalised precision (%) against the threshold 0..0.5; the legend gives the value @0.20."""
    return _curve_figure(trackers, "norm_precision_curve", "norm_precision", NORM_PRECISION_THRESHOLDS,
                         "Normalized precision plot (@0.20)", "Normalized location error threshold",
                         "Normalized precision [%]", "lower right")


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (temporary file, then rename)."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def save_plots(trackers: Mapping[str, dict], out_dir: Path) -> list[Path]:
    """The three plots of ``trackers`` as ``success.png``, ``precision.png``, ``norm_precision.png``."""
    out_dir = Path(out_dir)
    return [
        save_figure(success_figure(trackers), out_dir / "success.png"),
        save_figure(precision_figure(trackers), out_dir / "precision.png"),
        save_figure(norm_precision_figure(trackers), out_dir / "norm_precision.png"),
    ]


def confidence_figure(confidences, title: str = "Tracker confidence per frame") -> Figure:
    """The tracker's confidence (0..40: its four token probabilities summed, x10) against the frame number (1-based);
    the first frame, whose box was given, has none (nan) and is left out."""
    confidences = np.asarray(confidences, dtype=np.float64)
    fig = Figure(figsize=(6.0, 3.0), dpi=100)
    ax = fig.add_subplot()
    frames = np.arange(1, len(confidences) + 1)
    ax.plot(frames, confidences, linewidth=1.5, marker="." if len(confidences) <= 60 else None)
    ax.set_title(title)
    ax.set_xlabel("Frame")
    ax.set_ylabel("Confidence (0-40)")
    ax.set_xlim(1, max(2, len(confidences)))
    ax.set_ylim(0, 40)
    ax.grid(True, linestyle=":")
    fig.tight_layout()
    return fig
