"""``accelerate launch train.py [--config CFG] [--phase N] [--resume_from_checkpoint [PATH|latest|auto|hf://...]]``"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from ..config import ConfigError, load_config, shipped_configs
from . import ArgumentParser

DEFAULT_CONFIG = "seqtrack_b192"  # a config shipped inside the package, so the default works from any folder


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="seqtrack-train",
        description="Train SeqTrack with Accelerate. Launch with `accelerate launch train.py ...` for GPUs.",
        epilog="Trailing key.path=value arguments override the config, e.g. train.batch_size=8 'data.datasets[0].root=/data/LaSOT'",
    )
    p.add_argument("--config", help="experiment YAML (differences from the defaults): a path or the name of a shipped "
                   f"config ({', '.join(shipped_configs())}). Default: the run folder's config.yaml when it exists, "
                   f"else {DEFAULT_CONFIG}")
    p.add_argument("--phase", type=_positive, default=1, help="phase number; phase N > 1 continues the previous phase")
    p.add_argument("--output_dir", help="run folder (default runs/<config name>)")
    p.add_argument("--epochs", type=_positive, help="stop after this epoch (absolute, over all phases)")
    p.add_argument("--resume_from_checkpoint", nargs="?", const="latest",
                   help="'latest' (also with no value), 'auto' ('latest' when this phase has a checkpoint, else "
                   "start as without the flag: one command for the first start and every restart), a checkpoint "
                   "folder, or a mirrored run's checkpoint on the Hub: hf://ORG/NAME[@REVISION][/PATH] (newest; "
                   "PATH best or phase_N/checkpoint_E)")
    p.add_argument("--repo_id", help="mirror the run to this Hugging Face Hub model repo (ORG/NAME)")
    p.add_argument("--seed", type=int, help="random seed (train.seed)")
    p.add_argument("overrides", nargs="*", help="key.path=value config overrides")
    return p


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def resolve_config(args: argparse.Namespace):
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    if args.repo_id is not None:
        overrides.append(f"hub.repo_id={args.repo_id}")
    path = args.config
    if path is None and args.output_dir and (Path(args.output_dir) / "config.yaml").is_file():
        path = Path(args.output_dir) / "config.yaml"
    if path is None:
        path = DEFAULT_CONFIG
    return load_config(path, overrides)


def main(argv: list[str] | None = None) -> int:
    """Train; the exit status: 0 when the run finished or stopped on request, 2 for bad input (config, data files,
    checkpoint, Hub), 1 for any other error. An error is one ``error:`` line on stderr, printed by the main process
    alone; the traceback goes to the run's log file (every process's)."""
    # Overrides may stand anywhere on the line, also after other flags (key=value --epochs 2 key=value).
    args = build_parser().parse_intermixed_args(argv)
    resume = args.resume_from_checkpoint
    if resume and "=" in resume and not Path(resume).exists() and not resume.startswith("hf://"):
        # `--resume_from_checkpoint key=value` : the flag took no value and argparse swallowed an override
        args.overrides.insert(0, resume)
        args.resume_from_checkpoint = "latest"
    from ..training.stop import StopRequest  # light: no torch

    stop = StopRequest()
    stop.install()  # before torch is imported and the data read: a SIGTERM from now on is a stop, not a kill
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per saved file is noise in the log
    # here, not at the top: --help answers without loading torch
    from ..hub import HubError
    from ..run_folder import CheckpointError
    from ..training import Trainer

    trainer = None
    try:
        cfg = resolve_config(args)
        run_dir = Path(args.output_dir) if args.output_dir else Path("runs") / cfg.name
        trainer = Trainer(cfg, run_dir=run_dir, phase=args.phase, epochs=args.epochs,
                          resume_from=args.resume_from_checkpoint, stop=stop)
        result = trainer.fit()
    except (ConfigError, CheckpointError, HubError, FloatingPointError, ValueError, OSError) as e:
        # Bad input (config, checkpoint, data files, permissions): one line naming it, no traceback on the console.
        if _is_main_process(trainer):
            print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug, a CUDA error, out of memory: the traceback is in the log file
        if _is_main_process(trainer):
            logged = trainer is not None and trainer.traceback_logged
            if not logged:
                traceback.print_exc()
            where = f" (traceback in {trainer.log_file})" if logged else ""
            print(f"error: {type(e).__name__}: {e}{where}", file=sys.stderr)
        return 1
    finally:
        stop.uninstall()
    if result.interrupted and result.last_checkpoint is None:
        print(f"stopped on request: phase {result.phase}, before the first step: nothing trained, no checkpoint "
              "written; run the same command again to start")
        return 0
    status = "stopped on request" if result.interrupted else "finished"
    print(f"{status}: phase {result.phase}, epoch {result.epoch}, global step {result.global_step}, "
          f"last checkpoint {result.last_checkpoint}")
    return 0


def _is_main_process(trainer) -> bool:
    """Whether this is the process that prints (of several launched ones, the main one)."""
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is not None:
        return accelerator.is_main_process
    return os.environ.get("RANK", "0") == "0"  # set by accelerate launch / torchrun for every process


if __name__ == "__main__":
    sys.exit(main())
