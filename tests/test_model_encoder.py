"""The ViT encoder: token order, shared positional rows, fused attention, checkpointing."""

from __future__ import annotations

import pytest
import torch

from seqtrack_accel.model.encoder import Encoder, EncoderConfig

CONFIG = EncoderConfig(size="tiny", search_size=64, template_size=32, num_templates=2)


pytestmark = pytest.mark.usefixtures("one_thread")


def _images(batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 2, 3, 32, 32, generator=g), torch.randn(batch, 3, 64, 64, generator=g)


def test_tokens_are_search_then_each_template_with_the_template_rows_shared():
    torch.manual_seed(0)
    encoder = Encoder(CONFIG).eval()
    templates, search = _images()
    seen = {}
    encoder.blocks[0].register_forward_pre_hook(lambda module, args: seen.setdefault("tokens", args[0]))
    with torch.no_grad():
        out = encoder(templates, search)
        ns, nt = 16, 4
        assert out.shape == (2, ns + 2 * nt, 192)
        tokens = seen["tokens"]
        pos = encoder.pos_embed
        assert pos.shape == (1, ns + nt, 192)
        torch.testing.assert_close(tokens[:, :ns], encoder.patch_embed(search) + pos[:, :ns])
        for i in range(2):
            rows = tokens[:, ns + i * nt : ns + (i + 1) * nt]
            torch.testing.assert_close(rows, encoder.patch_embed(templates[:, i]) + pos[:, ns:])


def test_blocks_use_fused_scaled_dot_product_attention():
    encoder = Encoder(CONFIG)
    assert all(block.attn.fused_attn for block in encoder.blocks)


def test_blocks_are_pre_norm_with_eps_1e_6_and_qkv_bias():
    block = Encoder(CONFIG).blocks[0]
    assert block.norm1.eps == 1e-6 and Encoder(CONFIG).norm.eps == 1e-6
    assert block.attn.qkv.bias is not None
    assert block.mlp.fc1.out_features == 4 * 192


def test_activation_checkpointing_gives_the_same_gradients():
    small = EncoderConfig(size="tiny", search_size=32, template_size=16, num_templates=2)
    torch.manual_seed(0)
    plain = Encoder(small).train()
    checkpointed = Encoder(EncoderConfig(**{**small.__dict__, "activation_checkpointing": True})).train()
    checkpointed.load_state_dict(plain.state_dict())
    g = torch.Generator().manual_seed(0)
    templates, search = torch.randn(1, 2, 3, 16, 16, generator=g), torch.randn(1, 3, 32, 32, generator=g)
    for encoder in (plain, checkpointed):
        encoder(templates, search).square().mean().backward()
    for (name, a), b in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-5, msg=name)


def test_drop_path_grows_linearly_to_the_configured_rate():
    encoder = Encoder(EncoderConfig(**{**CONFIG.__dict__, "drop_path": 0.11}))
    rates = [block.drop_path1.drop_prob if hasattr(block.drop_path1, "drop_prob") else 0.0 for block in encoder.blocks]
    assert rates[0] == 0.0
    assert rates[-1] == pytest.approx(0.11)
    assert rates == sorted(rates)


def test_images_of_another_size_are_an_error_naming_the_expected_shapes():
    templates, search = _images()
    with pytest.raises(ValueError, match=r"\(2, 3, 64, 64\)"):
        Encoder(CONFIG)(templates, search[:, :, :48, :48])
