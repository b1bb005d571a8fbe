"""seqtrack-profile: counted parameters and MACs per part, the B256 figures against a hand count and the paper's,
latency lines, and bad input."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from model_helpers import NANO_NETWORK  # on the demo config: 64 px search and 32 px template crops

from seqtrack_accel.cli.profile import main
from seqtrack_accel.config import dump_config, load_config
from seqtrack_accel.model import build_model

def _run(argv: list[str]) -> list[dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture(scope="module")
def tiny() -> list[dict]:
    return _run(["--config", "demo", "--frames", "3", "--warmup", "1", *NANO_NETWORK])


@pytest.fixture(scope="module")
def b256() -> list[dict]:
    return _run(["--config", "seqtrack_b256", "--frames", "0"])


def test_counts_line_holds_the_parameters_of_each_part(tiny):
    counts = tiny[0]
    model = build_model(load_config("demo", NANO_NETWORK))
    assert counts["profile"] == "counts"
    assert counts["params"] == {"encoder": sum(p.numel() for p in model.encoder.parameters()),
                                "bottleneck": sum(p.numel() for p in model.bottleneck.parameters()),
                                "decoder": sum(p.numel() for p in model.decoder.parameters()),
                                "total": sum(p.numel() for p in model.parameters())}
    assert counts["params_tables"] == (model.encoder.pos_embed.numel() + model.decoder.memory_pos.numel()
                                       + model.decoder.token_embed.weight.numel()
                                       + model.decoder.query_pos.weight.numel())


def test_macs_are_the_flop_counters_flops_halved_over_a_tracked_frame(tiny):
    counts = tiny[0]
    model = build_model(load_config("demo", NANO_NETWORK)).eval()
    templates, search = torch.randn(1, 2, 3, 32, 32), torch.randn(1, 3, 64, 64)
    # The math backend: torch's counter has no formula for the CPU flash kernel and would count attention as 0.
    with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model.generate(templates, search)
    assert counts["macs"]["total"] == counter.get_total_flops() // 2
    assert counts["macs"]["total"] == sum(counts["macs"][part] for part in ("encoder", "bottleneck", "decoder"))
    assert all(counts["macs"][part] > 0 for part in ("encoder", "bottleneck", "decoder"))


def test_latency_line_gives_the_time_per_frame_and_fps(tiny):
    latency = tiny[1]
    assert len(tiny) == 2 and latency["profile"] == "latency"
    assert (latency["dtype"], latency["batch_size"], latency["calls"], latency["frames"]) == ("float32", 1, 3, 3)
    assert latency["fps"] > 0 and latency["ms_per_frame_median"] > 0
    assert latency["fps"] == pytest.approx(1000 / latency["ms_per_frame_mean"])
    assert latency["device"] and latency["versions"]["torch"] == torch.__version__


def test_batches_count_their_frames_and_bfloat16_runs_on_the_cpu():
    counts, latency = _run(["--config", "demo", "--frames", "2", "--warmup", "0", "--batch_size", "3",
                            "--dtype", "bfloat16", *NANO_NETWORK])
    assert (latency["dtype"], latency["calls"], latency["frames"]) == ("bfloat16", 2, 6)
    assert latency["fps"] > 0
    assert counts["batch_size"] == 1  # the counts are of one frame whatever the batch


def test_each_stage_is_logged_and_the_timed_calls_show_a_progress_bar_on_stderr(capsys, caplog):
    caplog.set_level(logging.INFO, logger="seqtrack_accel")
    _run(["--config", "demo", "--frames", "2", "--warmup", "1", *NANO_NETWORK])
    stages = [r.getMessage() for r in caplog.records if r.name == "seqtrack_accel.profile"]
    assert stages == ["building the network of demo with random weights",
                      "counting the parameters and MACs of one frame on the meta device"]
    bar = capsys.readouterr().err.split("\r")[-1]
    assert bar.startswith("timing on cpu (1 warm-up calls): 100%") and "3/3" in bar


def test_frames_zero_prints_the_counts_only(b256):
    assert [line["profile"] for line in b256] == ["counts"]


def test_b256_macs_equal_a_hand_count_of_the_vit_and_the_cached_decoding(b256):
    counts = b256[0]
    # Encoder: 256 search + 2 x 256 template tokens (templates are 256 px too), ViT-B: width 768, 12 blocks, MLP 3072.
    tokens, width, depth = 256 + 2 * 256, 768, 12
    block = tokens * width * (3 * width + width + 2 * 4 * width)  # qkv, projection, MLP
    vit_attention = 2 * tokens * tokens * width  # q.k and weights.v, all heads together
    patch_embed = tokens * (3 * 16 * 16) * width
    assert counts["attention_macs"]["encoder"] == depth * vit_attention
    assert counts["macs"]["encoder"] == patch_embed + depth * (block + vit_attention)
    assert counts["macs"]["bottleneck"] == 256 * width * 256
    # Decoder (width 256, FFN 1024, 2 layers, 4002-word vocabulary) over the 256 search tokens: the cache projects
    # the memory's keys and values once; each of the 4 steps runs one token, whose self-attention sees L = 1..4 keys.
    h, ffn, layers, memory, vocab = 256, 1024, 2, 256, 4002
    cache = layers * 2 * memory * h * h
    step = layers * (6 * h * h + 2 * h * ffn) + 2 * h * h + h * vocab  # q,k,v,out; cross q,out; FFN; vocab MLP
    attention = layers * sum(2 * keys * h + 2 * memory * h for keys in (1, 2, 3, 4))
    assert counts["attention_macs"]["decoder"] == attention
    assert counts["macs"]["decoder"] == cache + 4 * step + attention


def test_b256_counts_match_the_papers_figures_in_the_papers_convention(b256):
    counts = b256[0]
    # The paper's 89M / 66G come from thop (the original's tracking/profile_model.py), which counts neither the
    # positional tables and embeddings nor the attention products; all of them are in our totals (90.6M, 76.7G).
    assert counts["params"]["total"] - counts["params_tables"] == pytest.approx(89e6, rel=0.01)
    assert counts["macs"]["total"] - counts["attention_macs"]["total"] == pytest.approx(66e9, rel=0.05)
    assert counts["params"]["total"] == pytest.approx(90.6e6, rel=0.001)


def test_a_checkpoint_is_counted_and_timed_with_its_own_network(tmp_path):
    cfg = load_config("demo", NANO_NETWORK)
    model = build_model(cfg)
    model.save_pretrained(tmp_path)
    (tmp_path / "config.yaml").write_text(dump_config(cfg))
    counts, latency = _run(["--checkpoint", str(tmp_path), "--frames", "1", "--warmup", "0"])
    assert counts["params"]["total"] == sum(p.numel() for p in model.parameters())
    assert (counts["encoder"], latency["checkpoint"]) == ("nano", str(tmp_path))


@pytest.mark.parametrize("argv, message", [
    (["--config", "nosuch"], "nosuch"),
    (["--checkpoint", "runs/nothere"], "runs/nothere"),
    (["--checkpoint", "runs/nothere", "model.bins=8"], "need --config"),
    (["--config", "demo", "model.nosuch=1"], "nosuch"),
])
def test_bad_input_is_one_error_line_and_exit_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and message in err
