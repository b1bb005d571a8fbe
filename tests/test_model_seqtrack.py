"""The whole network: gradients, size, greedy cached decoding, the Hub format and learning one batch."""

from __future__ import annotations

import dataclasses
import json

import pytest
import safetensors
import safetensors.torch
import torch

from model_helpers import TINY_MODEL

from seqtrack_accel.config import ConfigError, check_same_network, load_config, model_signature
from seqtrack_accel.model import SeqTrack, SeqTrackConfig, build_model
from seqtrack_accel.model.tokens import make_sequences, sequence_loss, start_token, teacher_forced_iou

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny(seed: int = 0, config: SeqTrackConfig = TINY_MODEL) -> SeqTrack:
    torch.manual_seed(seed)
    return SeqTrack(config)


def _batch(config: SeqTrackConfig = TINY_MODEL, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z, x = config.template_size, config.search_size
    templates = torch.randn(batch, config.num_templates, 3, z, z, generator=g)
    search = torch.randn(batch, 3, x, x, generator=g)
    boxes = torch.cat([torch.rand(batch, 2, generator=g) * 0.5, 0.1 + torch.rand(batch, 2, generator=g) * 0.4], 1)
    return templates, search, boxes


def test_every_parameter_receives_a_gradient():
    model = _tiny().train()
    templates, search, boxes = _batch()
    inputs, targets = make_sequences(boxes, TINY_MODEL.bins)
    sequence_loss(model(templates, search, inputs), targets, TINY_MODEL.bins).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


def test_base_256_has_about_89m_parameters():
    with torch.device("meta"):
        model = SeqTrack(SeqTrackConfig())
    count = sum(p.numel() for p in model.parameters())
    # Exactly the parameters of the original's names (see test_weights). The published "89M" (encoder 85.6M,
    # decoder 3.5M) leaves out the positional tables and the word embedding: 90.60M - 0.39M - 0.07M - 1.02M.
    assert count == 90_596_002
    assert count - 393_216 - 65_536 - 1_024_512 == pytest.approx(89e6, rel=0.01)


def test_b192_base_model_runs_one_forward():
    cfg = load_config("configs/seqtrack_b192.yaml", ["model.init=scratch"])
    model = build_model(cfg).eval()
    config = SeqTrackConfig.from_config(cfg)
    templates, search, boxes = _batch(config, batch=1)
    with torch.no_grad():
        logits = model(templates, search, make_sequences(boxes, config.bins)[0])
    assert logits.shape == (1, 5, 4002)
    assert model.decoder.memory_pos.shape == (1, 144, 256)
    assert model.encoder.pos_embed.shape == (1, 144 + 144, 768)


def test_config_takes_crop_sizes_and_template_number_from_the_data_section():
    cfg = load_config(None, ["data.search.size=96", "data.template.size=48", "data.template.number=3",
                             "model.encoder=small", "model.bins=100"])
    config = SeqTrackConfig.from_config(cfg)
    assert (config.search_size, config.template_size, config.num_templates) == (96, 48, 3)
    assert (config.encoder, config.bins) == ("small", 100)


def test_8_px_patches_read_a_64_px_search_crop_as_64_memory_tokens():
    config = SeqTrackConfig.from_config(load_config("demo", ["model.patch_size=8", "model.init=scratch"]))
    model = SeqTrack(config).eval()
    with torch.no_grad():
        memory = model.encode(torch.randn(2, 2, 3, 32, 32), torch.randn(2, 3, 64, 64))
    assert memory.shape == (2, 64, config.hidden_dim)


def test_impossible_config_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match="search_size"):
        SeqTrackConfig(search_size=100)


def test_cached_generate_equals_uncached_generate():
    model = _tiny().eval()
    templates, search, _ = _batch(batch=3)
    cached = model.generate(templates, search, use_cache=True)
    full = model.generate(templates, search, use_cache=False)
    assert torch.equal(cached["tokens"], full["tokens"])
    torch.testing.assert_close(cached["probs"], full["probs"], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("window", [True, False])
def test_generate_picks_the_most_likely_coordinate_with_the_hanning_window_on_cx_cy(window):
    model = _tiny().eval()
    templates, search, _ = _batch()
    out = model.generate(templates, search, window=window)
    bins = TINY_MODEL.bins
    prefix = torch.cat([torch.full((2, 1), start_token(bins)), out["tokens"][:, :3]], dim=1)
    with torch.no_grad():
        probs = model(templates, search, prefix).softmax(-1)[..., :bins]  # softmax over all, keep coordinates
    if window:
        probs[:, :2] *= torch.hann_window(bins, periodic=False)
    value, token = probs.max(-1)
    assert torch.equal(token, out["tokens"])
    torch.testing.assert_close(out["probs"], value)
    torch.testing.assert_close(out["confidence"], value.sum(1) * 10)
    torch.testing.assert_close(out["boxes"], out["tokens"].float() / (bins - 1))


def test_generate_refuses_to_run_with_dropout_active():
    templates, search, _ = _batch()
    with pytest.raises(RuntimeError, match="eval"):
        _tiny().train().generate(templates, search)


def test_save_pretrained_then_from_pretrained_reproduces_outputs(tmp_path):
    model = _tiny().eval()
    templates, search, boxes = _batch()
    inputs, _ = make_sequences(boxes, TINY_MODEL.bins)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["search_size"] == 32
    with safetensors.safe_open(tmp_path / "model.safetensors", framework="pt") as f:
        assert f.metadata()["seqtrack_accel_format_version"] == "1"
    loaded = SeqTrack.from_pretrained(tmp_path)
    assert loaded.config == TINY_MODEL
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(templates, search, inputs), model(templates, search, inputs))


def test_from_pretrained_takes_the_config_json_as_a_plain_dict(tmp_path):
    # The mixin decodes config.json to a plain dict: this package's annotations are strings, which it cannot turn
    # back into SeqTrackConfig.
    _tiny().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    loaded = SeqTrack._from_pretrained(model_id=str(tmp_path), revision=None, cache_dir=None, force_download=False,
                                       local_files_only=False, token=None, config=config)
    assert loaded.config == TINY_MODEL


def test_from_pretrained_with_an_unknown_config_key_names_it(tmp_path):
    _tiny().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "rope": True}))
    with pytest.raises(ConfigError, match="rope"):
        SeqTrack.from_pretrained(tmp_path)


def test_from_pretrained_with_missing_weights_names_them(tmp_path):
    model = _tiny()
    model.save_pretrained(tmp_path)
    state = {k: v for k, v in model.state_dict().items() if k != "bottleneck.bias"}
    safetensors.torch.save_file(state, str(tmp_path / "model.safetensors"),
                                metadata={"seqtrack_accel_format_version": "1"})
    with pytest.raises(KeyError, match="bottleneck.bias"):
        SeqTrack.from_pretrained(tmp_path)


def test_overfits_one_synthetic_batch():
    # A wider decoder than TINY_MODEL's, with 100 bins: the one these thresholds were set with.
    config = dataclasses.replace(TINY_MODEL, bins=100, hidden_dim=64, decoder_ffn=128)
    model = _tiny(config=config).train()
    templates, search, boxes = _batch(config, batch=4)
    inputs, targets = make_sequences(boxes, config.bins)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(80):
        loss = sequence_loss(model(templates, search, inputs), targets, config.bins)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        iou = teacher_forced_iou(model(templates, search, inputs), targets, config.bins)
    assert losses[-1] < 0.05 * losses[0]
    assert iou.min() > 0.9


def test_the_model_and_its_config_have_one_signature():
    cfg = load_config("demo", ["model.bins=64"])
    assert SeqTrackConfig.from_config(cfg).signature() == model_signature(cfg)


def test_network_comparison_names_every_differing_key_with_both_values():
    a = model_signature(load_config("demo"))
    b = model_signature(load_config("demo", ["model.bins=64", "data.search.size=32"]))
    with pytest.raises(ConfigError, match=r"data.search.size \(expected 64, found 32\), model.bins \(expected 256, "
                                          r"found 64\)"):
        check_same_network(a, b, "compared")
