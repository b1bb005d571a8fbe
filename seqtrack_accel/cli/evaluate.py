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
    seqtrack-evaluate --dataset custom --root my_videos --results output/track/cup-2 --sequences cup-2  # seqtrack-track

--dataset picks the benchmark (lasot, lasot_ext, got10k_val, got10k_test, trackingnet, tnl2k, uav123, otb100, nfs, or
custom: every sequence of your own folder, in the custom layout) and its root (--root, else its environment variable),
and sets the template update the original uses on it (an eval.template_update_interval=... override wins). Without
--dataset the config's evaluation source is evaluated (eval.dataset, else the held-out split of data.datasets[0]: the
demo's LaSOT test split); --root reads it from another folder (as it is: no synthetic generator applies there) and
--classes keeps some of its classes. Output goes to output/evaluation/<config name>/<dataset>/ unless --output.
GOT-10k test and TrackingNet have no public ground truth: their results are packed into the evaluation server's
archive, OUTPUT/<name>_<dataset>_submission.zip.
--push_to_hub ORG/NAME adds the scores to that model repo's card (README.md only); a checkpoint loaded from
hf://ORG/NAME pushes there by itself when a Hub token is set, unless --no_push.

A result folder holds ``<sequence>.txt`` files, one ``x,y,w,h`` line per frame (a fifth value, the confidence that
seqtrack-track writes, is allowed), as pytracking and other trackers write them: --results scores any such folder,
and --sequences picks the sequences to score (one tracked video, say). Trackers run here write their raw results to
``OUTPUT/<name>/`` with ``produced_by.json`` (the weights' hash and
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
from ..hub.remote import HubError
from ..hub.results import DATASETS, push_results_to_card, results_from_summary
from ..tracking.benchmarks import (BENCHMARKS, Outcome, TrackerRun, card_repo, card_target, evaluate,
                                   evaluation_set, get_benchmark, result_folders, speed_line)
from ..tracking.evaluate import results_record, seqtrack_settings
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
                        help="the benchmark to track and score (default: the config's evaluation source)")
    parser.add_argument("--root", help="the benchmark's root, instead of its environment variable; without "
                                       "--dataset, the folder to read the config's evaluation source from")
    parser.add_argument("--push_to_hub", metavar="ORG/NAME",
                        help="add the scores to this Hub model repo's card (needs a token with write access)")
    parser.add_argument("--no_push", action="store_true",
                        help="do not push the scores of an hf:// checkpoint to its repo's card")
    parser.add_argument("--output", help="output folder (default: output/evaluation/<config name>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the results already in OUTPUT/<name>/ (of this run's trackers) and track every "
                             "sequence again; needed when other weights or settings produced them")
    add_device_arguments(parser)
    parser.add_argument("--classes", nargs="+", help="evaluate only these classes")
    parser.add_argument("--sequences", nargs="+", default=[], metavar="NAME",
                        help="evaluate only these sequences (a video tracked by seqtrack-track: the name of its "
                             "result file)")
    parser.add_argument("--max_frames", type=int, default=0, help="frames tracked and scored per sequence (0: all)")
    parser.add_argument("--no_plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    return parser


def _overrides(args: argparse.Namespace) -> list[str]:
    # The benchmark's tracker settings first, so that the user's own overrides win.
    return [*(get_benchmark(args.dataset).overrides() if args.dataset else []), *args.overrides]


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
    if args.dataset and BENCHMARKS[args.dataset].protocol.whole_sequences and args.max_frames:
        parser.error(f"{BENCHMARKS[args.dataset].title} takes whole sequences: its server scores every frame; "
                     "drop --max_frames")
    if args.push_to_hub and args.max_frames:
        parser.error("--push_to_hub publishes a benchmark's scores, which take whole sequences: drop --max_frames")
    if args.push_to_hub and not args.dataset:
        parser.error(f"--push_to_hub publishes a benchmark's scores: name the benchmark with --dataset (one of "
                     f"{', '.join(DATASETS)})")
    if args.push_to_hub and not args.checkpoint:
        parser.error("--push_to_hub publishes the scores of --checkpoint; give --checkpoint")
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
    benchmark = get_benchmark(args.dataset) if args.dataset else None
    evaluation = evaluation_set(cfg, benchmark, args.root, args.classes, args.sequences)
    push_to, warnings = card_target(evaluation, card_repo(args.checkpoint, args.push_to_hub, args.no_push),
                                    explicit=bool(args.push_to_hub))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    output = Path(args.output or Path("output") / "evaluation" / cfg.name / (args.dataset or ""))
    device, dtype = torch.device(args.device), torch_dtype(args.dtype)
    runs = []
    if checkpoint is not None:  # first: the tracker whose scores a model card gets
        model = checkpoint.model
        runs.append(TrackerRun(args.name or cfg.name, lambda: SeqTrackTracker(model, cfg, device=device, dtype=dtype),
                               results_record("SeqTrack", seqtrack_settings(cfg, dtype), checkpoint.identity)))
    if args.baseline:
        runs.append(TrackerRun(args.baseline, FirstBoxTracker, results_record(args.baseline, {}), report_speed=False))
    folders = result_folders(output, runs, args.results, args.names)
    classes = sorted({s.class_name for s in evaluation.sequences} - {""})
    print(f"{len(evaluation.sequences)} sequences of {evaluation.title}" + (f", classes {classes}" if classes else "")
          + f"; template update interval {cfg.eval.template_update_interval}, threshold "
            f"{cfg.eval.template_update_threshold:g}; output in {output}")

    versions = {"torch": torch.__version__, "python": sys.version.split()[0]}
    context = {"device": _device_description(device), "dtype": args.dtype}
    outcome = evaluate(evaluation, runs, folders, output, cfg, max_frames=args.max_frames, overwrite=args.overwrite,
                       plots=not args.no_plots, extra={**context, "versions": versions, "config": to_dict(cfg)})
    for submission in outcome.submissions:
        print(json.dumps(submission))
    if not evaluation.protocol.writes_summary:
        return 0
    print("\n".join(outcome.tables))
    for run in runs:
        if run.report_speed:
            print(speed_line(outcome, run.name, dataset=args.dataset, **context, **versions, config=cfg.name,
                             encoder=cfg.model.encoder, search_size=cfg.data.search.size))
    print("wrote " + ", ".join(str(p) for p in outcome.paths.values()))
    if push_to:
        _push(push_to, outcome, [runs[0].name], args)
    return 0


def _push(repo_id: str, outcome: Outcome, trackers: list[str], args: argparse.Namespace) -> None:
    """The checkpoint's scores onto the card of ``repo_id``. A failed push that was asked for (--push_to_hub) is an
    error saying where the scores are; the push an hf:// checkpoint makes by itself only warns: the evaluation
    succeeded, the card is a bonus."""
    try:
        results = results_from_summary(json.loads(outcome.paths["summary"].read_text()), trackers=trackers)
        commit = push_results_to_card(repo_id, results)
    except (ValueError, OSError, RuntimeError) as e:  # HubError is a RuntimeError
        if args.push_to_hub:
            raise HubError(f"the scores are in {outcome.paths['summary']}, but {e}") from e
        print(f"warning: the scores were not added to the model card of {repo_id}: {e}", file=sys.stderr)
        return
    print(f"added the {args.dataset} scores of {', '.join(trackers)} to the model card of {repo_id}: "
          f"{getattr(commit, 'commit_url', commit)}")


if __name__ == "__main__":
    sys.exit(main())
