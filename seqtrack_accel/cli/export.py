"""seqtrack-export: write a trained tracker's network to ONNX, checked against PyTorch with onnxruntime.

    seqtrack-export --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16 --output exports/demo
    seqtrack-export --checkpoint hf://my-org/seqtrack-demo-export --output exports/demo --time_frames 20
    seqtrack-export --checkpoint SEQTRACK_ep0500.pth.tar --config seqtrack_b256 --output exports/seqtrack_b256

The graph takes the template and search crops (dynamic batch size) and returns the four box tokens and their
probabilities: encoder, bottleneck and the whole greedy four-token decoding with its key/value cache inside, the
Hanning window of the config's eval.hanning included. Track with it: seqtrack-track ... --backend onnx --checkpoint
exports/demo, or seqtrack-evaluate --backend onnx.

OUTPUT receives seqtrack.onnx, config.yaml and export.json (source, versions, the parity check and, with
--time_frames, PyTorch's and onnxruntime's milliseconds per frame on this CPU); the folder appears only once the
export passed its parity check. --overwrite replaces an earlier export only: a folder holding export.json and the
files an export writes, which no training run holds (DIR/.lock); any other folder is refused, naming what it holds.
Each stage is logged on stderr as it starts (loading, exporting, the parity check, --time_frames with a progress
bar); the command prints export.json's figures as one JSON line on stdout. Needs the optional extra: pip install
"seqtrack-accel[export]".
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..config import load_config
from ..tracking.tracker import load_tracker_checkpoint
from . import ArgumentParser, INPUT_ERRORS, error_line

logger = logging.getLogger("seqtrack_accel.export")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="seqtrack-export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True,
                        help="training checkpoint folder, save_pretrained folder, either on the Hub as "
                             "hf://ORG/NAME[@REVISION][/PATH], or an "
                             "original SEQTRACK_ep0500.pth.tar (with --config)")
    parser.add_argument("--config", help="config YAML, a path or a shipped config name (default: the checkpoint's "
                                         "own config); needed for an original .pth.tar")
    parser.add_argument("--output", required=True, help="export folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier export folder (one holding export.json, nothing else)")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: torch's exporter's)")
    parser.add_argument("--check_batch", type=int, default=3, help="batch size of the parity check")
    parser.add_argument("--time_frames", type=int, default=0,
                        help="also time PyTorch and onnxruntime on this CPU over N frames (0: do not)")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value",
                        help="config overrides (with --config), e.g. eval.hanning=false")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.check_batch < 1:
        parser.error("--check_batch must be >= 1")
    if args.time_frames < 0:
        parser.error("--time_frames must be >= 0")
    if args.overrides and not args.config:
        parser.error("key.path=value overrides need --config (the checkpoint's own config is used as it is)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from ..export import check_output, export_onnx

        check_output(Path(args.output), args.overwrite)  # before loading: a refused --output should not wait
        given = load_config(args.config, args.overrides) if args.config else None
        logger.info("loading the checkpoint %s", args.checkpoint)
        checkpoint = load_tracker_checkpoint(args.checkpoint, given)
        info = export_onnx(checkpoint.model, given or checkpoint.cfg, args.output, source=args.checkpoint,
                           source_identity=checkpoint.identity, opset=args.opset, check_batch=args.check_batch,
                           time_frames=args.time_frames, overwrite=args.overwrite)
    except INPUT_ERRORS as e:
        # Bad input (checkpoint, config, output folder, missing extra): one line naming it, no traceback; the
        # traceback is kept at DEBUG level for bug reports.
        logger.debug("traceback of the error below", exc_info=True)
        print(error_line(e), file=sys.stderr)
        return 2
    figures = {key: info[key] for key in ("model_sha256", "opset", "window", "parity", "export_seconds")}
    print(json.dumps({"export": args.output, **figures, **({"cpu_latency": info["cpu_latency"]}
                                                          if "cpu_latency" in info else {}),
                      "versions": info["versions"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
