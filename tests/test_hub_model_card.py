"""The model card: Hub metadata, config, per-epoch table, plots, how to load and how to resume."""

from __future__ import annotations

import pytest

from seqtrack_accel.hub import render_model_card

HISTORY = {"phase": [1, 1, 2], "epoch": [1, 2, 3], "loss": [5.1, 4.2, 3.9], "iou": [0.1, 0.2, 0.31],
           "lr": [1e-4, 1e-4, 1e-5]}


def card_text(**changes) -> str:
    values = dict(repo_id="org/run", config_yaml="name: demo\ntrain:\n  epochs: 6\n", history=HISTORY,
                  latest_path="phase_2/checkpoint_3", config_name="demo")
    values.update(changes)
    return str(render_model_card(**values))


def test_card_metadata_names_the_library_and_the_tags():
    card = render_model_card(repo_id="org/run", config_yaml="name: demo\n", history=HISTORY)

    assert card.data.library_name == "seqtrack-accel"
    assert {"seqtrack", "object-tracking"} <= set(card.data.tags)


def test_card_shows_the_config_table_plots_load_and_resume():
    text = card_text()

    assert "```yaml\nname: demo\ntrain:\n  epochs: 6\n```" in text
    assert "| phase | epoch | loss | iou |" in text and "| 2 | 3 | 3.9000 | 0.3100 |" in text
    assert "![loss](plots/loss.png)" in text and "![iou](plots/iou.png)" in text
    assert 'load_tracker_model("hf://org/run")' in text
    assert "accelerate launch train.py --config configs/demo.yaml --resume_from_checkpoint hf://org/run\n" in text


def test_card_names_the_best_checkpoint_and_its_metric_and_loads_it():
    best = {"path": "phase_1/checkpoint_2", "phase": 1, "epoch": 2, "metric": "free_iou", "value": 0.8123}
    text = card_text(best=best)

    assert "The best checkpoint by free-running IoU (`train.best_metric`) is `phase_1/checkpoint_2`: 0.8123 at epoch 2" \
        in text
    assert 'load_tracker_model("hf://org/run/best")' in text


def test_card_says_when_checkpoints_cannot_resume():
    assert "cannot resume training" in card_text(full_state=False)


def test_card_refuses_a_history_with_columns_of_different_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        card_text(history={**HISTORY, "iou": [0.1]})


def test_card_table_shows_the_validation_auc_of_validated_epochs():
    history = {"phase": [1, 1], "epoch": [1, 2], "loss": [5.0, 4.0], "iou": [0.1, 0.2], "val_auc": {"2": 31.25}}
    card = render_model_card(repo_id="org/run", config_yaml="name: demo\n", history=history)
    text = str(card)
    assert "| 1 | 1 | 5.0000 | 0.1000 |  |  |  |" in text and "| 1 | 2 | 4.0000 | 0.2000 |  |  | 31.25 |" in text


def test_card_table_shows_free_running_and_prior_iou():
    history = {"phase": [1, 1], "epoch": [1, 2], "loss": [5.0, 4.0], "iou": [0.1, 0.2],
               "free_iou": {"1": 0.5, "2": 0.75}, "prior_iou": {"1": 0.4, "2": 0.4}}
    text = str(render_model_card(repo_id="org/run", config_yaml="name: demo\n", history=history))
    assert "| free-running IoU | prior IoU |" in text
    assert "| 1 | 2 | 4.0000 | 0.2000 | 0.7500 | 0.4000 |  |" in text
