"""seqtrack-profile: the parameters and multiply-accumulates (MACs) of the SeqTrack network, counted, and its latency
per frame on a device.

    seqtrack-profile --config seqtrack_b256 --frames 20
    seqtrack-profile --config seqtrack_l384 --frames 0                 # the counts only
    seqtrack-profile --config seqtrack_b256 --device cuda --dtype bfloat16 --frames 300 --batch_size 8
    seqtrack-profile --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16 --frames 100

Prints two JSON lines (``profile: counts`` and, unless ``--frames 0``, ``profile: latency``) with the device's name
and the library versions. Each stage is logged on stderr as it starts (loading or building the model, counting), and
the timed calls show a progress bar there.

Counts, of one frame at batch 1: the parameters of the encoder, the bottleneck and the decoder, and the MACs of the
encoder over the two templates and the search crop, of the bottleneck, and of the decoding of the four box tokens
with the KV cache, as tracking runs it. The MACs are ``torch.utils.flop_counter.FlopCounterMode``'s FLOPs / 2 (it
counts a multiply-add as 2 FLOPs), on the meta device, so they cost no compute and do not depend on the weights or
the device. ``attention_macs`` is the part of ``macs`` spent in the attention products (q.k and weights.v);
``params_tables`` the parameters that are looked up or added rather than multiplied (the positional tables, the token
embedding and the query positions). The paper's figures (``tracking/profile_model.py``, thop) leave both out: thop
counts the layers it has a rule for (linear, convolution, normalisation), and neither the matrix products inside
the ViT's attention nor embedding tables and bare parameters.

Latency: the network part of a tracked frame (``model.generate``: encoder, bottleneck and the 4-token cached
decoding, on fixed random crops), ``--frames`` calls after ``--warmup`` calls, with device synchronisation around
each; per frame = per call / ``--batch_size``. Without ``--checkpoint`` the weights are random (``model.init=scratch``,
nothing is downloaded): they change neither the counts nor the time.
Bad input (a missing config or checkpoint, an unknown key) is one ``error:`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from .. import device_name, versions
from ..config import Config, load_config, with_scratch_init
from ..model import SeqTrack, SeqTrackConfig, build_model
from ..tracking.tracker import load_tracker_model
from . import ArgumentParser, add_device_arguments, error_line, torch_dtype

DEFAULT_CONFIG = "seqtrack_b256"
logger = logging.getLogger("seqtrack_accel.profile")


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def table_parameters(model: SeqTrack) -> int:
    """Parameters that are looked up or added, never multiplied: the encoder's positional table, the decoder's memory
    positions, token embedding and query positions."""
    tables = (model.encoder.pos_embed, model.decoder.memory_pos, model.decoder.token_embed.weight,
              model.decoder.query_pos.weight)
    return sum(t.numel() for t in tables)


def _macs(counter: FlopCounterMode) -> tuple[int, int]:
    """(all MACs, attention MACs) of what ``counter`` saw. Under the math attention backend the attention products
    are the network's only batched matrix products (its linear layers run as addmm / mm)."""
    attention = counter.get_flop_counts()["Global"].get(torch.ops.aten.bmm, 0)
    return counter.get_total_flops() // 2, attention // 2


@torch.inference_mode()
def count(config: SeqTrackConfig) -> dict:
    """Parameters and MACs of one frame (batch 1) of the network ``config`` describes, per part and in total.

    Returns:
        ``params``, ``macs`` and ``attention_macs``: dicts over ``encoder``, ``bottleneck``, ``decoder``, ``total``;
        ``params_tables``: int (see ``table_parameters``).
    """
    with torch.device("meta"):  # shapes only: no memory, no compute, no initialisation cost
        model = SeqTrack(config).eval()
        templates = torch.empty(1, config.num_templates, 3, config.template_size, config.template_size)
        search = torch.empty(1, 3, config.search_size, config.search_size)
    macs, attention = {}, {}
    # The math backend runs attention as two batched matrix products, which the counter counts whatever kernel a
    # device would pick: torch 2.14's counter has no formula for the CPU flash kernel (it counts it as 0 MACs).
    with sdpa_kernel(SDPBackend.MATH):
        with FlopCounterMode(display=False) as counter:
            tokens = model.encoder(templates, search)
        macs["encoder"], attention["encoder"] = _macs(counter)
        with FlopCounterMode(display=False) as counter:
            memory = model.bottleneck(tokens[:, : model.num_search_tokens])  # as SeqTrack.encode
        macs["bottleneck"], attention["bottleneck"] = _macs(counter)
        with FlopCounterMode(display=False) as counter:
            model.decode_boxes(memory, use_cache=True)
        macs["decoder"], attention["decoder"] = _macs(counter)
    params = {"encoder": _parameters(model.encoder), "bottleneck": _parameters(model.bottleneck),
              "decoder": _parameters(model.decoder)}
    for values, total in ((params, _parameters(model)), (macs, sum(macs.values())),
                          (attention, sum(attention.values()))):
        values["total"] = total
    return {"params": params, "params_tables": table_parameters(model), "macs": macs, "attention_macs": attention}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def time_frames(model: SeqTrack, *, device: torch.device, dtype: torch.dtype, frames: int, warmup: int,
                batch_size: int, window: bool = True) -> dict:
    """Milliseconds per frame of ``model.generate`` (encoder + cached 4-token decoding) on random crops.

    Returns:
        ``ms_per_frame_mean``, ``ms_per_frame_median`` and ``fps`` (frames per second from the mean) over ``frames``
        timed calls of ``batch_size`` frames each, after ``warmup`` untimed calls.
    """
    config = model.config
    generator = torch.Generator().manual_seed(0)
    templates = torch.randn(batch_size, config.num_templates, 3, config.template_size, config.template_size,
                            generator=generator).to(device)
    search = torch.randn(batch_size, 3, config.search_size, config.search_size, generator=generator).to(device)
    seconds = []
    with tqdm(total=warmup + frames, desc=f"timing on {device.type} ({warmup} warm-up calls)", unit="call",
              dynamic_ncols=True) as bar:
        for i in range(warmup + frames):
            _sync(device)
            start = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                model.generate(templates, search, window=window)
            _sync(device)
            if i >= warmup:
                seconds.append(time.perf_counter() - start)
            bar.update()  # outside the timed span
    mean_ms = 1000 * statistics.fmean(seconds) / batch_size
    return {"ms_per_frame_mean": mean_ms, "ms_per_frame_median": 1000 * statistics.median(seconds) / batch_size,
            "fps": 1000 / mean_ms}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="seqtrack-profile", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help=f"config YAML, a path or a shipped config name (default: the checkpoint's "
                                         f"own config, else {DEFAULT_CONFIG})")
    parser.add_argument("--checkpoint", help="time these weights (anything seqtrack-evaluate --checkpoint takes); "
                                             "default: random weights, which time the same")
    add_device_arguments(parser)
    parser.add_argument("--frames", type=int, default=20, help="timed calls (0: print the counts only)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before the timed ones")
    parser.add_argument("--batch_size", type=int, default=1, help="frames per call (targets tracked at once)")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    return parser


def _load(args: argparse.Namespace) -> tuple[Config, SeqTrack | None]:
    """The config, and the model to time (None when nothing is timed and no checkpoint is given)."""
    if args.checkpoint:
        if args.overrides and not args.config:
            raise ValueError("key.path=value overrides with --checkpoint need --config (the checkpoint's own config "
                             "is used as it is)")
        logger.info("loading the checkpoint %s", args.checkpoint)
        model, cfg = load_tracker_model(args.checkpoint,
                                        load_config(args.config, args.overrides) if args.config else None)
        return cfg, model
    cfg = load_config(args.config or DEFAULT_CONFIG, args.overrides)
    if args.frames == 0:
        return cfg, None
    logger.info("building the network of %s with random weights", cfg.name)
    torch.manual_seed(cfg.train.seed)
    return cfg, build_model(with_scratch_init(cfg))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("frames", "warmup"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} must be >= 0")
    if args.batch_size < 1:
        parser.error("--batch_size must be >= 1")
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        parser.error(f"--device {args.device}: {e}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device is available here")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg, model = _load(args)
    except (ValueError, OSError, KeyError) as e:
        # Bad input (config, checkpoint, overrides): one line naming it, no traceback; the traceback is kept at DEBUG
        # level for bug reports.
        logger.debug("traceback of the error below", exc_info=True)
        print(error_line(e), file=sys.stderr)
        return 2

    network = model.config if model is not None else SeqTrackConfig.from_config(cfg)
    common = {"config": cfg.name, "encoder": network.encoder, "search_size": network.search_size,
              "template_size": network.template_size, "num_templates": network.num_templates, "bins": network.bins,
              "checkpoint": args.checkpoint, "device": device_name(device),
              "versions": {"python": platform.python_version(), **versions(),
                           "cuda": torch.version.cuda if torch.cuda.is_available() else None}}
    logger.info("counting the parameters and MACs of one frame on the meta device")
    print(json.dumps({"profile": "counts", **common, **count(network), "batch_size": 1,
                      "counter": "torch.utils.flop_counter.FlopCounterMode; MACs = FLOPs / 2"}), flush=True)
    if args.frames:
        model = model.to(device).eval()
        timed = time_frames(model, device=device, dtype=torch_dtype(args.dtype), frames=args.frames,
                            warmup=args.warmup, batch_size=args.batch_size, window=cfg.eval.hanning)
        print(json.dumps({"profile": "latency", **common, "dtype": args.dtype, "batch_size": args.batch_size,
                          "calls": args.frames, "frames": args.frames * args.batch_size, "warmup": args.warmup,
                          "threads": torch.get_num_threads(), **timed}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
