"""seqtrack-app's cost: its start-up time, and the time to track the README's example video in it against
seqtrack-track on the same video.

    PYTHONPATH=tests python scripts/bench_app.py --repeats 3
    PYTHONPATH=tests python scripts/bench_app.py --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16

The video is the README's: the demo's synthetic test sequence coin-3 (60 frames of 320x240, generated under
data/synthetic_lasot as the demo does) from the box 120,93,56,56; the app gets it as a zip of the same frames (it
takes a video or a zip). Without --checkpoint the model is the demo config's network with random weights, written to
a temporary folder: the speed does not depend on the weights (the boxes do, and are checked to be equal).

Each repeat:
- ``startup``: ``seqtrack-app --checkpoint ...`` started in a child process, until its page answers (importing
  torch and gradio, loading the model, starting the server);
- then, in alternating order from one repeat to the next:
  ``cli``: ``seqtrack-track`` as a user runs it, in a child process: its whole wall time, and the tracking time its
  summary line reports; and
  ``app``: the Track request through the app's HTTP API (gradio_client, as the page sends it): upload, tracking,
  the browser video, and the download of the outputs; and the tracking time the page's status reports.

Prints one JSON line per repeat and a last one with the medians and ranges (``benchmark: app``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app_helpers import app_server, readme_example  # tests/ on PYTHONPATH, as bench_mirror's fake_hub
from bench_env import device_name, versions

BOX = "120,93,56,56"  # line 1 of coin-3's groundtruth.txt, as in the README


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="default: the demo network with random weights")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP_NUM_THREADS of the app and of seqtrack-track (the same for both: on a busy machine "
                             "two threads can track ten times slower than one)")
    args = parser.parse_args()
    import gradio_client
    from gradio_client import Client, handle_file

    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by seqtrack-track's process

    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        tmp = Path(tmp)
        checkpoint, frames_dir, archive = readme_example(tmp, args.checkpoint)
        rows = []
        for repeat in range(args.repeats):
            start = time.monotonic()
            with app_server(["--checkpoint", checkpoint, "--device", "cpu"], tmp / f"app{repeat}",
                            threads=args.threads) as url:
                row = {"benchmark": "app", "repeat": repeat, "startup_s": time.monotonic() - start}
                client = Client(url, verbose=False, download_files=str(tmp / f"downloads{repeat}"))
                cli_out = tmp / f"cli{repeat}"
                # Alternating which goes first, so that a load that comes and goes weighs on both alike.
                for arm in ("cli", "app") if repeat % 2 == 0 else ("app", "cli"):
                    tick = time.monotonic()
                    if arm == "cli":
                        done = subprocess.run([sys.executable, "-m", "seqtrack_accel.cli.track", str(frames_dir),
                                               "--box", BOX, "--checkpoint", checkpoint, "--output", str(cli_out),
                                               "--device", "cpu"], capture_output=True, text=True, check=True)
                        row.update(cli_wall_s=time.monotonic() - tick, cli_tracking_s=_seconds(done.stdout))
                    else:
                        _, _, _, files, status = client.predict(checkpoint, "torch", handle_file(str(archive)), BOX,
                                                                api_name="/track")
                        row.update(app_request_s=time.monotonic() - tick, app_tracking_s=_seconds(status))
            boxes = next(Path(f) for f in files if f.endswith(".txt")).read_text()  # <video name>.txt
            row["boxes_equal"] = boxes == next(cli_out.glob("*.txt")).read_text()
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {"benchmark": "app", "repeats": args.repeats, "frames": 60, "size": "320x240",
               "weights": "given" if args.checkpoint else "random (demo network)", "device": device_name("cpu"),
               "threads": args.threads, **versions(), "gradio_client": gradio_client.__version__,
               "boxes_equal": all(r["boxes_equal"] for r in rows)}
    for key in ("startup_s", "cli_wall_s", "cli_tracking_s", "app_request_s", "app_tracking_s"):
        values = [r[key] for r in rows]
        summary[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    print(json.dumps(summary))


def _seconds(summary_line: str) -> float:
    """The seconds of a ``tracked N frames of NAME ... in S s`` line (seqtrack-track's, or the page's status)."""
    found = re.search(r"tracked \d+ frames .* in ([0-9.]+) s", summary_line)
    if found is None:
        raise ValueError(f"no 'tracked ... in S s' in {summary_line!r}")
    return float(found.group(1))


if __name__ == "__main__":
    main()
