"""Benchmark results on a Hub model card: the summary.json reader, the card's table and model-index, the push."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard

from fake_hub import FakeHub, Fault
from hub_helpers import HUB_TOKEN, ScoredSequence, make_fake_run

from seqtrack_accel.hub import HubError, render_model_card, results
from seqtrack_accel.hub.results import (SECTION_START, BenchmarkResult, push_results_to_card, results_from_summary,
                                        results_in_card, update_card)
from seqtrack_accel.tracking.evaluate import evaluate_predictions, results_record, write_summary

REPO = "org/run"
SHA = "3f2a9c81d0e4" + "ab" * 26
LASOT = BenchmarkResult("lasot", "test", "seqtrack_b256", {"auc": 69.8712, "precision": 76.3, "norm_precision": 79.6},
                        280, 41.23, "2026-11-24", SHA)
GOT = BenchmarkResult("got10k", "val", "seqtrack_b256", {"ao": 74.05, "sr50": 84.2, "sr75": 71.0}, 180, 40.0,
                      "2026-11-25", SHA)


def push(hub: FakeHub, results: list[BenchmarkResult], **kwargs):
    return push_results_to_card(REPO, results, token=HUB_TOKEN, endpoint=hub.endpoint, **kwargs)


def card_on_hub(hub: FakeHub) -> ModelCard:
    return ModelCard(hub.files(REPO)["README.md"].decode())


def model_index(card: ModelCard) -> dict[tuple[str, str, str], float]:
    """(dataset type, split, metric type) -> value of the card's model-index."""
    return {(e.dataset_type, e.dataset_split, e.metric_type): e.metric_value for e in card.data.eval_results or []}


def publish_run(hub: FakeHub, run_dir: Path) -> None:
    """A repo laid out as the training mirror writes it, with its model card, uploaded by huggingface_hub (so the
    weights and optimizer files are LFS files)."""
    checkpoints = make_fake_run(run_dir, epochs=2)
    hub.create_repo(REPO)
    files = {f"phase_1/{c.name}/{f.name}": f.read_bytes() for c in checkpoints for f in c.iterdir()}
    for path in ("tensorboard/events.out.tfevents.1700000000.host.1.0", "plots/loss.png", "plots/iou.png",
                 "phase_1/plots/loss.png"):
        files[path] = (run_dir / path).read_bytes()
    history = {"phase": [1, 1], "epoch": [1, 2], "loss": [5.0, 4.0], "iou": [0.1, 0.2]}
    files["README.md"] = str(render_model_card(repo_id=REPO, config_yaml="name: demo\n", history=history,
                                               latest_path="phase_1/checkpoint_2")).encode()
    files["latest.json"] = b'{"path": "phase_1/checkpoint_2", "phase": 1, "epoch": 2, "global_step": 32}'
    HfApi(endpoint=hub.endpoint, token=HUB_TOKEN).create_commit(
        REPO, [CommitOperationAdd(path, content) for path, content in files.items()], commit_message="mirror")


# ---------------------------------------------------------------------------------------------------------------
# summary.json


def summary_doc(tmp_path: Path) -> dict:
    """The summary.json seqtrack-evaluate --dataset lasot writes for a SeqTrack run beside a first-box baseline, on
    two sequences."""
    sequences = [ScoredSequence(f"book-{i}", "book", np.tile([10.0, 10.0, 20.0 + i, 20.0], (5, 1)), np.ones(5, bool))
                 for i in (1, 2)]
    predictions = {s.name: s.boxes + 1.0 for s in sequences}
    seqtrack = {**evaluate_predictions(predictions, sequences), "speed": {"frames": 10, "seconds": 0.5, "fps": 20.0},
                "produced_by": results_record("SeqTrack", {}, {"weights_sha256": SHA, "source": "runs/demo"})}
    baseline = {**evaluate_predictions(predictions, sequences), "produced_by": results_record("first-box", {})}
    write_summary(tmp_path, {"demo": seqtrack, "first-box": baseline}, {"dataset": "lasot", "max_frames": 0},
                  plots=False)
    return json.loads((tmp_path / "summary.json").read_text())


def test_every_benchmark_seqtrack_evaluate_scores_has_a_name_on_the_card():
    from seqtrack_accel.tracking.benchmarks import BENCHMARKS

    assert set(results.CARD_NAMES) == {name for name, b in BENCHMARKS.items() if b.protocol.writes_summary and b.public}


def test_results_from_summary_reads_the_scores_speed_and_weights_of_the_tracker_with_weights(tmp_path):
    doc = summary_doc(tmp_path)

    (result,) = results_from_summary(doc, date="2026-11-24")

    overall = doc["trackers"]["demo"]["overall"]
    assert result == BenchmarkResult("lasot", "test", "demo", {k: overall[k] for k in ("auc", "precision",
                                                                                       "norm_precision")},
                                     2, 20.0, "2026-11-24", SHA)


def test_results_from_summary_reads_ao_and_success_rates_of_a_got10k_val_summary():
    tracker = {"overall": {"auc": 70.1, "precision": 60.0, "norm_precision": 75.0, "sequences": 180},
               "got10k": {"overall": {"ao": 74.05, "sr50": 84.2, "sr75": 71.0, "sequences": 180, "frames": 20979}},
               "produced_by": {"weights_sha256": SHA}}

    (result,) = results_from_summary({"dataset": "got10k_val", "trackers": {"b256": tracker}})

    assert result.key == ("got10k", "val") and result.metrics == {"ao": 74.05, "sr50": 84.2, "sr75": 71.0}


@pytest.mark.parametrize("doc, trackers, message", [
    ({"dataset": "config", "trackers": {}}, None, "does not say which benchmark split .* 'config'"),
    ({"dataset": "lasot", "max_frames": 50}, None, "first 50 frames .* without --max_frames"),
    ({"dataset": "nfs", "partial": {"sequences": 37, "of": 100}}, None, "37 of the 100 sequences of nfs test only .*"
     "partial"),
    ({"dataset": "lasot"}, None, "has no 'trackers'"),
    ({"dataset": "lasot", "trackers": {"first-box": {"overall": {"auc": 1.0}}}}, None,
     r"no tracker .* weights .*first-box"),
    ({"dataset": "lasot", "trackers": {"demo": {"overall": {"auc": 1.0}}}}, ["other"],
     r"\['other'\] are not in the summary"),
    ({"dataset": "lasot", "trackers": {"demo": {"overall": {"auc": 1.0}}}}, ["demo"],
     "tracker demo: .* overall lacks precision, norm_precision, sequences"),
])
def test_results_from_summary_names_what_is_missing_or_wrong(doc, trackers, message):
    with pytest.raises(ValueError, match=message):
        results_from_summary(doc, trackers=trackers)


# ---------------------------------------------------------------------------------------------------------------
# the card


def test_card_section_goes_before_the_first_heading_and_keeps_the_rest_of_the_card():
    text = ("---\nlicense: mit\ntags:\n- mine\n---\n# run\n\nIntro.\n\n```yaml\n## a YAML comment, not a heading\n```"
            "\n\n## Usage\n\nTrack.\n")

    updated = update_card(ModelCard(text), [LASOT], model_name="run")

    before, _, after = updated.text.partition(SECTION_START)
    assert before == "# run\n\nIntro.\n\n```yaml\n## a YAML comment, not a heading\n```\n\n"
    assert after.endswith("<!-- seqtrack-accel:evaluation-results:end -->\n\n## Usage\n\nTrack.\n")
    assert updated.data.license == "mit" and updated.data.tags == ["mine"]


def test_card_refuses_two_results_for_one_benchmark_and_split():
    with pytest.raises(ValueError, match="several results for lasot test"):
        update_card(ModelCard("# run\n"), [LASOT, BenchmarkResult("lasot", "test", "other", {"auc": 1.0})],
                    model_name="run")


def test_card_with_a_damaged_section_says_how_to_fix_it():
    text = str(update_card(ModelCard("# run\n"), [LASOT], model_name="run")).replace('"format_version": 1', "{")

    with pytest.raises(ValueError, match="cannot be read .* delete it"):
        update_card(ModelCard(text), [GOT], model_name="run")


# ---------------------------------------------------------------------------------------------------------------
# the push


def test_push_writes_the_table_into_the_card(hub, tmp_path):
    publish_run(hub, tmp_path / "run")

    push(hub, [LASOT])

    text = card_on_hub(hub).text
    assert "## Evaluation results" in text
    assert "| benchmark | split | tracker | AUC | P | P_norm | sequences | frames/s | date | weights (sha256) |" in text
    assert "| LaSOT | test | seqtrack_b256 | 69.87 | 76.30 | 79.60 | 280 | 41.2 | 2026-11-24 | `3f2a9c81d0e4` |" in text
    assert results_in_card(card_on_hub(hub)) == [LASOT]


def test_push_writes_the_model_index_the_hub_reads(hub, tmp_path):
    publish_run(hub, tmp_path / "run")

    push(hub, [LASOT])

    card = card_on_hub(hub)
    assert card.data.model_name == "run"
    assert {(e.task_type, e.dataset_name, e.metric_name) for e in card.data.eval_results} == {
        ("visual-object-tracking", "LaSOT", "AUC"), ("visual-object-tracking", "LaSOT", "Precision"),
        ("visual-object-tracking", "LaSOT", "Normalized Precision")}
    assert model_index(card) == {("lasot", "test", "auc"): 69.87, ("lasot", "test", "precision"): 76.3,
                                 ("lasot", "test", "norm_precision"): 79.6}


def test_second_push_replaces_the_section_and_merges_the_other_benchmark(hub, tmp_path):
    publish_run(hub, tmp_path / "run")
    push(hub, [LASOT])

    push(hub, [GOT])

    card = card_on_hub(hub)
    assert str(card).count(SECTION_START) == 1 and str(card).count("## Evaluation results") == 1
    assert results_in_card(card) == [GOT, LASOT]
    assert model_index(card) == {("lasot", "test", "auc"): 69.87, ("lasot", "test", "precision"): 76.3,
                                 ("lasot", "test", "norm_precision"): 79.6, ("got10k", "val", "ao"): 74.05,
                                 ("got10k", "val", "sr50"): 84.2, ("got10k", "val", "sr75"): 71.0}


def test_push_for_the_same_benchmark_replaces_its_row_and_scores(hub, tmp_path):
    publish_run(hub, tmp_path / "run")
    push(hub, [LASOT, GOT])
    newer = BenchmarkResult("lasot", "test", "seqtrack_b384", {"auc": 71.5, "precision": 77.0,
                                                                "norm_precision": 81.0}, 280, 30.0, "2026-12-01")

    push(hub, [newer])

    card = card_on_hub(hub)
    assert results_in_card(card) == [GOT, newer]
    assert len(card.data.eval_results) == 6 and model_index(card)[("lasot", "test", "auc")] == 71.5


def test_push_commits_readme_only_and_leaves_every_other_file_as_it_was(hub, tmp_path):
    publish_run(hub, tmp_path / "run")
    api = HfApi(endpoint=hub.endpoint, token=HUB_TOKEN)

    def listing() -> dict[str, tuple]:
        return {e.path: (e.size, e.blob_id, e.lfs.sha256 if e.lfs else None)
                for e in api.list_repo_tree(REPO, recursive=True) if e.path != "README.md" and hasattr(e, "blob_id")}

    files, tree = hub.files(REPO), listing()

    push(hub, [LASOT])

    commit = hub.commits(REPO)[-1]
    assert commit.added == ("README.md",) and commit.deleted == ()
    assert commit.summary == "Add evaluation results: LaSOT test"
    assert {p: c for p, c in hub.files(REPO).items() if p != "README.md"} == {
        p: c for p, c in files.items() if p != "README.md"}
    assert listing() == tree and any(lfs for _, _, lfs in tree.values())  # LFS files (weights) kept as LFS


def test_push_keeps_a_card_change_made_while_it_was_pushing(hub, tmp_path, monkeypatch):
    publish_run(hub, tmp_path / "run")
    create_commit = HfApi.create_commit

    def mirror_writes_first(self, *args, **kwargs):  # the training mirror commits between the read and the commit
        if len(hub.commits(REPO)) == 2:
            hub.commit_files(REPO, {"README.md": hub.files(REPO)["README.md"] + b"\nEpoch 3 is mirrored.\n"})
        return create_commit(self, *args, **kwargs)

    monkeypatch.setattr(HfApi, "create_commit", mirror_writes_first)

    push(hub, [LASOT])

    text = card_on_hub(hub).text
    assert "Epoch 3 is mirrored." in text and results_in_card(card_on_hub(hub)) == [LASOT]


def test_push_retries_a_transient_failure_of_the_commit(hub, tmp_path):
    publish_run(hub, tmp_path / "run")
    hub.inject([Fault.status(503, retry_after=0, match="/commit/")])
    before = len(hub.requests)

    push(hub, [LASOT])

    assert results_in_card(card_on_hub(hub)) == [LASOT]
    assert [r.status for r in hub.requests[before:] if "/commit/" in r.path] == [503, 200]


def test_push_to_a_repo_without_a_card_writes_one(hub):
    hub.create_repo(REPO)

    push(hub, [LASOT])

    card = card_on_hub(hub)
    assert card.data.library_name == "seqtrack-accel" and "# SeqTrack: org/run" in card.text
    assert results_in_card(card) == [LASOT] and len(card.data.eval_results) == 3


def test_push_without_a_token_says_how_to_log_in(hub, tmp_path, monkeypatch):
    hub.create_repo(REPO)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no_token"))

    with pytest.raises(HubError, match=r"no Hugging Face token .* org/run: run `hf auth login` or set HF_TOKEN"):
        push_results_to_card(REPO, [LASOT], endpoint=hub.endpoint)
    assert len(hub.commits(REPO)) == 1


def test_push_to_a_missing_repo_says_how_to_create_it(hub):
    with pytest.raises(HubError, match="org/run was not found .* `seqtrack-create-hf-repo org/run`"):
        push(hub, [LASOT])


def test_push_to_a_missing_branch_says_how_to_create_it(hub):
    hub.create_repo(REPO)

    with pytest.raises(HubError, match="org/run has no branch 'results' .* create it first"):
        push(hub, [LASOT], revision="results")


def test_push_to_an_unreachable_hub_says_so_after_its_retries(closed_port, monkeypatch, caplog):
    monkeypatch.setattr(results, "BACKOFF", 0.0)
    endpoint = closed_port

    with pytest.raises(HubError, match=f"the Hub at {endpoint} could not be reached to push results to org/run"):
        push_results_to_card(REPO, [LASOT], token=HUB_TOKEN, endpoint=endpoint)
    assert len([r for r in caplog.records if "ConnectError" in r.getMessage()]) == results.MAX_ATTEMPTS - 1


def test_push_with_an_invalid_token_says_so(hub):
    hub.create_repo(REPO)

    with pytest.raises(HubError, match="token .* is not valid for org/run"):
        push_results_to_card(REPO, [LASOT], token="hf_wrong", endpoint=hub.endpoint)


def test_push_without_write_access_says_so(hub):
    hub.create_repo(REPO)
    hub.inject([Fault.status(403, match="/commit/")])

    with pytest.raises(HubError, match="the token may not write to org/run .* write access"):
        push(hub, [LASOT])
    assert len(hub.commits(REPO)) == 1


def test_push_over_a_card_with_unreadable_metadata_says_how_to_fix_it(hub):
    hub.create_repo(REPO)
    hub.commit_files(REPO, {"README.md": b"---\n- not\n- a mapping\n---\n# run\n"})

    with pytest.raises(HubError, match="metadata of org/run/README.md cannot be read .* fix its YAML block"):
        push(hub, [LASOT])
