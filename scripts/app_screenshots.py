"""The screenshots of seqtrack-app in docs/: its tracking page after tracking the README's example video, and its
results page comparing a SeqTrack run with the first-box baseline, taken in headless Chromium.

    PYTHONPATH=tests python scripts/app_screenshots.py --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16

Without --checkpoint the model is the demo network with random weights (the pages look the same; the boxes and
scores are a random network's). The results are seqtrack-evaluate's on the demo's test split (first --max_frames
frames of each sequence), with the first-box baseline. Writes docs/app_track.png and docs/app_results.png (palette
PNGs, 1000 px wide).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from PIL import Image

from app_helpers import app_server, chromium, click_pixel, element, readme_example, text_of, upload, wait_for

from seqtrack_accel.cli.evaluate import main as evaluate_main

REPO = Path(__file__).resolve().parents[1]
BOX = (120, 93, 56, 56)  # coin-3's first box, as in the README
WIDTH = 1000  # pixels of the saved screenshots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="default: the demo network with random weights")
    parser.add_argument("--max_frames", type=int, default=30, help="frames of each test sequence evaluated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="app-screenshots-") as tmp:
        tmp = Path(tmp)
        checkpoint, _, archive = readme_example(tmp, args.checkpoint)
        evaluation = tmp / "evaluation"
        assert evaluate_main(["--checkpoint", checkpoint, "--baseline", "first-box", "--max_frames",
                              str(args.max_frames), "--output", str(evaluation), "--device", "cpu"]) == 0
        with app_server(["--checkpoint", checkpoint, "--device", "cpu"], tmp / "app") as url, chromium() as page:
            page.get(url)
            upload(page, "upload", archive)
            image = wait_for(page, lambda d: element(d, "first-frame", "img"), what="the first frame")
            click_pixel(page, image, BOX[0], BOX[1])
            wait_for(page, lambda d: "First corner" in text_of(d, "status"), what="the first corner")
            click_pixel(page, element(page, "first-frame", "img"), BOX[0] + BOX[2], BOX[1] + BOX[3])
            wait_for(page, lambda d: text_of(d, "status").startswith("Box"), what="the box")
            element(page, "track").click()
            wait_for(page, lambda d: text_of(d, "status").startswith("tracked"), 600, "tracking")
            time.sleep(2)  # the plot and the pictures appear after the status
            _save(page, REPO / "docs" / "app_track.png")
            next(tab for tab in page.find_elements("xpath", "//button[contains(., 'Compare results')]")
                 if tab.is_displayed()).click()
            folder = wait_for(page, lambda d: element(d, "results-folder", "textarea") or
                              element(d, "results-folder", "input"), what="the results folder")
            folder.send_keys(str(evaluation))
            element(page, "show-results").click()
            wait_for(page, lambda d: "trackers from" in text_of(d, "results-status"), 120, "the results")
            time.sleep(2)
            _save(page, REPO / "docs" / "app_results.png")


def _save(page, path: Path) -> None:
    """The whole page (the window grown to its height) as a palette PNG ``WIDTH`` pixels wide."""
    height = page.execute_script("return document.documentElement.scrollHeight")
    page.set_window_size(1280, min(height + 40, 2400))
    time.sleep(1)
    page.save_screenshot(str(path))
    image = Image.open(path).convert("RGB")
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
