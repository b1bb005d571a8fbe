"""seqtrack-app through its HTTP API (gradio_client): the outputs of seqtrack-track for the same video and box, the
CLI's message in the page for each bad input, the frame limit, the results page; and the package without gradio.

The app runs as its command, in a child process (app_helpers.app_server), as a user starts it. The browser test
(test_app_browser.py) drives the same page through Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("gradio", reason='seqtrack-app needs the optional app extra: pip install -e ".[app]"')

from gradio_client import Client, handle_file  # noqa: E402

from app_helpers import APP_MAX_FRAMES as MAX_FRAMES  # noqa: E402
from app_helpers import write_video  # noqa: E402
from hub_helpers import ScoredSequence  # noqa: E402

from seqtrack_accel.cli.app import main as app_main  # noqa: E402
from seqtrack_accel.cli.track import main as track_main  # noqa: E402
from seqtrack_accel.data.synthetic import render_sequence  # noqa: E402
from seqtrack_accel.tracking.evaluate import evaluate_predictions, read_summary, write_summary  # noqa: E402

FRAMES, LONG_FRAMES, WIDTH, HEIGHT, FPS = 12, 30, 96, 72, 10.0  # the app cuts videos at MAX_FRAMES (20)


@pytest.fixture(scope="module")
def sequence():
    return render_sequence("coin", LONG_FRAMES, WIDTH, HEIGHT, np.random.default_rng(0))


@pytest.fixture(scope="module")
def first_box(sequence) -> str:
    return ",".join(f"{v:g}" for v in sequence.boxes[0])


@pytest.fixture(scope="module")
def videos(tmp_path_factory, sequence) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {"short": write_video(folder / "coin.mp4", sequence.frames[:FRAMES], FPS),
            "long": write_video(folder / "coin_long.mp4", sequence.frames, FPS)}


@pytest.fixture(scope="module")
def checkpoint(app_checkpoint) -> str:
    return app_checkpoint


@pytest.fixture(scope="module")
def client(tmp_path_factory, app_url):
    return Client(app_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def track(client, video: Path | None, box: str, model: str, backend: str = "torch") -> dict:
    """The Track button: the page's outputs by name."""
    video_out, plot, sheet, files, status = client.predict(
        model, backend, handle_file(str(video)) if video else None, box, api_name="/track")
    return {"video": video_out, "plot": plot, "sheet": sheet, "files": {Path(f).name: Path(f) for f in files or []},
            "status": status}


def cli_error(capsys, args: list[str]) -> str:
    """The one ``error:`` line seqtrack-track prints for ``args`` (exit status 2)."""
    capsys.readouterr()
    assert track_main([*args, "--device", "cpu"]) == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


# ---------------------------------------------------------------------------------------------------------------
# tracking


def test_the_app_writes_seqtrack_tracks_boxes_for_the_same_video_and_box(client, videos, checkpoint, first_box,
                                                                        tmp_path, one_thread):
    # one_thread: the app's thread count (app_helpers.app_server), so both sum in the same order, to the last bit
    page = track(client, videos["short"], first_box, checkpoint)
    assert track_main([str(videos["short"]), "--checkpoint", checkpoint, "--box", first_box, "--output",
                       str(tmp_path), "--device", "cpu"]) == 0
    assert sorted(page["files"]) == ["annotated.mp4", "coin.txt", "contact_sheet.png"]
    assert page["files"]["coin.txt"].read_text() == (tmp_path / "coin.txt").read_text()
    assert page["status"].startswith(f"tracked {FRAMES} frames of coin ({WIDTH}x{HEIGHT})")


def test_the_page_plays_a_vp8_webm_of_every_annotated_frame(client, videos, checkpoint, first_box):
    page = track(client, videos["short"], first_box, checkpoint)
    capture = cv2.VideoCapture(page["video"])
    codec = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert Path(page["video"]).suffix == ".webm" and codec == "VP80" and frames == FRAMES


def test_the_page_shows_the_confidence_plot_and_the_contact_sheet(client, videos, checkpoint, first_box):
    page = track(client, videos["short"], first_box, checkpoint)
    assert page["plot"]["type"] == "matplotlib" and page["plot"]["plot"].startswith("data:image/")
    assert cv2.imread(page["sheet"]).shape == cv2.imread(str(page["files"]["contact_sheet.png"])).shape


def test_a_zip_of_frames_is_tracked_like_the_video_of_them(client, videos, checkpoint, first_box, tmp_path):
    capture, archive = cv2.VideoCapture(str(videos["short"])), tmp_path / "frames.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for number in range(1, FRAMES + 1):
            ok, frame = capture.read()
            zipped.writestr(f"frames/{number}.png", cv2.imencode(".png", frame)[1].tobytes())
    capture.release()
    from_zip, from_video = (track(client, v, first_box, checkpoint) for v in (archive, videos["short"]))
    assert from_zip["files"]["frames.txt"].read_text() == from_video["files"]["coin.txt"].read_text()


def test_a_video_longer_than_the_hosts_limit_is_cut_there_and_the_page_says_so(client, videos, checkpoint,
                                                                                first_box):
    page = track(client, videos["long"], first_box, checkpoint)
    assert len(page["files"]["coin_long.txt"].read_text().splitlines()) == MAX_FRAMES
    assert f"the first {MAX_FRAMES} of {LONG_FRAMES} (the host's limit)" in page["status"]


def test_the_page_states_the_hosts_frame_limit_before_any_upload(client):
    config = client.config if hasattr(client, "config") else {}
    texts = [c.get("props", {}).get("value") for c in config.get("components", [])]
    assert any(isinstance(t, str) and f"at most **{MAX_FRAMES} frames**" in t for t in texts)


# ---------------------------------------------------------------------------------------------------------------
# bad input: the CLI's message, in the page


def test_no_box_asks_for_one(client, videos, checkpoint):
    status = track(client, videos["short"], "", checkpoint)["status"]
    assert status == ("error: give the target's box on the first frame: click two opposite corners of it, or type "
                      "x,y,w,h")


def test_a_box_outside_the_frame_gets_the_clis_message(client, videos, checkpoint, capsys):
    page = track(client, videos["short"], "100,10,20,20", checkpoint)
    expected = cli_error(capsys, [str(videos["short"]), "--checkpoint", checkpoint, "--box", "100,10,20,20"])
    assert page["status"] == expected and "lies outside the first frame" in expected and page["files"] == {}


def test_a_box_without_area_gets_the_parsers_message(client, videos, checkpoint):
    assert track(client, videos["short"], "10,10,0,20", checkpoint)["status"] == (
        "error: the box '10,10,0,20' has no area: w and h must be > 0")


def test_a_file_that_is_not_a_video_gets_the_clis_message(client, checkpoint, tmp_path, capsys):
    broken = tmp_path / "holiday.mp4"
    broken.write_bytes(b"not a video" * 100)
    status = track(client, broken, "1,1,8,8", checkpoint)["status"]
    expected = cli_error(capsys, [str(broken), "--checkpoint", checkpoint, "--box", "1,1,8,8"])
    # The page names the copy gradio received; the rest of the message is the CLI's.
    assert status.startswith("error: cannot read video ") and status.endswith(expected.split(str(broken))[1])


def test_no_upload_asks_for_a_video(client, checkpoint):
    assert track(client, None, "1,1,8,8", checkpoint)["status"] == "error: upload a video or a zip of frames first"


def test_a_model_that_does_not_load_gets_the_clis_message(client, videos, first_box, tmp_path, capsys):
    missing = str(tmp_path / "no_such_checkpoint")
    status = track(client, videos["short"], first_box, missing)["status"]
    assert status == cli_error(capsys, [str(videos["short"]), "--checkpoint", missing, "--box", first_box])
    assert "does not exist" in status


def test_an_onnx_backend_on_a_training_checkpoint_is_refused_with_the_clis_message(client, videos, checkpoint,
                                                                                   first_box, capsys):
    status = track(client, videos["short"], first_box, checkpoint, backend="onnx")["status"]
    assert status == cli_error(capsys, [str(videos["short"]), "--checkpoint", checkpoint, "--backend", "onnx",
                                        "--box", first_box])


# ---------------------------------------------------------------------------------------------------------------
# the results page


SEQUENCES = [ScoredSequence(f"coin-{i}", "coin", np.tile([10.0, 10.0, 20.0, 20.0], (6, 1)), np.ones(6, bool))
             for i in (1, 2)]


def write_evaluation(folder: Path, trackers: dict[str, float]) -> Path:
    """A summary.json (and table and plots) as seqtrack-evaluate writes it: each tracker off by its given pixels."""
    summaries = {name: evaluate_predictions({s.name: s.boxes + shift for s in SEQUENCES}, SEQUENCES)
                 for name, shift in trackers.items()}
    write_summary(folder, summaries, {"dataset": "lasot", "benchmark": "LaSOT test split"})
    return folder / "summary.json"


def compare(client, folder: str, files: list[Path]) -> tuple:
    return client.predict(folder, [handle_file(str(f)) for f in files], api_name="/compare")


def test_the_results_page_sets_the_trackers_of_a_folder_side_by_side(client, tmp_path):
    write_evaluation(tmp_path / "demo", {"SeqTrack": 1.0, "first-box": 6.0})
    write_evaluation(tmp_path / "other", {"Other": 3.0})
    success, precision, table, status = compare(client, str(tmp_path), [])
    assert table["headers"] == ["sequence", "class", "frames", "SeqTrack auc", "SeqTrack precision", "first-box auc",
                                "first-box precision", "Other auc", "Other precision"]
    assert [row[0] for row in table["data"]] == ["coin-1", "coin-2"]
    expected = read_summary(tmp_path / "demo" / "summary.json")["trackers"]["SeqTrack"]["per_sequence"]["coin-1"]
    assert table["data"][0][3] == round(expected["auc"], 2)
    assert success["type"] == precision["type"] == "matplotlib"
    assert status.startswith("3 trackers from 2 summary.json files; benchmark: LaSOT test split")


def test_uploaded_summaries_with_the_same_tracker_name_are_told_apart(client, tmp_path):
    files = [write_evaluation(tmp_path / name, {"SeqTrack": shift}) for name, shift in (("a", 1.0), ("b", 4.0))]
    headers = compare(client, "", files)[2]["headers"]
    assert headers[3:] == ["SeqTrack (upload 1) auc", "SeqTrack (upload 1) precision", "SeqTrack (upload 2) auc",
                           "SeqTrack (upload 2) precision"]


def test_a_folder_without_summaries_is_an_error_naming_it(client, tmp_path):
    assert compare(client, str(tmp_path), [])[3] == (
        f"error: no summary.json under {tmp_path}: give the output folder of seqtrack-evaluate "
        "(output/evaluation/<config>)")


def test_an_uploaded_file_that_is_not_a_summary_is_an_error(client, tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"format_version": 1, "scores": []}))
    status = compare(client, "", [tmp_path / "summary.json"])[3]
    assert status.startswith("error: ") and status.endswith(
        "summary.json names no trackers: give a summary.json written by seqtrack-evaluate")


# ---------------------------------------------------------------------------------------------------------------
# without the app extra


def test_the_package_and_every_other_command_import_without_gradio():
    code = ("import sys; sys.modules['gradio'] = None\n"  # importing gradio now raises ImportError
            "import seqtrack_accel, seqtrack_accel.hub, seqtrack_accel.hub.space, seqtrack_accel.tracking.track_video\n"
            "from seqtrack_accel.cli import (app, check_repo, create_hf_repo, evaluate, export, make_synthetic_lasot,"
            " profile, track, train, upload_checkpoint)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_seqtrack_app_without_the_app_extra_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if not installed
    assert app_main(["--checkpoint", "x"]) == 2
    assert capsys.readouterr().err.strip() == 'error: seqtrack-app needs the optional app extra: pip install ' \
                                              '"seqtrack-accel[app]"'


def test_a_hosts_checkpoint_that_does_not_load_stops_the_app_with_one_error_line(tmp_path, capsys):
    assert app_main(["--checkpoint", str(tmp_path / "missing"), "--port", "0"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: checkpoint {tmp_path / 'missing'} does not exist")
