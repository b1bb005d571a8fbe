"""Weight import: released SeqTrack checkpoints (original parameter names) and MAE / timm ViT files into the encoder."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
import safetensors.torch
import timm
import torch
import torch.nn.functional as F
from huggingface_hub.errors import LocalEntryNotFoundError
from timm.layers import resample_patch_embed

from model_helpers import NANO_NETWORK, TINY_MODEL, tiny_network_config

from seqtrack_accel.config import load_config
from seqtrack_accel.model import SeqTrack, SeqTrackConfig, build_model, load_encoder_pretrained, load_original_checkpoint
from seqtrack_accel.model.tokens import make_sequences
from seqtrack_accel.model.weights import original_name, resize_pos_grid

# The tiny model on 64 px search and 32 px template crops: position grids of 4x4 and 2x2, for the resizing tests to
# shrink to other sizes.
TINY = dataclasses.replace(TINY_MODEL, search_size=64, template_size=32)


pytestmark = pytest.mark.usefixtures("one_thread")


def original_shapes(width=192, depth=12, hidden=32, ffn=64, bins=64, layers=2, search=64, template=32):
    """The released checkpoint's ``net`` names and shapes, written out from its layout (not from the model)."""
    ns, nt = (search // 16) ** 2, (template // 16) ** 2
    shapes = {
        "pos_embed": (1, ns, hidden),
        "encoder.body.pos_embed": (1, ns + nt, width),
        "encoder.body.patch_embed.proj.weight": (width, 3, 16, 16),
        "encoder.body.patch_embed.proj.bias": (width,),
        "encoder.body.norm.weight": (width,),
        "encoder.body.norm.bias": (width,),
        "bottleneck.weight": (hidden, width),
        "bottleneck.bias": (hidden,),
        "decoder.embedding.word_embeddings.weight": (bins + 2, hidden),
        "decoder.embedding.position_embeddings.weight": (5, hidden),
        "decoder.embedding.LayerNorm.weight": (hidden,),
        "decoder.embedding.LayerNorm.bias": (hidden,),
        "decoder.body.norm.weight": (hidden,),
        "decoder.body.norm.bias": (hidden,),
        "vocab_embed.layers.0.weight": (hidden, hidden),
        "vocab_embed.layers.0.bias": (hidden,),
        "vocab_embed.layers.1.weight": (hidden, hidden),
        "vocab_embed.layers.1.bias": (hidden,),
        "vocab_embed.layers.2.weight": (bins + 2, hidden),
        "vocab_embed.layers.2.bias": (bins + 2,),
    }
    for n in range(depth):
        p = f"encoder.body.blocks.{n}."
        for name, shape in (("norm1", (width,)), ("attn.qkv", (3 * width, width)), ("attn.proj", (width, width)),
                            ("norm2", (width,)), ("mlp.fc1", (4 * width, width)), ("mlp.fc2", (width, 4 * width))):
            shapes[p + name + ".weight"] = shape
            shapes[p + name + ".bias"] = (shape[0],)
    for n in range(layers):
        p = f"decoder.body.layers.{n}."
        for attn in ("self_attn", "multihead_attn"):
            shapes[p + attn + ".in_proj_weight"] = (3 * hidden, hidden)
            shapes[p + attn + ".in_proj_bias"] = (3 * hidden,)
            shapes[p + attn + ".out_proj.weight"] = (hidden, hidden)
            shapes[p + attn + ".out_proj.bias"] = (hidden,)
        for name, shape in (("linear1", (ffn, hidden)), ("linear2", (hidden, ffn)),
                            ("norm1", (hidden,)), ("norm2", (hidden,)), ("norm3", (hidden,))):
            shapes[p + name + ".weight"] = shape
            shapes[p + name + ".bias"] = (shape[0],)
    return shapes


def _random_original(seed: int = 0, **sizes) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=g) * 0.05 for k, shape in original_shapes(**sizes).items()}


def _save_original(path, net) -> None:
    torch.save({"epoch": 500, "net": net}, path)


def _inputs(config: SeqTrackConfig):
    g = torch.Generator().manual_seed(0)
    z, x = config.template_size, config.search_size
    boxes = torch.tensor([[0.2, 0.3, 0.4, 0.3]])
    return (torch.randn(1, 2, 3, z, z, generator=g), torch.randn(1, 3, x, x, generator=g),
            make_sequences(boxes, config.bins)[0])


def test_base_256_model_has_exactly_the_original_names_and_shapes():
    with torch.device("meta"):
        model = SeqTrack(SeqTrackConfig())
    ours = {original_name(k): tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == original_shapes(width=768, hidden=256, ffn=1024, bins=4000, search=256, template=256)


def test_original_checkpoint_loads_every_parameter(tmp_path):
    net = _random_original()
    _save_original(tmp_path / "SEQTRACK_ep0500.pth.tar", net)
    model = load_original_checkpoint(tmp_path / "SEQTRACK_ep0500.pth.tar", TINY)
    for name, value in model.state_dict().items():
        assert torch.equal(value, net[original_name(name)]), name


def test_original_checkpoint_gives_identical_outputs_to_the_model_it_came_from(tmp_path):
    torch.manual_seed(0)
    source = SeqTrack(TINY).eval()
    _save_original(tmp_path / "ckpt.pth.tar", {original_name(k): v for k, v in source.state_dict().items()})
    loaded = load_original_checkpoint(tmp_path / "ckpt.pth.tar", TINY).eval()
    templates, search, tokens = _inputs(TINY)
    with torch.no_grad():
        assert torch.equal(loaded(templates, search, tokens), source(templates, search, tokens))


def test_original_checkpoint_into_smaller_crops_resizes_each_grid_bicubic_align_corners(tmp_path):
    net = _random_original()  # search 64 (4x4 grid), template 32 (2x2)
    _save_original(tmp_path / "ckpt.pth.tar", net)
    small = SeqTrackConfig(**{**TINY.__dict__, "search_size": 48, "template_size": 16})  # 3x3 and 1x1
    model = load_original_checkpoint(tmp_path / "ckpt.pth.tar", small)

    def direct(rows, side):
        n = int(rows.shape[1] ** 0.5)
        grid = rows.reshape(1, n, n, -1).permute(0, 3, 1, 2)
        out = F.interpolate(grid, size=(side, side), mode="bicubic", align_corners=True)
        return out.permute(0, 2, 3, 1).reshape(1, side * side, -1)

    pos = net["encoder.body.pos_embed"]
    expected = torch.cat([direct(pos[:, :16], 3), direct(pos[:, 16:], 1)], dim=1)
    torch.testing.assert_close(model.encoder.pos_embed.detach(), expected)
    torch.testing.assert_close(model.decoder.memory_pos.detach(), direct(net["pos_embed"], 3))
    assert torch.equal(model.bottleneck.weight.detach(), net["bottleneck.weight"])
    templates, search, tokens = _inputs(small)
    assert model(templates, search, tokens).shape == (1, 5, 66)  # bins + 2 tokens


def test_a_renamed_original_key_is_an_error_naming_it(tmp_path):
    net = _random_original()
    net["decoder.body.layers.0.cross_attn.in_proj_bias"] = net.pop("decoder.body.layers.0.multihead_attn.in_proj_bias")
    _save_original(tmp_path / "ckpt.pth.tar", net)
    with pytest.raises(ValueError, match=r"decoder\.body\.layers\.0\.cross_attn\.in_proj_bias"):
        load_original_checkpoint(tmp_path / "ckpt.pth.tar", TINY)


def test_a_missing_original_key_is_an_error_naming_it(tmp_path):
    net = _random_original()
    del net["vocab_embed.layers.1.bias"]
    _save_original(tmp_path / "ckpt.pth.tar", net)
    with pytest.raises(ValueError, match=r"lacks keys .*'vocab_embed\.layers\.1\.bias'"):
        load_original_checkpoint(tmp_path / "ckpt.pth.tar", TINY)


def test_a_checkpoint_with_other_bins_is_an_error_naming_the_key_and_shapes(tmp_path):
    _save_original(tmp_path / "ckpt.pth.tar", _random_original(bins=40))
    with pytest.raises(ValueError, match=r"word_embeddings.weight' has shape \(42, 32\) but the model needs \(66, 32\)"):
        load_original_checkpoint(tmp_path / "ckpt.pth.tar", TINY)


def test_a_checkpoint_with_pickled_objects_explains_how_to_keep_only_the_weights(tmp_path):
    torch.save({"net": _random_original(), "settings": argparse.Namespace(env="x")}, tmp_path / "ckpt.pth.tar")
    with pytest.raises(ValueError, match="weights_only"):
        load_original_checkpoint(tmp_path / "ckpt.pth.tar", TINY)


def test_build_model_with_init_seqtrack_reads_the_released_checkpoint(tmp_path):
    net = _random_original(seed=3)
    _save_original(tmp_path / "ckpt.pth.tar", net)
    cfg = tiny_network_config("data.search.size=64", "data.template.size=32", "model.init=seqtrack",
                              f"model.init_weights={tmp_path / 'ckpt.pth.tar'}")
    model = build_model(cfg)
    assert torch.equal(model.bottleneck.bias.detach(), net["bottleneck.bias"])


# ---------------------------------------------------------------------------------------------------------------
# encoder from MAE / timm


def _vit_tiny_224_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10).state_dict()


def _expected_pos(pos_embed: torch.Tensor, grids=(4, 2)) -> torch.Tensor:
    grid = pos_embed[:, 1:].reshape(1, 14, 14, -1).permute(0, 3, 1, 2)
    parts = [F.interpolate(grid, size=(g, g), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
             .reshape(1, g * g, -1) for g in grids]
    return torch.cat(parts, dim=1)


def test_mae_file_initialises_the_encoder(tmp_path):
    state = _vit_tiny_224_state()
    mae = {k: v for k, v in state.items() if not k.startswith("head.")}
    mae["mask_token"] = torch.zeros(1, 1, 128)
    mae["decoder_embed.weight"] = torch.zeros(128, 192)
    torch.save({"model": mae}, tmp_path / "mae_pretrain_vit_tiny.pth")
    model = SeqTrack(TINY)
    decoder_before = {k: v.clone() for k, v in model.decoder.state_dict().items()}
    load_encoder_pretrained(model, str(tmp_path / "mae_pretrain_vit_tiny.pth"))
    encoder = model.encoder.state_dict()
    for key in ("patch_embed.proj.weight", "blocks.11.mlp.fc2.bias", "norm.weight"):
        assert torch.equal(encoder[key], state[key]), key
    torch.testing.assert_close(encoder["pos_embed"], _expected_pos(state["pos_embed"]))
    assert all(torch.equal(v, decoder_before[k]) for k, v in model.decoder.state_dict().items())


def test_a_16_px_pretrained_patch_kernel_is_resampled_for_8_px_patches(tmp_path):
    state = _vit_tiny_224_state(seed=2)
    safetensors.torch.save_file(state, str(tmp_path / "model.safetensors"))
    model = SeqTrack(dataclasses.replace(TINY, patch_size=8))
    load_encoder_pretrained(model, str(tmp_path / "model.safetensors"))
    kernel = model.encoder.patch_embed.proj.weight.detach()
    torch.testing.assert_close(kernel, resample_patch_embed(state["patch_embed.proj.weight"], [8, 8]))
    assert torch.equal(model.encoder.patch_embed.proj.bias.detach(), state["patch_embed.proj.bias"])
    torch.testing.assert_close(model.encoder.pos_embed.detach(), _expected_pos(state["pos_embed"], grids=(8, 4)))


def test_timm_safetensors_file_initialises_the_encoder(tmp_path):
    state = _vit_tiny_224_state(seed=1)  # with cls_token and a classifier head, both ignored
    safetensors.torch.save_file(state, str(tmp_path / "model.safetensors"))
    model = SeqTrack(TINY)
    load_encoder_pretrained(model, str(tmp_path / "model.safetensors"))
    assert torch.equal(model.encoder.blocks[3].attn.qkv.weight.detach(), state["blocks.3.attn.qkv.weight"])
    torch.testing.assert_close(model.encoder.pos_embed.detach(), _expected_pos(state["pos_embed"]))


def test_pos_embed_resize_equals_a_direct_bicubic_interpolation():
    table = torch.randn(1, 196, 8)
    direct = F.interpolate(table.reshape(1, 14, 14, 8).permute(0, 3, 1, 2), size=(12, 12), mode="bicubic",
                           align_corners=True).permute(0, 2, 3, 1).reshape(1, 144, 8)
    assert torch.equal(resize_pos_grid(table, 12), direct)


def test_an_unknown_key_in_a_pretrained_file_is_an_error_naming_it(tmp_path):
    state = _vit_tiny_224_state()
    state["blocks.0.ls1.gamma"] = torch.ones(192)
    torch.save(state, tmp_path / "vit.pth")
    with pytest.raises(ValueError, match=r"blocks\.0\.ls1\.gamma"):
        load_encoder_pretrained(SeqTrack(TINY), str(tmp_path / "vit.pth"))


def test_a_pretrained_file_of_another_width_is_an_error_naming_the_key(tmp_path):
    torch.manual_seed(0)
    state = timm.create_model("vit_small_patch16_224", pretrained=False).state_dict()
    safetensors.torch.save_file(state, str(tmp_path / "small.safetensors"))
    with pytest.raises(ValueError, match=r"'pos_embed' has shape \(1, 20, 384\)"):
        load_encoder_pretrained(SeqTrack(TINY), str(tmp_path / "small.safetensors"))


def test_offline_timm_name_says_to_pass_a_local_file_or_train_from_scratch(monkeypatch):
    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("cannot reach the Hub")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(RuntimeError, match=r"model\.init_weights=/path/mae_pretrain_vit_base\.pth.*model\.init=scratch"):
        load_encoder_pretrained(SeqTrack(TINY), "vit_tiny_patch16_224.augreg_in21k")


def test_a_missing_local_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        load_encoder_pretrained(SeqTrack(TINY), str(tmp_path / "nothere.pth"))


def test_build_model_with_init_mae_reads_a_local_file(tmp_path):
    state = _vit_tiny_224_state(seed=2)
    torch.save({"model": state}, tmp_path / "mae.pth")
    cfg = tiny_network_config("data.search.size=64", "data.template.size=32", "model.init=mae",
                              f"model.init_weights={tmp_path / 'mae.pth'}")
    model = build_model(cfg)
    assert torch.equal(model.encoder.norm.bias.detach(), state["norm.bias"])


# ---------------------------------------------------------------------------------------------------------------
# model.init=pretrained: fine-tuning from a model of this package

SMALL = [*NANO_NETWORK, "data.search.size=32", "data.template.size=16"]  # on the demo config


def test_pretrained_init_takes_every_parameter_of_a_save_pretrained_folder(tmp_path):
    torch.manual_seed(0)
    source = build_model(load_config("demo", SMALL))
    source.save_pretrained(tmp_path)
    model = build_model(load_config("demo", [*SMALL, "model.init=pretrained", f"model.init_weights={tmp_path}"]))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values()))


def test_pretrained_init_of_another_network_names_the_key_and_shapes(tmp_path):
    build_model(load_config("demo", SMALL)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"model.safetensors: .* has shape \(66, 256\) but the model needs \(130, 256\)"):
        build_model(load_config("demo", [*SMALL, "model.bins=128", "model.init=pretrained",
                                         f"model.init_weights={tmp_path}"]))


def test_pretrained_init_from_a_hub_address_is_downloaded_first_by_its_caller():
    with pytest.raises(ValueError, match=r"model.init_weights=hf://org/run is a Hub address; build_model reads local "
                                         r"folders: download it first with seqtrack_accel.hub.with_hub_weights"):
        build_model(load_config("demo", [*SMALL, "model.init=pretrained", "model.init_weights=hf://org/run"]))
