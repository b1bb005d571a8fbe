"""Fine-tuning on your own objects, end to end: a model of this package, a custom folder, its held-out sequences."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file
from train_helpers import tiny_config, train

from seqtrack_accel.cli.evaluate import main as evaluate
from seqtrack_accel.data import make_synthetic_custom


@pytest.fixture(scope="module")
def finetuned(synthetic_lasot, tmp_path_factory):
    """A start model trained on the synthetic LaSOT tree, then fine-tuned on a custom folder of other objects."""
    base = tmp_path_factory.mktemp("finetune")
    objects = make_synthetic_custom(base / "objects", ("cup", "box"), 5, 25, (160, 120), seed=1)
    train(tiny_config(synthetic_lasot), base / "start", epochs=1)
    start = base / "start" / "phase_1" / "checkpoints" / "checkpoint_1"
    custom = f"{{name: custom, root: {objects}}}"
    cfg = tiny_config(synthetic_lasot, f"data.datasets=[{custom}]", "model.init=pretrained",
                      f"model.init_weights={start}", "train.lr=1e-5",
                      f"eval.dataset={{name: custom, root: {objects}, split: test}}")
    result = train(cfg, base / "finetuned", epochs=2)
    return start, base / "finetuned" / "phase_1" / "checkpoints" / "checkpoint_2", result, objects


def test_finetuning_starts_from_the_given_model_and_changes_it(finetuned):
    start, final, _, _ = finetuned
    before, after = load_file(str(start / "model.safetensors")), load_file(str(final / "model.safetensors"))
    assert before.keys() == after.keys() and any(not before[k].equal(after[k]) for k in before)


def test_finetuning_validates_on_the_held_out_sequences_of_the_custom_folder(finetuned):
    *_, result, _ = finetuned
    assert list(result.history.free_iou) == ["1", "2"]


def test_the_finetuned_model_tracks_the_custom_test_split(finetuned, tmp_path, capsys):
    _, final, _, objects = finetuned
    assert evaluate(["--checkpoint", str(final), "--max_frames", "6", "--output", str(tmp_path)]) in (0, None)
    summary = json.loads((tmp_path / "summary.json").read_text())
    tracked = set(next(iter(summary["trackers"].values()))["per_sequence"])
    assert tracked and all(name.split("-")[0] in ("cup", "box") for name in tracked)
