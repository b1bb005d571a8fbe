"""Loss and IoU curves per epoch, drawn from the saved history so they stay continuous across resumes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt  # noqa: E402

from ..files import atomic_write  # noqa: E402
from .checkpoint import History  # noqa: E402

_METRICS = {"loss": "Loss/total", "iou": "IoU"}


def _plot(path: Path, epochs: list[int], values: list[float], phases: list[int], ylabel: str, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(epochs, values, marker="o", markersize=3)
    # Phase boundaries: a dashed line between the last epoch of one phase and the first of the next.
    for i in range(1, len(phases)):
        if phases[i] != phases[i - 1]:
            x = (epochs[i - 1] + epochs[i]) / 2
            ax.axvline(x, color="gray", linestyle="--", linewidth=1)
            ax.text(x, 1.0, f" phase {phases[i]}", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def write_plots(run_dir: Path, history: History, phase: int) -> list[Path]:
    """Write ``phase_N/plots/{loss,iou}.png`` for ``phase`` and ``plots/{loss,iou}.png`` for all phases."""
    run_dir = Path(run_dir)
    written = []
    for key, label in _METRICS.items():
        values = getattr(history, key)
        target = run_dir / "plots" / f"{key}.png"
        _plot(target, history.epoch, values, history.phase, label, f"{label} per epoch, all phases")
        written.append(target)
        idx = [i for i, p in enumerate(history.phase) if p == phase]
        target = run_dir / f"phase_{phase}" / "plots" / f"{key}.png"
        _plot(target, [history.epoch[i] for i in idx], [values[i] for i in idx], [phase] * len(idx), label,
              f"{label} per epoch, phase {phase}")
        written.append(target)
    return written
