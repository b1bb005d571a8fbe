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

Each tree's line also holds ``teacher_forced``: what the network reads from the crops when it is given the true
earlier tokens, as in training. For each coordinate, the correlation over the crops between the expected value of
its token distribution and the target; ``scale``, between log(w h) of the expected width and height and the
target's. A network that finds the target's centre but not its extent reads cx and cy (correlations near 1) and
not w, h or scale (near 0): it answers about the same box size for every object. When tracking, where each frame's
crop is cut around the last box, such a box shrinks or grows by about the same factor every frame.

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
from seqtrack_accel.data import normalize_batch
from seqtrack_accel.data.lasot import load_lasot
from seqtrack_accel.model.tokens import make_sequences, tokens_to_boxes
from seqtrack_accel.tracking import load_tracker_model
from seqtrack_accel.training.validation import BATCH_SIZE, COORDINATES, FreeRunValidation


def score_tree(model: torch.nn.Module, cfg, root: str) -> dict:
    """The free-running scores of ``model`` on ``cfg.eval.free_run_samples`` crops of the sequences under ``root``."""
    sequences = load_lasot(root, split="all")
    validation = FreeRunValidation.build(cfg, None, sequences)
    scores = validation.run(model, "cpu")
    reading = teacher_forced_reading(model, validation)
    return {"benchmark": "free_run", "root": root, "sequences": len(sequences), "samples": scores.samples,
            "free_iou": round(scores.iou, 4), "prior_iou": round(scores.prior_iou, 4),
            "free_minus_prior": round(scores.iou - scores.prior_iou, 4),
            "spread": {c: round(s, 3) for c, s in zip(COORDINATES, scores.spread)},
            "teacher_forced": {name: round(value, 3) for name, value in reading.items()}}


@torch.no_grad()
def teacher_forced_reading(model: torch.nn.Module, validation: FreeRunValidation) -> dict[str, float]:
    """Correlations over ``validation``'s crops between each coordinate's expected value under the teacher-forced
    token distribution and its target token's (cx, cy, w, h), and between their log(w h) (``scale``)."""
    cfg, samples = validation.cfg, validation.samples
    bins = cfg.model.bins
    was_training = model.training
    model.eval()
    expected = []
    try:
        for start in range(0, len(samples["search_anno"]), BATCH_SIZE):
            batch = {k: v[start:start + BATCH_SIZE] for k, v in samples.items()}
            templates, search = normalize_batch(batch, cfg.data.mean, cfg.data.std)
            inputs, _ = make_sequences(batch["search_anno"], bins)
            probs = model(templates, search, inputs)[:, :4, :bins].float().softmax(-1)  # the 4 coordinate steps
            expected.append(probs @ torch.linspace(0, 1, bins))
    finally:
        model.train(was_training)
    predicted = torch.cat(expected).double()
    target = tokens_to_boxes(validation.target_tokens, bins).double()  # cx, cy, w, h, as the tokens clamp them
    pairs = {name: (predicted[:, k], target[:, k]) for k, name in enumerate(COORDINATES)}
    pairs["scale"] = ((predicted[:, 2] * predicted[:, 3]).clamp_min(1e-6).log(),
                      (target[:, 2] * target[:, 3]).clamp_min(1e-6).log())
    return {name: _correlation(a, b) for name, (a, b) in pairs.items()}


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson's correlation; 0 where either side does not vary (a constant answer reads nothing)."""
    a, b = a - a.mean(), b - b.mean()
    norm = float(a.norm() * b.norm())
    return float(a @ b) / norm if norm > 1e-12 else 0.0


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
