"""Loss and IoU curves per epoch, drawn from the saved history so they stay continuous across resumes.

``iou.png`` shows the teacher-forced training IoU together with the free-running IoU on the held-out crops and
the IoU of the image-blind prior on the same crops (``seqtrack_accel.training.validation``): a model that learned
only the prior has its free-running curve on the prior's.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt  # noqa: E402

from ..files import atomic_write  # noqa: E402
from ..run_folder import History  # noqa: E402

Series = tuple[str, list[int], list[float]]  # label, epochs, values


def _series(history: History, key: str, epochs: set[int]) -> Series | None:
    """A per-epoch list (``loss``, ``iou``) or a validated-epochs dict (``free_iou``, ``prior_iou``) of the
    history, restricted to ``epochs``."""
    labels = {"loss": "Loss/total", "iou": "IoU, teacher-forced (training)",
              "free_iou": "IoU, free-running (held-out)", "prior_iou": "IoU of the mean-box prior (held-out)"}
    values = getattr(history, key)
    if isinstance(values, dict):
        points = sorted((int(e), float(v)) for e, v in values.items() if int(e) in epochs)
    else:
        points = [(e, float(v)) for e, v in zip(history.epoch, values) if e in epochs]
    if not points:
        return None
    return labels[key], [e for e, _ in points], [v for _, v in points]


def _plot(path: Path, series: list[Series], phases: list[int], epochs: list[int], ylabel: str, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for label, xs, ys in series:
        ax.plot(xs, ys, marker="o", markersize=3, label=label)
    # Phase boundaries: a dashed line between the last epoch of one phase and the first of the next.
    for i in range(1, len(phases)):
        if phases[i] != phases[i - 1]:
            x = (epochs[i - 1] + epochs[i]) / 2
            ax.axvline(x, color="gray", linestyle="--", linewidth=1)
            ax.text(x, 1.0, f" phase {phases[i]}", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    if len(series) > 1:
        ax.legend(fontsize=8)
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
    plots = {"loss": ("Loss/total", ["loss"]), "iou": ("IoU", ["iou", "free_iou", "prior_iou"])}
    scopes = [(run_dir / "plots", list(range(len(history.epoch))), "all phases"),
              (run_dir / f"phase_{phase}" / "plots", [i for i, p in enumerate(history.phase) if p == phase],
               f"phase {phase}")]
    written = []
    for folder, idx, scope in scopes:
        epochs = [history.epoch[i] for i in idx]
        for name, (ylabel, keys) in plots.items():
            series = [s for key in keys if (s := _series(history, key, set(epochs))) is not None]
            target = folder / f"{name}.png"
            _plot(target, series, [history.phase[i] for i in idx], epochs, ylabel, f"{ylabel} per epoch, {scope}")
            written.append(target)
    return written
