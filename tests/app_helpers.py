"""seqtrack-app for the tests and scripts/app_screenshots.py: the app served by its command in a child process, and
headless Chromium driven through its page with Selenium.

Chromium and its driver are Debian's (``apt-get install chromium chromium-driver``: /usr/bin/chromium and
/usr/bin/chromedriver; .ci/run installs them). Chromium is started so that it reaches nothing but the app: no
background networking, component updates, sync or QUIC, and a new empty profile.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from train_helpers import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1400")
APP_MAX_FRAMES = 20  # the host's frame limit of the app the tests serve (conftest's app_url)
START_TIMEOUT = 300.0  # seconds for seqtrack-app to answer: importing torch and gradio on a busy 2-core machine


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return (f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver (as .ci/run does)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return 'selenium is missing: pip install -e ".[dev]"'
    return None


def write_video(path: Path, frames_bgr: list[np.ndarray], fps: float) -> Path:
    """``frames_bgr`` as an mp4v video at ``path``, as a user's camera would leave it."""
    height, width = frames_bgr[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames_bgr:
        writer.write(frame)
    writer.release()
    return path


@contextlib.contextmanager
def app_server(args: list[str], work: Path, threads: int = 1) -> Iterator[str]:
    """``seqtrack-app ARGS --port P`` in a child process, its files under ``work``; yields its URL once it answers.

    ``threads`` is its OMP_NUM_THREADS: one by default, as conftest's ``one_thread`` (the tiny test networks run
    several times faster on one intra-op thread than on two on a shared, busy CPU; and a test that compares its
    boxes with an in-process run sums in the same order with ``one_thread``). The child is stopped when the block
    ends; its output is in ``work/app.log``.
    """
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(work / "gradio"), "PYTHONUNBUFFERED": "1"}
    log = open(work / "app.log", "w")
    child = subprocess.Popen([sys.executable, "-m", "seqtrack_accel.cli.app", *args, "--port", str(port),
                              "--output", str(work / "runs")], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, child, START_TIMEOUT, work / "app.log")
        yield url
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        log.close()


def wait_until_up(url: str, child: subprocess.Popen, timeout: float, log: Path) -> float:
    """Seconds until ``url`` answers 200; RuntimeError with the log when the child exits or time runs out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if child.poll() is not None:
            raise RuntimeError(f"seqtrack-app exited with status {child.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"seqtrack-app did not answer at {url} within {timeout:.0f} s:\n{log.read_text()}")


# ---------------------------------------------------------------------------------------------------------------
# the browser


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium driven by Selenium, with a new empty profile that is removed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="seqtrack-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, condition, timeout: float = 60.0, what: str = "the page"):
    """``condition(driver)`` once truthy, polled; TimeoutError naming ``what`` (and the page's status) otherwise."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)
    except TimeoutException:
        raise TimeoutError(f"waited {timeout:.0f} s for {what}; status: {text_of(driver, 'status')!r}") from None


def element(driver, elem_id: str, css: str = ""):
    """The element ``css`` inside the component ``elem_id`` (the component itself without ``css``), or None."""
    found = driver.find_elements("css selector", f"#{elem_id} {css}".strip())
    return found[0] if found else None


def text_of(driver, elem_id: str) -> str:
    found = element(driver, elem_id)
    return found.text.strip() if found is not None else ""


def upload(driver, elem_id: str, *paths: Path) -> None:
    """Give ``paths`` to the file input of the upload component ``elem_id``."""
    field = wait_for(driver, lambda d: element(d, elem_id, "input[type=file]"), what=f"the file input of #{elem_id}")
    field.send_keys("\n".join(str(p) for p in paths))


def click_pixel(driver, image, x: float, y: float) -> None:
    """Click ``image`` (an <img>) where its pixel (x, y) of the full-size picture is shown."""
    from selenium.webdriver.common.action_chains import ActionChains

    natural_width, natural_height = wait_for(driver, lambda d: d.execute_script(
        "const i = arguments[0]; return i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null",
        image), what="the picture to load")
    rect = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]", image)
    # Selenium's offsets are from the element's centre; gradio rounds a click to the nearest pixel, so pixel x is
    # where x is shown (not x + 0.5).
    dx = x * rect[0] / natural_width - rect[0] / 2
    dy = y * rect[1] / natural_height - rect[1] / 2
    ActionChains(driver).move_to_element_with_offset(image, round(dx), round(dy)).click().perform()


def type_into(driver, elem_id: str, text: str) -> None:
    """Replace the text of the text box ``elem_id`` and leave it (the app reads a typed box on leaving)."""
    field = element(driver, elem_id, "textarea") or element(driver, elem_id, "input")
    field.clear()
    field.send_keys(text)


def readme_example(folder: Path, checkpoint: str | None) -> tuple[str, Path, Path]:
    """The README's example video for the scripts: coin-3 of the demo's synthetic tree (generated as the demo does
    when missing) and a zip of its frames in ``folder``, and the model: ``checkpoint``, else the demo network with
    random weights written to ``folder``. Returns (checkpoint, frames folder, zip)."""
    from model_helpers import write_checkpoint

    from seqtrack_accel.config import load_config
    from seqtrack_accel.data.synthetic import ensure_dataset_root

    demo = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    frames = ensure_dataset_root(load_config(demo).data) / "coin" / "coin-3" / "img"
    if checkpoint is None:
        (folder / "checkpoint").mkdir()
        checkpoint = write_checkpoint(folder / "checkpoint", str(demo), [])
    archive = folder / "coin-3.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for frame in sorted(frames.iterdir()):
            zipped.write(frame, f"img/{frame.name}")
    return checkpoint, frames, archive
