"""Talking to the Hub: request timeouts, error classes, the repo layout, checkpoint download and repo checks.

Repo layout written by :class:`seqtrack_accel.hub.HubMirror` (and checked by :func:`check_repo`)::

    README.md                                model card
    latest.json                              {"path": "phase_N/checkpoint_E", "phase", "epoch", "global_step",
                                              "full_state"}; written only after that checkpoint's files are committed
    phase_N/checkpoint_E[_stepS]/            model*.safetensors, training_state.json, config.yaml
                                             (+ optimizer*, scheduler*, scaler.pt, random_states_*.pkl when
                                              hub.upload_full_state=true)
    phase_N/plots/loss.png, iou.png          per phase
    plots/loss.png, iou.png                  all phases
    tensorboard/...                          TensorBoard event files

Every function here takes ``endpoint`` (default: ``$HF_ENDPOINT`` read at call time, else huggingface_hub's
endpoint) and ``token`` (default: ``$HF_TOKEN`` or the ``hf auth login`` token, resolved by huggingface_hub).
"""

from __future__ import annotations

import enum
import fnmatch
import importlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import huggingface_hub
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

from seqtrack_accel import __version__

logger = logging.getLogger(__name__)

HF_SCHEME = "hf://"
LATEST_FILE = "latest.json"
CARD_FILE = "README.md"
STATE_FILE = "training_state.json"
CONFIG_FILE = "config.yaml"
TENSORBOARD_DIR = "tensorboard"
WEIGHTS_PATTERN = "model*.safetensors"  # Accelerate names the first model's weights model.safetensors, then model_1...
PHASE_DIR_RE = re.compile(r"^phase_(\d+)$")
CHECKPOINT_DIR_RE = re.compile(r"^checkpoint_(\d+)(?:_step(\d+))?$")


class HubError(RuntimeError):
    """A Hub operation that cannot succeed as asked; the message names the repo / file and says what to do."""


# ---------------------------------------------------------------------------------------------------------------
# endpoint, token, API client


def resolve_endpoint(endpoint: str | None = None) -> str:
    """``endpoint``, else ``$HF_ENDPOINT`` read now (huggingface_hub reads it only at import), else the default."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or huggingface_hub.constants.ENDPOINT).rstrip("/")


def make_api(*, token: str | None = None, endpoint: str | None = None) -> HfApi:
    """An ``HfApi`` on the resolved endpoint. ``token=None`` lets huggingface_hub use HF_TOKEN or the login."""
    return HfApi(endpoint=resolve_endpoint(endpoint), token=token, library_name="seqtrack-accel",
                 library_version=__version__)


# ---------------------------------------------------------------------------------------------------------------
# request timeouts; the only place that knows which HTTP library the installed huggingface_hub uses

_timeout_lock = threading.Lock()
_configured_timeout: float | None = None


def _hub_major_version() -> int:
    return int(huggingface_hub.__version__.split(".")[0])


def _http_private_module() -> Any:
    # The default client/session factory is not exported; wrapping it keeps huggingface_hub's own request hook
    # (offline mode, request ids) instead of re-creating it.
    return importlib.import_module("huggingface_hub.utils._http")


def configure_request_timeout(seconds: float) -> None:
    """Give every request huggingface_hub makes in this process a timeout of ``seconds`` (connect, read, write).

    huggingface_hub's default client has no timeout, and several calls (repo info, tree listing, commit) pass
    ``timeout=None`` explicitly, which disables a client-level default. So the client built here also fills in
    ``seconds`` for any request whose own timeout is None, and leaves explicit timeouts (downloads) alone.

    huggingface_hub 1.x (httpx) and 2.x (httpx2): ``set_client_factory``; 0.x (requests): ``configure_http_backend``.
    Calling it again with the same value does nothing (re-configuring closes the shared client).
    """
    global _configured_timeout
    with _timeout_lock:
        if _configured_timeout == seconds:
            return
        major = _hub_major_version()
        http_module = _http_private_module()
        if major >= 1:
            httpx_like = importlib.import_module("httpx2" if major >= 2 else "httpx")
            default_factory = http_module.default_client_factory

            def fill_missing_timeout(request: Any) -> None:
                current = request.extensions.get("timeout") or {}
                request.extensions["timeout"] = {
                    key: seconds if current.get(key) is None else current[key]
                    for key in ("connect", "read", "write", "pool")
                }

            def client_factory() -> Any:
                client = default_factory()
                client.timeout = httpx_like.Timeout(seconds)
                hooks = dict(client.event_hooks)
                hooks["request"] = [*hooks.get("request", []), fill_missing_timeout]
                client.event_hooks = hooks
                return client

            huggingface_hub.set_client_factory(client_factory)
        else:
            default_factory = http_module._default_backend_factory

            def backend_factory() -> Any:
                session = default_factory()
                send = session.request

                def request_with_timeout(method: str, url: str, **kwargs: Any) -> Any:
                    if kwargs.get("timeout") is None:
                        kwargs["timeout"] = seconds
                    return send(method, url, **kwargs)

                session.request = request_with_timeout
                return session

            huggingface_hub.configure_http_backend(backend_factory=backend_factory)
        _configured_timeout = seconds


def reset_request_timeout() -> None:
    """Give huggingface_hub back its own default client (no timeout), undoing ``configure_request_timeout``."""
    global _configured_timeout
    with _timeout_lock:
        if _configured_timeout is None:
            return
        http_module = _http_private_module()
        if _hub_major_version() >= 1:
            huggingface_hub.set_client_factory(http_module.default_client_factory)
        else:
            huggingface_hub.configure_http_backend(backend_factory=http_module._default_backend_factory)
        _configured_timeout = None


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning the request did not get an HTTP answer (connection refused/reset, timeout)."""
    major = _hub_major_version()
    if major >= 1:
        return (importlib.import_module("httpx2" if major >= 2 else "httpx").TransportError,)
    requests = importlib.import_module("requests")
    return (requests.ConnectionError, requests.Timeout)


def hub_errors() -> tuple[type[BaseException], ...]:
    """What a failed Hub operation raises: for command-line tools that report it and exit non-zero."""
    return (HubError, HfHubHTTPError, OSError, *_transport_errors())


# ---------------------------------------------------------------------------------------------------------------
# error classes


class FailureKind(enum.Enum):
    TRANSIENT = "transient"  # 408, 429, 5xx, timeouts, connection errors: retry with backoff
    AUTH = "authentication"  # 401, 403: the token is missing, wrong or lacks write access; retrying cannot help
    PERMANENT = "permanent"  # other 4xx, bad local files, invalid card: log, drop the item


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    status: int | None = None
    retry_after: float | None = None  # seconds, from the Retry-After header


def classify_error(err: BaseException) -> Failure:
    """Decide whether a failed Hub call is worth retrying."""
    if isinstance(err, HfHubHTTPError) and getattr(err, "response", None) is not None:
        status = err.response.status_code
        if status in (401, 403):
            return Failure(FailureKind.AUTH, status)
        if status in (408, 429) or status >= 500:
            return Failure(FailureKind.TRANSIENT, status, _retry_after(err.response.headers))
        return Failure(FailureKind.PERMANENT, status)
    if isinstance(err, OfflineModeIsEnabled):
        return Failure(FailureKind.PERMANENT)
    if isinstance(err, _transport_errors()) or isinstance(err, (TimeoutError, ConnectionError)):
        return Failure(FailureKind.TRANSIENT)
    if isinstance(err, json.JSONDecodeError):
        # An error page from a proxy instead of the Hub's JSON (huggingface_hub parses some bodies before checking
        # the status): the Hub was not really reached.
        return Failure(FailureKind.TRANSIENT)
    return Failure(FailureKind.PERMANENT)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to exponential backoff


def describe_error(err: BaseException) -> str:
    """One line naming the error: HTTP status, URL and the server's message when there is one."""
    response = getattr(err, "response", None)
    if isinstance(err, HfHubHTTPError) and response is not None:
        request = getattr(response, "request", None)
        where = f" on {request.method} {request.url}" if request is not None else ""
        server = getattr(err, "server_message", None) or str(err).strip().splitlines()[0]
        return f"HTTP {response.status_code}{where}: {server}"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


# ---------------------------------------------------------------------------------------------------------------
# layout


def is_weights_file(name: str) -> bool:
    return fnmatch.fnmatch(name, WEIGHTS_PATTERN)


def is_full_state(names: Iterable[str]) -> bool:
    """Whether a checkpoint's file names include the optimizer and RNG states needed to resume training."""
    names = [n.rsplit("/", 1)[-1] for n in names]
    has_rng = any(fnmatch.fnmatch(n, "random_states_*.pkl") for n in names)
    return has_rng and any(n.startswith("optimizer") for n in names)


def checkpoint_order(phase: int, name: str) -> tuple[int, int, int, int]:
    """Sort key of a checkpoint folder: by phase, epoch, then mid-epoch (``_stepS``) before end of epoch."""
    match = CHECKPOINT_DIR_RE.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a checkpoint folder name (checkpoint_E or checkpoint_E_stepS)")
    epoch, step = int(match.group(1)), match.group(2)
    return (phase, epoch, 0 if step is not None else 1, int(step or 0))


@dataclass(frozen=True)
class CheckpointSpec:
    """``hf://ORG/NAME`` (``path`` None: the newest checkpoint per latest.json) or ``hf://ORG/NAME/phase_N/ckpt``."""

    repo_id: str
    path: str | None


def is_hub_spec(text: str | os.PathLike) -> bool:
    return str(text).startswith(HF_SCHEME)


def parse_spec(spec: str) -> CheckpointSpec:
    if not is_hub_spec(spec):
        raise HubError(f"{spec!r} is not a Hub checkpoint: write hf://ORG/NAME or hf://ORG/NAME/phase_N/checkpoint_E")
    parts = [p for p in spec[len(HF_SCHEME):].split("/") if p]
    if len(parts) == 2:
        return CheckpointSpec(f"{parts[0]}/{parts[1]}", None)
    if len(parts) == 4 and PHASE_DIR_RE.match(parts[2]) and CHECKPOINT_DIR_RE.match(parts[3]):
        return CheckpointSpec(f"{parts[0]}/{parts[1]}", f"{parts[2]}/{parts[3]}")
    raise HubError(f"{spec!r} is not a Hub checkpoint: write hf://ORG/NAME (the newest, per latest.json) or "
                   "hf://ORG/NAME/phase_N/checkpoint_E[_stepS]")


@dataclass
class RemoteCheckpoint:
    path: str  # phase_N/checkpoint_E[_stepS]
    phase: int
    files: dict[str, int] = field(default_factory=dict)  # name inside the folder -> size in bytes

    @property
    def name(self) -> str:
        return self.path.split("/", 1)[1]

    @property
    def has_weights(self) -> bool:
        return any(is_weights_file(n) for n in self.files)

    @property
    def has_state(self) -> bool:
        return STATE_FILE in self.files

    @property
    def full_state(self) -> bool:
        return is_full_state(self.files)


def group_checkpoints(files: dict[str, int]) -> tuple[list[RemoteCheckpoint], list[str]]:
    """Checkpoint folders found in a repo listing (sorted), and files under ``phase_N/`` that fit no known place."""
    checkpoints: dict[str, RemoteCheckpoint] = {}
    stray = []
    for path, size in files.items():
        parts = path.split("/")
        phase = PHASE_DIR_RE.match(parts[0])
        if phase is None:
            continue
        if len(parts) >= 3 and CHECKPOINT_DIR_RE.match(parts[1]):
            folder = f"{parts[0]}/{parts[1]}"
            ckpt = checkpoints.setdefault(folder, RemoteCheckpoint(folder, int(phase.group(1))))
            ckpt.files["/".join(parts[2:])] = size
        elif not (len(parts) >= 3 and parts[1] == "plots"):
            stray.append(path)
    ordered = sorted(checkpoints.values(), key=lambda c: checkpoint_order(c.phase, c.name))
    return ordered, sorted(stray)


# ---------------------------------------------------------------------------------------------------------------
# reading the repo


def list_remote_files(api: HfApi, repo_id: str, *, revision: str | None = None) -> dict[str, int]:
    """Path -> size of every file in the repo (recursive listing)."""
    return {
        entry.path: entry.size
        for entry in api.list_repo_tree(repo_id, recursive=True, revision=revision)
        if isinstance(entry, RepoFile)
    }


def read_remote_json(api: HfApi, repo_id: str, path: str, *, revision: str | None = None,
                     timeout: float | None = None) -> dict | None:
    """A small JSON file of the repo, parsed; None when the file does not exist."""
    with tempfile.TemporaryDirectory(prefix="seqtrack-hub-") as tmp:
        try:
            local = api.hf_hub_download(repo_id, path, revision=revision, local_dir=tmp,
                                        **({"etag_timeout": timeout} if timeout else {}))
        except EntryNotFoundError:
            return None
        text = Path(local).read_text()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise HubError(f"{repo_id}/{path} is not valid JSON ({err}); fix or delete it on the Hub") from None
    if not isinstance(value, dict):
        raise HubError(f"{repo_id}/{path} must hold a JSON object, got {type(value).__name__}")
    return value


def _repo_not_found(repo_id: str, endpoint: str, err: BaseException) -> HubError:
    status = getattr(getattr(err, "response", None), "status_code", "?")
    return HubError(f"repository {repo_id} was not found on {endpoint} (HTTP {status}): check the name, and that "
                    "the token (HF_TOKEN or `hf auth login`) may read it")


def download_checkpoint(
    spec: str,
    dest: Path,
    *,
    token: str | None = None,
    timeout: float = 60.0,
    endpoint: str | None = None,
    weights_only: bool = False,
) -> Path:
    """Download a mirrored checkpoint folder and return its local path, ready to resume from.

    Args:
        spec: ``hf://ORG/NAME`` (the checkpoint latest.json points at) or ``hf://ORG/NAME/phase_N/checkpoint_E``.
        dest: local folder; the checkpoint lands in ``dest/phase_N/checkpoint_E/``.
        timeout: seconds per request.
        weights_only: fetch only the weights, training_state.json and config.yaml (for inference); without it the
            checkpoint must hold the full training state.

    Raises:
        HubError: the repo, latest.json or the checkpoint is missing, or the checkpoint lacks the full state
            (it was mirrored without ``hub.upload_full_state=true``).
    """
    parsed = parse_spec(spec)
    configure_request_timeout(timeout)
    endpoint = resolve_endpoint(endpoint)
    api = make_api(token=token, endpoint=endpoint)
    try:
        revision = api.repo_info(parsed.repo_id, timeout=timeout).sha
    except RepositoryNotFoundError as err:
        raise _repo_not_found(parsed.repo_id, endpoint, err) from err
    # Everything below reads the same commit, so a mirror writing meanwhile cannot mix two checkpoints.
    files = list_remote_files(api, parsed.repo_id, revision=revision)
    checkpoints, _ = group_checkpoints(files)
    path = parsed.path
    if path is None:
        latest = read_remote_json(api, parsed.repo_id, LATEST_FILE, revision=revision, timeout=timeout)
        if latest is None:
            raise HubError(f"{parsed.repo_id} has no {LATEST_FILE}, so there is no newest checkpoint to resume from; "
                           f"name one instead: {HF_SCHEME}{parsed.repo_id}/phase_N/checkpoint_E "
                           f"(the repo holds: {', '.join(c.path for c in checkpoints) or 'no checkpoints'})")
        path = latest.get("path")
        if not isinstance(path, str):
            raise HubError(f"{parsed.repo_id}/{LATEST_FILE} has no 'path' string; fix it or name a checkpoint")
    found = next((c for c in checkpoints if c.path == path), None)
    if found is None:
        raise HubError(f"{path} is not in {parsed.repo_id}; the repo holds: "
                       f"{', '.join(c.path for c in checkpoints) or 'no checkpoints'}")
    if not (found.has_weights and found.has_state):
        raise HubError(f"{parsed.repo_id}/{path} is incomplete (no weights or no {STATE_FILE}); "
                       "pick another checkpoint (scripts/check_repo.py lists them)")
    if weights_only:
        patterns = [f"{path}/{WEIGHTS_PATTERN}", f"{path}/{STATE_FILE}", f"{path}/{CONFIG_FILE}"]
    elif not found.full_state:
        raise HubError(f"{parsed.repo_id}/{path} holds the weights only: it was mirrored without "
                       "hub.upload_full_state=true, so it has no optimizer / scheduler / RNG state to resume from. "
                       "Start a new run from its weights instead, or mirror with hub.upload_full_state=true")
    else:
        patterns = [f"{path}/*"]
    dest = Path(dest)
    huggingface_hub.snapshot_download(parsed.repo_id, revision=revision, allow_patterns=patterns, local_dir=dest,
                                      token=token, endpoint=endpoint, etag_timeout=timeout)
    local = dest / path
    for name, size in found.files.items():
        wanted = any(fnmatch.fnmatch(f"{path}/{name}", p) for p in patterns)
        if wanted and (not (local / name).is_file() or (local / name).stat().st_size != size):
            raise HubError(f"download of {parsed.repo_id}/{path}/{name} into {local} is incomplete; rerun to retry")
    logger.info("downloaded %s%s/%s into %s", HF_SCHEME, parsed.repo_id, path, local)
    return local


@dataclass
class RepoLayout:
    """What a mirrored repo holds, grouped the way the mirror writes it."""

    repo_id: str
    files: dict[str, int]
    checkpoints: list[RemoteCheckpoint]
    stray: list[str]
    latest: dict | None
    latest_error: str | None = None  # latest.json (or its checkpoint's training_state.json) could not be read
    latest_state: dict | None = None  # training_state.json of the checkpoint latest.json points at

    @property
    def tensorboard_files(self) -> list[str]:
        return sorted(p for p in self.files if p.startswith(TENSORBOARD_DIR + "/") and "tfevents" in p)


def describe_repo(repo_id: str, *, token: str | None = None, endpoint: str | None = None,
                  timeout: float = 60.0) -> RepoLayout:
    """List a repo and group its files by phase and checkpoint. Raises HubError when the repo is missing."""
    configure_request_timeout(timeout)
    endpoint = resolve_endpoint(endpoint)
    api = make_api(token=token, endpoint=endpoint)
    try:
        revision = api.repo_info(repo_id, timeout=timeout).sha
    except RepositoryNotFoundError as err:
        raise _repo_not_found(repo_id, endpoint, err) from err
    files = list_remote_files(api, repo_id, revision=revision)
    checkpoints, stray = group_checkpoints(files)
    latest, latest_error = None, None
    if LATEST_FILE in files:
        try:
            latest = read_remote_json(api, repo_id, LATEST_FILE, revision=revision, timeout=timeout)
        except HubError as err:
            latest_error = str(err)
    layout = RepoLayout(repo_id, files, checkpoints, stray, latest, latest_error)
    if latest is not None and isinstance(latest.get("path"), str) and f"{latest['path']}/{STATE_FILE}" in files:
        try:
            layout.latest_state = read_remote_json(api, repo_id, f"{latest['path']}/{STATE_FILE}",
                                                   revision=revision, timeout=timeout)
        except HubError as err:
            layout.latest_error = str(err)
    return layout


def check_repo(repo_id: str, *, token: str | None = None, endpoint: str | None = None,
               timeout: float = 60.0) -> list[str]:
    """Problems with a mirrored repo's organisation; an empty list means it is fine.

    Checks: every checkpoint folder has weights and training_state.json; latest.json exists, is well formed and
    points at a complete checkpoint (with the full state when it says so), and
    its phase / epoch / global_step agree with that checkpoint's training_state.json; TensorBoard event files and
    the model card are present; nothing stray sits under ``phase_N/``.
    """
    try:
        layout = describe_repo(repo_id, token=token, endpoint=endpoint, timeout=timeout)
    except HubError as err:
        return [str(err)]
    return layout_problems(layout)


def layout_problems(layout: RepoLayout) -> list[str]:
    problems = []
    repo = layout.repo_id
    if not layout.checkpoints:
        problems.append(f"{repo} has no checkpoint folders (phase_N/checkpoint_E/); nothing was mirrored yet")
    for ckpt in layout.checkpoints:
        if not ckpt.has_weights:
            problems.append(f"{repo}/{ckpt.path} has no weights ({WEIGHTS_PATTERN}); re-upload it with "
                            "scripts/upload_checkpoint.py or delete the folder")
        if not ckpt.has_state:
            problems.append(f"{repo}/{ckpt.path} has no {STATE_FILE}; re-upload it with scripts/upload_checkpoint.py "
                            "or delete the folder")
    for path in layout.stray:
        problems.append(f"{repo}/{path} is outside any phase_N/checkpoint_E/ or phase_N/plots/ folder")
    problems.extend(_latest_problems(layout))
    if not layout.tensorboard_files:
        problems.append(f"{repo} has no TensorBoard event files under {TENSORBOARD_DIR}/")
    if CARD_FILE not in layout.files:
        problems.append(f"{repo} has no model card ({CARD_FILE})")
    return problems


def _latest_problems(layout: RepoLayout) -> list[str]:
    repo = layout.repo_id
    if layout.latest_error is not None:
        return [layout.latest_error]
    latest = layout.latest
    if latest is None:
        return [f"{repo} has no {LATEST_FILE}, so `--resume_from_checkpoint hf://{repo}` cannot find the newest "
                "checkpoint; upload one with scripts/upload_checkpoint.py"]
    missing = [k for k in ("path", "phase", "epoch", "global_step", "full_state") if k not in latest]
    if missing:
        return [f"{repo}/{LATEST_FILE} lacks {', '.join(missing)}"]
    target = next((c for c in layout.checkpoints if c.path == latest["path"]), None)
    if target is None:
        return [f"{repo}/{LATEST_FILE} points at {latest['path']}, which is not in the repo"]
    problems = []
    if not (target.has_weights and target.has_state):
        problems.append(f"{repo}/{LATEST_FILE} points at {target.path}, which is incomplete")
    if latest["full_state"] and not target.full_state:
        problems.append(f"{repo}/{LATEST_FILE} says {target.path} holds the full state, but its optimizer or RNG "
                        "state files are missing")
    state = layout.latest_state
    if state is not None:
        for key in ("phase", "epoch", "global_step"):
            if key in state and state[key] != latest[key]:
                problems.append(f"{repo}/{LATEST_FILE} says {key}={latest[key]} but {target.path}/{STATE_FILE} "
                                f"says {state[key]}")
    return problems

