"""Talking to the Hub: request timeouts, failure classes, the repo layout and repo checks.

Repo layout written by :class:`seqtrack_accel.hub.HubMirror` (and checked by :func:`check_repo`)::

    README.md                                model card
    latest.json                              {"path": "phase_N/checkpoint_E", "phase", "epoch", "global_step",
                                              "full_state"}; written only after that checkpoint's files are committed
    best.json                                {"path", "phase", "epoch", "metric", "value"}: the run's best checkpoint
                                              (the run folder's best.json), written after its files are committed
    phase_N/checkpoint_E[_stepS]/            model*.safetensors, training_state.json, config.yaml
                                             (+ optimizer*, scheduler*, scaler.pt, random_states_*.pkl when
                                              hub.upload_full_state=true)
    phase_N/plots/loss.png, iou.png          per phase
    plots/loss.png, iou.png                  all phases
    tensorboard/...                          TensorBoard event files

Checkpoint folder names, their order and file names are those of ``seqtrack_accel.run_folder``; ``hub.address``
reads ``hf://`` addresses and downloads what they name.
Every function here takes ``endpoint`` (default: ``$HF_ENDPOINT`` read at call time, else huggingface_hub's
endpoint) and ``token`` (default: ``$HF_TOKEN`` or the ``hf auth login`` token, resolved by huggingface_hub).

huggingface_hub does the HTTP (its shared client, installed with ``set_client_factory``), the listing and the
downloads (``snapshot_download`` pinned to one commit). Kept by hand: the request timeout hook (no setting of the
library reaches every request, see :func:`configure_request_timeout`); the failure classes (``http_backoff``
retries single requests, not a commit, and its status codes and exceptions are private and differ between 1.x
releases).
"""

from __future__ import annotations

import enum
import fnmatch
import importlib
import json
import logging
import os
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import huggingface_hub
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils._http import default_client_factory  # not exported: see configure_request_timeout

from .. import __version__
from .. import run_folder as ckpt
from ..run_folder import BEST_FILE, CheckpointError

logger = logging.getLogger(__name__)

LATEST_FILE = "latest.json"
CARD_FILE = "README.md"
TENSORBOARD_DIR = "tensorboard"

# The HTTP library huggingface_hub sends requests with: httpx in 1.x, httpx2 (a fork with the same API) in 2.x.
# Only 1.31+ exports it (as huggingface_hub.utils.httpx), so the major version picks it.
_httpx = importlib.import_module("httpx" if huggingface_hub.__version__.startswith("1.") else "httpx2")


class HubError(OSError):
    """A Hub operation that cannot succeed as asked; the message names the repo / file and says what to do. An OSError,
    as huggingface_hub's own errors are: what a command reports as bad input."""


def resolve_endpoint(endpoint: str | None = None) -> str:
    """``endpoint``, else ``$HF_ENDPOINT`` read now (huggingface_hub reads it only at import), else the default."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or huggingface_hub.constants.ENDPOINT).rstrip("/")


def make_api(*, token: str | None = None, endpoint: str | None = None) -> HfApi:
    """An ``HfApi`` on the resolved endpoint. ``token=None`` lets huggingface_hub use HF_TOKEN or the login."""
    return HfApi(endpoint=resolve_endpoint(endpoint), token=token, library_name="seqtrack-accel",
                 library_version=__version__)


# ---------------------------------------------------------------------------------------------------------------
# request timeouts

_request_timeout: float | None = None  # seconds, for every request of this process; None: not configured
# Threads whose further requests are refused before they are sent (see abandon_requests)
_abandoned: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
# Per server (scheme, host, port): time.monotonic() of the last HTTP answer of this process, and (time, cause) of the
# last request that got none
_last_answer: dict[tuple[str, str, int], float] = {}
_last_silence: dict[tuple[str, str, int], tuple[float, str]] = {}
# Seconds to connect for a first request (and the mirror's last-chance probe): a Hub that answers connects in well
# under a second, and one that does not (a silent host, a dropped route) must be told in seconds, not request_timeout.
CONNECT_TIMEOUT = 5.0


def configure_request_timeout(seconds: float) -> None:
    """Give every request huggingface_hub makes in this process a timeout of ``seconds`` (connect, read, write).

    No public setting of huggingface_hub 1.x or 2.x reaches every request: ``HF_HUB_DOWNLOAD_TIMEOUT`` and
    ``HF_HUB_ETAG_TIMEOUT`` cover downloads only, ``create_commit`` and ``list_repo_tree`` take no timeout, and
    several calls pass ``timeout=None`` explicitly, which overrides a client-level default. So the shared client,
    installed once with the public ``set_client_factory``, gets a request hook that fills in ``seconds`` where a
    request's own timeout is None, leaving explicit ones (downloads) alone. The client itself comes from
    ``default_client_factory`` (same name in 1.x and 2.x, but not exported), which keeps the library's own hook
    (offline mode, request ids). A later call changes the timeout of the next requests. The client also notes when
    requests get an answer and when they get none, for ``silent_since``.
    """
    global _request_timeout
    if _request_timeout is None:
        huggingface_hub.set_client_factory(_client_with_timeout)
    _request_timeout = seconds


def _client_with_timeout() -> Any:
    def prepare(request: Any) -> None:
        if threading.current_thread() in _abandoned:
            raise RequestsAbandoned(f"{request.method} {request.url} not sent: its thread's work was given up")
        timeout = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {key: _request_timeout if timeout.get(key) is None else timeout[key]
                                         for key in ("connect", "read", "write", "pool")}
        # The transport's trace (httpx's "trace" extension) tells a request that got no answer as it happens; the
        # exception reaches the caller only after huggingface_hub's own retries, which last about 20 s.
        request.extensions["trace"] = _traced(request.extensions.get("trace"), _server(request.url))

    def note_answer(response: Any) -> None:
        _last_answer[_server(response.request.url)] = time.monotonic()

    client = default_client_factory()
    client.event_hooks = {**client.event_hooks, "request": [*client.event_hooks["request"], prepare],
                          "response": [*client.event_hooks.get("response", []), note_answer]}
    return client


class RequestsAbandoned(Exception):
    """Raised by a request of a thread given up with ``abandon_requests``; no retry loop catches it."""


def abandon_requests(thread: threading.Thread) -> None:
    """Refuse every later request of ``thread`` (made after ``configure_request_timeout``) before it is sent.

    For a background thread whose work was given up (the mirror's worker after ``close`` stopped waiting): its
    request in flight ends as it will, and the retries huggingface_hub makes after it raise ``RequestsAbandoned``
    instead of reaching the Hub. Those retries would not only keep a given-up upload going: on each connection error
    huggingface_hub closes the client every thread of the process shares, failing the other threads' requests in
    flight ("Bad file descriptor").
    """
    _abandoned.add(thread)


def _server(url: Any) -> tuple[str, str, int]:
    """(scheme, host, port) of an httpx URL or a URL string, the port filled in where it is the scheme's default."""
    parts = urlsplit(str(url))
    return parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _traced(previous: Any, server: tuple[str, str, int]) -> Any:
    def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith(".failed"):  # connecting, sending or receiving: refused, reset, timed out
            _last_silence[server] = (time.monotonic(), describe_error(info["exception"]))
        if previous is not None:
            previous(event, info)

    return trace


def silent_since(endpoint: str, began: float) -> str | None:
    """Why the Hub at ``endpoint`` does not answer, when no request of this process to it got an answer since
    ``began`` (a ``time.monotonic()``) and the last one got none (its connection refused or reset, or it timed out);
    else None. An HTTP error status is an answer (the Hub is there), and so is nothing: a request still in flight (a
    long upload) leaves the verdict to the requests before it. Sees the requests made after
    ``configure_request_timeout``.
    """
    server = _server(endpoint)
    silence, answer = _last_silence.get(server), _last_answer.get(server)
    if silence is None or (answer is not None and answer >= min(began, silence[0])):
        return None
    return silence[1]


# ---------------------------------------------------------------------------------------------------------------
# failure classes


class Failure(enum.Enum):
    TRANSIENT = "transient"  # 408, 429, 5xx, timeouts, connection errors: retry with backoff
    AUTH = "authentication failed"  # 401, 403: the token is missing, wrong or lacks write access
    PERMANENT = "permanent failure"  # other 4xx, bad local files, invalid card: log, drop the item


# What a request raises when no answer came.
UNREACHABLE = (_httpx.TransportError, TimeoutError, ConnectionError)
# What a failed Hub operation raises (HfHubHTTPError is an OSError): for command-line tools that report it and exit 1.
HUB_ERRORS = (HubError, CheckpointError, OSError, _httpx.TransportError)


def classify_error(err: BaseException) -> tuple[Failure, float | None]:
    """Whether a failed Hub call is worth retrying, and the seconds the Hub asked to wait (Retry-After)."""
    if isinstance(err, HfHubHTTPError):
        status = err.response.status_code
        if status in (401, 403):
            return Failure.AUTH, None
        if status not in (408, 429) and status < 500:
            return Failure.PERMANENT, None
        try:
            return Failure.TRANSIENT, max(0.0, float(err.response.headers.get("Retry-After")))
        except (TypeError, ValueError):  # none, or an HTTP date: exponential backoff instead
            return Failure.TRANSIENT, None
    # json.JSONDecodeError: an error page from a proxy instead of the Hub's JSON (huggingface_hub parses some bodies
    # before checking the status), so the Hub was not really reached. OfflineModeIsEnabled is a ConnectionError.
    # RequestsAbandoned: never sent, the Hub was not reached (its caller stops retrying anyway).
    if isinstance(err, (*UNREACHABLE, json.JSONDecodeError, RequestsAbandoned)):
        return Failure.PERMANENT if isinstance(err, OfflineModeIsEnabled) else Failure.TRANSIENT, None
    return Failure.PERMANENT, None


def describe_error(err: BaseException) -> str:
    """One line naming the error: HTTP status, URL and the server's message when there is one."""
    if isinstance(err, HfHubHTTPError):
        request = err.response.request
        server = err.server_message or str(err).strip().splitlines()[0]
        return f"HTTP {err.response.status_code} on {request.method} {request.url}: {server}"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


# ---------------------------------------------------------------------------------------------------------------
# layout


@dataclass
class RemoteCheckpoint:
    """A checkpoint folder of a repo listing."""

    phase: int
    name: str  # checkpoint_E[_stepS]
    files: dict[str, int] = field(default_factory=dict)  # path inside the folder -> size in bytes

    @property
    def path(self) -> str:
        return f"phase_{self.phase}/{self.name}"

    @property
    def has_weights(self) -> bool:
        return any(fnmatch.fnmatch(n, ckpt.WEIGHTS_PATTERN) for n in self.files)

    @property
    def has_state(self) -> bool:
        return ckpt.STATE_FILE in self.files

    @property
    def full_state(self) -> bool:
        return ckpt.is_full_state(self.files)


@dataclass
class RepoLayout:
    """What a mirrored repo holds at one commit, grouped the way the mirror writes it."""

    repo_id: str
    revision: str
    private: bool | None
    files: dict[str, int]  # path -> size in bytes
    checkpoints: list[RemoteCheckpoint] = field(default_factory=list)  # oldest first
    stray: list[str] = field(default_factory=list)  # files under phase_N/ outside its checkpoint folders and plots/
    latest: dict | None = None
    latest_error: str | None = None  # latest.json (or its checkpoint's training_state.json) could not be read
    latest_state: dict | None = None  # training_state.json of the checkpoint latest.json points at
    best: dict | None = None  # best.json
    best_error: str | None = None  # best.json could not be read

    def __post_init__(self):  # group the files under phase_N/ by checkpoint folder
        folders: dict[str, RemoteCheckpoint] = {}
        for path, size in sorted(self.files.items()):
            parts = path.split("/", 2)
            if (phase := ckpt.PHASE_NAME.match(parts[0])) is None:
                continue
            if len(parts) == 3 and ckpt.CHECKPOINT_NAME.match(parts[1]):
                key = f"{parts[0]}/{parts[1]}"
                folders.setdefault(key, RemoteCheckpoint(int(phase.group(1)), parts[1])).files[parts[2]] = size
            elif not (len(parts) == 3 and parts[1] == "plots"):
                self.stray.append(path)
        self.checkpoints = sorted(folders.values(), key=lambda c: (c.phase, ckpt.checkpoint_order(c.name)))

    @property
    def tensorboard_files(self) -> list[str]:
        return sorted(p for p in self.files if p.startswith(TENSORBOARD_DIR + "/") and "tfevents" in p)

    def listing(self) -> str:
        return ", ".join(c.path for c in self.checkpoints) or "no checkpoints"


# ---------------------------------------------------------------------------------------------------------------
# reading the repo


def _read_json(api: HfApi, repo_id: str, path: str, *, revision: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="seqtrack-hub-") as tmp:  # not the user's cache: read once, then gone
        local = api.hf_hub_download(repo_id, path, revision=revision, local_dir=tmp, etag_timeout=timeout)
        text = Path(local).read_text()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise HubError(f"{repo_id}/{path} is not valid JSON ({err}); fix or delete it on the Hub") from None
    if not isinstance(value, dict):
        raise HubError(f"{repo_id}/{path} must hold a JSON object, got {type(value).__name__}")
    return value


def read_layout(api: HfApi, repo_id: str, *, timeout: float, revision: str | None = None) -> RepoLayout:
    """What the repo holds at the commit of ``revision`` (default: its current one), with latest.json, the
    training_state.json it points at, and best.json.

    Raises RepositoryNotFoundError when the repo is missing (HTTP 404) or hidden from the token (401),
    RevisionNotFoundError when it has no such revision.
    """
    info = api.repo_info(repo_id, revision=revision,
                         timeout=_httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)))
    # Everything below reads that one commit, so a mirror writing meanwhile cannot mix two checkpoints.
    tree = api.list_repo_tree(repo_id, recursive=True, revision=info.sha)
    layout = RepoLayout(repo_id, info.sha, info.private, {e.path: e.size for e in tree if isinstance(e, RepoFile)})
    try:
        if LATEST_FILE in layout.files:
            layout.latest = _read_json(api, repo_id, LATEST_FILE, revision=info.sha, timeout=timeout)
        path = (layout.latest or {}).get("path")
        if isinstance(path, str) and f"{path}/{ckpt.STATE_FILE}" in layout.files:
            layout.latest_state = _read_json(api, repo_id, f"{path}/{ckpt.STATE_FILE}", revision=info.sha,
                                             timeout=timeout)
    except HubError as err:
        layout.latest_error = str(err)
    try:
        if BEST_FILE in layout.files:
            layout.best = _read_json(api, repo_id, BEST_FILE, revision=info.sha, timeout=timeout)
    except HubError as err:
        layout.best_error = str(err)
    return layout


def describe_repo(repo_id: str, *, revision: str | None = None, token: str | None = None,
                  endpoint: str | None = None, timeout: float = 60.0) -> RepoLayout:
    """:func:`read_layout` of ``repo_id``, raising HubError (saying what to check) when the repo is not found or the
    Hub cannot be reached; RevisionNotFoundError when it has no ``revision``."""
    configure_request_timeout(timeout)
    endpoint = resolve_endpoint(endpoint)
    try:
        return read_layout(make_api(token=token, endpoint=endpoint), repo_id, timeout=timeout, revision=revision)
    except RepositoryNotFoundError as err:
        raise HubError(f"repository {repo_id} was not found on {endpoint} (HTTP {err.response.status_code}): check "
                       "the name, and that the token (HF_TOKEN or `hf auth login`) may read it") from err
    except UNREACHABLE as err:  # the cause is in the message: the transport's traceback would say no more
        raise HubError(f"the Hub at {endpoint} could not be reached ({describe_error(err)}): check the network and "
                       "HF_ENDPOINT, or give a local checkpoint folder instead") from None


# ---------------------------------------------------------------------------------------------------------------
# checking the repo


def check_repo(repo_id: str, *, token: str | None = None, endpoint: str | None = None,
               timeout: float = 60.0) -> list[str]:
    """Problems with a mirrored repo's organisation; an empty list means it is fine.

    Checks: every checkpoint folder has weights and training_state.json; latest.json exists, is well formed and
    points at a complete checkpoint (with the full state when it says so), and its phase / epoch / global_step agree
    with that checkpoint's training_state.json; TensorBoard event files and the model card are present; nothing
    stray sits under ``phase_N/``.
    """
    try:
        layout = describe_repo(repo_id, token=token, endpoint=endpoint, timeout=timeout)
    except HubError as err:
        return [str(err)]
    return layout_problems(layout)


def layout_problems(layout: RepoLayout) -> list[str]:
    repo = layout.repo_id
    problems = [] if layout.checkpoints else [
        f"{repo} has no checkpoint folders (phase_N/checkpoint_E/); nothing was mirrored yet"]
    for folder in layout.checkpoints:
        if not folder.has_weights:
            problems.append(f"{repo}/{folder.path} has no weights ({ckpt.WEIGHTS_PATTERN}); re-upload it with "
                            "scripts/upload_checkpoint.py or delete the folder")
        if not folder.has_state:
            problems.append(f"{repo}/{folder.path} has no {ckpt.STATE_FILE}; re-upload it with "
                            "scripts/upload_checkpoint.py or delete the folder")
    problems += [f"{repo}/{path} is outside any phase_N/checkpoint_E/ or phase_N/plots/ folder"
                 for path in layout.stray]
    problems += _latest_problems(layout) + _best_problems(layout)
    if not layout.tensorboard_files:
        problems.append(f"{repo} has no TensorBoard event files under {TENSORBOARD_DIR}/")
    if CARD_FILE not in layout.files:
        problems.append(f"{repo} has no model card ({CARD_FILE})")
    return problems


def _latest_problems(layout: RepoLayout) -> list[str]:
    repo, latest = layout.repo_id, layout.latest
    if layout.latest_error is not None:
        return [layout.latest_error]
    if latest is None:
        return [f"{repo} has no {LATEST_FILE}, so `--resume_from_checkpoint hf://{repo}` cannot find the newest "
                "checkpoint; upload one with scripts/upload_checkpoint.py"]
    problems, target = _pointer_problems(layout, LATEST_FILE, latest, ("path", "phase", "epoch", "global_step",
                                                                       "full_state"))
    if target is None:
        return problems
    if latest["full_state"] and not target.full_state:
        problems.append(f"{repo}/{LATEST_FILE} says {target.path} holds the full state, but its optimizer or RNG "
                        "state files are missing")
    state = layout.latest_state or {}
    problems += [f"{repo}/{LATEST_FILE} says {key}={latest[key]} but {target.path}/{ckpt.STATE_FILE} says {state[key]}"
                 for key in ("phase", "epoch", "global_step") if key in state and state[key] != latest[key]]
    return problems


def _best_problems(layout: RepoLayout) -> list[str]:
    if layout.best_error is not None:
        return [layout.best_error]
    if layout.best is None:
        return []  # a run whose metric was never computed has no best checkpoint
    return _pointer_problems(layout, BEST_FILE, layout.best, ("path",))[0]


def _pointer_problems(layout: RepoLayout, name: str, pointer: dict,
                      keys: tuple[str, ...]) -> tuple[list[str], RemoteCheckpoint | None]:
    """The problems of the pointer file ``name`` (latest.json, best.json) holding ``pointer``, and the checkpoint it
    points at (None when it points at none)."""
    repo = layout.repo_id
    missing = [k for k in keys if k not in pointer]
    if missing:
        return [f"{repo}/{name} lacks {', '.join(missing)}"], None
    target = next((c for c in layout.checkpoints if c.path == pointer["path"]), None)
    if target is None:
        return [f"{repo}/{name} points at {pointer['path']}, which is not in the repo"], None
    if not (target.has_weights and target.has_state):
        return [f"{repo}/{name} points at {target.path}, which is incomplete"], target
    return [], target
