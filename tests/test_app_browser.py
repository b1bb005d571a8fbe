"""seqtrack-app in a real browser: headless Chromium, driven by Selenium through the page as a user goes.

Upload a video the test renders, draw the first box with two mouse clicks on the first frame, track, and check that
the browser plays the annotated video and that the boxes the page offers equals seqtrack-track's on the same
video and box; a box outside the frame shows the CLI's message. Skipped, saying why, where Chromium, its driver or
selenium is missing (.ci/run installs them)."""

from __future__ import annotations

import urllib.request

import numpy as np
import pytest

from app_helpers import browser_problem, chromium, click_pixel, element, text_of, type_into, upload, wait_for, \
    write_video

from seqtrack_accel.cli.track import main as track_main
from seqtrack_accel.data.synthetic import render_sequence

pytestmark = pytest.mark.skipif(browser_problem() is not None, reason=browser_problem() or "")

FRAMES, WIDTH, HEIGHT, FPS = 12, 96, 72, 10.0
TRACK_TIMEOUT = 180.0  # seconds: a busy 2-core machine


@pytest.fixture(scope="module")
def sequence():
    return render_sequence("coin", FRAMES, WIDTH, HEIGHT, np.random.default_rng(3))


@pytest.fixture(scope="module")
def video(tmp_path_factory, sequence):
    return write_video(tmp_path_factory.mktemp("video") / "coin.mp4", sequence.frames, FPS)


@pytest.fixture
def page(app_url):
    """Chromium on the app's page, the video not yet uploaded."""
    with chromium() as driver:
        driver.get(app_url)
        wait_for(driver, lambda d: element(d, "upload", "input[type=file]"), what="the upload field")
        yield driver


def open_first_frame(driver, video):
    upload(driver, "upload", video)
    return wait_for(driver, lambda d: element(d, "first-frame", "img"), what="the first frame")


def box_field(driver) -> str:
    return (element(driver, "box", "textarea") or element(driver, "box", "input")).get_attribute("value")


def test_a_box_drawn_with_two_clicks_tracks_the_video_as_seqtrack_track_does(page, video, sequence, app_checkpoint,
                                                                            tmp_path, one_thread):
    # one_thread: the app's thread count (app_helpers.app_server), so both sum in the same order, to the last bit
    image = open_first_frame(page, video)
    x, y, w, h = sequence.boxes[0]
    left, top = int(x), int(y)
    right, bottom = min(int(x + w), WIDTH - 1), min(int(y + h), HEIGHT - 1)
    click_pixel(page, image, right, bottom)  # any two opposite corners: here the bottom-right one first
    wait_for(page, lambda d: "First corner" in text_of(d, "status"), what="the first corner")
    click_pixel(page, element(page, "first-frame", "img"), left, top)
    wait_for(page, lambda d: box_field(d), what="the box from the clicks")
    drawn = [float(v) for v in box_field(page).split(",")]
    assert np.abs(np.array(drawn) - [left, top, right - left, bottom - top]).max() <= 1  # the page's scaling rounds

    element(page, "track").click()
    wait_for(page, lambda d: text_of(d, "status").startswith(("tracked", "error")), TRACK_TIMEOUT, "tracking")
    assert text_of(page, "status").startswith(f"tracked {FRAMES} frames of coin")
    # The browser decodes the annotated video: its size is known once its metadata loaded (readyState >= 1).
    size = wait_for(page, lambda d: d.execute_script(
        "const v = document.querySelector('#annotated-video video');"
        "return v && v.readyState >= 1 && !v.error ? [v.videoWidth, v.videoHeight] : null"), what="the video")
    assert size == [WIDTH, HEIGHT]
    links = {a.get_attribute("href").rsplit("/", 1)[-1]: a.get_attribute("href")
             for a in page.find_elements("css selector", "#downloads a[href]")}
    assert sorted(links) == ["annotated.mp4", "coin.txt", "contact_sheet.png"]
    with urllib.request.urlopen(links["coin.txt"], timeout=30) as answer:
        downloaded = answer.read().decode()

    assert track_main([str(video), "--checkpoint", app_checkpoint, "--box", box_field(page), "--output",
                       str(tmp_path), "--device", "cpu"]) == 0
    assert downloaded == (tmp_path / "coin.txt").read_text()


def test_a_typed_box_outside_the_frame_shows_the_clis_message(page, video):
    open_first_frame(page, video)
    type_into(page, "box", "500,500,10,10")
    element(page, "track").click()
    wait_for(page, lambda d: text_of(d, "status").startswith("error"), TRACK_TIMEOUT, "the error")
    assert text_of(page, "status") == (f"error: the box 500,500,10,10 (x,y,w,h) lies outside the first frame, which "
                                       f"is {WIDTH}x{HEIGHT} pixels")
    assert element(page, "annotated-video", "video") is None
