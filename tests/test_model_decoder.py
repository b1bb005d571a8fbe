"""The box decoder: DETR post-norm maths, causality, the KV cache and initialisation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqtrack_accel.model.decoder import Decoder, DecoderConfig, MultiheadAttention, sinusoid_table

CONFIG = DecoderConfig(bins=30, memory_len=16, hidden_dim=32, layers=2, heads=4, ffn_dim=64, dropout=0.1)


pytestmark = pytest.mark.usefixtures("one_thread")


def _decoder(seed: int = 0) -> Decoder:
    torch.manual_seed(seed)
    decoder = Decoder(CONFIG).eval()
    with torch.no_grad():  # the biases start at zero; random ones make the comparisons below stricter
        for name, p in decoder.named_parameters():
            if p.dim() == 1:
                p.normal_(0, 0.1 if "bias" in name else 1.0)
    return decoder


def _inputs(seed: int = 0, batch: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    memory = torch.randn(batch, CONFIG.memory_len, CONFIG.hidden_dim, generator=g)
    tokens = torch.randint(0, CONFIG.bins, (batch, 5), generator=g)
    tokens[:, 0] = CONFIG.bins + 1
    return memory, tokens


def _reference_decoder(decoder: Decoder, memory: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The original's forward, sequence-first with torch.nn.MultiheadAttention, sharing ``decoder``'s weights."""
    tgt = decoder.token_norm(decoder.token_embed(tokens)).transpose(0, 1)  # (L, B, h)
    query_pos = decoder.query_pos.weight[: tokens.shape[1], None]
    memory = memory.transpose(0, 1)
    pos = decoder.memory_pos.transpose(0, 1)
    mask = torch.triu(torch.full((len(tgt), len(tgt)), float("-inf")), diagonal=1)
    for layer in decoder.layers:
        self_attn, cross_attn = nn.MultiheadAttention(32, 4), nn.MultiheadAttention(32, 4)
        self_attn.load_state_dict(layer.self_attn.state_dict())
        cross_attn.load_state_dict(layer.cross_attn.state_dict())
        q = k = tgt + query_pos
        tgt = layer.norm1(tgt + self_attn(q, k, value=tgt, attn_mask=mask)[0])
        tgt = layer.norm2(tgt + cross_attn(tgt + query_pos, memory + pos, value=memory)[0])
        tgt = layer.norm3(tgt + layer.linear2(F.relu(layer.linear1(tgt))))
    return decoder.vocab_head(decoder.norm(tgt)).transpose(0, 1)


def test_decoder_matches_the_original_sequence_first_formulation():
    decoder = _decoder()
    memory, tokens = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(decoder(memory, tokens), _reference_decoder(decoder, memory, tokens),
                                   atol=1e-5, rtol=1e-5)


def test_attention_matches_torch_multihead_attention_with_a_causal_mask():
    torch.manual_seed(0)
    ours = MultiheadAttention(32, 4, dropout=0.0)
    reference = nn.MultiheadAttention(32, 4, batch_first=True)
    reference.load_state_dict(ours.state_dict())  # same parameter names and shapes
    x = torch.randn(2, 5, 32)
    mask = torch.triu(torch.full((5, 5), float("-inf")), diagonal=1)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, x, x, causal=True), reference(x, x, x, attn_mask=mask)[0],
                                   atol=1e-5, rtol=1e-5)


def test_changing_a_token_changes_no_earlier_logit():
    decoder = _decoder()
    memory, tokens = _inputs()
    with torch.no_grad():
        logits = decoder(memory, tokens)
        for t in range(1, 5):
            changed = tokens.clone()
            changed[:, t] = (changed[:, t] + 7) % CONFIG.bins
            new = decoder(memory, changed)
            torch.testing.assert_close(new[:, :t], logits[:, :t], atol=0, rtol=0)
            assert not torch.allclose(new[:, t], logits[:, t])


def test_cached_steps_equal_teacher_forced_logits_at_every_position():
    decoder = _decoder()
    memory, tokens = _inputs()
    with torch.no_grad():
        full = decoder(memory, tokens)
        cache = decoder.start_cache(memory)
        steps = torch.stack([decoder.step(tokens[:, t : t + 1], cache) for t in range(5)], dim=1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-5)
    assert cache.length == 5
    assert all(len(layer.self_k) == 5 for layer in cache.layers)


def test_memory_pos_starts_as_the_sinusoid_table():
    def angle(pos: int, i: int, d: int) -> float:
        return pos / 10000 ** (2 * (i // 2) / d)

    d = CONFIG.hidden_dim
    expected = torch.tensor([[math.sin(angle(p, i, d)) if i % 2 == 0 else math.cos(angle(p, i, d))
                              for i in range(d)] for p in range(CONFIG.memory_len)])
    torch.testing.assert_close(sinusoid_table(CONFIG.memory_len, d), expected)
    torch.testing.assert_close(Decoder(CONFIG).memory_pos.detach()[0], expected)
    assert Decoder(CONFIG).memory_pos.requires_grad


def test_embeddings_and_layers_start_xavier_uniform():
    torch.manual_seed(0)
    decoder = Decoder(DecoderConfig(bins=4000, memory_len=16))
    for name in ("token_embed.weight", "query_pos.weight", "layers.0.self_attn.in_proj_weight",
                 "layers.1.cross_attn.out_proj.weight", "layers.0.linear1.weight"):
        weight = decoder.get_parameter(name).detach()
        fan_out, fan_in = weight.shape
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert weight.abs().max() <= bound, name
        assert weight.abs().max() > 0.9 * bound, name  # uniform over the whole range, not a narrower init


def test_dropout_is_off_in_eval_mode_and_on_in_train_mode():
    decoder = _decoder()
    memory, tokens = _inputs()
    with torch.no_grad():
        assert torch.equal(decoder(memory, tokens), decoder(memory, tokens))
        decoder.train()
        assert not torch.equal(decoder(memory, tokens), decoder(memory, tokens))
