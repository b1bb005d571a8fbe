"""Benchmark results on a Hub model card: a table in README.md's "Evaluation results" section and the entries of the
card metadata's ``model-index``, published in one commit that changes README.md only.

    doc = json.loads(Path("output/evaluation/demo/summary.json").read_text())  # written by seqtrack-evaluate
    push_results_to_card("my-org/seqtrack-b256", results_from_summary(doc))  # the benchmark of --dataset

The section sits between two HTML comments (``SECTION_START`` and ``SECTION_END``), so a later push replaces it
instead of adding another. It keeps its rows as JSON in a third comment (``SECTION_DATA``), so rows pushed earlier
for other benchmarks stay in the table: a row is replaced by a result of the same benchmark and split, a
``model-index`` entry by one of the same task, benchmark, split and metric. Edits made by hand inside the markers are
lost at the next push; the rest of the card, text and metadata, is kept as it is.

In ``model-index`` (the format of https://github.com/huggingface/hub-docs/blob/main/modelcard.md, written by
huggingface_hub's ``ModelCardData`` / ``EvalResult``) the task is ``visual-object-tracking`` (as Papers with Code
names it; the Hub has no pipeline tag for tracking), the dataset type is the benchmark's id (``lasot``, ``got10k``)
and the metric types are summary.json's keys (``auc``, ``precision``, ``norm_precision``, ``ao``, ``sr50``,
``sr75``), in percent.

huggingface_hub does the HTTP, the card parsing and the ``model-index`` conversion. Kept by hand: the section and its
rows (the card format has no sections), and the retries: a commit is not retried by huggingface_hub, and the commit
names the commit the card was read at (``parent_commit``), so a card changed meanwhile (the training mirror writes
it too) is read again and the results applied to the new one, never written over it.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import huggingface_hub
from huggingface_hub import CommitInfo, CommitOperationAdd, EvalResult, HfApi, ModelCard
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from ..tracking.benchmarks import BENCHMARKS
from ..model.card import card_metadata
from .remote import (CARD_FILE, UNREACHABLE, Failure, HubError, classify_error, configure_request_timeout,
                     describe_error, make_api, resolve_endpoint)

logger = logging.getLogger(__name__)

SECTION_START = "<!-- seqtrack-accel:evaluation-results:start -->"
SECTION_END = "<!-- seqtrack-accel:evaluation-results:end -->"
SECTION_DATA = "<!-- seqtrack-accel:evaluation-results:data "  # + JSON + " -->"
SECTION_FORMAT_VERSION = 1

TASK_TYPE = "visual-object-tracking"
TASK_NAME = "Visual Object Tracking"
# summary.json key -> (table header, model-index metric name), per protocol: one-pass evaluation (a tracker's
# "overall" scores) and GOT-10k's (its "got10k" scores, which a GOT-10k val summary holds beside the one-pass ones).
METRIC_FAMILIES: dict[str, dict[str, tuple[str, str]]] = {
    "ope": {"auc": ("AUC", "AUC"), "precision": ("P", "Precision"),
            "norm_precision": ("P_norm", "Normalized Precision")},
    "got10k": {"ao": ("AO", "Average Overlap"), "sr50": ("SR0.5", "Success Rate 0.5"),
               "sr75": ("SR0.75", "Success Rate 0.75")},
}
METRICS = {key: names for family in METRIC_FAMILIES.values() for key, names in family.items()}
# Benchmark id (model-index dataset type) -> the name papers use; an id not listed is shown as it is.
BENCHMARK_TITLES = {b.card[0]: b.card[1] for b in BENCHMARKS.values()}
# seqtrack-evaluate --dataset NAME (summary.json's "dataset") -> (benchmark id, split). GOT-10k test and TrackingNet
# are scored by their servers: seqtrack-evaluate writes no summary for them.
DATASETS = {b.name: (b.card[0], b.card[2]) for b in BENCHMARKS.values() if b.protocol.writes_summary}
SHA_DIGITS = 12  # of the weights' sha256 shown in the table (the JSON keeps all of it)
MAX_ATTEMPTS = 4  # per push: transient Hub failures and cards changed meanwhile
BACKOFF = 1.0  # seconds before the second attempt, doubled for each next one, unless the Hub sent Retry-After


@dataclass(frozen=True)
class BenchmarkResult:
    """One tracker's scores on one benchmark split: a row of the card's table and entries of its model-index.

    Attributes:
        benchmark: the benchmark's id, the model-index dataset type (``lasot``, ``got10k``, ``trackingnet``).
        split: ``test``, ``val``.
        tracker: the tracker's name in summary.json.
        metrics: summary.json key (``METRICS``) -> score in percent.
        sequences: sequences scored.
        fps: frames per second of tracking on the evaluation machine; None when not timed.
        date: ``YYYY-MM-DD`` of the evaluation.
        weights_sha256: sha256 of the weights file that produced the results (summary.json's
            ``produced_by.weights_sha256``); None for a tracker without weights.
    """

    benchmark: str
    split: str
    tracker: str
    metrics: dict[str, float]
    sequences: int = 0
    fps: float | None = None
    date: str = ""
    weights_sha256: str | None = None

    def __post_init__(self):
        if not (self.benchmark and self.split and self.tracker):
            raise ValueError(f"a benchmark result needs a benchmark, a split and a tracker name, got {self}")
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown or not self.metrics:
            raise ValueError(f"{self.benchmark} {self.split} results of {self.tracker}: metrics must be among "
                             f"{list(METRICS)}, got {list(self.metrics)}")

    @property
    def title(self) -> str:
        return BENCHMARK_TITLES.get(self.benchmark, self.benchmark)

    @property
    def key(self) -> tuple[str, str]:
        return self.benchmark, self.split

    def eval_results(self) -> list[EvalResult]:
        """The model-index entries, one per metric, rounded to 0.01 as papers report them."""
        return [EvalResult(task_type=TASK_TYPE, task_name=TASK_NAME, dataset_type=self.benchmark,
                           dataset_name=self.title, dataset_split=self.split, metric_type=key,
                           metric_name=METRICS[key][1], metric_value=round(float(value), 2))
                for key, value in self.metrics.items()]


def results_from_summary(doc: Mapping[str, Any], *, benchmark: str | None = None, split: str | None = None,
                         trackers: Sequence[str] | None = None, date: str | None = None) -> list[BenchmarkResult]:
    """The results of a ``summary.json`` document (``seqtrack_accel.tracking.evaluate.write_summary``).

    Args:
        doc: the parsed summary.json; ``doc["trackers"][name]`` holds ``overall`` (one-pass scores in percent and
            ``sequences``), on GOT-10k val ``got10k.overall`` (AO, SR, in percent), and where known ``speed.fps``
            and ``produced_by.weights_sha256``.
        benchmark: the benchmark's id on the card (``lasot``, ``got10k``) or a ``seqtrack-evaluate --dataset`` name
            (``DATASETS``: ``got10k_val`` is GOT-10k's val split); default: the summary's ``dataset``.
        split: default: the split of that ``--dataset`` name.
        trackers: the trackers to publish; default: those produced by weights (``produced_by.weights_sha256``),
            which leaves baselines and other tools' result folders out.
        date: ``YYYY-MM-DD``; default: today (UTC).

    Raises ValueError naming the missing key or tracker, or when the summary scored only the first frames of each
    sequence (``--max_frames``) or only part of the benchmark's sequences (its ``partial``): those are not the
    benchmark's scores.
    """
    benchmark = benchmark or doc.get("dataset")
    if split is None and benchmark in DATASETS:
        benchmark, split = DATASETS[benchmark]
    if not (benchmark and split):
        raise ValueError(f"the summary does not say which benchmark split it scored (its dataset is "
                         f"{doc.get('dataset')!r}, not one of {', '.join(DATASETS)}): pass benchmark= and split= "
                         "(on the command line: evaluate with seqtrack-evaluate --dataset)")
    if doc.get("max_frames"):
        raise ValueError(f"the summary scored the first {doc['max_frames']} frames of each sequence only, which are "
                         f"not {benchmark} {split} scores; evaluate without --max_frames to publish them")
    if partial := doc.get("partial"):
        raise ValueError(f"the summary scored {partial.get('sequences')} of the {partial.get('of')} sequences of "
                         f"{benchmark} {split} only (it is marked partial), which are not its scores; evaluate the "
                         "whole benchmark to publish them")
    scored = doc.get("trackers")
    if not isinstance(scored, Mapping) or not scored:
        raise ValueError("the summary has no 'trackers' scores; pass the summary.json that seqtrack-evaluate wrote")
    if trackers is None:
        trackers = [name for name, summary in scored.items() if _produced_by(summary).get("weights_sha256")]
        if not trackers:
            raise ValueError(f"no tracker of the summary was produced by weights (produced_by.weights_sha256); name "
                             f"the ones to publish with trackers=[...] (the summary holds: {', '.join(scored)})")
    unknown = [name for name in trackers if name not in scored]
    if unknown:
        raise ValueError(f"trackers {unknown} are not in the summary; it holds: {', '.join(scored)}")
    date = date or datetime.now(timezone.utc).date().isoformat()
    return [_result(scored[name], name, benchmark, split, date) for name in trackers]


def _produced_by(summary: Mapping[str, Any]) -> Mapping[str, Any]:
    return summary.get("produced_by") or {}


def _result(summary: Mapping[str, Any], name: str, benchmark: str, split: str, date: str) -> BenchmarkResult:
    protocol = "got10k" if "got10k" in summary else "ope"
    scores = (summary["got10k"] if protocol == "got10k" else summary).get("overall") or {}
    missing = [key for key in (*METRIC_FAMILIES[protocol], "sequences") if key not in scores]
    if missing:
        where = "got10k.overall" if protocol == "got10k" else "overall"
        raise ValueError(f"tracker {name}: the summary's {where} lacks {', '.join(missing)}; pass a summary.json "
                         "that seqtrack-evaluate wrote")
    fps = (summary.get("speed") or {}).get("fps")
    return BenchmarkResult(benchmark, split, name, {key: float(scores[key]) for key in METRIC_FAMILIES[protocol]},
                           int(scores["sequences"]), None if fps is None else float(fps), date,
                           _produced_by(summary).get("weights_sha256"))


# ---------------------------------------------------------------------------------------------------------------
# the card


def results_in_card(card: ModelCard) -> list[BenchmarkResult]:
    """The rows of the card's results section; empty when it has none. Raises ValueError when it is damaged."""
    found = _section_span(card.text)
    if found is None:
        return []
    section = card.text[found[0]:found[1]]
    start = section.find(SECTION_DATA)
    end = section.find("-->", start)
    try:
        if start < 0 or end < 0:
            raise ValueError("its data comment is missing")
        data = json.loads(section[start + len(SECTION_DATA):end])
        if data.get("format_version") != SECTION_FORMAT_VERSION:
            raise ValueError(f"format_version {data.get('format_version')!r} is not {SECTION_FORMAT_VERSION}")
        return [BenchmarkResult(**row) for row in data["results"]]
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"the evaluation results section of {CARD_FILE} cannot be read ({err}); delete it, from "
                         f"{SECTION_START} to {SECTION_END}, and push the results again") from None


def update_card(card: ModelCard, results: Iterable[BenchmarkResult], *, model_name: str) -> ModelCard:
    """A copy of ``card`` with ``results`` merged into its results section and its ``model-index``.

    The section replaces the one there, else goes before the first ``## `` heading, else at the end. Rows and
    model-index entries of other benchmarks, splits (and metrics) are kept. ``model_name`` names the model-index.
    Raises ValueError when ``results`` holds two results of one benchmark and split, or the card's section is damaged.
    """
    results = list(results)
    _check_distinct(results)
    card = ModelCard(str(card))
    new = {r.key: r for r in results}
    rows = [r for r in results_in_card(card) if r.key not in new] + results
    found = _section_span(card.text)
    section = _render_section(sorted(rows, key=lambda r: r.key))
    if found is not None:
        card.text = card.text[:found[0]] + section + card.text[found[1]:]
    else:
        at = _first_heading(card.text)
        card.text = (card.text[:at] + section + "\n\n" + card.text[at:] if at is not None
                     else card.text.rstrip("\n") + "\n\n" + section + "\n")

    def identity(e: EvalResult) -> tuple:
        return e.task_type, e.dataset_type, e.dataset_config, e.dataset_split, e.metric_type

    added = [e for r in results for e in r.eval_results()]
    replaced = {identity(e) for e in added}
    card.data.eval_results = [e for e in card.data.eval_results or [] if identity(e) not in replaced] + added
    card.data.model_name = model_name
    return card


def new_card(repo_id: str) -> ModelCard:
    """The card of a repo that has none: this package's metadata, a title and one paragraph."""
    data = card_metadata()
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n# SeqTrack: {repo_id}\n\nA [SeqTrack]"
                     "(https://arxiv.org/abs/2304.14394) visual object tracker trained with `seqtrack-accel`.\n")


def _check_distinct(results: list[BenchmarkResult]) -> None:
    keys = [r.key for r in results]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"several results for {', '.join(f'{b} {s}' for b, s in twice)}: a card holds one per "
                         "benchmark and split; publish one tracker's (results_from_summary(..., trackers=[name]))")


def _section_span(text: str) -> tuple[int, int] | None:
    """(start, end) of the section in ``text`` with its markers; None when it has none."""
    starts, ends = text.count(SECTION_START), text.count(SECTION_END)
    if starts == ends == 0:
        return None
    start, end = text.find(SECTION_START), text.find(SECTION_END)
    if starts != 1 or ends != 1 or end < start:
        raise ValueError(f"{CARD_FILE} must hold {SECTION_START} once, then {SECTION_END} once, around the "
                         f"evaluation results; it holds {starts} and {ends}. Fix the markers and push again")
    return start, end + len(SECTION_END)


def _first_heading(text: str) -> int | None:
    """Offset of the first ``## `` line of ``text`` outside fenced code blocks, or None."""
    offset, fenced = 0, False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            return offset
        offset += len(line)
    return None


def _render_section(rows: list[BenchmarkResult]) -> str:
    metrics = [key for key in METRICS if any(key in r.metrics for r in rows)]
    header = ["benchmark", "split", "tracker", *(METRICS[k][0] for k in metrics), "sequences", "frames/s", "date",
              "weights (sha256)"]
    align = ["---"] * 3 + ["---:"] * (len(metrics) + 2) + ["---"] * 2
    lines = [_row(header), _row(align)]
    for r in rows:
        scores = [f"{r.metrics[k]:.2f}" if k in r.metrics else "" for k in metrics]
        lines.append(_row([r.title, r.split, r.tracker, *scores, str(r.sequences),
                           "" if r.fps is None else f"{r.fps:.1f}", r.date,
                           f"`{r.weights_sha256[:SHA_DIGITS]}`" if r.weights_sha256 else ""]))
    legend = []
    if any(k in metrics for k in METRIC_FAMILIES["ope"]):
        legend.append("AUC is the area under the success plot, P the precision at 20 pixels, P_norm the normalized "
                      "precision at 0.20 (one-pass evaluation, as the LaSOT toolkit computes them).")
    if any(k in metrics for k in METRIC_FAMILIES["got10k"]):
        legend.append("AO is the average overlap, SR0.5 and SR0.75 the success rates at those overlaps (GOT-10k "
                      "protocol).")
    # JSON in an HTML comment: "-->" inside a string would end the comment, so ">" is escaped.
    data = json.dumps({"format_version": SECTION_FORMAT_VERSION, "results": [asdict(r) for r in rows]})
    return "\n".join([
        SECTION_START, "## Evaluation results", "", *lines, "",
        " ".join(legend) + f" Scores in percent; frames/s as measured on the evaluation machine; weights: the first "
        f"{SHA_DIGITS} hex digits of the sha256 of the weights file that produced the results. Written by "
        "seqtrack-accel (`push_results_to_card`), which replaces this section; edits inside it are not kept.", "",
        SECTION_DATA + data.replace(">", "\\u003e") + " -->", SECTION_END])


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


# ---------------------------------------------------------------------------------------------------------------
# the push


def push_results_to_card(repo_id: str, results: Iterable[BenchmarkResult], *, token: str | None = None,
                         revision: str | None = None, model_name: str | None = None, endpoint: str | None = None,
                         timeout: float = 60.0) -> CommitInfo:
    """Add ``results`` to the card (README.md) of the model repo ``repo_id``, in one commit that changes only README.md.

    Reads the card (a repo without one gets ``new_card``), merges the results into its table and ``model-index``
    (``update_card``) and commits it on top of the commit it was read at; a card changed meanwhile is read again.

    Args:
        results: one per benchmark and split (``results_from_summary``).
        token: a Hub token with write access; None uses ``HF_TOKEN`` or the ``hf auth login`` token.
        revision: the branch to commit to (default: main).
        model_name: the model-index name; default: the card's, else the repo's name.
        endpoint: the Hub URL; None uses ``HF_ENDPOINT`` (read now) or huggingface.co.
        timeout: seconds per request.

    Returns the commit (``.commit_url``, ``.oid``). Raises HubError naming the repo and saying what to do, ValueError
    for results that cannot go on one card.
    """
    results = list(results)
    if not results:
        raise ValueError(f"no results to push to {repo_id}")
    _check_distinct(results)
    endpoint = resolve_endpoint(endpoint)
    configure_request_timeout(timeout)
    api = make_api(token=token, endpoint=endpoint)
    if not (token or huggingface_hub.get_token()):
        raise HubError(f"no Hugging Face token was found to push results to {repo_id}: run `hf auth login` or set "
                       "HF_TOKEN to a token with write access to the repo")
    benchmarks = ", ".join(f"{r.title} {r.split}" for r in results)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return _push(api, repo_id, results, revision=revision, model_name=model_name,
                         message=f"Add evaluation results: {benchmarks}", timeout=timeout)
        except (HfHubHTTPError, *UNREACHABLE) as err:
            wait = _wait_before_retry(err, attempt)
            if wait is None or attempt == MAX_ATTEMPTS:
                # The transport's traceback would say no more than the message.
                raise _explain(err, repo_id, endpoint, revision) from (
                    err if isinstance(err, HfHubHTTPError) else None)
            logger.warning("pushing results to %s: %s; attempt %d of %d in %.1f s", repo_id, describe_error(err),
                           attempt + 1, MAX_ATTEMPTS, wait)
            time.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _wait_before_retry(err: Exception, attempt: int) -> float | None:
    """Seconds to wait before another attempt after ``err``; None when another attempt cannot help."""
    if isinstance(err, HfHubHTTPError) and err.response.status_code == 412:
        return 0.0  # the branch moved since the card was read: read it again at once
    kind, delay = classify_error(err)
    if kind is not Failure.TRANSIENT:
        return None
    return BACKOFF * 2 ** (attempt - 1) if delay is None else delay


def _push(api: HfApi, repo_id: str, results: list[BenchmarkResult], *, revision: str | None, model_name: str | None,
          message: str, timeout: float) -> CommitInfo:
    info = api.repo_info(repo_id, revision=revision)
    if any(s.rfilename == CARD_FILE for s in info.siblings or []):
        with tempfile.TemporaryDirectory(prefix="seqtrack-hub-") as tmp:  # not the user's cache: read once, then gone
            text = Path(api.hf_hub_download(repo_id, CARD_FILE, revision=info.sha, local_dir=tmp,
                                            etag_timeout=timeout)).read_text(encoding="utf-8")
        try:
            card = ModelCard(text)
        except ValueError as err:  # the metadata block is not a mapping, or its model-index cannot be parsed
            raise HubError(f"the metadata of {repo_id}/{CARD_FILE} cannot be read ({err}); fix its YAML block "
                           "(between the --- lines) on the Hub, then push the results again") from None
    else:
        card = new_card(repo_id)
    name = model_name or card.data.model_name or repo_id.split("/")[-1]
    try:
        card = update_card(card, results, model_name=name)
    except ValueError as err:
        raise HubError(f"{repo_id}: {err}") from None
    # parent_commit: the Hub refuses the commit (412) when the branch moved since the card was read.
    return api.create_commit(repo_id, [CommitOperationAdd(CARD_FILE, str(card).encode())], commit_message=message,
                             revision=revision, parent_commit=info.sha)


def _explain(err: Exception, repo_id: str, endpoint: str, revision: str | None) -> HubError:
    if not isinstance(err, HfHubHTTPError):
        return HubError(f"the Hub at {endpoint} could not be reached to push results to {repo_id} "
                        f"({describe_error(err)}): check the network and HF_ENDPOINT, then push again")
    status = err.response.status_code
    if status == 412:
        return HubError(f"{repo_id}/{CARD_FILE} changed during each of {MAX_ATTEMPTS} attempts to push results; "
                        "push them again when nothing else writes to the repo")
    if isinstance(err, RevisionNotFoundError):
        return HubError(f"{repo_id} has no branch {revision!r} on {endpoint}: create it first "
                        "(HfApi.create_branch) or leave the revision out to push to main")
    if isinstance(err, RepositoryNotFoundError) and status == 404:
        return HubError(f"{repo_id} was not found on {endpoint}: create it with `seqtrack-create-hf-repo {repo_id}`, "
                        "or check the name and that the token may see it (the Hub answers the same for a private "
                        "repo of another account), then push the results again")
    if status == 401 or isinstance(err, RepositoryNotFoundError):
        return HubError(f"the token (HF_TOKEN or `hf auth login`) is not valid for {repo_id} on {endpoint}, or may "
                        "not see the repo: log in again with a token that has write access to it")
    if status == 403:
        return HubError(f"the token may not write to {repo_id} on {endpoint} ({describe_error(err)}): use a token "
                        "with write access to the repo (`hf auth login` or HF_TOKEN), or ask its owner for it")
    if classify_error(err)[0] is Failure.TRANSIENT:
        return HubError(f"the Hub at {endpoint} kept failing to take the results for {repo_id} "
                        f"({describe_error(err)}, {MAX_ATTEMPTS} attempts): push them again later")
    return HubError(f"the Hub refused the results for {repo_id}: {describe_error(err)}")
