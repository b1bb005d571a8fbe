"""Hand-made run folders for the Hub tests: the trainer's layout (``seqtrack_accel.run_folder``) with tiny
files, so that tests of the Hub code need neither a model nor a training run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from seqtrack_accel.config import Config, dump_config
from seqtrack_accel import run_folder as ckpt

# The token of conftest's local Hub (``hub``): every request must carry it; tests look for it where it must not be.
HUB_TOKEN = "hf_local_hub_test_token_5f3a9c"

# A PNG signature plus a few bytes: enough for anything that only moves plot files around.
_FAKE_PNG = b"\x89PNG\r\n\x1a\n" + b"fake plot "


def make_fake_checkpoint(
    run_dir: Path,
    *,
    phase: int = 1,
    epoch: int = 1,
    step: int | None = None,
    global_step: int | None = None,
    full_state: bool = True,
    history: dict[str, list] | None = None,
    config_name: str = "demo",
) -> Path:
    """Write ``run_dir/phase_N/checkpoints/checkpoint_<E>[_step<S>]/`` as Accelerate's ``save_state`` would.

    Holds ``model.safetensors`` (a real safetensors file with one 8-element tensor), ``training_state.json``
    and, when ``full_state``, ``optimizer.bin``, ``scheduler.bin`` and ``random_states_0.pkl`` (a few bytes each).
    Returns the checkpoint folder.
    """
    folder = ckpt.checkpoints_dir(run_dir, phase) / ckpt.checkpoint_name(epoch, step or 0, end_of_epoch=step is None)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"weight": np.arange(8, dtype=np.float32) * epoch}, str(folder / ckpt.WEIGHTS_FILE))
    if full_state:
        (folder / "optimizer.bin").write_bytes(b"optimizer state %d" % epoch)
        (folder / "scheduler.bin").write_bytes(b"scheduler state %d" % epoch)
        (folder / "random_states_0.pkl").write_bytes(b"rng state %d" % epoch)
    if history is None:
        history = {"phase": [phase] * epoch, "epoch": list(range(1, epoch + 1)),
                   "loss": [round(5.0 - 0.5 * e, 4) for e in range(1, epoch + 1)],
                   "iou": [round(0.1 * e, 4) for e in range(1, epoch + 1)], "lr": [1e-4] * epoch}
    state = ckpt.TrainingState(
        phase=phase, epoch=epoch, global_step=global_step if global_step is not None else 16 * epoch,
        step_in_epoch=step or 0, history=ckpt.History.from_dict(history), model_signature={"model.encoder": "tiny"},
        config_name=config_name, world_size=1, versions={"torch": "test"},
        saved_at="2026-11-24T10:00:00Z")
    (folder / ckpt.STATE_FILE).write_text(json.dumps(state.to_dict(), indent=1))
    return folder


def make_fake_run(
    run_dir: Path, *, name: str = "demo", phase: int = 1, epochs: int = 2, full_state: bool = True
) -> list[Path]:
    """Write a whole run folder: config, log, TensorBoard events, plots and one checkpoint per epoch.

    Returns the checkpoint folders, oldest first.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ckpt.CONFIG_FILE).write_text(dump_config(Config(name=name)))
    (run_dir / "logs").mkdir(exist_ok=True)
    (run_dir / "logs" / f"seqtrack-{name}.log").write_text("[train: 1, 4 / 16] Loss/total 5.0, IoU 0.1\n")
    (run_dir / "tensorboard").mkdir(exist_ok=True)
    (run_dir / "tensorboard" / "events.out.tfevents.1700000000.host.1.0").write_bytes(b"tb events " * 8)
    for plots in (run_dir / "plots", ckpt.phase_dir(run_dir, phase) / "plots"):
        plots.mkdir(parents=True, exist_ok=True)
        (plots / "loss.png").write_bytes(_FAKE_PNG + b"loss")
        (plots / "iou.png").write_bytes(_FAKE_PNG + b"iou")
    return [make_fake_checkpoint(run_dir, phase=phase, epoch=e, full_state=full_state, config_name=name)
            for e in range(1, epochs + 1)]


@dataclass
class ScoredSequence:
    """What scoring needs of a sequence (``tracking.evaluate.LasotSequence`` without frames): for summaries made
    from boxes alone."""

    name: str
    class_name: str
    boxes: np.ndarray
    visible: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)
