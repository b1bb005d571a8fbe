"""train.compile: the compiled training step computes what the eager one does, and saves the same checkpoint."""

from __future__ import annotations

import pytest
import torch._dynamo
from safetensors.torch import load_file
from train_helpers import tiny_config, train

from seqtrack_accel.model import build_model

# Dropout draws from different random streams in compiled and eager code, so both runs train without it.
NO_DROPOUT = ("model.dropout=0.0", "model.drop_path=0.0")


@pytest.fixture(scope="module")
def runs(synthetic_lasot, tmp_path_factory):
    eager = train(tiny_config(synthetic_lasot, *NO_DROPOUT), tmp_path_factory.mktemp("eager"), epochs=1)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled_dir = tmp_path_factory.mktemp("compiled")
    compiled = train(tiny_config(synthetic_lasot, *NO_DROPOUT, "train.compile=true"), compiled_dir, epochs=1)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    return {"eager": eager, "compiled": compiled, "compiled_dir": compiled_dir, "graphs": graphs}


def test_compile_option_compiles_the_training_forward(runs):
    assert runs["graphs"] >= 1


def test_compiled_and_eager_losses_agree(runs):
    assert runs["compiled"].history.loss == pytest.approx(runs["eager"].history.loss, rel=1e-4)
    assert runs["compiled"].history.iou == pytest.approx(runs["eager"].history.iou, abs=1e-4)


def test_compiled_run_saves_the_eager_parameter_names(runs, synthetic_lasot):
    weights = load_file(str(runs["compiled_dir"] / "phase_1" / "checkpoints" / "checkpoint_1" / "model.safetensors"))
    assert set(weights) == set(build_model(tiny_config(synthetic_lasot, *NO_DROPOUT)).state_dict())
