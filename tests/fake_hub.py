"""A local, in-memory server that speaks the part of the Hugging Face Hub HTTP API that ``huggingface_hub`` uses.

It exists so that the Hub mirror, the resume-from-Hub path and the repo tools can be tested (and benchmarked)
without network access. It is test code, not part of the installed package: the tests import it as ``fake_hub``
(pytest puts ``tests/`` on the path), ``scripts/bench_mirror.py`` with ``PYTHONPATH=tests``.

Point a client at it with ``HfApi(endpoint=hub.endpoint)``, or for code that reads the environment,
``HF_ENDPOINT=<hub.endpoint>`` (``huggingface_hub`` reads ``HF_ENDPOINT`` once, at import time, so set it before
importing in a subprocess; in-process, pass ``endpoint=`` explicitly).

What it implements (request and response formats taken from ``huggingface_hub``'s own client code):

* ``GET  /api/whoami-v2``
* ``POST /api/repos/create`` (409 when the repo exists; a Space needs its ``sdk``), ``DELETE /api/repos/delete``
* ``GET  /api/{type}s/{ns}/{name}[/revision/{rev}]`` (repo info with ``sha`` and ``siblings``)
* ``GET  /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]`` (``recursive`` honoured, one page)
* ``POST /api/{type}s/{ns}/{name}/paths-info/{rev}``
* ``GET  /api/{type}s/{ns}/{name}/commits/{rev}``
* ``POST /api/{type}s/{ns}/{name}/preupload/{rev}``: ``"lfs"`` for a file over 10 MiB, with a binary extension
  (``.safetensors``, ``.bin``, ``.pkl``, ``.pt`` ...) or with a NUL byte in its first 512 bytes, the way the Hub
  decides; ``"regular"`` for the rest (and for empty files)
* ``POST /[{type}s/]{ns}/{name}.git/info/lfs/objects/batch`` (LFS batch API, ``upload``, ``basic`` transfer:
  one ``upload`` and one ``verify`` action per object not stored yet, none for one already stored)
* ``PUT  /[{type}s/]{ns}/{name}.git/info/lfs/objects/{oid}?sig=...`` (the raw bytes, single part; refused with
  400 unless their sha256 and size are the ones the batch announced). Like an S3 presigned URL it carries no
  ``Authorization`` header: the ``sig`` the batch answer put in the URL stands for the token.
* ``POST /[{type}s/]{ns}/{name}.git/info/lfs/objects/verify`` (404 unless the object is stored, with that size)
* ``POST /api/{type}s/{ns}/{name}/commit/{rev}`` (NDJSON; ``file`` additions in base64, ``lfsFile`` additions
  naming an uploaded LFS object by sha256, ``deletedFile``, ``deletedFolder``; applied atomically: all of a
  commit's files appear together or none do, and a commit naming an object never uploaded is refused whole)
* ``POST /api/validate-yaml`` (the model card's metadata block must parse as YAML)
* ``HEAD|GET /[{type}s/]{ns}/{name}/resolve/{rev}/{path}`` with ``ETag``, ``X-Repo-Commit``,
  ``Content-Length`` and ``Range`` support; for an LFS file the ``ETag`` is its sha256 and ``X-Linked-Etag`` /
  ``X-Linked-Size`` are set, as the Hub does (served directly rather than through a CDN redirect)

Xet is not spoken. ``huggingface_hub`` uploads every ``"lfs"`` file through Xet whenever ``hf_xet`` is installed,
with no fallback, so :meth:`FakeHub.start` calls :func:`disable_xet` (the in-process equivalent of
``HF_HUB_DISABLE_XET=1``); a client in another process needs ``HF_HUB_DISABLE_XET=1`` in its environment, or
:func:`disable_xet` called in it.

Fault injection: :meth:`FakeHub.inject` queues :class:`Fault` objects; each one is consumed by the next request
whose path contains its ``match`` substring (any request when ``match`` is empty). Every request is recorded in
:attr:`FakeHub.requests` and every commit in :meth:`FakeHub.commits`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import json
import logging
import socket
import struct
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable
from urllib.parse import parse_qs, unquote, urlsplit

import huggingface_hub.constants
import yaml

logger = logging.getLogger(__name__)

_REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"


# The Hub's rule for "lfs" answers to preupload: big files, binary files, and the extensions its default
# .gitattributes routes to LFS (a subset: the ones this project writes plus the common weight formats).
LFS_MIN_SIZE = 10 * 1024 * 1024  # bytes
LFS_EXTENSIONS = (".safetensors", ".bin", ".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".h5", ".npy", ".npz",
                  ".msgpack", ".onnx", ".gz", ".zip", ".tar")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def disable_xet() -> None:
    """Make ``huggingface_hub`` in this process upload ``"lfs"`` files through the LFS batch API, not Xet.

    The same as ``HF_HUB_DISABLE_XET=1`` at import time; ``huggingface_hub`` reads the constant on every upload.
    """
    if not huggingface_hub.constants.HF_HUB_DISABLE_XET:
        logger.info("FakeHub: disabling Xet uploads in this process (FakeHub speaks the LFS batch API only)")
        huggingface_hub.constants.HF_HUB_DISABLE_XET = True


def wants_lfs(path: str, size: int, sample: bytes) -> bool:
    """Whether the Hub answers ``"lfs"`` for a file of ``size`` bytes whose first bytes are ``sample``."""
    if size == 0:
        return False  # huggingface_hub uploads empty files as regular whatever the answer
    return size > LFS_MIN_SIZE or path.lower().endswith(LFS_EXTENSIONS) or b"\0" in sample


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that stands in the git tree for an LFS file (its blob sha1 is the tree oid)."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file's content (what the Hub reports as ``oid`` / ``ETag`` of a regular file)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Fault:
    """One scripted failure, consumed by the next request whose path contains ``match``.

    Build them with the class methods: ``Fault.status(500)`` answers that HTTP status with a JSON error body
    (``retry_after`` adds a ``Retry-After`` header, in seconds); ``Fault.hang(2.0)`` holds the request for that
    many seconds and then drops the connection without an answer; ``Fault.down(1.0)`` resets this connection and
    every other one for that many seconds (the server looks unreachable).
    """

    kind: str  # "status" | "hang" | "down"
    code: int = 0
    seconds: float = 0.0
    retry_after: float | None = None
    match: str = ""

    @classmethod
    def status(cls, code: int, *, retry_after: float | None = None, match: str = "") -> Fault:
        return cls("status", code=code, retry_after=retry_after, match=match)

    @classmethod
    def hang(cls, seconds: float, *, match: str = "") -> Fault:
        return cls("hang", seconds=seconds, match=match)

    @classmethod
    def down(cls, seconds: float, *, match: str = "") -> Fault:
        return cls("down", seconds=seconds, match=match)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it. ``status`` is None when no answer was sent (hang, down)."""

    method: str
    path: str
    query: str
    status: int | None
    fault: str | None
    time: float  # time.monotonic() when the request arrived
    authorized: bool


@dataclass(frozen=True)
class Commit:
    oid: str
    repo_id: str
    summary: str
    added: tuple[str, ...]
    deleted: tuple[str, ...]
    time: float  # time.monotonic() when the commit was applied


@dataclass
class _Repo:
    repo_id: str
    repo_type: str
    private: bool
    created_at: str
    sdk: str | None = None  # a Space's: gradio, docker or static
    commits: list[Commit] = field(default_factory=list)
    snapshots: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit oid -> {path: content}
    lfs_paths: dict[str, dict[str, str]] = field(default_factory=dict)  # commit oid -> {LFS path: sha256}
    lfs_objects: dict[str, bytes] = field(default_factory=dict)  # sha256 -> content, uploaded through LFS

    @property
    def head(self) -> str:
        return self.commits[-1].oid

    def files(self, revision: str) -> dict[str, bytes] | None:
        if revision == "main":
            return self.snapshots[self.head]
        return self.snapshots.get(revision)

    def lfs(self, revision: str) -> dict[str, str]:
        """LFS path -> sha256 at ``revision`` (empty for an unknown revision)."""
        return self.lfs_paths.get(self.head if revision == "main" else revision, {})


class _HubError(Exception):
    """An HTTP error answer: status, message, and the ``X-Error-Code`` the client maps to an exception class."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}  # more fields of the JSON body (the Hub's 409 on create names the existing repo)


class FakeHub:
    """A Hub-compatible HTTP server on ``127.0.0.1`` (free port), served from a background thread.

    Args:
        token: when set, every request must carry ``Authorization: Bearer <token>`` or it is answered 401.
        user: the name ``whoami`` returns and the namespace of repos created without an organisation.

    Use as a context manager (``with FakeHub() as hub: ...``) or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, *, token: str | None = None, user: str = "tester"):
        self.token = token
        self.user = user
        self._lock = threading.Lock()
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._faults: deque[Fault] = deque()
        self._requests: list[RequestRecord] = []
        self._down_until = 0.0
        self._commit_counter = 0
        self._upload_key = secrets.token_bytes(16)  # signs the upload URLs the LFS batch answer hands out
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------------------------------------------------------
    # lifecycle

    def start(self) -> FakeHub:
        if self._server is not None:
            raise RuntimeError("FakeHub.start() was called twice; create a new FakeHub for a fresh server")
        disable_xet()
        handler = type("_BoundHandler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True  # a hanging fault must not keep the process alive
        # A short poll interval makes stop() quick; the accept loop costs nothing noticeable at 50 ms.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="FakeHub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeHub is not running; call start() or use it as a context manager")
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as ``HfApi(endpoint=...)`` or ``HF_ENDPOINT``."""
        return f"http://127.0.0.1:{self.port}"

    # -------------------------------------------------------------------------------------------------------------
    # test controls

    def inject(self, faults: Iterable[Fault]) -> None:
        """Queue faults; each is consumed, in order, by the next request whose path contains its ``match``."""
        with self._lock:
            self._faults.extend(faults)

    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def commits(self, repo_id: str, repo_type: str = "model") -> list[Commit]:
        """Every commit of the repo, oldest first (the first one is the repo's creation)."""
        with self._lock:
            return list(self._repo(repo_type, repo_id).commits)

    def files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, bytes]:
        """Path -> content of the repo at ``revision`` (a branch name or a commit oid)."""
        with self._lock:
            files = self._repo(repo_type, repo_id).files(revision)
            if files is None:
                raise KeyError(f"{repo_id} has no revision {revision!r}")
            return dict(files)

    def repo_exists(self, repo_id: str, repo_type: str = "model") -> bool:
        with self._lock:
            return (repo_type, repo_id) in self._repos

    def create_repo(self, repo_id: str, *, repo_type: str = "model", private: bool = True) -> None:
        """Create a repo directly (tests that need a repo in a given state, without a client round trip)."""
        with self._lock:
            self._create_repo(repo_type, repo_id, private)

    def commit_files(
        self,
        repo_id: str,
        add: dict[str, bytes] | None = None,
        *,
        delete: Iterable[str] = (),
        summary: str = "test commit",
        repo_type: str = "model",
    ) -> str:
        """Commit directly on the server (to build a repo in a given, possibly broken, state). Returns the oid."""
        with self._lock:
            repo = self._repo(repo_type, repo_id)
            return self._apply_commit(repo, summary, dict(add or {}), list(delete), [])

    # -------------------------------------------------------------------------------------------------------------
    # state helpers (called with self._lock held)

    def _repo(self, repo_type: str, repo_id: str) -> _Repo:
        repo = self._repos.get((repo_type, repo_id))
        if repo is None:
            raise _HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _create_repo(self, repo_type: str, repo_id: str, private: bool) -> _Repo:
        if (repo_type, repo_id) in self._repos:
            url = f"{self.endpoint if self._server else ''}/{_URL_PREFIX[repo_type]}{repo_id}"
            raise _HubError(409, f"You already created this {repo_type} repo: {repo_id}", extra={"url": url})
        repo = _Repo(repo_id=repo_id, repo_type=repo_type, private=private, created_at=_now_iso())
        self._repos[(repo_type, repo_id)] = repo
        # The Hub creates every repo with one commit holding .gitattributes; clients rely on a head sha existing.
        self._apply_commit(repo, "initial commit", {".gitattributes": _GITATTRIBUTES}, [], [])
        return repo

    def _apply_commit(
        self, repo: _Repo, summary: str, add: dict[str, bytes], delete: list[str], delete_folders: list[str],
        lfs_add: dict[str, str] | None = None,
    ) -> str:
        """Apply a commit whole or not at all. ``lfs_add`` maps LFS paths (also keys of ``add``) to their sha256."""
        files = dict(repo.snapshots[repo.head]) if repo.commits else {}
        lfs = dict(repo.lfs_paths[repo.head]) if repo.commits else {}
        for path in delete:
            if path not in files:
                raise _HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            del files[path]
            lfs.pop(path, None)
        for folder in delete_folders:
            prefix = folder.rstrip("/") + "/"
            doomed = [p for p in files if p.startswith(prefix)]
            if not doomed:
                raise _HubError(404, f"A folder with this name doesn't exist: {folder}", "EntryNotFound")
            for p in doomed:
                del files[p]
                lfs.pop(p, None)
        files.update(add)
        for path in add:
            lfs.pop(path, None)  # a regular upload replaces an LFS file of the same path
        lfs.update(lfs_add or {})
        self._commit_counter += 1
        oid = hashlib.sha1(f"{repo.repo_id}:{self._commit_counter}:{time.time_ns()}".encode()).hexdigest()
        repo.snapshots[oid] = files
        repo.lfs_paths[oid] = lfs
        repo.commits.append(
            Commit(oid=oid, repo_id=repo.repo_id, summary=summary, added=tuple(add), deleted=tuple(delete)
                   + tuple(delete_folders), time=time.monotonic())
        )
        return oid

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            if time.monotonic() < self._down_until:
                return Fault.down(0.0)
            if self._faults and self._faults[0].match in path:
                fault = self._faults.popleft()
                if fault.kind == "down":
                    self._down_until = time.monotonic() + fault.seconds
                return fault
            return None

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class _Handler(BaseHTTPRequestHandler):
    """Routes one request to the FakeHub bound on the subclass (``hub``)."""

    hub: FakeHub
    protocol_version = "HTTP/1.0"  # one request per connection: simple, and a dropped connection drops one request

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        logger.debug("FakeHub: " + format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # -------------------------------------------------------------------------------------------------------------

    def _serve(self) -> None:
        arrived = time.monotonic()
        split = urlsplit(self.path)
        authorized = (self.hub.token is None or self.headers.get("authorization") == f"Bearer {self.hub.token}"
                      or self._presigned(split.path, parse_qs(split.query)))
        fault = self.hub._take_fault(split.path)
        if fault is not None and fault.kind in ("hang", "down"):
            self.hub._record(RequestRecord(self.command, split.path, split.query, None, fault.kind, arrived,
                                           authorized))
            if fault.kind == "hang":
                self.hub._stopping.wait(fault.seconds)
                self._drop(reset=False)
            else:
                self._drop(reset=True)
            return
        status: int
        try:
            if fault is not None:  # kind == "status"
                headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
                raise _HubError(fault.code, f"injected fault: HTTP {fault.code}", headers=headers)
            if not authorized:
                raise _HubError(401, "Invalid credentials in Authorization header")
            status, headers, body = self._route(self.command, split.path, parse_qs(split.query))
        except _HubError as err:
            status, body = err.status, json.dumps({"error": err.message, **err.extra}).encode()
            headers = {"Content-Type": "application/json", "X-Error-Message": err.message, **err.headers}
            if err.code is not None:
                headers["X-Error-Code"] = err.code
        self.hub._record(RequestRecord(self.command, split.path, split.query, status,
                                       fault.kind if fault else None, arrived, authorized))
        self._answer(status, headers, body)

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("FakeHub: client went away before the answer to %s %s", self.command, self.path)

    def _drop(self, *, reset: bool) -> None:
        """Close the connection without answering; ``reset`` sends a TCP RST (what an unreachable host looks like)."""
        self.close_connection = True
        try:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            logger.debug("FakeHub: connection already closed while dropping %s %s", self.command, self.path)

    def finish(self) -> None:
        try:
            super().finish()
        except (OSError, ValueError):
            # The connection was deliberately dropped by a fault: there is nothing left to flush.
            logger.debug("FakeHub: dropped connection finished")

    def _presigned(self, path: str, query: dict[str, list[str]]) -> bool:
        """Whether this is an LFS upload PUT whose URL carries the signature the batch answer gave it."""
        if self.command != "PUT":
            return False
        return self._presigned_for(unquote(path) + f"?size={query.get('size', [''])[0]}", query)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -------------------------------------------------------------------------------------------------------------
    # routing

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] == ["api", "whoami-v2"] and method == "GET":
            return self._json(self._whoami())
        if parts[:3] == ["api", "repos", "create"] and method == "POST":
            return self._json(self._create(json.loads(self._read_body() or b"{}")))
        if parts[:3] == ["api", "repos", "delete"] and method == "DELETE":
            return self._json(self._delete(json.loads(self._read_body() or b"{}")))
        if parts[:2] == ["api", "validate-yaml"] and method == "POST":
            return self._validate_yaml(json.loads(self._read_body() or b"{}"))
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in _REPO_TYPES:
            return self._repo_api(method, _REPO_TYPES[parts[1]], f"{parts[2]}/{parts[3]}", parts[4:], query)
        if "info" in parts and any(p.endswith(".git") for p in parts):
            return self._lfs_api(method, parts)
        if "resolve" in parts and method in ("GET", "HEAD"):
            return self._resolve(parts)
        raise _HubError(404, f"FakeHub does not implement {method} {path}")

    def _json(self, payload: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _whoami(self) -> dict:
        return {"type": "user", "name": self.hub.user, "fullname": self.hub.user, "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "fake-hub", "role": "write"}}}

    def _create(self, payload: dict) -> dict:
        name = payload.get("name")
        if not name:
            raise _HubError(400, "create: 'name' is required")
        namespace = payload.get("organization") or self.hub.user
        repo_type = payload.get("type") or "model"
        repo_id = f"{namespace}/{name}"
        private = payload.get("visibility", "private" if payload.get("private") else "public") != "public"
        if repo_type == "space" and payload.get("sdk") not in ("gradio", "docker", "static"):
            raise _HubError(400, f"create: a Space needs an 'sdk' (gradio, docker or static), not "
                                 f"{payload.get('sdk')!r}")
        with self.hub._lock:
            repo = self.hub._create_repo(repo_type, repo_id, private)
            repo.sdk = payload.get("sdk")
        return {"url": f"{self.hub.endpoint}/{_URL_PREFIX[repo_type]}{repo_id}", "name": repo_id, "id": repo_id}

    def _delete(self, payload: dict) -> dict:
        namespace = payload.get("organization") or self.hub.user
        repo_id = f"{namespace}/{payload.get('name')}"
        with self.hub._lock:
            self.hub._repo(payload.get("type") or "model", repo_id)
            del self.hub._repos[(payload.get("type") or "model", repo_id)]
        return {}

    def _validate_yaml(self, payload: dict) -> tuple[int, dict[str, str], bytes]:
        content = payload.get("content", "")
        errors = []
        if content.startswith("---"):
            block = content.split("---", 2)
            try:
                if len(block) < 3:
                    raise yaml.YAMLError("the metadata block is not closed by a '---' line")
                yaml.safe_load(block[1])
            except yaml.YAMLError as err:
                errors.append({"message": f"invalid YAML in the metadata block: {err}"})
        return self._json({"errors": errors, "warnings": []}, 400 if errors else 200)

    def _repo_api(
        self, method: str, repo_type: str, repo_id: str, rest: list[str], query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], bytes]:
        with self.hub._lock:
            repo = self.hub._repo(repo_type, repo_id)
            if not rest and method == "GET":
                return self._json(self._info(repo, "main"))
            if len(rest) < 2:
                raise _HubError(404, f"FakeHub does not implement {method} {'/'.join(rest)} on {repo_id}")
            action, revision, sub = rest[0], rest[1], "/".join(rest[2:])
            if action == "revision" and method == "GET":
                return self._json(self._info(repo, revision))
            files = repo.files(revision)
            if files is None:
                raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if action == "tree" and method == "GET":
                recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
                return self._json(self._tree(files, repo.lfs(revision), sub, recursive))
            if action == "commits" and method == "GET":
                return self._json(self._commit_list(repo, revision))
        # Requests with a body are read outside the lock: a slow client must not stall every other request.
        body = self._read_body()
        with self.hub._lock:
            repo = self.hub._repo(repo_type, repo_id)
            files = repo.files(revision)
            if files is None:
                raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if action == "paths-info" and method == "POST":
                return self._json(self._paths_info(files, repo.lfs(revision), parse_qs(body.decode())))
            if action == "preupload" and method == "POST":
                return self._json(self._preupload(files, json.loads(body)))
            if action == "commit" and method == "POST":
                return self._json(self._commit(repo, revision, body, query))
        raise _HubError(404, f"FakeHub does not implement {method} {action} on {repo_id}")

    def _info(self, repo: _Repo, revision: str) -> dict:
        files = repo.files(revision)
        if files is None:
            raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        sha = repo.head if revision == "main" else revision
        return {
            "id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": sha, "private": repo.private,
            "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
            "createdAt": repo.created_at, "lastModified": _now_iso(),
            "siblings": [{"rfilename": p, "size": len(c)} for p, c in sorted(files.items())],
            **({"sdk": repo.sdk} if repo.repo_type == "space" else {}),
        }

    @staticmethod
    def _file_entry(path: str, content: bytes, lfs: dict[str, str]) -> dict:
        """A tree / paths-info entry: an LFS file's ``oid`` is its pointer's blob sha1, plus an ``lfs`` block."""
        if path not in lfs:
            return {"type": "file", "path": path, "size": len(content), "oid": git_blob_sha1(content)}
        pointer = lfs_pointer(lfs[path], len(content))
        return {"type": "file", "path": path, "size": len(content), "oid": git_blob_sha1(pointer),
                "lfs": {"oid": lfs[path], "size": len(content), "pointerSize": len(pointer)}}

    @classmethod
    def _tree(cls, files: dict[str, bytes], lfs: dict[str, str], under: str, recursive: bool) -> list[dict]:
        prefix = under.strip("/") + "/" if under.strip("/") else ""
        entries: dict[str, dict] = {}
        for path, content in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):].split("/")
            # Folders between the listed one and the file: all of them when recursive, the first one otherwise.
            for depth in range(1, len(rest) if recursive else min(len(rest), 2)):
                folder = prefix + "/".join(rest[:depth])
                entries.setdefault(folder, {"type": "directory", "path": folder, "size": 0,
                                            "oid": hashlib.sha1(folder.encode()).hexdigest()})
            if recursive or len(rest) == 1:
                entries[path] = cls._file_entry(path, content, lfs)
        if prefix and not entries:
            raise _HubError(404, f"{under} does not exist on this revision", "EntryNotFound")
        return list(entries.values())

    @classmethod
    def _paths_info(cls, files: dict[str, bytes], lfs: dict[str, str], form: dict[str, list[str]]) -> list[dict]:
        out = []
        for path in form.get("paths", []):
            if path in files:
                out.append(cls._file_entry(path, files[path], lfs))
            elif any(p.startswith(path.rstrip("/") + "/") for p in files):
                out.append({"type": "directory", "path": path, "size": 0,
                            "oid": hashlib.sha1(path.encode()).hexdigest()})
        return out

    @staticmethod
    def _commit_list(repo: _Repo, revision: str) -> list[dict]:
        commits = repo.commits
        if revision != "main":
            commits = commits[: [c.oid for c in commits].index(revision) + 1]
        return [{"id": c.oid, "title": c.summary, "message": c.summary, "authors": [], "date": _now_iso()}
                for c in reversed(commits)]

    @staticmethod
    def _preupload(files: dict[str, bytes], payload: dict) -> dict:
        answer = []
        for item in payload.get("files", []):
            path = item["path"]
            lfs = wants_lfs(path, int(item.get("size", 0)), base64.b64decode(item.get("sample", "")))
            answer.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                           "oid": git_blob_sha1(files[path]) if path in files else None})
        return {"files": answer}

    def _commit(self, repo: _Repo, revision: str, body: bytes, query: dict[str, list[str]]) -> dict:
        if revision != "main":
            raise _HubError(400, f"FakeHub only commits to 'main', not {revision!r}")
        if query.get("create_pr"):
            raise _HubError(400, "FakeHub does not implement pull requests")
        summary = ""
        add: dict[str, bytes] = {}
        lfs_add: dict[str, str] = {}
        delete: list[str] = []
        delete_folders: list[str] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item.get("key"), item.get("value", {})
            if key == "header":
                summary = value.get("summary", "")
                parent = value.get("parentCommit")
                if parent is not None and parent != repo.head:
                    raise _HubError(412, f"parentCommit {parent} is not the head of main ({repo.head})")
            elif key == "file":
                if value.get("encoding") != "base64":
                    raise _HubError(400, f"file {value.get('path')}: only base64 encoding is supported")
                add[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                delete.append(value["path"])
            elif key == "deletedFolder":
                delete_folders.append(value["path"])
            elif key == "lfsFile":
                path, sha256 = value.get("path"), value.get("oid")
                if value.get("algo", "sha256") != "sha256":
                    raise _HubError(400, f"lfsFile {path}: only sha256 object ids are supported")
                if sha256 not in repo.lfs_objects:
                    raise _HubError(400, f"lfsFile {path}: the LFS object {sha256} was never uploaded to "
                                         f"{repo.repo_id}; upload it through the LFS batch API before committing")
                add[path] = repo.lfs_objects[sha256]
                lfs_add[path] = sha256
            else:
                raise _HubError(400, f"unknown commit operation {key!r}")
        if not summary:
            raise _HubError(400, "the commit header (summary) is missing")
        oid = self.hub._apply_commit(repo, summary, add, delete, delete_folders, lfs_add)
        return {"success": True, "commitOid": oid, "hookOutput": "",
                "commitUrl": f"{self.hub.endpoint}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}/commit/{oid}"}

    def _resolve(self, parts: list[str]) -> tuple[int, dict[str, str], bytes]:
        repo_type = "model"
        if parts[0] in ("datasets", "spaces"):
            repo_type, parts = _REPO_TYPES[parts[0]], parts[1:]
        if len(parts) < 5 or parts[2] != "resolve":
            raise _HubError(404, f"not a resolve URL: {'/'.join(parts)}")
        repo_id, revision, path = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
        with self.hub._lock:
            repo = self.hub._repo(repo_type, repo_id)
            files = repo.files(revision)
            if files is None:
                raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            commit = repo.head if revision == "main" else revision
            if path not in files:
                raise _HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit})
            content = files[path]
            sha256 = repo.lfs(revision).get(path)
        headers = {"Content-Type": "application/octet-stream", "X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        if sha256 is None:
            headers["ETag"] = f'"{git_blob_sha1(content)}"'
        else:
            # What the Hub sends for an LFS file: the content's sha256 as the (linked) etag, and its size.
            headers.update({"ETag": f'"{sha256}"', "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(content))})
        status, total = HTTPStatus.OK.value, len(content)
        byte_range = self.headers.get("Range", "")
        if byte_range.startswith("bytes="):
            start_text, _, end_text = byte_range[len("bytes="):].partition("-")
            start = int(start_text or 0)
            end = int(end_text) if end_text else total - 1
            content = content[start:end + 1]
            status = HTTPStatus.PARTIAL_CONTENT.value
            headers["Content-Range"] = f"bytes {start}-{start + len(content) - 1}/{total}"
        headers["Content-Length"] = str(len(content))
        return status, headers, content

    # -------------------------------------------------------------------------------------------------------------
    # LFS: batch API, upload, verify

    def _lfs_api(self, method: str, parts: list[str]) -> tuple[int, dict[str, str], bytes]:
        repo_type = "model"
        if parts[0] in ("datasets", "spaces"):
            repo_type, parts = _REPO_TYPES[parts[0]], parts[1:]
        if len(parts) < 6 or not parts[1].endswith(".git") or parts[2:5] != ["info", "lfs", "objects"]:
            raise _HubError(404, f"FakeHub does not implement {method} {'/'.join(parts)}")
        repo_id, action = f"{parts[0]}/{parts[1][:-len('.git')]}", parts[5]
        base = f"{self.hub.endpoint}/{_URL_PREFIX[repo_type]}{repo_id}.git/info/lfs/objects"
        # The body is read (and an upload hashed) outside the lock: a 100 MB upload must not stall other requests.
        body = self._read_body()
        if action == "batch" and method == "POST":
            payload = json.loads(body or b"{}")
            with self.hub._lock:
                repo = self.hub._repo(repo_type, repo_id)
                answer = self._lfs_batch(repo, payload, base)
            return 200, {"Content-Type": "application/vnd.git-lfs+json"}, json.dumps(answer).encode()
        if action == "verify" and method == "POST":
            payload = json.loads(body or b"{}")
            with self.hub._lock:
                stored = self.hub._repo(repo_type, repo_id).lfs_objects.get(payload.get("oid"))
            if stored is None or len(stored) != payload.get("size"):
                raise _HubError(404, f"LFS object {payload.get('oid')} of {payload.get('size')} bytes is not "
                                     f"stored in {repo_id}; upload it before verifying")
            return self._json({"success": True})
        if method == "PUT" and len(parts) == 6:
            return self._lfs_put(repo_type, repo_id, action, body)
        raise _HubError(404, f"FakeHub does not implement {method} LFS {action} on {repo_id}")

    def _lfs_batch(self, repo: _Repo, payload: dict, base: str) -> dict:
        if payload.get("operation") != "upload":
            raise _HubError(400, f"LFS batch: FakeHub only implements operation 'upload', "
                                 f"not {payload.get('operation')!r}")
        if payload.get("hash_algo", "sha256") != "sha256":
            raise _HubError(400, f"LFS batch: only hash_algo 'sha256' is supported, not {payload['hash_algo']!r}")
        if "basic" not in payload.get("transfers", ["basic"]):
            raise _HubError(400, f"LFS batch: FakeHub only offers the 'basic' transfer, the client asked for "
                                 f"{payload.get('transfers')}")
        objects = []
        for item in payload.get("objects", []):
            oid, size = item.get("oid"), item.get("size")
            if not isinstance(oid, str) or not _SHA256.match(oid) or not isinstance(size, int) or size < 0:
                objects.append({"oid": str(oid), "size": size if isinstance(size, int) else -1,
                                "error": {"code": 422, "message": "oid must be a sha256 hex digest, size >= 0"}})
            elif oid in repo.lfs_objects:
                objects.append({"oid": oid, "size": size})  # already stored: no actions, the client skips it
            else:
                upload = f"{base}/{oid}"
                sig = _sign(self.hub, urlsplit(upload).path + f"?size={size}")
                objects.append({"oid": oid, "size": size, "authenticated": True, "actions": {
                    "upload": {"href": f"{upload}?size={size}&sig={sig}", "header": {}},
                    "verify": {"href": f"{base}/verify", "header": {}},
                }})
        return {"transfer": "basic", "objects": objects}

    def _lfs_put(self, repo_type: str, repo_id: str, oid: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(self.path)
        size = parse_qs(split.query).get("size", [""])[0]
        if not self._presigned_for(unquote(split.path) + f"?size={size}", parse_qs(split.query)):
            raise _HubError(403, f"LFS upload of {oid}: the URL's signature does not match; use the href the "
                                 "batch answer gave")
        if str(len(body)) != size:
            raise _HubError(400, f"LFS upload of {oid}: received {len(body)} bytes, the batch announced {size}")
        actual = hashlib.sha256(body).hexdigest()
        if actual != oid:
            raise _HubError(400, f"LFS upload: the content's sha256 is {actual}, not the announced {oid}")
        with self.hub._lock:
            self.hub._repo(repo_type, repo_id).lfs_objects[oid] = body
        return 200, {}, b""

    def _presigned_for(self, signed: str, query: dict[str, list[str]]) -> bool:
        return hmac.compare_digest(query.get("sig", [""])[0], _sign(self.hub, signed))


def _sign(hub: FakeHub, path: str) -> str:
    """The signature an upload URL carries in place of the token (an S3 presigned URL has no Authorization)."""
    return hmac.new(hub._upload_key, path.encode(), hashlib.sha256).hexdigest()
