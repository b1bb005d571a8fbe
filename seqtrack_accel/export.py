"""ONNX export of the tracker's network, and a model that runs the export with onnxruntime.

What is exported: the whole network of one tracked frame as one graph, from the crops to the box tokens. Inputs
``template_images`` (B, T, 3, Hz, Wz) and ``search_images`` (B, 3, Hx, Wx), normalised as the tracker crops them;
outputs ``tokens`` (B, 4) int64 (cx, cy, w, h bins) and ``probs`` (B, 4) float32 (each chosen token's probability,
after the Hanning window on cx and cy when the config's ``eval.hanning`` is on). B is dynamic.

Why the whole decode and not the decoder step with its key/value cache as inputs and outputs: SeqTrack's decoding is
greedy and always four tokens long, so the loop unrolls into a fixed graph with the cache inside it. One
``session.run`` per frame then does everything, with no Python, no host round trip and no cache tensors crossing the
runtime's boundary between the four steps; and a deployment reimplements nothing (the Hanning window, the argmax)
outside the graph. A step graph would only pay off for decoding that branches (beam search, sampling), which SeqTrack
does not do. The encoder is not split out either: it encodes the templates and the search crop jointly (one-stream
ViT), so there is no template feature to compute once and reuse.

The export folder holds ``seqtrack.onnx`` (with ``seqtrack.onnx.data`` beside it for a network over 1.5 GB),
``config.yaml`` (the training config: crop sizes and factors, normalisation, the tracking settings) and
``export.json`` (what was exported from what, the SHA-256 of each model file, and the parity check below). It is
written under a temporary name and renamed when complete, after the check passed. An existing folder is replaced
only when asked (``overwrite``) and only when it is an earlier export: it holds ``export.json`` and nothing an export
does not write, and no training run holds its lock (``DIR/.lock``). Anything else is refused, naming what is there.

Loading checks the export: every file ``export.json`` names is a plain file name inside the folder, and each model
file has the SHA-256 recorded at export time, so a model swapped or edited afterwards is refused.

Parity check: after writing, the export runs the ONNX model with onnxruntime on the CPU and the PyTorch model on
the same random crops, and fails unless every token is equal and every probability within ``PROB_ATOL``.

Needs the optional extra: ``pip install "seqtrack-accel[export]"`` (onnx, onnxscript for torch's exporter,
onnxruntime).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import shutil
import statistics
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from . import versions
from .config import Config, dump_config, load_config
from .model import SeqTrack, SeqTrackConfig
from .model.tokens import tokens_to_boxes
from .tracking.tracker import TrackerCheckpoint
from .run_folder import RunLock

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "seqtrack.onnx"
CONFIG_FILE = "config.yaml"
INFO_FILE = "export.json"
DATA_SUFFIX = ".data"  # the exporter's name for external weights: seqtrack.onnx.data
INPUT_NAMES = ("template_images", "search_images")
OUTPUT_NAMES = ("tokens", "probs")
# Largest difference allowed between a probability from onnxruntime and from PyTorch, both float32 on the CPU. The
# two runtimes sum in different orders; the differences measured are below 1e-6 (export.json keeps each export's).
PROB_ATOL = 1e-4
# Weights above this many bytes go to seqtrack.onnx.data: a protobuf file cannot exceed 2 GB.
EXTERNAL_DATA_BYTES = 1_500_000_000
EXTRA_HINT = 'the ONNX export needs the optional export extra: pip install "seqtrack-accel[export]"'


class _Network(torch.nn.Module):
    """What the graph computes: crops -> (tokens, probs), as ``SeqTrack.generate``."""

    def __init__(self, model: SeqTrack, window: bool):
        super().__init__()
        self.model = model
        self.window = window

    def forward(self, template_images: Tensor, search_images: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model.generate(template_images, search_images, window=self.window)
        return out["tokens"], out["probs"]


def _example_inputs(config: SeqTrackConfig, batch: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    templates = torch.randn(batch, config.num_templates, 3, config.template_size, config.template_size,
                            generator=generator)
    search = torch.randn(batch, 3, config.search_size, config.search_size, generator=generator)
    return templates, search


def _require_extra() -> None:
    for module in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(module)
        except ImportError as e:
            raise ImportError(f"{EXTRA_HINT} ({e})") from e


def _session(path: Path, providers: list[str]):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the CPU provider's notes on unused initialisers are noise here
    return onnxruntime.InferenceSession(str(path), options, providers=providers)


def _run(session, templates: Tensor, search: Tensor) -> tuple[np.ndarray, np.ndarray]:
    tokens, probs = session.run(list(OUTPUT_NAMES), {INPUT_NAMES[0]: templates.numpy(), INPUT_NAMES[1]: search.numpy()})
    return tokens, probs


def check_parity(session, model: SeqTrack, window: bool, batch: int) -> dict:
    """Tokens and probabilities of ``session`` (onnxruntime) against ``model`` (PyTorch, CPU, float32) on ``batch``
    random crops; a batch size other than the one traced, so the dynamic batch is exercised too.

    Returns:
        ``batch``, ``tokens_equal`` (bool) and ``max_prob_abs_diff``.
    """
    templates, search = _example_inputs(model.config, batch, seed=1)
    tokens, probs = _run(session, templates, search)
    with torch.inference_mode():
        expected = model.generate(templates, search, window=window)
    return {"batch": batch, "tokens_equal": bool(np.array_equal(tokens, expected["tokens"].numpy())),
            "max_prob_abs_diff": float(np.abs(probs - expected["probs"].numpy()).max())}


def time_both(session, model: SeqTrack, window: bool, frames: int) -> dict:
    """Milliseconds per frame (batch 1, median of ``frames`` calls after one warm-up) of PyTorch and onnxruntime on
    this machine's CPU."""
    templates, search = _example_inputs(model.config, 1, seed=2)
    runs = {"torch": lambda: model.generate(templates, search, window=window),
            "onnxruntime": lambda: _run(session, templates, search)}
    figures = {}
    with torch.inference_mode(), tqdm(total=len(runs) * (frames + 1), desc="timing PyTorch, onnxruntime",
                                      unit="frame", dynamic_ncols=True) as bar:
        for name, call in runs.items():
            seconds = []
            for i in range(frames + 1):
                start = time.perf_counter()
                call()
                if i:
                    seconds.append(time.perf_counter() - start)
                bar.update()
            figures[f"{name}_ms_per_frame"] = 1000 * statistics.median(seconds)
    return figures


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_onnx(model: SeqTrack, cfg: Config, output: str | os.PathLike, *, source: str | None = None,
                source_identity: dict | None = None, opset: int | None = None, check_batch: int = 3,
                time_frames: int = 0, overwrite: bool = False) -> dict:
    """Write the export folder ``output`` for ``model`` tracked with ``cfg`` (module docstring), check it and return
    what ``export.json`` holds.

    Args:
        model: the network; exported on the CPU in float32, in eval mode.
        cfg: the config to track with; must build ``model``'s network. ``eval.hanning`` is fixed in the graph.
        source, source_identity: what the model was loaded from, recorded in ``export.json``.
        opset: ONNX opset (default: the exporter's).
        check_batch: batch size of the parity check (>= 1).
        time_frames: also time PyTorch and onnxruntime on this CPU over this many frames (0: do not).
        overwrite: replace an earlier export at ``output`` (only once the new export is complete and checked); any
            other folder there is refused (``check_output``).

    Raises:
        FileExistsError: ``output`` exists and ``overwrite`` is false, or it is not an earlier export, or a training
            run holds it.
        ValueError: the parity check failed (nothing is written).
        ImportError: the export extra is not installed.
    """
    _require_extra()
    output = Path(output)
    check_output(output, overwrite)  # before a minute of exporting, and again before the replacement
    model = model.to("cpu", torch.float32).eval()
    window = cfg.eval.hanning
    network = _Network(model, window).eval()
    parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        logger.info("exporting the network (encoder %s, %d px search crop, %.1fM parameters) with torch.onnx: the "
                    "longest step", model.config.encoder, model.config.search_size,
                    sum(p.numel() for p in model.parameters()) / 1e6)
        start = time.perf_counter()
        with _quiet_exporter():
            batch = torch.export.Dim("batch", min=1, max=1024)
            program = torch.onnx.export(
                network, _example_inputs(model.config, 2), None, input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES), opset_version=opset, dynamo=True,
                dynamic_shapes={name: {0: batch} for name in INPUT_NAMES}, verbose=False)
        program.save(str(staging / MODEL_FILE), external_data=parameter_bytes > EXTERNAL_DATA_BYTES)
        export_seconds = time.perf_counter() - start
        # The exporter writes the weights beside the graph above its size limit: seqtrack.onnx.data.
        data_files = sorted(p.name for p in staging.iterdir() if p.name != MODEL_FILE)
        logger.info("wrote %s (%.1f MB) in %.1f s; checking it with onnx.checker", MODEL_FILE,
                    sum((staging / name).stat().st_size for name in [MODEL_FILE, *data_files]) / 1e6, export_seconds)
        import onnx

        onnx.checker.check_model(str(staging / MODEL_FILE))
        opset_used = program.model.opset_imports[""]  # the default domain's, as the exporter wrote it
        logger.info("parity check: onnxruntime against PyTorch on %d random crops", check_batch)
        session = _session(staging / MODEL_FILE, ["CPUExecutionProvider"])
        parity = check_parity(session, model, window, check_batch)
        if not parity["tokens_equal"] or parity["max_prob_abs_diff"] > PROB_ATOL:
            raise ValueError(f"the ONNX model does not reproduce the PyTorch model on {check_batch} random crops "
                             f"(tokens equal: {parity['tokens_equal']}, largest probability difference "
                             f"{parity['max_prob_abs_diff']:.3g}, allowed {PROB_ATOL:g}); nothing was written. "
                             "Please report it with your torch, onnxscript and onnxruntime versions")
        info = {
            "format_version": FORMAT_VERSION, "model_file": MODEL_FILE,
            "inputs": {INPUT_NAMES[0]: ["batch", model.config.num_templates, 3, model.config.template_size,
                                        model.config.template_size],
                       INPUT_NAMES[1]: ["batch", 3, model.config.search_size, model.config.search_size]},
            "outputs": {OUTPUT_NAMES[0]: ["batch", 4], OUTPUT_NAMES[1]: ["batch", 4]},
            "window": window, "opset": opset_used, "network": dataclasses.asdict(model.config),
            "source": source, "source_identity": source_identity or {},
            "model_sha256": _sha256(staging / MODEL_FILE),
            **({"data_sha256": {name: _sha256(staging / name) for name in data_files}} if data_files else {}),
            "parity": {**parity, "prob_atol": PROB_ATOL},
            "export_seconds": round(export_seconds, 1), "versions": _export_versions(),
        }
        logger.info("parity check passed: tokens equal, largest probability difference %.3g (allowed %g)",
                    parity["max_prob_abs_diff"], PROB_ATOL)
        if time_frames:
            info["cpu_latency"] = {"frames": time_frames, "threads": torch.get_num_threads(),
                                   **time_both(session, model, window, time_frames)}
        (staging / CONFIG_FILE).write_text(dump_config(cfg))
        (staging / INFO_FILE).write_text(json.dumps(info, indent=1))
        check_output(output, overwrite)
        _replace_folder(staging, output)
        logger.info("wrote the export folder %s", output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


def check_output(output: Path, overwrite: bool) -> None:
    """Raise FileExistsError unless ``output`` may receive an export: it does not exist, or, with ``overwrite``, it is
    an earlier export (``export.json`` and only the files an export writes) whose folder no training run holds."""
    if not output.exists() and not output.is_symlink():
        return
    if not overwrite:
        raise FileExistsError(f"{output} already exists; pass --overwrite to replace it, or choose another --output")
    if not output.is_dir():
        raise FileExistsError(f"{output} is a file, not an export folder; --overwrite replaces only an earlier "
                              "seqtrack-export folder: choose another --output")
    holder = RunLock(output).holder()
    if holder is not None:
        raise FileExistsError(f"{output} is the folder of a training run in progress ({holder}); seqtrack-export "
                              "never touches it: choose another --output")
    entries = sorted(output.iterdir())
    what = _listing(entries)
    if not (output / INFO_FILE).is_file():
        raise FileExistsError(f"{output} is not an export folder (it has no {INFO_FILE}; it holds {what}); --overwrite "
                              "replaces only an earlier seqtrack-export folder: choose another --output")
    foreign = [p for p in entries if p.name not in _export_names(output)]
    if foreign:
        raise FileExistsError(f"{output} holds files an export does not write: {_listing(foreign)}; --overwrite "
                              "would delete them with the earlier export: move them out first, or choose another "
                              "--output")


def _export_names(folder: Path) -> set[str]:
    """The names an export folder may hold: its fixed files, and the model data files its export.json names."""
    try:
        data = json.loads((folder / INFO_FILE).read_text()).get("data_sha256") or {}
    except (ValueError, AttributeError):  # not JSON, or not an object: only the fixed names
        data = {}
    return {MODEL_FILE, MODEL_FILE + DATA_SUFFIX, CONFIG_FILE, INFO_FILE, *data}


def _listing(paths: list[Path], shown: int = 6) -> str:
    names = [p.name + ("/" if p.is_dir() else "") for p in paths]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return (", ".join(names[:shown]) + more) if names else "nothing"


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Keep torch's exporter to its warnings and errors: it logs every pass of its graph optimiser at INFO and
    prints its progress. The two inputs share one batch dimension, which it notes as a UserWarning."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.filterwarnings("ignore", message="# The axis name: batch will not be used")
            yield
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)


def _export_versions() -> dict:
    import onnx
    import onnxruntime
    import onnxscript

    return {**versions(), "onnx": onnx.__version__, "onnxscript": onnxscript.__version__,
            "onnxruntime": onnxruntime.__version__}


def _replace_folder(new: Path, target: Path) -> None:
    """Move the complete folder ``new`` to ``target``; an existing ``target`` is moved aside first and removed only
    once the new one is in place."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.old"
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class OnnxSeqTrack:
    """An ONNX export run by onnxruntime behind the part of ``SeqTrack``'s interface the tracker uses: ``config``,
    ``to``, ``eval`` and ``generate``. Drop-in for ``SeqTrackTracker(model, cfg, ...)``.

    Args:
        folder: an export folder written by ``export_onnx``. Its model files are checked at once (module docstring):
            ValueError when one lies outside the folder or differs from the file the export wrote.
    """

    training = False

    def __init__(self, folder: str | os.PathLike):
        try:
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise ImportError(f"{EXTRA_HINT} ({e})") from e
        self.folder = Path(folder)
        info_path = self.folder / INFO_FILE
        if not info_path.is_file():
            raise FileNotFoundError(f"{info_path} is missing: {self.folder} is not an ONNX export folder; write one "
                                    "with seqtrack-export")
        info = json.loads(info_path.read_text())
        if info.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"{info_path} has format_version {info['format_version']}; this seqtrack-accel reads "
                             f"up to {FORMAT_VERSION}: upgrade seqtrack-accel, or re-export with this version")
        self.info = info
        self.config = SeqTrackConfig.from_dict(info["network"], source=str(info_path))
        self.window = bool(info["window"])
        self.path = self._inside(info.get("model_file"), "model_file")
        # The hash of the graph vouches for the data file names inside it; each data file's hash for its weights.
        self.sha256 = self._verified(self.path, info.get("model_sha256"))
        for name, sha256 in (info.get("data_sha256") or {}).items():
            self._verified(self._inside(name, "data_sha256"), sha256)
        self.device = torch.device("cpu")
        self._session = None

    def _inside(self, name: object, key: str) -> Path:
        """The file ``name`` of the export folder, where export.json's ``key`` names it; an error unless it is a plain
        file name, in the folder (not a link out of it), that exists."""
        info_path = self.folder / INFO_FILE
        if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\\" in name:
            raise ValueError(f"{info_path}: {key} names {name!r}, which is not a file of the export folder; an "
                             "export keeps every file it names inside its folder: export again with seqtrack-export")
        path = self.folder / name
        if path.resolve().parent != self.folder.resolve():
            raise ValueError(f"{path} leads out of the export folder (to {path.resolve()}); an export keeps every "
                             "file it names inside its folder: export again with seqtrack-export")
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing from the export folder; export again with seqtrack-export")
        return path

    def _verified(self, path: Path, recorded: object) -> str:
        """``path``'s SHA-256, which must be the one export.json recorded."""
        sha256 = _sha256(path)
        if sha256 != recorded:
            raise ValueError(f"{path} is not the file this export wrote: its SHA-256 is {sha256}, {INFO_FILE} records "
                             f"{recorded}; it was changed or replaced after the export. Export again with "
                             "seqtrack-export")
        return sha256

    def to(self, device: str | torch.device, *args, **kwargs) -> OnnxSeqTrack:
        """Choose onnxruntime's execution provider: CUDA for a CUDA device (the onnxruntime-gpu package), else CPU.
        dtypes are ignored: the export runs in float32."""
        device = torch.device(device)
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"the ONNX backend runs on cpu or cuda, not {device}")
        if device != self.device or self._session is None:
            self.device = device
            self._session = None
        return self

    def eval(self) -> OnnxSeqTrack:
        return self

    def _providers(self) -> list[str]:
        if self.device.type == "cpu":
            return ["CPUExecutionProvider"]
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise ValueError("this onnxruntime has no CUDA execution provider: install onnxruntime-gpu in place of "
                             "onnxruntime, or track with --device cpu")
        return [("CUDAExecutionProvider", {"device_id": self.device.index or 0}), "CPUExecutionProvider"]

    @property
    def session(self):
        if self._session is None:
            self._session = _session(self.path, self._providers())
        return self._session

    def generate(self, template_images: Tensor, search_images: Tensor, window: bool = True,
                 use_cache: bool = True) -> dict[str, Tensor]:
        """As ``SeqTrack.generate``: ``boxes``, ``tokens``, ``probs`` and ``confidence``, on the inputs' device.
        ``window`` must be what the export fixed; ``use_cache`` is moot (the graph decodes with its cache)."""
        if window != self.window:
            raise ValueError(f"{self.folder} was exported to decode {'with' if self.window else 'without'} the "
                             f"Hanning window (eval.hanning={self.window}); track with that setting, or export "
                             f"again with eval.hanning={window}")
        device = search_images.device
        tokens, probs = _run(self.session, template_images.detach().float().cpu(), search_images.detach().float().cpu())
        tokens, probs = torch.from_numpy(tokens).to(device), torch.from_numpy(probs).to(device)
        return {"boxes": tokens_to_boxes(tokens, self.config.bins), "tokens": tokens, "probs": probs,
                "confidence": probs.sum(dim=1) * 10.0}


def load_onnx_tracker_model(folder: str | os.PathLike) -> tuple[OnnxSeqTrack, Config]:
    """An export folder's model and the config to track with (its ``config.yaml``), as ``load_tracker_model``."""
    model = OnnxSeqTrack(folder)
    return model, load_config(Path(folder) / CONFIG_FILE)


def load_onnx_tracker_checkpoint(folder: str | os.PathLike) -> TrackerCheckpoint:
    """``load_onnx_tracker_model`` with the identity of the ONNX file (its SHA-256), as ``load_tracker_checkpoint``."""
    model, cfg = load_onnx_tracker_model(folder)
    return TrackerCheckpoint(model, cfg, {"weights_sha256": model.sha256, "source": str(folder), "backend": "onnx"})
