"""seqtrack-evaluate: track LaSOT test sequences with a checkpoint and/or score result folders.

    seqtrack-evaluate --checkpoint runs/demo/phase_1/checkpoints/checkpoint_6 --baseline first-box
    seqtrack-evaluate --checkpoint hf://my-org/seqtrack-export --root /data/LaSOT
    seqtrack-evaluate --results output/evaluation/demo/demo pytracking/lasot --names SeqTrack Other --root /data/LaSOT
    seqtrack-evaluate --config configs/demo.yaml --baseline first-box --output output/first_box
    seqtrack-evaluate --checkpoint exports/demo --backend onnx --config demo   # an ONNX export (seqtrack-export)

Trackers run here write their raw results to ``OUTPUT/<name>/`` with ``produced_by.json`` (the weights' hash and
the settings); a run resumes over results of the same weights and settings, refuses others unless ``--overwrite``.
Every tracker's scores go to ``OUTPUT/summary.json``, ``OUTPUT/per_sequence.csv`` and the plots
``OUTPUT/{success,precision,norm_precision}.png``. Bad input (a missing checkpoint, stale or malformed results) is one
``error:`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
from pathlib import Path

import torch

from ..config import Config, apply_overrides, config_from_dict, load_config, to_dict
from ..tracking.evaluate import (eval_sequences, evaluate_results, format_table, results_record,
                                 run_tracker_on_sequences, seqtrack_settings, write_summary)
from ..tracking.tracker import FirstBoxTracker, SeqTrackTracker, load_tracker_checkpoint
from . import ArgumentParser

BASELINES = ("first-box",)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="seqtrack-evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="training checkpoint folder, save_pretrained folder, hf://ORG/NAME"
                                             "[@REVISION] (a save_pretrained export on the Hub), or an original "
                                             "SEQTRACK_ep0500.pth.tar (with --config)")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="onnx: --checkpoint is an ONNX export folder (seqtrack-export), run with onnxruntime "
                             "(needs the optional export extra)")
    parser.add_argument("--name", help="tracker name for --checkpoint results (default: the config's name)")
    parser.add_argument("--baseline", choices=BASELINES, help="also run a baseline tracker")
    parser.add_argument("--results", nargs="+", default=[], metavar="DIR",
                        help="existing result folders (<sequence>.txt, from any tool) to score")
    parser.add_argument("--names", nargs="+", default=[], metavar="NAME", help="names of the --results folders")
    parser.add_argument("--config", help="config YAML, a path or a shipped config name such as demo (default: the "
                                         "checkpoint's own config.yaml, else defaults)")
    parser.add_argument("--root", help="LaSOT root (sets data.root)")
    parser.add_argument("--output", help="output folder (default: output/evaluation/<config name>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the results already in OUTPUT/<name>/ (of this run's trackers) and track every "
                             "sequence again; needed when other weights or settings produced them")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="bfloat16 runs under autocast")
    parser.add_argument("--classes", nargs="+", help="evaluate only these classes (sets eval.classes)")
    parser.add_argument("--max_frames", type=int, default=0, help="frames tracked and scored per sequence (0: all)")
    parser.add_argument("--no_plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    return parser


def _overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(args.overrides)
    if args.root:
        overrides.append(f"data.root={json.dumps(args.root)}")
    if args.classes:
        overrides.append(f"eval.classes={json.dumps(args.classes)}")
    return overrides


def _resolve_config(args: argparse.Namespace, checkpoint_cfg: Config | None) -> Config:
    if args.config:
        return load_config(args.config, _overrides(args))
    base = checkpoint_cfg if checkpoint_cfg is not None else Config()
    return config_from_dict(apply_overrides(to_dict(base), _overrides(args)))


def _device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not (args.checkpoint or args.baseline or args.results):
        parser.error("nothing to evaluate: give --checkpoint, --baseline and/or --results")
    if args.names and len(args.names) != len(args.results):
        parser.error(f"--names gives {len(args.names)} names for {len(args.results)} --results folders")
    if args.max_frames < 0:
        parser.error("--max_frames must be >= 0")
    if args.backend == "onnx" and not args.checkpoint:
        parser.error("--backend onnx runs the ONNX export given as --checkpoint; give --checkpoint")
    if args.backend == "onnx" and args.dtype != "float32":
        parser.error("--dtype bfloat16 applies to --backend torch; an ONNX export runs in float32")
    try:
        return _evaluate(args)
    except (ValueError, OSError, KeyError, ImportError) as e:
        # Bad input (checkpoint, config, result files, stale results): one line naming it, no traceback; the
        # traceback is kept at DEBUG level for bug reports.
        logging.getLogger("seqtrack_accel.evaluate").debug("traceback of the error below", exc_info=True)
        print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 2


def _evaluate(args: argparse.Namespace) -> int:
    checkpoint = None
    if args.checkpoint:
        given = load_config(args.config, _overrides(args)) if args.config else None
        if args.backend == "onnx":
            from ..export import load_onnx_tracker_checkpoint

            checkpoint = load_onnx_tracker_checkpoint(args.checkpoint)
        else:
            checkpoint = load_tracker_checkpoint(args.checkpoint, given)
        cfg = given if given is not None else _resolve_config(args, checkpoint.cfg)
    else:
        cfg = _resolve_config(args, None)
    output = Path(args.output or Path("output") / "evaluation" / cfg.name)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    run_here = ([args.name or cfg.name] if checkpoint is not None else []) + ([args.baseline] if args.baseline else [])
    folders = {name: output / name for name in run_here}
    names = args.names or [Path(d).resolve().name for d in args.results]
    for name, folder in zip(names, args.results):
        folders[name] = Path(folder)
    if len(folders) < len(run_here) + len(args.results):
        raise ValueError(f"a tracker name is used twice in {run_here + names}; give distinct --name / --names")
    sequences = eval_sequences(cfg)
    print(f"{len(sequences)} {cfg.eval.split} sequences of classes "
          f"{sorted({s.class_name for s in sequences})}; output in {output}")

    timed: dict[str, dict] = {}  # trackers run here: how this run went
    if checkpoint is not None:
        name, model = args.name or cfg.name, checkpoint.model
        record = results_record("SeqTrack", seqtrack_settings(cfg, dtype), checkpoint.identity)
        run = run_tracker_on_sequences(lambda: SeqTrackTracker(model, cfg, device=device, dtype=dtype), cfg,
                                       sequences, folders[name], args.max_frames, record=record,
                                       overwrite=args.overwrite)
        timed[name] = {"tracked_frames": run.frames, "skipped_sequences": len(run.skipped)}
    if args.baseline:
        run_tracker_on_sequences(FirstBoxTracker, cfg, sequences, folders[args.baseline], args.max_frames,
                                 record=results_record(args.baseline, {}), overwrite=args.overwrite)

    trackers = {name: evaluate_results(folder, sequences, args.max_frames) for name, folder in folders.items()}
    versions = {"torch": torch.__version__, "python": sys.version.split()[0]}
    extra = {"device": _device_description(device), "dtype": args.dtype, "versions": versions,
             "max_frames": args.max_frames, "result_folders": {n: str(f) for n, f in folders.items()},
             "config": to_dict(cfg)}
    paths = write_summary(output, trackers, extra, plots=not args.no_plots)
    print(format_table(trackers))
    for name, counts in timed.items():
        # Over every frame of the result folder, so a resumed run still reports its whole speed; the per-frame
        # times of sequences done by an earlier run were measured there.
        speed = trackers[name].get("speed", {})
        print(json.dumps({"metric": "tracking_speed", "tracker": name, "fps": speed.get("fps"),
                          "frames": speed.get("frames"), "seconds": speed.get("seconds"), **counts,
                          "device": _device_description(device), "dtype": args.dtype, **versions,
                          "config": cfg.name, "encoder": cfg.model.encoder, "search_size": cfg.data.search.size},
                         allow_nan=False))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
