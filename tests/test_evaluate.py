"""Result files, resumable tracking runs, scoring of result folders, plots and the evaluate CLI."""

from __future__ import annotations

import json
import logging

import matplotlib.image
import numpy as np
import pytest

from model_helpers import write_checkpoint

from seqtrack_accel.cli.evaluate import main as evaluate_main
from seqtrack_accel.cli.track import main as track_main
from seqtrack_accel.config import Config
from seqtrack_accel.data.lasot import load_lasot
from seqtrack_accel.data.custom import load_custom
from seqtrack_accel.data.synthetic import MANIFEST_FILE, make_synthetic_custom, make_synthetic_lasot
from seqtrack_accel.tracking.evaluate import (
    RECORD_FILE,
    StaleResultsError,
    evaluate_predictions,
    evaluate_results,
    read_boxes,
    read_record,
    read_times,
    results_file,
    results_record,
    run_tracker_on_sequences,
    times_file,
    write_boxes,
    write_summary,
)
from seqtrack_accel.tracking.metrics import MetricsError
from seqtrack_accel.tracking.plots import precision_figure, save_figure, success_figure
from seqtrack_accel.tracking.tracker import FirstBoxTracker


@pytest.fixture(scope="module")
def tiny_lasot(tmp_path_factory):
    """book-1..4 and coin-1..4, 6 frames of 64x48: the test split is book-3 and coin-3."""
    return make_synthetic_lasot(tmp_path_factory.mktemp("lasot") / "lasot", ("book", "coin"), 4, 6, (64, 48), 0)


@pytest.fixture(scope="module")
def lasot_test_split(tiny_lasot):
    return load_lasot(tiny_lasot, split="test")


# What produced the results of the trackers below: the same record, so one folder may hold both (resume).
RECORD = results_record("test", {"drift": 1 / 3}, {"weights_sha256": "a" * 64, "source": "runs/a"})


class DriftingTracker:
    """Moves the first box by a third of a pixel per frame: predictions with non-trivial floats."""

    def initialize(self, frame, box_xywh):
        self.box = np.asarray(box_xywh, dtype=np.float64).copy()

    def track(self, frame):
        self.box[0] += 1.0 / 3.0
        return self.box.copy(), 1.0


def test_result_file_round_trip_keeps_every_float(tmp_path):
    boxes = np.array([[1.0 / 3.0, 2.5, 10.125, 7.0], [1e-7, 123456.789, 0.1, 0.2]])
    write_boxes(tmp_path / "book-3.txt", boxes)
    assert (tmp_path / "book-3.txt").read_text().splitlines()[0] == "0.3333333333333333,2.5,10.125,7.0"
    np.testing.assert_array_equal(read_boxes(tmp_path / "book-3.txt"), boxes)


def test_reads_tab_and_space_separated_results_of_other_tools(tmp_path):
    (tmp_path / "tab.txt").write_text("1\t2\t3\t4\n5\t6\t7\t8\n")
    (tmp_path / "space.txt").write_text("1 2  3 4\n\n5.5 6 7 8\n")
    np.testing.assert_array_equal(read_boxes(tmp_path / "tab.txt"), [[1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_array_equal(read_boxes(tmp_path / "space.txt"), [[1, 2, 3, 4], [5.5, 6, 7, 8]])


def test_malformed_result_line_is_an_error_naming_file_and_line(tmp_path):
    (tmp_path / "book-3.txt").write_text("1,2,3,4\n1,2,3\n")
    with pytest.raises(ValueError, match=r"book-3.txt line 2"):
        read_boxes(tmp_path / "book-3.txt")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_a_non_finite_result_value_is_an_error_naming_file_and_line(tmp_path, value):
    (tmp_path / "book-3.txt").write_text(f"1,2,3,4\n\n1,2,{value},4\n")
    with pytest.raises(ValueError, match=r"book-3.txt line 3: NaN or infinite value"):
        read_boxes(tmp_path / "book-3.txt")


def test_a_negative_time_is_an_error_naming_file_and_line(tmp_path):
    (tmp_path / "book-3_time.txt").write_text("0.01\n-0.002\n")
    with pytest.raises(ValueError, match=r"book-3_time.txt line 2: -0.002 seconds is negative"):
        read_times(tmp_path / "book-3_time.txt")


def test_a_result_file_with_more_lines_than_frames_is_an_error_naming_file_and_line(tmp_path, lasot_test_split):
    sequence = lasot_test_split[0]
    run_tracker_on_sequences(FirstBoxTracker, Config(), lasot_test_split, tmp_path, record=RECORD)
    boxes = read_boxes(results_file(tmp_path, sequence.name))
    write_boxes(results_file(tmp_path, sequence.name), np.concatenate([boxes, boxes[-1:]]))
    with pytest.raises(ValueError, match=rf"{sequence.name}.txt line {len(sequence) + 1}: more lines than the "
                                         rf"{len(sequence)} frames"):
        evaluate_results(tmp_path, lasot_test_split)


def test_a_time_file_with_more_lines_than_frames_is_an_error_naming_file_and_line(tmp_path, lasot_test_split):
    sequence = lasot_test_split[0]
    run_tracker_on_sequences(FirstBoxTracker, Config(), lasot_test_split, tmp_path, record=RECORD)
    times_file(tmp_path, sequence.name).write_text("0.01\n" * (len(sequence) + 1))
    with pytest.raises(ValueError, match=rf"{sequence.name}_time.txt line {len(sequence) + 1}: more lines"):
        evaluate_results(tmp_path, lasot_test_split)


def test_a_short_result_file_is_an_error_naming_its_folder_and_sequence(tmp_path, lasot_test_split):
    sequence = lasot_test_split[0]
    run_tracker_on_sequences(FirstBoxTracker, Config(), lasot_test_split, tmp_path / "tracker", record=RECORD)
    write_boxes(results_file(tmp_path / "tracker", sequence.name), sequence.boxes[:2])
    with pytest.raises(MetricsError, match=rf"tracker: sequence {sequence.name}: 2 predicted boxes for "
                                           rf"{len(sequence)} ground-truth frames"):
        evaluate_results(tmp_path / "tracker", lasot_test_split)


def test_tracking_run_writes_boxes_and_per_frame_times(tmp_path, lasot_test_split):
    run_tracker_on_sequences(DriftingTracker, Config(), lasot_test_split, tmp_path, record=RECORD)
    for sequence in lasot_test_split:
        boxes = read_boxes(results_file(tmp_path, sequence.name))
        assert boxes.shape == (len(sequence), 4)
        np.testing.assert_array_equal(boxes[0], sequence.boxes[0])
        assert read_times(tmp_path / f"{sequence.name}_time.txt").shape == (len(sequence),)


def test_evaluating_the_results_folder_reproduces_the_tracking_run(tmp_path, lasot_test_split):
    run = run_tracker_on_sequences(DriftingTracker, Config(), lasot_test_split, tmp_path, record=RECORD)
    from_run = evaluate_predictions(run.predictions, lasot_test_split)
    from_folder = evaluate_results(tmp_path, lasot_test_split)
    assert from_folder["overall"]["auc"] < 95.0  # the drift costs overlap: the scores are not trivially perfect
    assert {k: from_folder[k] for k in from_run} == from_run
    assert from_folder["speed"]["frames"] == sum(len(s) for s in lasot_test_split)


def test_resume_skips_sequences_whose_result_file_exists(tmp_path, lasot_test_split):
    first, second = lasot_test_split
    run_tracker_on_sequences(FirstBoxTracker, Config(), [first], tmp_path, record=RECORD)
    done_text = results_file(tmp_path, first.name).read_text()
    initialised = []

    class RecordingTracker(DriftingTracker):
        def initialize(self, frame, box_xywh):
            initialised.append(box_xywh.tolist())
            super().initialize(frame, box_xywh)

    run = run_tracker_on_sequences(RecordingTracker, Config(), lasot_test_split, tmp_path, record=RECORD)
    assert run.skipped == [first.name] and list(run.predictions) == [second.name]
    assert initialised == [second.boxes[0].tolist()]
    assert results_file(tmp_path, first.name).read_text() == done_text


def test_the_record_is_written_before_the_first_sequence_is_tracked(tmp_path, lasot_test_split):
    records_seen = []

    class RecordReadingTracker(DriftingTracker):
        def initialize(self, frame, box_xywh):
            records_seen.append(read_record(tmp_path))
            super().initialize(frame, box_xywh)

    run_tracker_on_sequences(RecordReadingTracker, Config(), lasot_test_split[:1], tmp_path, max_frames=2,
                             record=RECORD)
    assert records_seen == [json.loads(json.dumps({**RECORD, "max_frames": 2}))]


@pytest.mark.parametrize("change", ["weights", "settings", "max_frames", "package version"])
def test_results_of_other_weights_or_settings_are_refused_naming_what_differs(tmp_path, lasot_test_split, change):
    first, second = lasot_test_split
    run_tracker_on_sequences(FirstBoxTracker, Config(), [first], tmp_path, max_frames=3, record=RECORD)
    done_text = results_file(tmp_path, first.name).read_text()
    record, max_frames, differs = dict(RECORD), 3, {
        "weights": "weights_sha256", "settings": "settings.drift", "max_frames": "max_frames",
        "package version": "seqtrack_accel"}[change]
    if change == "weights":
        record = results_record("test", RECORD["settings"], {"weights_sha256": "b" * 64, "source": "runs/a"})
    elif change == "settings":
        record = results_record("test", {"drift": 0.5}, {"weights_sha256": "a" * 64, "source": "runs/a"})
    elif change == "max_frames":
        max_frames = 0
    else:
        record["seqtrack_accel"] = "0.0.1"
    with pytest.raises(StaleResultsError, match=rf"{differs} .* there, .* now.*--overwrite"):
        run_tracker_on_sequences(DriftingTracker, Config(), [first, second], tmp_path, max_frames, record=record)
    assert results_file(tmp_path, first.name).read_text() == done_text
    assert not results_file(tmp_path, second.name).exists()


def test_overwrite_discards_results_of_other_weights_and_tracks_every_sequence_again(tmp_path, lasot_test_split):
    first, second = lasot_test_split
    run_tracker_on_sequences(FirstBoxTracker, Config(), [first], tmp_path, record=RECORD)
    other = results_record("test", RECORD["settings"], {"weights_sha256": "b" * 64, "source": "runs/a"})
    run = run_tracker_on_sequences(DriftingTracker, Config(), [second], tmp_path, record=other, overwrite=True)
    assert run.skipped == [] and list(run.predictions) == [second.name]
    assert not results_file(tmp_path, first.name).exists()  # no result of the old weights is left to mix in
    assert read_record(tmp_path)["weights_sha256"] == "b" * 64


def test_the_same_weights_read_from_another_place_resume(tmp_path, lasot_test_split):
    first, second = lasot_test_split
    run_tracker_on_sequences(FirstBoxTracker, Config(), [first], tmp_path, record=RECORD)
    moved = results_record("test", RECORD["settings"], {"weights_sha256": "a" * 64, "source": "elsewhere/a"})
    run = run_tracker_on_sequences(DriftingTracker, Config(), [first, second], tmp_path, record=moved)
    assert run.skipped == [first.name] and list(run.predictions) == [second.name]
    assert read_record(tmp_path)["loaded_from"] == {"source": "elsewhere/a"}


def test_results_without_a_record_are_refused(tmp_path, lasot_test_split):
    first = lasot_test_split[0]
    write_boxes(results_file(tmp_path, first.name), first.boxes)  # e.g. written by an older version
    with pytest.raises(StaleResultsError, match=f"no {RECORD_FILE} saying what produced them.*--overwrite"):
        run_tracker_on_sequences(FirstBoxTracker, Config(), [first], tmp_path, record=RECORD)


def test_the_summary_of_a_result_folder_carries_its_record(tmp_path, lasot_test_split):
    run_tracker_on_sequences(FirstBoxTracker, Config(), lasot_test_split, tmp_path, record=RECORD)
    assert evaluate_results(tmp_path, lasot_test_split)["produced_by"]["weights_sha256"] == "a" * 64


def test_max_frames_limits_tracking_and_scoring(tmp_path, lasot_test_split):
    run_tracker_on_sequences(FirstBoxTracker, Config(), lasot_test_split, tmp_path, max_frames=3,
                             record=RECORD)
    assert read_boxes(results_file(tmp_path, lasot_test_split[0].name)).shape == (3, 4)
    summary = evaluate_results(tmp_path, lasot_test_split, max_frames=3)
    assert summary["overall"]["frames"] == 6
    with pytest.raises(ValueError, match=f"{lasot_test_split[0].name}: 3 predicted boxes"):
        evaluate_results(tmp_path, lasot_test_split)


def test_missing_result_file_is_an_error_naming_the_sequence(tmp_path, lasot_test_split):
    run_tracker_on_sequences(FirstBoxTracker, Config(), lasot_test_split[:1], tmp_path, record=RECORD)
    with pytest.raises(FileNotFoundError, match=lasot_test_split[1].name):
        evaluate_results(tmp_path, lasot_test_split)


def _overall(auc_success: float, precision: float) -> dict:
    # A hand-made overall summary: flat curves at the given levels.
    return {"auc": auc_success, "precision": precision, "norm_precision": precision,
            "success_curve": [auc_success] * 21, "precision_curve": [precision] * 51,
            "norm_precision_curve": [precision] * 51}


def test_success_plot_legend_gives_each_trackers_auc_best_first():
    fig = success_figure({"first-box": _overall(12.34, 5.0), "SeqTrack": _overall(69.87, 80.0)})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["SeqTrack [69.9]", "first-box [12.3]"]


def test_precision_plot_legend_gives_precision_at_20_pixels():
    fig = precision_figure({"SeqTrack": _overall(69.87, 80.04)})
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["SeqTrack [80.0]"]


def test_saved_plot_is_a_png_image(tmp_path):
    path = save_figure(success_figure({"SeqTrack": _overall(50.0, 50.0)}), tmp_path / "success.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_summary_files_hold_every_tracker_and_sequence(tmp_path, lasot_test_split):
    run_tracker_on_sequences(FirstBoxTracker, Config(), lasot_test_split, tmp_path / "first-box",
                             record=RECORD)
    summary = evaluate_results(tmp_path / "first-box", lasot_test_split)
    paths = write_summary(tmp_path, {"first-box": summary}, {"device": "cpu"})
    document = json.loads(paths["summary"].read_text())
    assert document["device"] == "cpu"
    assert document["trackers"]["first-box"]["overall"]["auc"] == summary["overall"]["auc"]
    rows = paths["per_sequence"].read_text().splitlines()
    assert rows[0].startswith("tracker,sequence,class,frames,auc")
    assert [r.split(",")[1] for r in rows[1:]] == [s.name for s in lasot_test_split]
    assert matplotlib.image.imread(paths["success"]).ndim == 3
    assert document["trackers"]["first-box"]["produced_by"]["tracker"] == "test"


def test_cli_runs_the_baseline_and_scores_other_tools_folders(tmp_path, tiny_lasot, lasot_test_split, capsys):
    other = tmp_path / "pytracking_raw"
    other.mkdir()
    for sequence in lasot_test_split:  # another tool's tab-separated integer results
        np.savetxt(other / f"{sequence.name}.txt", sequence.boxes, delimiter="\t", fmt="%d")
    out = tmp_path / "out"
    evaluate_main(["--baseline", "first-box", "--results", str(other), "--names", "other", "--root", str(tiny_lasot),
                   "--output", str(out), "--no_plots", "data.datasets[0].classes=[book, coin]"])
    document = json.loads((out / "summary.json").read_text())
    assert set(document["trackers"]) == {"first-box", "other"}
    assert document["trackers"]["other"] == evaluate_results(other, lasot_test_split)
    assert (out / "first-box" / f"{lasot_test_split[0].name}.txt").is_file()
    assert document["trackers"]["first-box"]["produced_by"] == read_record(out / "first-box")
    assert read_record(out / "first-box")["tracker"] == "first-box"
    assert "produced_by" not in document["trackers"]["other"]  # another tool's folder: nothing recorded
    assert "first-box" in capsys.readouterr().out


def test_the_first_box_baseline_reports_no_speed(tmp_path, tiny_lasot, caplog):
    caplog.set_level(logging.INFO, logger="seqtrack_accel")
    out = tmp_path / "out"
    assert evaluate_main(["--baseline", "first-box", "--root", str(tiny_lasot), "--output", str(out), "--no_plots",
                          "data.datasets[0].classes=[book, coin]"]) == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[")]
    assert [line.split(":")[1] for line in lines] == [" 6 frames"] * 2  # per sequence, no frames/s
    assert "speed" not in json.loads((out / "summary.json").read_text())["trackers"]["first-box"]


def test_a_tracking_run_logs_each_sequences_speed(tmp_path, lasot_test_split, caplog):
    caplog.set_level(logging.INFO, logger="seqtrack_accel")
    run_tracker_on_sequences(DriftingTracker, Config(), lasot_test_split, tmp_path, record=RECORD)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[")]
    assert len(lines) == len(lasot_test_split) and all(line.endswith(" frames/s") for line in lines)


@pytest.mark.parametrize("manifest", ["kept", "removed"])
def test_the_demos_checkpoint_evaluates_another_lasot_folder_with_root_alone(tmp_path, manifest, monkeypatch, capsys):
    """The checkpoint's config carries the demo's synthetic source (data/synthetic_lasot, book and coin, the
    generator's settings); another LaSOT-layout folder of other classes, generated with other settings or a real
    download without synthetic.json, is evaluated with --root alone: no config override."""
    (tmp_path / "ckpt").mkdir()
    checkpoint = write_checkpoint(tmp_path / "ckpt", "demo", ["model.encoder=nano", "model.init=scratch",
                                                              "model.bins=64"])
    mine = make_synthetic_lasot(tmp_path / "my_lasot", ("cup",), 4, 5, (64, 48), seed=3)
    if manifest == "removed":
        (mine / MANIFEST_FILE).unlink()
    monkeypatch.chdir(tmp_path)  # where the demo's relative root would be generated: it must not be
    assert evaluate_main(["--checkpoint", checkpoint, "--root", str(mine), "--device", "cpu", "--output", "out",
                          "--no_plots"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert sorted(summary["trackers"]["demo"]["per_sequence"]) == ["cup-1", "cup-4"]  # LaSOT's test split of cup
    assert not (tmp_path / "data").exists()
    assert "2 sequences of LaSOT test (the config's evaluation source" in capsys.readouterr().out


def test_sequences_keeps_the_named_sequences_of_the_set(tmp_path, tiny_lasot):
    out = tmp_path / "out"
    assert evaluate_main(["--baseline", "first-box", "--root", str(tiny_lasot), "--sequences", "coin-3",
                          "--output", str(out), "--no_plots"]) == 0
    assert list(json.loads((out / "summary.json").read_text())["trackers"]["first-box"]["per_sequence"]) == ["coin-3"]


def test_a_sequence_not_in_the_set_is_an_error_naming_it_and_the_set(tmp_path, tiny_lasot, capsys):
    assert evaluate_main(["--baseline", "first-box", "--root", str(tiny_lasot), "--sequences", "coin-1",
                          "--output", str(tmp_path / "out"), "--no_plots"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: sequences ['coin-1'] are not in LaSOT test (the config's evaluation source") \
        and "check --sequences" in err


def test_seqtrack_tracks_output_is_scored_by_evaluate_results_against_the_ground_truth(tmp_path, capsys):
    """One result format: the <name>.txt that seqtrack-track writes (x,y,w,h,confidence) is what seqtrack-evaluate
    --results reads, here for a video of the user's own folder of sequences (--dataset custom)."""
    (tmp_path / "ckpt").mkdir()
    checkpoint = write_checkpoint(tmp_path / "ckpt", "demo", ["model.encoder=nano", "model.init=scratch",
                                                              "model.bins=64"])
    mine = make_synthetic_custom(tmp_path / "my_videos", ("cup",), 2, 5, (64, 48), seed=3)
    (sequence,) = [s for s in load_custom(mine, split="all") if s.name == "cup-2"]
    box = ",".join(f"{v:g}" for v in sequence.boxes[0])
    assert track_main([str(mine / "cup" / "cup-2" / "img"), "--checkpoint", checkpoint, "--box", box, "--output",
                       str(tmp_path / "tracked"), "--device", "cpu"]) == 0
    assert evaluate_main(["--dataset", "custom", "--root", str(mine), "--results", str(tmp_path / "tracked"),
                          "--names", "mine", "--sequences", "cup-2", "--output", str(tmp_path / "out"),
                          "--no_plots"]) == 0

    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["trackers"]["mine"]
    assert list(summary["per_sequence"]) == ["cup-2"]
    assert summary == evaluate_results(tmp_path / "tracked", [sequence])
    tracked = np.loadtxt(tmp_path / "tracked" / "cup-2.txt", delimiter=",")
    assert tracked.shape == (5, 5) and np.array_equal(read_boxes(tmp_path / "tracked" / "cup-2.txt"), tracked[:, :4])
