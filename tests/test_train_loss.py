"""The training objective: the original's sequence loss, and the optional centre-token term on top of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from model_helpers import tiny_network_config

from seqtrack_accel.config import load_config
from seqtrack_accel.data.processing import normalize_batch
from seqtrack_accel.model import SeqTrack, SeqTrackConfig, center_token_loss
from seqtrack_accel.training.trainer import compute_loss

REPO = Path(__file__).resolve().parents[1]


def _batch(cfg) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    z, x, size = cfg.data.template.size, cfg.data.search.size, 3
    return {
        "template_images": torch.randint(0, 256, (size, 2, 3, z, z), dtype=torch.uint8, generator=generator),
        "search_images": torch.randint(0, 256, (size, 3, x, x), dtype=torch.uint8, generator=generator),
        "template_brightness": torch.full((size, 2), 255, dtype=torch.uint8),
        "search_brightness": torch.full((size,), 255, dtype=torch.uint8),
        "search_anno": torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.2, 0.1], [0.0, 0.7, 0.25, 0.3]]),
    }


def test_the_centre_weight_adds_that_many_centre_losses_to_the_sequence_loss():
    cfg = tiny_network_config("model.dropout=0.0", "model.center_weight=0.5")
    torch.manual_seed(0)
    model = SeqTrack(SeqTrackConfig.from_config(cfg)).eval()
    batch = _batch(cfg)
    plain = compute_loss(model, batch, tiny_network_config("model.dropout=0.0"))
    with_centre = compute_loss(model, batch, cfg)
    memory = model.encode(*normalize_batch(batch, cfg.data.mean, cfg.data.std))
    expected = plain.loss + 0.5 * center_token_loss(memory, batch["search_anno"])
    torch.testing.assert_close(with_centre.loss, expected)
    torch.testing.assert_close(with_centre.logits, plain.logits)


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("seqtrack_*.yaml")), ids=lambda p: p.stem)
def test_the_papers_configs_train_with_the_sequence_loss_alone(config):
    assert load_config(config, []).model.center_weight == 0.0
