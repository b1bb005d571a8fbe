"""seqtrack-track: frame sources, pictures, and the CLI end to end on a synthetic video, frame folder and glob."""

from __future__ import annotations

import shutil
import sys
import zipfile

import cv2
import numpy as np
import pytest

from seqtrack_accel.cli.make_synthetic_lasot import main as make_synthetic
from seqtrack_accel.cli.track import main as track_main
from seqtrack_accel.data.synthetic import render_sequence
from seqtrack_accel.tracking.track_video import PREVIEW_NAME, load_model, track_video
from seqtrack_accel.tracking.tracker import SeqTrackTracker
from seqtrack_accel.tracking.video import EvenlySpacedFrames, VideoWriter, open_frames

FRAMES, WIDTH, HEIGHT, FPS = 12, 96, 72, 10.0
OUTPUTS = ("coin.txt", "annotated.mp4", "contact_sheet.png")

pytestmark = pytest.mark.usefixtures("module_one_thread")  # the module-scoped tracking runs too


@pytest.fixture(scope="module")
def sequence():
    """12 BGR frames of 96x72 of a moving coin (the first 5 visible) and its boxes."""
    return render_sequence("coin", FRAMES, WIDTH, HEIGHT, np.random.default_rng(0))


@pytest.fixture(scope="module")
def first_box(sequence) -> str:
    return ",".join(str(v) for v in sequence.boxes[0])


@pytest.fixture(scope="module")
def video_file(tmp_path_factory, sequence):
    path = tmp_path_factory.mktemp("video") / "coin.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for frame in sequence.frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory, sequence):
    """frame_1.png .. frame_12.png (not zero-padded: natural order differs from the names' order)."""
    folder = tmp_path_factory.mktemp("frames") / "coin"
    folder.mkdir()
    for number, frame in enumerate(sequence.frames, start=1):
        cv2.imwrite(str(folder / f"frame_{number}.png"), frame)
    return folder


@pytest.fixture(scope="module")
def video_run(tmp_path_factory, video_file, checkpoint, first_box):
    """The output folder of tracking ``video_file`` once."""
    out = tmp_path_factory.mktemp("video_run") / "out"
    assert track_main([str(video_file), "--checkpoint", checkpoint, "--box", first_box, "--output", str(out),
                       "--device", "cpu", "--sheet_frames", "6"]) == 0
    return out


def _video_frames(path) -> tuple[int, tuple[int, int], float]:
    """Frames OpenCV decodes from ``path``, their (width, height) and the declared frame rate."""
    capture = cv2.VideoCapture(str(path))
    count, size = 0, None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count, size = count + 1, (frame.shape[1], frame.shape[0])
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return count, size, fps


def _error(capsys) -> str:
    """The one ``error:`` line the CLI printed; it must end stderr (a progress bar may come before it)."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    return errors[0]


# ---------------------------------------------------------------------------------------------------------------
# end to end


def test_the_result_file_has_one_line_per_frame_starting_with_the_given_box(video_run, first_box):
    rows = np.loadtxt(video_run / "coin.txt", delimiter=",", ndmin=2)
    assert rows.shape == (FRAMES, 5)
    assert rows[0, :4].tolist() == [float(v) for v in first_box.split(",")] and np.isnan(rows[0, 4])
    assert np.isfinite(rows[1:]).all() and ((rows[1:, 4] >= 0) & (rows[1:, 4] <= 40)).all()
    assert (rows[1:, 2:4] > 0).all()


def test_the_annotated_video_has_every_frame_at_the_inputs_size_and_rate(video_run):
    assert _video_frames(video_run / "annotated.mp4") == (FRAMES, (WIDTH, HEIGHT), FPS)


def test_the_contact_sheet_is_a_png_of_evenly_spaced_frames(video_run):
    assert (video_run / "contact_sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sheet = cv2.imread(str(video_run / "contact_sheet.png"))
    # --sheet_frames 6: 4 columns, 2 rows of full-size frames (narrower than the 320 px thumbnails), 4 px apart
    assert sheet.shape == (2 * HEIGHT + 3 * 4, 4 * WIDTH + 5 * 4, 3)


def test_only_the_three_outputs_are_left_in_the_output_folder(video_run):
    assert sorted(p.name for p in video_run.iterdir()) == sorted(OUTPUTS)


def test_a_frame_folder_is_tracked_end_to_end(tmp_path, frame_folder, checkpoint, first_box):
    out = tmp_path / "out"
    assert track_main([str(frame_folder), "--checkpoint", checkpoint, "--box", first_box, "--output", str(out),
                       "--device", "cpu", "--show_search"]) == 0
    assert np.loadtxt(out / "coin.txt", delimiter=",", ndmin=2).shape == (FRAMES, 5)
    assert _video_frames(out / "annotated.mp4") == (FRAMES, (WIDTH, HEIGHT), 30.0)  # no rate in a folder: 30
    assert cv2.imread(str(out / "contact_sheet.png")) is not None


def test_a_video_of_looks_unlike_any_in_training_is_rendered_with_opencv_and_tracked(tmp_path, checkpoint, capsys):
    """seqtrack-make-synthetic --layout procedural_video writes an MP4 of the test split's looks with OpenCV and
    prints its first box, which seqtrack-track takes as it is."""
    video = tmp_path / "unseen.mp4"
    make_synthetic(["--layout", "procedural_video", "--out", str(video), "--frames", "20", "--size", "96x72",
                    "--seed", "3"])
    box = capsys.readouterr().out.split("--box ")[1].split()[0]
    assert _video_frames(video) == (20, (96, 72), 30.0)
    out = tmp_path / "out"
    assert track_main([str(video), "--checkpoint", checkpoint, "--box", box, "--output", str(out),
                       "--device", "cpu"]) == 0
    boxes = np.loadtxt(out / "unseen.txt", delimiter=",", ndmin=2)  # <name>.txt: the video's name
    assert boxes.shape == (20, 5) and np.array_equal(boxes[0, :4], [float(v) for v in box.split(",")])


def test_a_glob_tracks_only_the_matching_frames(tmp_path, frame_folder, checkpoint, first_box, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output folder, output/track/<folder the glob starts from>
    assert track_main([str(frame_folder / "frame_?.png"), "--checkpoint", checkpoint, "--box", first_box,
                       "--device", "cpu"]) == 0
    out = tmp_path / "output" / "track" / "coin"
    assert np.loadtxt(out / "coin.txt", delimiter=",", ndmin=2).shape == (9, 5)
    assert _video_frames(out / "annotated.mp4")[0] == 9


def test_a_zip_of_frames_gives_the_boxes_of_the_same_frames_in_a_folder(tmp_path, frame_folder, checkpoint,
                                                                          first_box):
    archive = tmp_path / "coin.zip"
    with zipfile.ZipFile(archive, "w") as zipped:  # in a folder of the archive, in reverse order, with a stray file
        for path in sorted(frame_folder.iterdir(), reverse=True):
            zipped.write(path, f"coin/{path.name}")
        zipped.writestr("coin/readme.txt", "not a frame")
    for source, out in ((archive, tmp_path / "zip"), (frame_folder, tmp_path / "folder")):
        assert track_main([str(source), "--checkpoint", checkpoint, "--box", first_box, "--output", str(out),
                           "--device", "cpu"]) == 0
    assert (tmp_path / "zip" / "coin.txt").read_text() == (tmp_path / "folder" / "coin.txt").read_text()


def test_a_zip_without_frames_is_an_error_naming_it(tmp_path, checkpoint, capsys):
    with zipfile.ZipFile(tmp_path / "notes.zip", "w") as zipped:
        zipped.writestr("notes.txt", "no frames here")
    assert track_main([str(tmp_path / "notes.zip"), "--checkpoint", checkpoint, "--box", "1,1,8,8"]) == 2
    assert f"zip archive {tmp_path / 'notes.zip'} holds no frames" in _error(capsys)


def test_the_browser_preview_is_a_vp8_webm_of_every_annotated_frame(tmp_path, video_file, checkpoint, sequence):
    model, cfg = load_model(checkpoint)
    run = track_video(SeqTrackTracker(model, cfg), open_frames(str(video_file)), sequence.boxes[0], tmp_path,
                      name="coin", fps=FPS, preview=True)
    assert run.paths[-1] == tmp_path / PREVIEW_NAME
    capture = cv2.VideoCapture(str(tmp_path / PREVIEW_NAME))
    codec = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    capture.release()
    assert codec == "VP80" and _video_frames(tmp_path / PREVIEW_NAME) == (FRAMES, (WIDTH, HEIGHT), FPS)


def test_the_summary_line_gives_frames_speed_and_outputs(tmp_path, frame_folder, checkpoint, first_box, capsys):
    out = tmp_path / "out"
    track_main([str(frame_folder), "--checkpoint", checkpoint, "--box", first_box, "--output", str(out),
                "--device", "cpu", "--max_frames", "4"])
    line = capsys.readouterr().out.strip()
    assert line.startswith("tracked 4 frames of coin (96x72)") and "frames/s" in line
    assert all(str(out / name) in line for name in OUTPUTS)


# ---------------------------------------------------------------------------------------------------------------
# frame sources and pictures


def test_folder_frames_come_in_natural_order_and_other_files_are_skipped(tmp_path):
    for number in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"{number}.png"), np.full((16, 16, 3), number, np.uint8))
    (tmp_path / "notes.txt").write_text("not a frame")
    assert [int(frame[0, 0, 0]) for frame in open_frames(str(tmp_path))] == [1, 2, 10]


def test_a_frame_of_another_size_is_an_error_naming_it(tmp_path):
    cv2.imwrite(str(tmp_path / "1.png"), np.zeros((16, 16, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "2.png"), np.zeros((16, 20, 3), np.uint8))
    with pytest.raises(ValueError, match=r"2\.png is 20x16 pixels .* is 16x16"):
        list(open_frames(str(tmp_path)))


RED_RGB = (200, 30, 30)


def test_video_frames_come_out_rgb(tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / "red.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (32, 32))
    for _ in range(3):
        writer.write(np.full((32, 32, 3), RED_RGB[::-1], np.uint8))  # OpenCV writes BGR
    writer.release()
    frames = list(open_frames(str(tmp_path / "red.mp4")))
    assert len(frames) == 3 and np.abs(frames[0][16, 16].astype(int) - RED_RGB).max() <= 10


def test_the_video_writer_takes_rgb_frames(tmp_path):
    with VideoWriter(tmp_path / "red.mp4", FPS, 32, 32) as video:
        for _ in range(3):
            video.write(np.full((32, 32, 3), RED_RGB, np.uint8))
    ok, frame = cv2.VideoCapture(str(tmp_path / "red.mp4")).read()  # BGR
    assert ok and np.abs(frame[16, 16].astype(int) - RED_RGB[::-1]).max() <= 10


def test_evenly_spaced_frames_span_a_stream_of_unknown_length():
    sampler = EvenlySpacedFrames(5)
    for index in range(1000):
        sampler.add(index, np.zeros((8, 8, 3), np.uint8))
    picked = [index for index, _ in sampler.picked()]
    assert picked[0] == 0 and picked[-1] == 999 and len(picked) == 5
    spacing = 999 / 4
    assert all(abs(index - k * spacing) <= spacing / 8 for k, index in enumerate(picked))


# ---------------------------------------------------------------------------------------------------------------
# errors


def test_an_unreadable_video_is_an_error_naming_it(tmp_path, checkpoint, capsys):
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"not a video" * 100)
    assert track_main([str(video), "--checkpoint", checkpoint, "--box", "1,1,8,8"]) == 2
    assert f"cannot read video {video}" in _error(capsys)


def test_an_empty_folder_is_an_error_naming_it(tmp_path, checkpoint, capsys):
    (tmp_path / "empty").mkdir()
    assert track_main([str(tmp_path / "empty"), "--checkpoint", checkpoint, "--box", "1,1,8,8"]) == 2
    assert f"folder {tmp_path / 'empty'} holds no frames" in _error(capsys)


def test_a_glob_that_matches_nothing_is_an_error_naming_it(tmp_path, checkpoint, capsys):
    assert track_main([str(tmp_path / "*.jpg"), "--checkpoint", checkpoint, "--box", "1,1,8,8"]) == 2
    assert f"no file matches {tmp_path / '*.jpg'}" in _error(capsys)


def test_a_missing_input_is_an_error_naming_it(tmp_path, checkpoint, capsys):
    assert track_main([str(tmp_path / "nothere.mp4"), "--checkpoint", checkpoint, "--box", "1,1,8,8"]) == 2
    assert f"{tmp_path / 'nothere.mp4'} does not exist" in _error(capsys)


def test_a_box_outside_the_frame_is_an_error_naming_the_box_and_the_frame_size(tmp_path, video_file, checkpoint,
                                                                                 capsys):
    assert track_main([str(video_file), "--checkpoint", checkpoint, "--box", "100,10,20,20",
                       "--output", str(tmp_path / "out")]) == 2
    assert "the box 100,10,20,20 (x,y,w,h) lies outside the first frame, which is 96x72 pixels" in _error(capsys)
    assert not (tmp_path / "out").exists()


def test_a_box_without_area_is_a_usage_error(video_file, checkpoint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        track_main([str(video_file), "--checkpoint", checkpoint, "--box", "10,10,0,20"])
    assert exit_info.value.code == 2 and "has no area" in capsys.readouterr().err


def test_no_box_at_all_is_a_usage_error(video_file, checkpoint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        track_main([str(video_file), "--checkpoint", checkpoint])
    assert exit_info.value.code == 2 and "--box x,y,w,h, or draw it with --select" in capsys.readouterr().err


def test_select_without_a_display_asks_for_box(video_file, checkpoint, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert track_main([str(video_file), "--checkpoint", checkpoint, "--select"]) == 2
    message = _error(capsys)
    assert "--select cannot open a window: there is no display" in message
    assert message.endswith("give the first box with --box x,y,w,h")


def test_a_frame_that_does_not_decode_midway_leaves_nothing_behind(tmp_path, frame_folder, checkpoint, first_box,
                                                                   capsys):
    frames = tmp_path / "frames"
    shutil.copytree(frame_folder, frames)
    (frames / "frame_7.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"cut short")
    out = tmp_path / "out"
    assert track_main([str(frames), "--checkpoint", checkpoint, "--box", first_box, "--output", str(out),
                       "--device", "cpu"]) == 2
    assert f"cannot decode image {frames / 'frame_7.png'}" in _error(capsys)
    assert not out.exists()  # no output, no temporary file, not even the folder made for them


def test_a_failed_run_keeps_the_earlier_outputs(tmp_path, frame_folder, checkpoint, first_box, capsys):
    frames = tmp_path / "coin"  # the input's name names the result file, coin.txt
    shutil.copytree(frame_folder, frames)
    out = tmp_path / "out"
    args = [str(frames), "--checkpoint", checkpoint, "--box", first_box, "--output", str(out), "--device", "cpu"]
    assert track_main(args) == 0
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    (frames / "frame_7.png").write_bytes(b"cut short")
    assert track_main([*args, "--overwrite"]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_existing_outputs_are_kept_without_overwrite(tmp_path, video_file, checkpoint, first_box, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "coin.txt").write_text("earlier run\n")
    assert track_main([str(video_file), "--checkpoint", checkpoint, "--box", first_box, "--output", str(out)]) == 2
    assert f"{out / 'coin.txt'} already exists; pass --overwrite" in _error(capsys)
    assert [p.name for p in out.iterdir()] == ["coin.txt"] and (out / "coin.txt").read_text() == "earlier run\n"


def test_the_onnx_backend_without_the_export_extra_says_how_to_install_it(tmp_path, video_file, first_box, capsys,
                                                                         monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed: importing it raises ImportError
    out = tmp_path / "out"
    assert track_main([str(video_file), "--checkpoint", str(tmp_path), "--backend", "onnx", "--box", first_box,
                       "--output", str(out)]) == 2
    assert 'pip install "seqtrack-accel[export]"' in _error(capsys)
    assert not out.exists()
