"""Generalisation benchmark: has a checkpoint memorised its training looks, or not learned yet?

    seqtrack-make-synthetic --layout procedural --split train --out data/procedural_train_looks --seed 1
    seqtrack-make-synthetic --layout procedural --out data/procedural_test
    python scripts/bench_generalisation.py --checkpoint runs/demo_procedural/phase_1/checkpoints/checkpoint_16 \\
        --roots data/procedural_train_looks data/procedural_test

Scores the checkpoint's free-running predictions (greedy decoding with the tracker's Hanning window, as the
training's free-running validation does) on search crops cut, as in training, from every sequence of each
LaSOT-layout tree in ``--roots``, against the mean-box prior of the same crops: the mean target box, what an answer
that ignores the image scores. Give the tree of the looks it trained on first and held-out looks after: a model
that tracks scores about as well on both; one that memorised its training looks scores well on the first only; one
that has not learned scores near the prior on both, and its width and height spreads (the predictions' standard
deviation over the targets') stay near 0 everywhere.

Prints one JSON line per tree (``benchmark: free_run``) and one with each tree's margin over the prior subtracted
from the first tree's (``benchmark: free_run_gap``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import torch

from bench_env import versions
from seqtrack_accel.data.lasot import load_lasot
from seqtrack_accel.tracking import load_tracker_model
from seqtrack_accel.training.validation import COORDINATES, FreeRunValidation


def score_tree(model: torch.nn.Module, cfg, root: str) -> dict:
    """The free-running scores of ``model`` on ``cfg.eval.free_run_samples`` crops of the sequences under ``root``."""
    sequences = load_lasot(root, split="all")
    validation = FreeRunValidation.build(cfg, None, sequences)
    scores = validation.run(model, "cpu")
    return {"benchmark": "free_run", "root": root, "sequences": len(sequences), "samples": scores.samples,
            "free_iou": round(scores.iou, 4), "prior_iou": round(scores.prior_iou, 4),
            "free_minus_prior": round(scores.iou - scores.prior_iou, 4),
            "spread": {c: round(s, 3) for c, s in zip(COORDINATES, scores.spread)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True,
                        help="training checkpoint folder, save_pretrained folder or hf://ORG/NAME[/PATH]")
    parser.add_argument("--roots", nargs="+", required=True, metavar="ROOT",
                        help="LaSOT-layout trees, every sequence scored: the training looks first, then held-out ones")
    parser.add_argument("--samples", type=int, default=0, help="crops per tree (0: the config's eval.free_run_samples)")
    args = parser.parse_args(argv)
    if args.samples < 0:
        parser.error("--samples must be >= 0")
    model, cfg = load_tracker_model(args.checkpoint)
    if args.samples:
        cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, free_run_samples=args.samples))
    lines = [score_tree(model, cfg, root) for root in args.roots]
    for line in lines:
        print(json.dumps({**line, "checkpoint": args.checkpoint}))
    reference = lines[0]["free_minus_prior"]
    print(json.dumps({"benchmark": "free_run_gap", "reference": args.roots[0], "checkpoint": args.checkpoint,
                      "gap": {line["root"]: round(reference - line["free_minus_prior"], 4) for line in lines[1:]},
                      "versions": versions()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
