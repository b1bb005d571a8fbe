"""``seqtrack-app``'s two pages, in Gradio: track a target through a video in the browser, and compare evaluation
results. The only module of the package that imports gradio (the optional app extra: ``pip install
"seqtrack-accel[app]"``).

    build_app("runs/demo/phase_1/checkpoints/checkpoint_16", max_frames=600).launch()

Tracking runs ``track_video``, the loop of ``seqtrack-track``: the same <video name>.txt, annotated.mp4 and
contact_sheet.png for the same video, box and model, plus a VP8 WebM of the annotated video for the page's player
(browsers do not play mp4v). Bad input gets the message ``seqtrack-track`` prints for it, in the page's status line.
``public=True`` (a Space) fixes the model and hides the results page's folder box: visitors give only their own files.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when gradio is imported: no calls home

import itertools
import shutil
import tempfile
import threading
import time
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pandas as pd

from .cli import INPUT_ERRORS, error_line, torch_dtype
from .tracking.evaluate import per_sequence_table, read_summary
from .tracking.plots import confidence_figure, precision_figure, success_figure
from .tracking.track_video import BACKENDS, DEFAULT_FPS, load_model, track_video
from .tracking.tracker import SeqTrackTracker
from .data.annotations import parse_box
from .tracking.video import annotate, check_box_in_frame, open_frames

KEPT_RUNS = 4  # output folders of the latest runs kept on disk; gradio serves the files from its own cache
PROGRESS_INTERVAL = 0.1  # seconds between progress bar updates
MARKER_COLOR = (255, 0, 255)  # RGB: the first corner clicked


class _Models:
    """The model loaded last, kept for the next run; one at a time, since a model can be large."""

    def __init__(self):
        self._lock = threading.Lock()
        self._key: tuple[str, str] | None = None
        self._model = None

    def get(self, checkpoint: str, backend: str):
        with self._lock:
            if self._key != (checkpoint, backend):
                self._key, self._model = None, None  # let the old model go before the next one loads
                self._model = load_model(checkpoint, backend)
                self._key = (checkpoint, backend)
            return self._model


class _RunFolders:
    """A new output folder per run under ``root``; only the newest ``KEPT_RUNS`` of those made here are kept."""

    def __init__(self, root: Path):
        self.root = root
        self._made: list[Path] = []
        self._lock = threading.Lock()

    def new(self) -> Path:
        with self._lock:
            while len(self._made) >= KEPT_RUNS:
                shutil.rmtree(self._made.pop(0), ignore_errors=True)
            self.root.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))
            self._made.append(folder)
            return folder


def build_app(checkpoint: str | None = None, *, backend: str = "torch", device: str = "cpu", dtype: str = "float32",
              max_frames: int = 0, public: bool = False, output: str | os.PathLike | None = None) -> gr.Blocks:
    """The app's page: a "Track a video" tab and a "Compare results" tab.

    Args:
        checkpoint: the model, anything ``seqtrack-track --checkpoint`` takes; loaded now, so a host sees a model
            that does not load at once. None: the visitor types it.
        backend: "torch", or "onnx" for an ONNX export folder.
        device, dtype: where and how the tracker runs ("float32" or "bfloat16").
        max_frames: track at most this many frames of a video (0: all); the page says so.
        public: fix the model to ``checkpoint`` and take no folder of the server on the results page.
        output: the folder that receives each run's outputs (default: a new temporary folder).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if public and not checkpoint:
        raise ValueError("a public app needs its model: give the checkpoint")
    models = _Models()
    if checkpoint:
        models.get(checkpoint, backend)
    runs = _RunFolders(Path(output) if output else Path(tempfile.mkdtemp(prefix="seqtrack-app-")))
    limit = (f" This app tracks at most **{max_frames} frames** of a video (the host's limit); a longer video is cut "
             "there." if max_frames else "")

    def load_video(file: str | None):
        """The first frame of an upload, shown to draw the box on."""
        if file is None:
            return None, None, "", None, ""
        try:
            frames = open_frames(file)
            first = next(iter(frames))
        except INPUT_ERRORS as e:
            return None, None, "", None, error_line(e)
        height, width = first.shape[:2]
        count = f"{frames.count} frames" if frames.count else "frames"
        rate = f" at {frames.fps:g} frames/s" if frames.fps else ""
        cut = (f" Only the first {max_frames} will be tracked." if max_frames and frames.count
               and frames.count > max_frames else "")
        return (first, first, "", None, f"{Path(file).name}: {count} of {width}x{height} pixels{rate}.{cut} Click two "
                "opposite corners of the target on the first frame (or type its box x,y,w,h), then Track.")

    def click(first: np.ndarray | None, corner: tuple[int, int] | None, event: gr.SelectData):
        """A click on the first frame: the first corner of the box, or the opposite one, which completes it."""
        if first is None:
            return gr.skip(), gr.skip(), None, "error: upload a video or a zip of frames first"
        x, y = (int(v) for v in event.index)
        if corner is None:
            return _marked(first, x, y), gr.skip(), (x, y), f"First corner at {x},{y}: click the opposite corner."
        box = np.array([min(x, corner[0]), min(y, corner[1]), abs(x - corner[0]), abs(y - corner[1])], np.float64)
        if not (box[2] > 0 and box[3] > 0):
            return first, gr.skip(), None, ("error: the two corners share a row or a column, so the box has no area; "
                                            "click two opposite corners of the target")
        text = ",".join(f"{v:g}" for v in box)
        return annotate(first, box, 1), text, None, f"Box {text} (x,y,w,h): Track, or click twice to draw another."

    def type_box(first: np.ndarray | None, text: str):
        """A box typed into the box field (on Enter or leaving it), drawn on the first frame."""
        if first is None or not text.strip():
            return gr.skip(), gr.skip()
        try:
            box = parse_box(text)
            check_box_in_frame(box, first.shape[1], first.shape[0])
        except ValueError as e:
            return first, error_line(e)
        return annotate(first, box, 1), f"Box {text} (x,y,w,h): Track, or click twice to draw another."

    def track(model: str, model_backend: str, file: str | None, text: str, progress=gr.Progress()):
        """Track the upload with the box; the outputs of ``seqtrack-track`` and a video the browser plays."""
        nothing = (None, None, None, None)
        if file is None:
            return *nothing, "error: upload a video or a zip of frames first"
        if not text.strip():
            return *nothing, ("error: give the target's box on the first frame: click two opposite corners of it, "
                              "or type x,y,w,h")
        if not model.strip():
            return *nothing, "error: give the model: a checkpoint folder, an ONNX export folder or hf://ORG/NAME"
        try:
            box = parse_box(text)
            frames = open_frames(file)
            frame_iter = iter(frames)
            first = next(frame_iter)
            check_box_in_frame(box, first.shape[1], first.shape[0])  # before the model: a wrong box need not wait
            net, cfg = models.get(model.strip(), model_backend)
            tracker = SeqTrackTracker(net, cfg, device=device, dtype=torch_dtype(dtype))
            total = frames.count  # None when the container does not say
            if max_frames:
                total = min(total, max_frames) if total else max_frames
            shown = [0.0]  # when the bar last moved

            def advance(done: int) -> None:
                if time.monotonic() - shown[0] >= PROGRESS_INTERVAL or done == total:
                    progress((done, total), desc="tracking", unit="frames")
                    shown[0] = time.monotonic()

            run = track_video(tracker, itertools.chain([first], frame_iter), box, runs.new(), name=frames.name,
                              fps=frames.fps or DEFAULT_FPS, max_frames=max_frames, preview=True, on_frame=advance)
        except INPUT_ERRORS as e:
            return *nothing, error_line(e)
        boxes_file, video_file, sheet_file, preview_file = run.paths
        cut = (f", the first {run.frames} of {frames.count} (the host's limit)"
               if max_frames and run.frames == max_frames and (frames.count or 0) > max_frames else "")
        status = (f"tracked {run.frames} frames of {frames.name}{cut} ({run.width}x{run.height}) in {run.seconds:.1f} "
                  f"s: {run.frames / run.seconds:.1f} frames/s, the tracker alone "
                  f"{run.frames / run.tracker_seconds:.1f} frames/s")
        return (str(preview_file), confidence_figure(run.confidences), str(sheet_file),
                [str(boxes_file), str(video_file), str(sheet_file)], status)

    def compare(folder: str, files: list[str] | None):
        """The plots and the per-sequence table of every tracker in the summaries found or uploaded."""
        try:
            summaries = _summaries(folder.strip() if folder and not public else "", files or [])
            trackers = _side_by_side(summaries)
        except INPUT_ERRORS as e:
            return None, None, None, error_line(e)
        overall = {name: summary["overall"] for name, summary in trackers.items()}
        header, rows = per_sequence_table(trackers)
        benchmarks = sorted({str(doc.get("benchmark", "?")) for _, doc in summaries})
        status = (f"{len(trackers)} trackers from {len(summaries)} summary.json files; benchmark: "
                  f"{', '.join(benchmarks)}" + (" (different benchmarks: the scores do not compare)"
                                                if len(benchmarks) > 1 else ""))
        return success_figure(overall), precision_figure(overall), pd.DataFrame(rows, columns=header), status

    with gr.Blocks(title="SeqTrack", analytics_enabled=False) as app:
        gr.Markdown("# SeqTrack: track an object through your video")
        with gr.Tabs():
            with gr.Tab("Track a video", id="track"):
                gr.Markdown("Upload a video (or a .zip of frames), click two opposite corners of the target on the "
                            "first frame (or type its box x,y,w,h in pixels), then **Track**: you get the annotated "
                            "video, the tracker's confidence per frame, a contact sheet and the boxes "
                            "(`<video name>.txt`), as `seqtrack-track` writes them." + limit)
                with gr.Row():
                    model = gr.Textbox(checkpoint or "", label="Model", elem_id="model", interactive=not public,
                                       placeholder="checkpoint folder, save_pretrained folder, ONNX export folder or "
                                                   "hf://ORG/NAME", scale=4)
                    model_backend = gr.Radio(list(BACKENDS), value=backend, label="Backend", elem_id="backend",
                                             interactive=not public, scale=1)
                with gr.Row():
                    with gr.Column():
                        upload = gr.File(label="Video or .zip of frames", elem_id="upload")
                        # No height: gradio maps a click to a pixel right only for an image not shown enlarged.
                        frame = gr.Image(label="First frame: click two opposite corners of the target",
                                         elem_id="first-frame", interactive=False, format="png", type="numpy")
                        box = gr.Textbox(label="First box x,y,w,h (pixels)", elem_id="box",
                                         placeholder="click the frame twice, or type e.g. 120,93,56,56")
                        go = gr.Button("Track", variant="primary", elem_id="track")
                        status = gr.Markdown(elem_id="status")
                    with gr.Column():
                        video = gr.Video(label="Annotated video", elem_id="annotated-video", interactive=False)
                        confidence = gr.Plot(label="Confidence per frame", elem_id="confidence")
                        sheet = gr.Image(label="Contact sheet", elem_id="contact-sheet", interactive=False,
                                         format="png")
                        downloads = gr.File(label="<video name>.txt (the boxes), annotated.mp4 (mp4v), "
                                                  "contact_sheet.png",
                                            file_count="multiple", elem_id="downloads", interactive=False)
                first = gr.State(None)  # the first frame, without drawings
                corner = gr.State(None)  # the first corner clicked, until the second
            with gr.Tab("Compare results", id="results"):
                gr.Markdown("The success and precision plots and the per-sequence scores of the trackers in "
                            "`summary.json` files written by `seqtrack-evaluate`"
                            + ("." if public else ": give an evaluation output folder (every summary.json under "
                                                  "it), upload the files, or both."))
                with gr.Row():
                    folder = gr.Textbox(label="Evaluation output folder", elem_id="results-folder", visible=not public,
                                        placeholder="output/evaluation/demo", scale=2)
                    summaries = gr.File(label="summary.json files", file_count="multiple", file_types=[".json"],
                                        elem_id="summaries", scale=2)
                show = gr.Button("Show", variant="primary", elem_id="show-results")
                results_status = gr.Markdown(elem_id="results-status")
                with gr.Row():
                    success = gr.Plot(label="Success", elem_id="success-plot")
                    precision = gr.Plot(label="Precision", elem_id="precision-plot")
                table = gr.Dataframe(label="Per sequence: AUC and precision (%)", elem_id="per-sequence",
                                     interactive=False)

        upload.change(load_video, [upload], [first, frame, box, corner, status])
        frame.select(click, [first, corner], [frame, box, corner, status])
        box.submit(type_box, [first, box], [frame, status])
        box.blur(type_box, [first, box], [frame, status])
        go.click(track, [model, model_backend, upload, box], [video, confidence, sheet, downloads, status])
        show.click(compare, [folder, summaries], [success, precision, table, results_status])
    return app


def _marked(frame: np.ndarray, x: int, y: int) -> np.ndarray:
    """A copy of ``frame`` with a cross at (x, y), the corner clicked first."""
    out = frame.copy()
    size = max(4, min(frame.shape[:2]) // 20)
    cv2.drawMarker(out, (x, y), MARKER_COLOR, cv2.MARKER_CROSS, size, max(1, size // 6))
    return out


def _summaries(folder: str, files: list[str]) -> list[tuple[str, dict]]:
    """(label, document) of every summary.json under ``folder`` (sorted) and of each uploaded file."""
    found: list[tuple[str, dict]] = []
    if folder:
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder: give the output folder of seqtrack-evaluate "
                                    "(output/evaluation/<config>)")
        paths = sorted(root.rglob("summary.json"))
        if not paths:
            raise FileNotFoundError(f"no summary.json under {folder}: give the output folder of seqtrack-evaluate "
                                    "(output/evaluation/<config>)")
        found += [(str(p.parent.relative_to(root)) if p.parent != root else root.name, read_summary(p))
                  for p in paths]
    found += [(f"upload {k}", read_summary(Path(f))) for k, f in enumerate(files, start=1)]
    if not found:
        raise ValueError("no results: give an evaluation output folder or upload summary.json files")
    return found


def _side_by_side(summaries: list[tuple[str, dict]]) -> dict[str, dict]:
    """Every tracker of the summaries; a name that several summaries use gets its summary's label in brackets."""
    names = [name for _, doc in summaries for name in doc["trackers"]]
    return {(name if names.count(name) == 1 else f"{name} ({label})"): summary
            for label, doc in summaries for name, summary in doc["trackers"].items()}
