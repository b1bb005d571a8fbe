"""seqtrack-evaluate --dataset: each benchmark end to end on its synthetic tree (the first-box baseline, so no
network is needed), the original's per-benchmark tracker settings, the GOT-10k protocol and the server archives."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from model_helpers import NANO_NETWORK

from seqtrack_accel.cli.evaluate import main as evaluate_main
from seqtrack_accel.data import benchmarks as readers
from seqtrack_accel.data import synthetic_benchmarks as synthetic
from seqtrack_accel.tracking.benchmarks import BENCHMARKS
from seqtrack_accel.tracking.evaluate import read_record

SIZE = (64, 48)


@pytest.fixture(autouse=True)
def small_tables(monkeypatch):
    """The synthetic trees hold a few rows of the UAV123, OTB100 and NFS tables: read those rows only."""
    monkeypatch.setattr(readers, "uav123_table", lambda: synthetic.SYNTHETIC_UAV123_TABLE)
    monkeypatch.setattr(readers, "otb100_table", lambda: synthetic.SYNTHETIC_OTB100_TABLE)
    monkeypatch.setattr(readers, "nfs_table", lambda: synthetic.SYNTHETIC_NFS_TABLE)


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    """A small synthetic tree in each one-pass benchmark's layout."""
    base = tmp_path_factory.mktemp("benchmarks")
    return {
        "lasot_ext": synthetic.make_synthetic_lasot_ext(base / "lasot_ext", sequences_per_class=1, frames=4,
                                                        size=SIZE),
        "tnl2k": synthetic.make_synthetic_tnl2k(base / "tnl2k", sequences=3, frames=6, size=SIZE),
        "uav123": synthetic.make_synthetic_uav123(base / "uav123", size=SIZE),
        "otb100": synthetic.make_synthetic_otb100(base / "otb100", size=SIZE),
        "nfs": synthetic.make_synthetic_nfs(base / "nfs", size=SIZE),
    }


def _summary(output: Path) -> dict:
    return json.loads((output / "summary.json").read_text())


@pytest.mark.parametrize("dataset", ["lasot_ext", "tnl2k", "uav123", "otb100", "nfs"])
def test_a_one_pass_benchmark_is_tracked_and_scored_over_all_its_sequences(dataset, trees, tmp_path):
    output = tmp_path / "out"
    assert evaluate_main(["--dataset", dataset, "--root", str(trees[dataset]), "--baseline", "first-box",
                          "--output", str(output), "--no_plots"]) == 0
    summary = _summary(output)
    expected = sorted(s.name for s in BENCHMARKS[dataset].load(trees[dataset]))
    tracker = summary["trackers"]["first-box"]
    assert summary["dataset"] == dataset and sorted(tracker["per_sequence"]) == expected
    assert sorted(p.stem for p in (output / "first-box").glob("*.txt") if not p.stem.endswith("_time")) == expected
    assert 0.0 <= tracker["overall"]["auc"] <= 100.0


def test_lasot_ext_scores_per_class(trees, tmp_path):
    output = tmp_path / "out"
    assert evaluate_main(["--dataset", "lasot_ext", "--root", str(trees["lasot_ext"]), "--baseline", "first-box",
                          "--output", str(output), "--no_plots"]) == 0
    assert sorted(_summary(output)["trackers"]["first-box"]["per_class"]) == sorted(readers.LASOT_EXT_CLASSES)


def test_uav123_scores_per_attribute(trees, tmp_path):
    output = tmp_path / "out"
    assert evaluate_main(["--dataset", "uav123", "--root", str(trees["uav123"]), "--baseline", "first-box",
                          "--output", str(output), "--no_plots"]) == 0
    tracker = _summary(output)["trackers"]["first-box"]
    attributes = readers.uav123_attributes(trees["uav123"])
    expected = sorted({a for labels in attributes.values() for a in labels})
    assert expected and sorted(tracker["per_attribute"]) == expected
    for attribute, scores in tracker["per_attribute"].items():
        members = [name for name, labels in attributes.items() if attribute in labels]
        assert scores["sequences"] == len(members)
        assert scores["auc"] == pytest.approx(np.mean([tracker["per_sequence"][n]["auc"] for n in members]))


def test_the_root_comes_from_the_benchmarks_environment_variable(trees, tmp_path, monkeypatch):
    monkeypatch.setenv("TNL2K_ROOT", str(trees["tnl2k"]))
    assert evaluate_main(["--dataset", "tnl2k", "--baseline", "first-box", "--output", str(tmp_path / "out"),
                          "--no_plots"]) == 0


def test_a_missing_root_names_the_option_and_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OTB_ROOT", raising=False)
    assert evaluate_main(["--dataset", "otb100", "--baseline", "first-box", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--root" in err and "OTB_ROOT" in err


# ---------------------------------------------------------------------------------------------------------------
# part of a benchmark

# dataset: (what to delete from a copy of its tree, the sequences that takes away)
PARTS = {
    "uav123": (["data_seq/UAV123/bike1"], ["bike1"]),
    "otb100": (["Jogging"], ["Jogging_1", "Jogging_2"]),
    "nfs": (["sequences/bee", "anno/nfs_bee.txt"], ["bee"]),
    "lasot_ext": (["atv"], ["atv-1"]),
}


def _part_of(trees, dataset, tmp_path) -> Path:
    root = shutil.copytree(trees[dataset], tmp_path / dataset)
    for path in PARTS[dataset][0]:
        (shutil.rmtree if (root / path).is_dir() else os.remove)(root / path)
    return root


@pytest.mark.parametrize("dataset", ["uav123", "otb100", "nfs", "tnl2k"])
def test_a_whole_benchmark_is_not_marked_partial(dataset, trees, tmp_path, capsys):
    output = tmp_path / "out"
    assert evaluate_main(["--dataset", dataset, "--root", str(trees[dataset]), "--baseline", "first-box",
                          "--output", str(output), "--no_plots"]) == 0
    assert _summary(output)["partial"] is None and "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("dataset", list(PARTS))
def test_a_benchmark_folder_with_part_of_the_sequences_is_scored_on_those_and_marked_partial(dataset, trees, tmp_path,
                                                                                             capsys):
    root, output = _part_of(trees, dataset, tmp_path), tmp_path / "out"
    assert evaluate_main(["--dataset", dataset, "--root", str(root), "--baseline", "first-box",
                          "--output", str(output), "--no_plots"]) == 0
    summary, taken = _summary(output), PARTS[dataset][1]
    expected = sorted(s.name for s in BENCHMARKS[dataset].load(trees[dataset]) if s.name not in taken)
    assert sorted(summary["trackers"]["first-box"]["per_sequence"]) == expected
    total = sum(len(names) for names in BENCHMARKS[dataset].test_set().values())
    assert (summary["partial"]["sequences"], summary["partial"]["of"]) == (len(expected), total)
    missing = summary["partial"]["missing"]
    assert set(taken) <= set(missing) and len(missing) == total - len(expected)
    err = capsys.readouterr().err
    assert f"warning: {len(expected)} of the {total} sequences of {BENCHMARKS[dataset].title} are scored" in err
    assert f"missing under {root}" in err and "not published to a model card" in err


def test_lasot_scored_on_one_class_is_marked_partial_naming_the_missing_and_left_out_sequences(synthetic_lasot,
                                                                                              tmp_path, capsys):
    output = tmp_path / "out"
    assert evaluate_main(["--dataset", "lasot", "--root", str(synthetic_lasot), "--baseline", "first-box",
                          "--classes", "book", "--output", str(output), "--no_plots"]) == 0
    partial = _summary(output)["partial"]
    assert (partial["sequences"], partial["of"]) == (1, 280)  # book-3: the one test sequence of the 4 there
    assert partial["missing"] == ["book-10", "book-11", "book-19"] and len(partial["left_out"]) == 276
    assert "1 of the 280 sequences of LaSOT are scored (3 missing under" in capsys.readouterr().err


def test_push_to_hub_refuses_a_partial_benchmark_before_tracking(trees, checkpoint, tmp_path, capsys):
    root, output = _part_of(trees, "nfs", tmp_path), tmp_path / "out"
    assert evaluate_main(["--dataset", "nfs", "--root", str(root), "--checkpoint", checkpoint, "--output", str(output),
                          "--no_plots", "--device", "cpu", "--push_to_hub", "org/run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --push_to_hub publishes the scores of NFS (30 fps), but only 2 of the 3 sequences")
    assert "drop --push_to_hub" in err and len(err.strip().splitlines()) == 1
    assert not list(output.rglob("*.txt"))  # nothing was tracked


def test_an_hf_checkpoints_own_card_gets_no_partial_scores(trees, checkpoint, tmp_path, monkeypatch, capsys):
    from seqtrack_accel.cli import evaluate

    pushed = []
    monkeypatch.setattr(evaluate, "card_repo", lambda *args: "org/model")  # as for hf://org/model with a token
    monkeypatch.setattr(evaluate, "_push", lambda *args: pushed.append(args))
    root, output = _part_of(trees, "uav123", tmp_path), tmp_path / "out"
    assert evaluate_main(["--dataset", "uav123", "--root", str(root), "--checkpoint", checkpoint, "--output",
                          str(output), "--no_plots", "--device", "cpu", "--max_frames", "2"]) == 0
    assert pushed == [] and _summary(output)["partial"]["missing"] == ["bike1"]
    assert "not published to a model card" in capsys.readouterr().err
    assert evaluate_main(["--dataset", "uav123", "--root", str(trees["uav123"]), "--checkpoint", checkpoint,
                          "--output", str(tmp_path / "whole"), "--no_plots", "--device", "cpu",
                          "--max_frames", "2"]) == 0
    assert len(pushed) == 1  # the whole benchmark is pushed


@pytest.mark.parametrize("dataset, interval", [("lasot", 450), ("lasot_ext", 9999), ("got10k_val", 1),
                                               ("got10k_test", 1), ("trackingnet", 25), ("tnl2k", 25),
                                               ("uav123", 9999), ("otb100", 9999), ("nfs", 9999)])
def test_the_benchmarks_template_update_is_the_originals(dataset, interval, trees, got10k, trackingnet,
                                                         synthetic_lasot, checkpoint, tmp_path):
    roots = {**trees, "lasot": synthetic_lasot, "got10k_val": got10k, "got10k_test": got10k,
             "trackingnet": trackingnet}
    output = tmp_path / "out"
    frames = [] if BENCHMARKS[dataset].protocol.whole_sequences else ["--max_frames", "3"]
    assert evaluate_main(["--dataset", dataset, "--root", str(roots[dataset]), "--checkpoint", checkpoint,
                          "--name", "seqtrack", "--output", str(output), "--no_plots", "--device", "cpu",
                          *frames]) == 0
    settings = read_record(output / "seqtrack")["settings"]
    assert settings["eval.template_update_interval"] == interval
    assert settings["eval.template_update_threshold"] == 0.6


def test_a_template_update_override_wins_over_the_benchmarks(trees, checkpoint, tmp_path):
    output = tmp_path / "out"
    assert evaluate_main(["--dataset", "tnl2k", "--root", str(trees["tnl2k"]), "--checkpoint", checkpoint,
                          "--name", "seqtrack", "--output", str(output), "--no_plots", "--max_frames", "3",
                          "--device", "cpu", "--config", "demo", *NANO_NETWORK, "eval.template_update_interval=7"]) == 0
    assert read_record(output / "seqtrack")["settings"]["eval.template_update_interval"] == 7


@pytest.fixture(scope="module")
def got10k(tmp_path_factory) -> Path:
    from seqtrack_accel.data.synthetic import make_synthetic_got10k

    return make_synthetic_got10k(tmp_path_factory.mktemp("got10k") / "GOT-10k", sequences=1, frames=6, size=SIZE,
                                 val_sequences=3, test_sequences=2)


@pytest.fixture(scope="module")
def trackingnet(tmp_path_factory) -> Path:
    from seqtrack_accel.data.synthetic import make_synthetic_trackingnet

    return make_synthetic_trackingnet(tmp_path_factory.mktemp("trackingnet") / "TrackingNet", chunks=1,
                                      sequences_per_chunk=1, frames=5, size=SIZE, test_sequences=2)


def test_got10k_val_reports_ao_and_sr_as_the_got10k_protocol_computes_them(got10k, tmp_path):
    from seqtrack_accel.data.got10k import load_got10k
    from seqtrack_accel.tracking.evaluate import read_predictions
    from seqtrack_accel.tracking.got10k_metrics import got10k_scores

    output = tmp_path / "out"
    assert evaluate_main(["--dataset", "got10k_val", "--root", str(got10k), "--baseline", "first-box",
                          "--output", str(output), "--no_plots"]) == 0
    tracker = _summary(output)["trackers"]["first-box"]
    sequences = load_got10k(got10k, split="val")
    expected = got10k_scores(read_predictions(output / "first-box", sequences), sequences)
    assert tracker["got10k"] == json.loads(json.dumps(expected))
    assert set(tracker["got10k"]["overall"]) >= {"ao", "sr50", "sr75"} and len(tracker["per_sequence"]) == 3


@pytest.mark.parametrize("dataset", ["got10k_test", "trackingnet"])
def test_a_server_benchmark_ends_in_its_checked_submission_archive(dataset, got10k, trackingnet, tmp_path, capsys):
    from seqtrack_accel.tracking.submission import check_submission

    root = got10k if dataset == "got10k_test" else trackingnet
    output = tmp_path / "out"
    assert evaluate_main(["--dataset", dataset, "--root", str(root), "--baseline", "first-box",
                          "--output", str(output)]) == 0
    archive = output / f"first-box_{dataset}_submission.zip"
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sequences = BENCHMARKS[dataset].load(root)
    assert line["submission"] == str(archive) and line["sequences"] == len(sequences) == 2
    assert check_submission(archive, sequences, dataset)["sequences"] == 2
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
    expected = ({f"{s.name}/{s.name}_001.txt" for s in sequences} if dataset == "got10k_test"
                else {f"{s.name}.txt" for s in sequences})
    assert expected <= names


def test_a_server_benchmark_refuses_max_frames(trackingnet, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main(["--dataset", "trackingnet", "--root", str(trackingnet), "--baseline", "first-box",
                       "--output", str(tmp_path / "out"), "--max_frames", "3"])
    assert exit_info.value.code == 2 and "drop --max_frames" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything was tracked


def test_push_to_hub_adds_the_benchmarks_scores_to_the_model_card(hub, trees, checkpoint, tmp_path):
    from huggingface_hub import ModelCard

    from seqtrack_accel.hub.results import results_in_card

    hub.create_repo("org/run")
    output = tmp_path / "out"
    assert evaluate_main(["--dataset", "tnl2k", "--root", str(trees["tnl2k"]), "--checkpoint", checkpoint,
                          "--name", "seqtrack", "--output", str(output), "--no_plots", "--device", "cpu",
                          "--baseline", "first-box", "--push_to_hub", "org/run"]) == 0
    card = ModelCard(hub.files("org/run")["README.md"].decode())
    (row,) = results_in_card(card)  # the checkpoint's scores; the baseline has no weights to publish
    tracker = _summary(output)["trackers"]["seqtrack"]
    assert (row.benchmark, row.split, row.tracker) == ("tnl2k", "test", "seqtrack")
    assert row.metrics["auc"] == pytest.approx(tracker["overall"]["auc"], abs=0.01)
    assert row.weights_sha256 == tracker["produced_by"]["weights_sha256"]
    assert set(hub.files("org/run")) - {".gitattributes"} == {"README.md"}


def test_a_failed_push_says_where_the_scores_are(hub, trees, checkpoint, tmp_path, capsys):
    output = tmp_path / "out"
    assert evaluate_main(["--dataset", "tnl2k", "--root", str(trees["tnl2k"]), "--checkpoint", checkpoint,
                          "--output", str(output), "--no_plots", "--device", "cpu", "--push_to_hub",
                          "org/missing"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and f"the scores are in {output / 'summary.json'}" in err and "org/missing" in err
    assert (output / "summary.json").is_file()


def test_push_to_hub_refuses_max_frames_before_tracking(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main(["--checkpoint", "runs/a", "--dataset", "tnl2k", "--max_frames", "3", "--push_to_hub", "org/run",
                       "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "--max_frames" in capsys.readouterr().err


def test_push_to_hub_without_a_dataset_asks_for_dataset_before_tracking(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main(["--checkpoint", "runs/a", "--push_to_hub", "org/run", "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "name the benchmark with --dataset (one of lasot," in err
    assert "benchmark=" not in err  # the Python API's arguments mean nothing on the command line
    assert not (tmp_path / "out").exists()


def test_an_hf_checkpoint_evaluated_without_a_dataset_says_to_add_dataset_and_keeps_its_card(
        hub, checkpoint, synthetic_lasot, tmp_path, capsys):
    from seqtrack_accel.tracking.tracker import load_tracker_model

    model, cfg = load_tracker_model(checkpoint)
    model.save_pretrained(tmp_path / "export", config=cfg)
    hub.create_repo("org/export")
    hub.commit_files("org/export", {f.name: f.read_bytes() for f in (tmp_path / "export").iterdir()})
    card = hub.files("org/export")["README.md"]
    assert evaluate_main(["--checkpoint", "hf://org/export", "--root", str(synthetic_lasot), "--classes", "coin",
                          "--output", str(tmp_path / "out"), "--device", "cpu", "--no_plots", "--max_frames", "3"]) == 0
    err = capsys.readouterr().err
    assert "warning: the scores were not added to the model card of org/export" in err
    assert "evaluate with --dataset (one of lasot," in err and "benchmark=" not in err
    assert hub.files("org/export")["README.md"] == card


@pytest.mark.parametrize("argv, token, target", [
    (["--checkpoint", "hf://org/model@v1"], "hf_x", "org/model"),
    (["--checkpoint", "hf://org/run@v1/best"], "hf_x", "org/run"),
    (["--checkpoint", "hf://org/model"], None, None),
    (["--checkpoint", "hf://org/model", "--no_push"], "hf_x", None),
    (["--checkpoint", "runs/a", "--push_to_hub", "org/other"], None, "org/other"),
    (["--checkpoint", "runs/a"], "hf_x", None),
])
def test_an_hf_checkpoint_pushes_to_its_own_repo_when_a_token_is_set(argv, token, target, monkeypatch):
    import huggingface_hub

    from seqtrack_accel.cli.evaluate import build_parser
    from seqtrack_accel.tracking.benchmarks import card_repo

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: token)
    args = build_parser().parse_args(argv)
    assert card_repo(args.checkpoint, args.push_to_hub, args.no_push) == target
