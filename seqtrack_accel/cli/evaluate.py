"""seqtrack-evaluate: track a benchmark's test sequences with a checkpoint and/or score result folders.

    seqtrack-evaluate --checkpoint runs/demo/phase_1/checkpoints/checkpoint_6 --baseline first-box
    seqtrack-evaluate --checkpoint hf://my-org/seqtrack-export --root /data/LaSOT
    seqtrack-evaluate --results output/evaluation/demo/demo pytracking/lasot --names SeqTrack Other --root /data/LaSOT
    seqtrack-evaluate --config configs/demo.yaml --baseline first-box --output output/first_box
    seqtrack-evaluate --checkpoint exports/demo --backend onnx --config demo   # an ONNX export (seqtrack-export)
    seqtrack-evaluate --checkpoint hf://my-org/seqtrack-b256 --dataset got10k_val --root /data/GOT-10k
    seqtrack-evaluate --checkpoint hf://my-org/seqtrack-b256 --dataset trackingnet   # $TRACKINGNET_ROOT; a zip
    seqtrack-evaluate --checkpoint runs/b256/phase_2/checkpoints/checkpoint_500 --dataset uav123 \
        --push_to_hub my-org/seqtrack-b256

--dataset picks the benchmark (lasot, lasot_ext, got10k_val, got10k_test, trackingnet, tnl2k, uav123, otb100, nfs;
default: the config's evaluation set, LaSOT's test split) and its root (--root, else its environment variable), and
sets the template update the original uses on it (an eval.template_update_interval=... override wins). Output goes
to output/evaluation/<config name>/<dataset>/ unless --output. GOT-10k test and TrackingNet have no public ground
truth: their results are packed into the evaluation server's archive, OUTPUT/<name>_<dataset>_submission.zip.
--push_to_hub ORG/NAME adds the scores to that model repo's card (README.md only); a checkpoint loaded from
hf://ORG/NAME pushes there by itself when a Hub token is set, unless --no_push.

Trackers run here write their raw results to ``OUTPUT/<name>/`` with ``produced_by.json`` (the weights' hash and
the settings); a run resumes over results of the same weights and settings, refuses others unless ``--overwrite``.
Every tracker's scores go to ``OUTPUT/summary.json``, ``OUTPUT/per_sequence.csv`` and the plots
``OUTPUT/{success,precision,norm_precision}.png``. Bad input (a missing checkpoint, stale or malformed results) is one
``error:`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import sys
from pathlib import Path

import torch

from ..config import Config, apply_overrides, config_from_dict, load_config, to_dict
from ..data.benchmarks import some_names
from ..tracking.benchmarks import BENCHMARKS, Benchmark, get_benchmark
from ..tracking.evaluate import (eval_sequences, evaluate_results, format_table, read_predictions, results_record,
                                 run_tracker_on_sequences, seqtrack_settings, write_summary)
from ..hub import HubError, is_address, parse_address
from ..hub.results import DATASETS
from ..tracking.tracker import FirstBoxTracker, SeqTrackTracker, load_tracker_checkpoint
from . import ArgumentParser, INPUT_ERRORS, add_device_arguments, error_line, torch_dtype

BASELINES = ("first-box",)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="seqtrack-evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="training checkpoint folder, save_pretrained folder, either on the Hub "
                                             "as hf://ORG/NAME[@REVISION][/PATH] (an export, or a mirrored run's "
                                             "newest, best or named checkpoint), or an original "
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
    parser.add_argument("--dataset", choices=list(BENCHMARKS),
                        help="the benchmark to track and score (default: the config's evaluation set)")
    parser.add_argument("--root", help="the benchmark's root (LaSOT: sets data.root; others: instead of the "
                                       "environment variable)")
    parser.add_argument("--push_to_hub", metavar="ORG/NAME",
                        help="add the scores to this Hub model repo's card (needs a token with write access)")
    parser.add_argument("--no_push", action="store_true",
                        help="do not push the scores of an hf:// checkpoint to its repo's card")
    parser.add_argument("--output", help="output folder (default: output/evaluation/<config name>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the results already in OUTPUT/<name>/ (of this run's trackers) and track every "
                             "sequence again; needed when other weights or settings produced them")
    add_device_arguments(parser)
    parser.add_argument("--classes", nargs="+", help="evaluate only these classes (sets eval.classes)")
    parser.add_argument("--max_frames", type=int, default=0, help="frames tracked and scored per sequence (0: all)")
    parser.add_argument("--no_plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    return parser


def _overrides(args: argparse.Namespace) -> list[str]:
    # The benchmark's tracker settings first, so that the user's own overrides win.
    overrides = [*(get_benchmark(args.dataset).overrides() if args.dataset else []), *args.overrides]
    if args.dataset == "lasot":
        overrides.append("eval.dataset=null")  # LaSOT itself, not a validation set the config may name
    if args.root and args.dataset in (None, "lasot"):
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
    if args.dataset and BENCHMARKS[args.dataset].protocol == "server" and args.max_frames:
        parser.error(f"{BENCHMARKS[args.dataset].title} takes whole sequences: its server scores every frame; "
                     "drop --max_frames")
    if args.push_to_hub and args.max_frames:
        parser.error("--push_to_hub publishes a benchmark's scores, which take whole sequences: drop --max_frames")
    if args.push_to_hub and not args.dataset:
        parser.error(f"--push_to_hub publishes a benchmark's scores: name the benchmark with --dataset (one of "
                     f"{', '.join(DATASETS)})")
    if args.push_to_hub and args.no_push:
        parser.error("--push_to_hub and --no_push contradict each other; give one")
    if args.backend == "onnx" and not args.checkpoint:
        parser.error("--backend onnx runs the ONNX export given as --checkpoint; give --checkpoint")
    if args.backend == "onnx" and args.dtype != "float32":
        parser.error("--dtype bfloat16 applies to --backend torch; an ONNX export runs in float32")
    try:
        return _evaluate(args)
    except (*INPUT_ERRORS, HubError) as e:
        # Bad input (checkpoint, config, result files, stale results, the Hub): one line naming it, no traceback; the
        # traceback is kept at DEBUG level for bug reports.
        logging.getLogger("seqtrack_accel.evaluate").debug("traceback of the error below", exc_info=True)
        print(error_line(e), file=sys.stderr)
        return 2


def _evaluate(args: argparse.Namespace) -> int:
    benchmark = get_benchmark(args.dataset) if args.dataset else None
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
    push_to = _push_target(args)
    output = Path(args.output or Path("output") / "evaluation" / cfg.name / (args.dataset or ""))
    device = torch.device(args.device)
    dtype = torch_dtype(args.dtype)
    run_here = ([args.name or cfg.name] if checkpoint is not None else []) + ([args.baseline] if args.baseline else [])
    folders = {name: output / name for name in run_here}
    names = args.names or [Path(d).resolve().name for d in args.results]
    for name, folder in zip(names, args.results):
        folders[name] = Path(folder)
    if len(folders) < len(run_here) + len(args.results):
        raise ValueError(f"a tracker name is used twice in {run_here + names}; give distinct --name / --names")
    sequences, attributes, root = _sequences(args, cfg, benchmark)
    chosen = cfg.eval_classes if args.dataset == "lasot" else args.classes  # LaSOT's --classes set eval.classes
    partial = benchmark.part_scored((s.name for s in sequences), chosen) if benchmark is not None else None
    if partial:
        scored = _part_text(partial, benchmark.title, root)
        if args.push_to_hub:
            raise ValueError(f"--push_to_hub publishes the scores of {benchmark.title}, but only {scored}; score the "
                             "whole benchmark to publish them, or drop --push_to_hub")
        print(f"warning: {scored}: summary.json marks these scores partial, and they are not published to a model "
              "card", file=sys.stderr)
        push_to = None  # nor to the card of an hf:// checkpoint
    title = benchmark.title if benchmark else f"{cfg.eval.split} split"
    classes = sorted({s.class_name for s in sequences} - {""})
    print(f"{len(sequences)} sequences of {title}" + (f", classes {classes}" if classes else "")
          + f"; template update interval {cfg.eval.template_update_interval}, threshold "
            f"{cfg.eval.template_update_threshold:g}; output in {output}")

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
                                 record=results_record(args.baseline, {}), overwrite=args.overwrite,
                                 report_speed=False)

    versions = {"torch": torch.__version__, "python": sys.version.split()[0]}
    if benchmark is not None and benchmark.protocol == "server":
        return _pack_submissions(benchmark, folders, sequences, output)
    trackers = {name: _score(benchmark, folder, sequences, attributes, args.max_frames)
                for name, folder in folders.items()}
    if args.baseline:
        trackers[args.baseline].pop("speed", None)  # a Python call's time per frame: no tracker's speed
    extra = {"dataset": args.dataset or "config", "benchmark": title, "partial": partial,
             "device": _device_description(device), "dtype": args.dtype, "versions": versions,
             "max_frames": args.max_frames,
             "result_folders": {n: str(f) for n, f in folders.items()}, "config": to_dict(cfg)}
    paths = write_summary(output, trackers, extra, plots=not args.no_plots)
    print(format_table(trackers))
    if benchmark is not None and benchmark.protocol == "got10k":
        print(format_got10k_table(trackers))
    for name, counts in timed.items():
        # Over every frame of the result folder, so a resumed run still reports its whole speed; the per-frame
        # times of sequences done by an earlier run were measured there.
        speed = trackers[name].get("speed", {})
        print(json.dumps({"metric": "tracking_speed", "tracker": name, "dataset": args.dataset, "fps": speed.get("fps"),
                          "frames": speed.get("frames"), "seconds": speed.get("seconds"), **counts,
                          "device": _device_description(device), "dtype": args.dtype, **versions,
                          "config": cfg.name, "encoder": cfg.model.encoder, "search_size": cfg.data.search.size},
                         allow_nan=False))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    if push_to and timed and not args.dataset:  # the hf:// checkpoint's own push: --push_to_hub needs --dataset
        print(f"warning: the scores were not added to the model card of {push_to}: the card lists a named "
              f"benchmark's scores; evaluate with --dataset (one of {', '.join(DATASETS)}) to add them",
              file=sys.stderr)
    elif push_to and timed:
        try:
            _push(push_to, json.loads(paths["summary"].read_text()), list(timed), args.dataset)
        except (ValueError, OSError, RuntimeError) as e:  # HubError is a RuntimeError
            if args.push_to_hub:
                raise HubError(f"the scores are in {paths['summary']}, but {e}") from e
            # The push an hf:// checkpoint makes by itself: the evaluation succeeded, the card is a bonus.
            print(f"warning: the scores were not added to the model card of {push_to}: {e}", file=sys.stderr)
    return 0


def _push_target(args: argparse.Namespace) -> str | None:
    """The repo whose card gets the scores: --push_to_hub, else the hf:// checkpoint's repo when a token is set."""
    if args.push_to_hub:
        if not args.checkpoint:
            raise ValueError("--push_to_hub publishes the scores of --checkpoint; give --checkpoint")
        return args.push_to_hub
    if args.no_push or not is_address(args.checkpoint):
        return None
    from huggingface_hub import get_token

    if get_token() is None:
        return None
    return parse_address(args.checkpoint).repo_id


def _push(repo_id: str, summary: dict, trackers: list[str], dataset: str) -> None:
    from ..hub.results import push_results_to_card, results_from_summary

    results = results_from_summary(summary, trackers=trackers)
    commit = push_results_to_card(repo_id, results)
    print(f"added the {dataset} scores of {', '.join(trackers)} to the model card of {repo_id}: "
          f"{getattr(commit, 'commit_url', commit)}")


def _first_frames(sequence, frames: int):
    """``sequence`` cut to its first ``frames`` frames (--max_frames), for scores that take whole sequences."""
    return dataclasses.replace(sequence, boxes=sequence.boxes[:frames], visible=sequence.visible[:frames])


def format_got10k_table(trackers: dict[str, dict]) -> str:
    """AO, SR0.50 and SR0.75 (x100) of each tracker, as GOT-10k reports them."""
    header = f"{'tracker':<16} {'seqs':>4} {'AO':>8} {'SR0.50':>8} {'SR0.75':>8}"
    lines = [header, "-" * len(header)]
    for name, summary in trackers.items():
        scores = summary["got10k"]["overall"]
        lines.append(f"{name:<16} {scores['sequences']:>4} {scores['ao']:>8.2f} {scores['sr50']:>8.2f} "
                     f"{scores['sr75']:>8.2f}")
    return "\n".join(lines)


def _sequences(args: argparse.Namespace, cfg: Config,
               benchmark: Benchmark | None) -> tuple[list, dict | None, Path | None]:
    """The benchmark's sequences (the config's evaluation set without --dataset) present under its root, filtered by
    --classes; their attributes where the benchmark labels them; and the root."""
    if benchmark is None:
        return eval_sequences(cfg), None, None
    if benchmark.name == "lasot":
        return eval_sequences(cfg), None, cfg.data.resolved_root()  # at data.root (--root), of eval.classes (--classes)
    root = benchmark.root(args.root)
    sequences = benchmark.load(root)
    if args.classes:
        known = sorted({s.class_name for s in sequences} - {""})
        unknown = sorted(set(args.classes) - set(known))
        if unknown:
            raise ValueError(f"--classes {unknown} are not classes of {benchmark.title} at {root}"
                             + (f"; its classes are {known}" if known else "; it has no classes"))
        sequences = [s for s in sequences if s.class_name in args.classes]
    if not sequences:
        raise ValueError(f"no sequences of {benchmark.title} under {root}; check --root (it holds {benchmark.layout})")
    return sequences, benchmark.attributes(root), root


def _part_text(partial: dict, title: str, root: Path) -> str:
    """``37 of the 100 sequences of NFS are scored (63 missing under ROOT: a, b, c, d, e and 58 more)``."""
    parts = [f"{len(names)} {what}" + (f": {some_names(names)}" if key == "missing" else "")
             for key, what in (("missing", f"missing under {root}"), ("left_out", "of classes not chosen"),
                               ("not_in_benchmark", "not in its test set"))
             if (names := partial[key])]
    return f"{partial['sequences']} of the {partial['of']} sequences of {title} are scored ({'; '.join(parts)})"


def _score(benchmark: Benchmark | None, folder: Path, sequences: list, attributes: dict | None,
           max_frames: int) -> dict:
    summary = evaluate_results(folder, sequences, max_frames, attributes)
    if benchmark is not None and benchmark.protocol == "got10k":
        from ..tracking.got10k_metrics import got10k_scores

        predictions = read_predictions(folder, sequences)
        if max_frames:
            sequences = [_first_frames(s, max_frames) for s in sequences]
        summary["got10k"] = got10k_scores(predictions, sequences)
    return summary


def _pack_submissions(benchmark: Benchmark, folders: dict[str, Path], sequences: list, output: Path) -> int:
    from ..tracking.submission import check_submission, write_submission

    for name, folder in folders.items():
        archive = output / f"{name}_{benchmark.name}_submission.zip"
        write_submission(folder, sequences, archive, benchmark.name)
        checked = check_submission(archive, sequences, benchmark.name)
        print(json.dumps({"submission": str(archive), "tracker": name, "dataset": benchmark.name,
                          "sequences": checked["sequences"], "frames": checked["frames"], "files": checked["files"],
                          "server": benchmark.server}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
