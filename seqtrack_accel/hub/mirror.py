"""Mirror a training run to the Hugging Face Hub from a background thread, without ever stopping training.

The trainer (main process only) calls::

    mirror = HubMirror(cfg.hub, run_dir)
    mirror.start()                                  # create the repo if missing, list what is there
    mirror.sync_missing()                           # a resumed run: upload what an earlier run did not
    ...
    mirror.submit_checkpoint(ckpt_dir, phase)       # after each checkpoint; returns in about a millisecond
    ...
    not_mirrored = mirror.close()                   # wait up to hub.final_wait seconds for pending uploads

``submit_checkpoint`` hard-links the checkpoint's files into ``DIR/.hub_staging/`` right away (rotation may delete
the checkpoint folder at any moment after), and queues one job. The worker thread then makes, per checkpoint:

1. one commit with the checkpoint's files under ``phase_N/<folder name>/`` (weights, training_state.json,
   config.yaml; plus optimizer, scheduler, scaler and RNG files when ``hub.upload_full_state``);
2. one commit with the plots (``plots/``, ``phase_N/plots/``), the TensorBoard files (``tensorboard/``), any
   ``extra`` files and the model card ``README.md``;
3. only when commit 1 succeeded, one commit with ``latest.json``, so latest.json never points at missing files.

Transient failures (HTTP 408 / 429 / 5xx, timeouts, connection errors) are retried with exponential backoff from
``hub.backoff_base`` to ``hub.backoff_max`` seconds, waiting ``Retry-After`` when the Hub sends it, at most
``hub.max_retries`` times. Other HTTP 4xx are logged with their cause and the item is dropped. An authentication
failure (401 / 403) is logged once and disables mirroring. Training is never blocked or stopped by the Hub.
A checkpoint that could not be mirrored keeps its staged copy in ``DIR/.hub_staging/``: a later run's
``sync_missing`` (or scripts/upload_checkpoint.py) uploads it.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import huggingface_hub
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from seqtrack_accel.config import HubConfig

from .model_card import render_model_card
from .remote import (
    CARD_FILE,
    CHECKPOINT_DIR_RE,
    CONFIG_FILE,
    LATEST_FILE,
    PHASE_DIR_RE,
    STATE_FILE,
    TENSORBOARD_DIR,
    FailureKind,
    HubError,
    checkpoint_order,
    classify_error,
    configure_request_timeout,
    describe_error,
    is_full_state,
    is_weights_file,
    list_remote_files,
    make_api,
    read_remote_json,
    resolve_endpoint,
)

logger = logging.getLogger(__name__)

STAGING_DIR = ".hub_staging"


def lower_thread_priority(niceness: int = 19) -> None:
    """Give the calling thread (and the upload threads it starts, which inherit it) the lowest CPU priority.

    Linux schedules threads individually, so on a machine whose cores are busy with training (DataLoader workers,
    intra-op threads) the hashing and sending of checkpoint files takes only the CPU time training leaves idle.
    Elsewhere (no per-thread niceness) this does nothing.
    """
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), niceness))
    except OSError as err:  # not permitted, or not Linux: mirroring works the same, only less politely
        logger.debug("could not lower the mirror thread's priority: %s", err)


# ---------------------------------------------------------------------------------------------------------------
# files


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (microseconds, no extra space), or copy where links are impossible.

    A hard link is a snapshot for files that are replaced, never rewritten in place: true of checkpoint files
    (the trainer writes a new folder each time) and of anything written atomically (temp file, then rename).
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except FileNotFoundError:
        raise
    except OSError:  # another filesystem, or one without hard links
        shutil.copy2(src, dst)


def checkpoint_files(folder: Path, *, full_state: bool) -> list[Path]:
    """The files of a checkpoint folder to mirror: weights and training_state.json, or every file with ``full_state``.

    Raises FileNotFoundError naming the folder when it lacks weights or training_state.json.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    top = [p for p in files if p.parent == folder]
    if not any(is_weights_file(p.name) for p in top) or not any(p.name == STATE_FILE for p in top):
        raise FileNotFoundError(f"{folder} has no model*.safetensors or no {STATE_FILE}: pass a checkpoint folder "
                                "written by the trainer (Accelerate's save_state)")
    if full_state:
        return files
    return [p for p in top if is_weights_file(p.name) or p.name in (STATE_FILE, CONFIG_FILE)]


def _read_state(folder: Path) -> dict:
    path = folder / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise HubError(f"{path} is not valid JSON ({err}); is the checkpoint complete?") from None
    for key in ("phase", "epoch", "global_step", "history"):
        if key not in state:
            raise HubError(f"{path} has no {key!r}; it was not written by this trainer")
    return state


# ---------------------------------------------------------------------------------------------------------------
# retries


class Outcome(enum.Enum):
    OK = "ok"
    AUTH = "authentication failed"
    PERMANENT = "permanent failure"
    EXHAUSTED = "retries exhausted"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def backoff_delay(attempt: int, cfg: HubConfig, retry_after: float | None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): ``Retry-After`` when the Hub sent it, else exponential."""
    if retry_after is not None:
        return retry_after  # the Hub said when; waiting less only earns another 429
    return min(cfg.backoff_max, cfg.backoff_base * 2 ** (attempt - 1))


def call_with_retries(fn: Callable[[], object], *, cfg: HubConfig, what: str, stop: threading.Event) -> Result:
    """Run ``fn``, retrying transient Hub failures; ``stop`` cuts a backoff wait short (then STOPPED)."""
    attempt = 0
    while True:
        try:
            fn()
            return Result(Outcome.OK)
        except Exception as err:  # every failure is classified below and either retried or returned to the caller
            failure = classify_error(err)
            if failure.kind is FailureKind.AUTH:
                return Result(Outcome.AUTH, err)
            if failure.kind is FailureKind.PERMANENT:
                return Result(Outcome.PERMANENT, err)
            attempt += 1
            if attempt > cfg.max_retries:
                return Result(Outcome.EXHAUSTED, err)
            delay = backoff_delay(attempt, cfg, failure.retry_after)
            logger.warning("%s: %s; retry %d of %d in %.2f s", what, describe_error(err), attempt, cfg.max_retries,
                           delay)
            if stop.wait(delay):
                return Result(Outcome.STOPPED, err)


def _traceback_if_unexpected(err: BaseException) -> BaseException | None:
    """``err`` when it is not an answer from the Hub (likely a bug, whose traceback belongs in the log), else None."""
    return None if isinstance(err, HfHubHTTPError) else err


# ---------------------------------------------------------------------------------------------------------------
# the mirror


@dataclass
class _Job:
    label: str  # what a user reads in "not mirrored" lists
    run: Callable[[], None]
    staging: Path | None = None


@dataclass
class _Staged:
    """A checkpoint snapshot under DIR/.hub_staging/<job>/: files at their repo paths below ``root``."""

    root: Path  # the job's staging folder
    phase: int
    name: str  # checkpoint folder name
    state: dict  # its training_state.json
    files: list[str] = field(default_factory=list)  # repo paths, relative to root
    extra: list[str] = field(default_factory=list)  # repo paths of the caller's extra files, relative to root

    @property
    def repo_dir(self) -> str:
        return f"phase_{self.phase}/{self.name}"


class HubMirror:
    """Mirrors ``run_dir`` to ``cfg.repo_id``. Main process only; see the module docstring for the protocol.

    Args:
        cfg: the ``hub`` section of the config (repo, privacy, full state, timeouts, retries).
        run_dir: the run folder (``config.yaml``, ``phase_N/checkpoints/...``, ``plots/``, ``tensorboard/``).
        token: a Hub token; None uses ``HF_TOKEN`` or the ``hf auth login`` token. Never logged or written.
        endpoint: the Hub URL; None uses ``HF_ENDPOINT`` (read now) or huggingface.co.
    """

    def __init__(self, cfg: HubConfig, run_dir: Path, *, token: str | None = None, endpoint: str | None = None):
        if not cfg.repo_id:
            raise ValueError("HubMirror needs hub.repo_id=ORG/NAME; leave the mirror out when it is empty")
        self.cfg = cfg
        self.repo_id = cfg.repo_id
        self.run_dir = Path(run_dir)
        self.endpoint = resolve_endpoint(endpoint)
        self._has_token = (token or huggingface_hub.get_token()) is not None
        self._api: HfApi = make_api(token=token, endpoint=self.endpoint)
        self._staging_root = self.run_dir / STAGING_DIR
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._current: _Job | None = None
        self._closing = False
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._not_mirrored: list[str] = []
        self._disabled: str | None = None  # why mirroring stopped for good (authentication)
        self._repo_ready = False
        self._remote: dict[str, int] = {}  # repo path -> size, of files known to be on the Hub
        # repo path -> (size, mtime_ns, inode) of the local plot / TensorBoard file when it was last committed:
        # unchanged files (older event files, plots between step checkpoints) are not sent again. Plots are replaced
        # atomically, so each redraw has a new inode even within one coarse timestamp tick.
        self._committed_stat: dict[str, tuple[int, int, int]] = {}
        self._latest_key: tuple[int, int] | None = None  # (phase, global_step) latest.json points at
        configure_request_timeout(cfg.request_timeout)

    # -------------------------------------------------------------------------------------------------------------
    # public API

    def start(self) -> None:
        """Create the repo if missing (private per ``hub.private``) and list its files.

        Never raises for the Hub: a network failure is logged and retried by the worker; an authentication
        failure is logged once and disables mirroring; training goes on either way.
        """
        try:
            self._ensure_repo()
        except Exception as err:  # classified: start must never stop training
            failure = classify_error(err)
            if failure.kind is FailureKind.TRANSIENT:
                logger.warning("Hub %s is not reachable now (%s); uploads will retry in the background",
                               self.endpoint, describe_error(err))
            else:
                self._disable(failure.kind, err)
        self._ensure_worker()

    def submit_checkpoint(self, checkpoint_dir: Path, phase: int, extra: dict[str, Path] | None = None) -> None:
        """Snapshot a just-written checkpoint (hard links) and queue its upload; returns at once.

        Args:
            checkpoint_dir: ``DIR/phase_N/checkpoints/checkpoint_E[_stepS]``, complete (renamed into place).
            phase: the phase N it belongs to; it is uploaded to ``phase_N/<folder name>/``.
            extra: more files to upload with the plots, as {repo path: local file or folder}; they are snapshot
                now too, so replace them atomically rather than rewriting them in place.

        Raises FileNotFoundError / HubError (naming the file) when ``checkpoint_dir`` is not a checkpoint folder.
        """
        if self._closed:
            raise RuntimeError(f"HubMirror for {self.repo_id} is closed; submit checkpoints before close()")
        checkpoint_dir = Path(checkpoint_dir)
        label = f"phase_{phase}/{checkpoint_dir.name}"
        if CHECKPOINT_DIR_RE.match(checkpoint_dir.name) is None:
            raise HubError(f"{checkpoint_dir} is not named checkpoint_E or checkpoint_E_stepS; the Hub layout and "
                           "latest.json rely on that name")
        if self._disabled is not None:
            self._note_not_mirrored(f"{label}: mirroring is disabled ({self._disabled})")
            return
        staged = self._stage(checkpoint_dir, phase, extra or {})
        self._enqueue(_Job(label, lambda: self._mirror_checkpoint(staged), staged.root))

    def sync_missing(self) -> None:
        """Queue the upload of whatever the run folder has and the Hub lacks (compared by path and size).

        For a run that resumes into an existing repo: checkpoints (and staged copies an earlier run could not
        upload), plots, TensorBoard files, the card if missing, and latest.json if the newest local checkpoint
        is newer than the one it points at. Files already on the Hub are not uploaded again.
        """
        if self._disabled is not None:
            return
        self._enqueue(_Job("files missing from the Hub (sync)", self._sync))

    def close(self, timeout: float | None = None) -> list[str]:
        """Wait up to ``timeout`` seconds (default ``hub.final_wait``) for pending uploads, then stop the worker.

        Returns a line per thing that was not mirrored (and logs them); empty when everything is on the Hub.
        """
        timeout = self.cfg.final_wait if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closing = True
            self._closed = True
            self._cond.notify_all()
            while self._queue or self._current is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            pending = ([self._current] if self._current is not None else []) + list(self._queue)
            self._queue.clear()
        if pending:
            # An upload in flight cannot be interrupted; it ends within hub.request_timeout on a daemon thread.
            self._stop.set()
        elif self._thread is not None:
            self._thread.join(timeout=5)
        not_mirrored = list(self._not_mirrored) + [
            f"{job.label}: still pending when close() gave up after {timeout:g} s"
            + (f" (staged copy kept in {job.staging})" if job.staging is not None else "") for job in pending
        ]
        self._remove_empty_staging()
        if not_mirrored:
            logger.warning("not mirrored to %s:\n  %s", self.repo_id, "\n  ".join(not_mirrored))
        else:
            logger.info("everything is mirrored to %s/%s", self.endpoint, self.repo_id)
        return not_mirrored

    # -------------------------------------------------------------------------------------------------------------
    # worker

    def _ensure_worker(self) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"hub-mirror {self.repo_id}", daemon=True)
                self._thread.start()

    def _enqueue(self, job: _Job) -> None:
        self._ensure_worker()
        with self._cond:
            self._queue.append(job)
            self._cond.notify_all()

    def _work(self) -> None:
        lower_thread_priority()
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue or self._stop.is_set():
                    return
                job = self._current = self._queue.popleft()
            try:
                job.run()
            except Exception:  # the worker must outlive any one job; the traceback goes to the log
                logger.exception("mirroring %s to %s failed", job.label, self.repo_id)
                self._note_not_mirrored(f"{job.label}: failed with an unexpected error (see the log)")
            finally:
                with self._cond:
                    self._current = None
                    self._cond.notify_all()

    def _note_not_mirrored(self, text: str) -> None:
        with self._cond:
            self._not_mirrored.append(text)

    def _disable(self, kind: FailureKind, err: BaseException) -> None:
        """Stop mirroring for good, logging why exactly once."""
        with self._cond:
            if self._disabled is not None:
                return
            self._disabled = f"{kind.value}: {describe_error(err)}"
        if kind is FailureKind.AUTH:
            hint = ("no Hugging Face token was found: set HF_TOKEN or run `hf auth login`" if not self._has_token else
                    "the token (HF_TOKEN or `hf auth login`) is invalid or may not write to "
                    f"{self.repo_id.split('/')[0]}")
        else:
            hint = (f"the Hub refused the request for {self.repo_id}; check hub.repo_id and the environment "
                    "(HF_ENDPOINT, HF_HUB_OFFLINE)")
        logger.error("Hub mirroring to %s/%s is disabled (%s): %s. Training goes on; upload later with "
                     "scripts/upload_checkpoint.py or a resumed run with the same hub.repo_id.",
                     self.endpoint, self.repo_id, self._disabled, hint, exc_info=_traceback_if_unexpected(err))

    # -------------------------------------------------------------------------------------------------------------
    # Hub calls (worker thread, or start())

    def _ensure_repo(self) -> None:
        """Create the repo if it is missing and list it, once per mirror (retried until it succeeds)."""
        if self._repo_ready:
            return
        try:
            info = self._api.repo_info(self.repo_id, timeout=self.cfg.request_timeout)
            logger.info("mirroring the run to the existing repo %s/%s", self.endpoint, self.repo_id)
            if info.private is not None and info.private != self.cfg.private:
                logger.warning("%s is %s although hub.private=%s; its visibility is left as it is (change it in "
                               "the repo settings)", self.repo_id, "private" if info.private else "public",
                               str(self.cfg.private).lower())
        except RepositoryNotFoundError as err:
            if err.response is None or err.response.status_code != 404:
                raise  # 401 means "not allowed to see it", not "missing"
            url = self._api.create_repo(self.repo_id, private=self.cfg.private, exist_ok=True)
            logger.info("created the %s repo %s", "private" if self.cfg.private else "public", url)
        self._refresh_remote()
        self._repo_ready = True

    def _refresh_remote(self) -> None:
        self._remote = list_remote_files(self._api, self.repo_id)
        if LATEST_FILE in self._remote:
            try:
                latest = read_remote_json(self._api, self.repo_id, LATEST_FILE, timeout=self.cfg.request_timeout)
            except HubError as err:
                # The next checkpoint's latest.json replaces it; refusing every upload over it would help no one.
                logger.warning("%s; it will be overwritten by the next checkpoint's", err)
                return
            if latest is not None and "phase" in latest and "global_step" in latest:
                self._latest_key = (int(latest["phase"]), int(latest["global_step"]))

    def _commit(self, files: list[tuple[str, Path | bytes]], message: str, what: str) -> bool:
        """One commit of ``files`` ([(repo path, local file or content)]), with retries. True when on the Hub."""
        if self._disabled is not None or not files:
            return self._disabled is None

        def attempt() -> None:
            self._ensure_repo()
            # Fresh operations per attempt: huggingface_hub mutates them and refuses to reuse committed ones.
            operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(src) if isinstance(src, Path)
                                             else src) for path, src in files]
            self._api.create_commit(self.repo_id, operations, commit_message=message)

        result = call_with_retries(attempt, cfg=self.cfg, what=what, stop=self._stop)
        if result.ok:
            for path, src in files:
                self._remote[path] = src.stat().st_size if isinstance(src, Path) else len(src)
            return True
        assert result.error is not None
        if result.outcome is Outcome.AUTH:
            self._disable(FailureKind.AUTH, result.error)
        elif result.outcome is Outcome.PERMANENT:
            logger.error("%s failed and was dropped: %s", what, describe_error(result.error),
                         exc_info=_traceback_if_unexpected(result.error))
        elif result.outcome is Outcome.EXHAUSTED:
            logger.error("%s failed %d times and was dropped: %s", what, self.cfg.max_retries + 1,
                         describe_error(result.error))
        return False

    # -------------------------------------------------------------------------------------------------------------
    # staging (caller's thread: must stay cheap)

    def _stage(self, checkpoint_dir: Path, phase: int, extra: dict[str, Path]) -> _Staged:
        files = checkpoint_files(checkpoint_dir, full_state=self.cfg.upload_full_state)
        state = _read_state(checkpoint_dir)
        self._staging_root.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=f"phase_{phase}-{checkpoint_dir.name}-", dir=self._staging_root))
        staged = _Staged(root, phase, checkpoint_dir.name, state)
        for src in files:
            rel = f"{staged.repo_dir}/{src.relative_to(checkpoint_dir).as_posix()}"
            link_or_copy(src, root / rel)
            staged.files.append(rel)
        config = self.run_dir / CONFIG_FILE
        if not (checkpoint_dir / CONFIG_FILE).exists() and config.is_file():
            link_or_copy(config, root / staged.repo_dir / CONFIG_FILE)
            staged.files.append(f"{staged.repo_dir}/{CONFIG_FILE}")
        for repo_path, local in extra.items():
            local = Path(local)
            sources = sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else [local]
            for src in sources:
                rel = repo_path.strip("/") + ("/" + src.relative_to(local).as_posix() if local.is_dir() else "")
                link_or_copy(src, root / "extra" / rel)
                staged.extra.append(rel)
        return staged

    # -------------------------------------------------------------------------------------------------------------
    # jobs (worker thread)

    def _mirror_checkpoint(self, staged: _Staged) -> None:
        ckpt_ok = self._commit(
            [(rel, staged.root / rel) for rel in staged.files],
            f"Add {staged.repo_dir} (epoch {staged.state['epoch']}, step {staged.state['global_step']})",
            f"upload of {staged.repo_dir}",
        )
        if not ckpt_ok:
            self._note_not_mirrored(f"{staged.repo_dir}: checkpoint files (staged copy kept in {staged.root}; "
                                    "a resumed run's sync_missing or scripts/upload_checkpoint.py uploads it)")
        extra = [(rel, staged.root / "extra" / rel) for rel in staged.extra]
        if not self._mirror_run_files(staged, extra=extra, card=True):
            self._note_not_mirrored(f"plots, TensorBoard logs and model card after {staged.repo_dir}")
        if ckpt_ok:
            if not self._publish_latest(staged.phase, staged.name, staged.state, staged.files):
                self._note_not_mirrored(f"{LATEST_FILE} pointing at {staged.repo_dir}")
            shutil.rmtree(staged.root, ignore_errors=True)

    def _run_files(self) -> list[tuple[str, Path]]:
        """(repo path, local file) of the plots and TensorBoard files in the run folder now."""
        roots = [(self.run_dir / "plots", "plots"), (self.run_dir / TENSORBOARD_DIR, TENSORBOARD_DIR)]
        roots += [(d / "plots", f"{d.name}/plots") for d in sorted(self.run_dir.glob("phase_*"))
                  if PHASE_DIR_RE.match(d.name)]
        out = []
        for local_root, repo_root in roots:
            if local_root.is_dir():
                out += [(f"{repo_root}/{p.relative_to(local_root).as_posix()}", p)
                        for p in sorted(local_root.rglob("*")) if p.is_file()]
        return out

    def _mirror_run_files(self, staged: _Staged | None, *, extra: list[tuple[str, Path]], card: bool,
                          only_missing: bool = False) -> bool:
        """One commit of the plots, TensorBoard files, ``extra`` and (``card``) a fresh model card."""
        with tempfile.TemporaryDirectory(prefix="run-files-", dir=self._staging_root) as tmp:
            files: list[tuple[str, Path | bytes]] = []
            sent_stat: dict[str, tuple[int, int, int]] = {}
            for repo_path, src in self._run_files():
                stat = src.stat()
                size = stat.st_size
                if only_missing and self._remote.get(repo_path) == size:
                    continue
                key = (size, stat.st_mtime_ns, stat.st_ino)
                if repo_path in self._remote and self._committed_stat.get(repo_path) == key:
                    continue
                sent_stat[repo_path] = key
                # Copied, not linked: event files and plots are rewritten in place while training goes on, and an
                # upload must read the same bytes it announced.
                copy = Path(tmp) / repo_path
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, copy)
                files.append((repo_path, copy))
            files += extra
            if card and staged is not None:
                text = str(render_model_card(
                    repo_id=self.repo_id, config_yaml=(self.run_dir / CONFIG_FILE).read_text(),
                    history=staged.state["history"], latest_path=staged.repo_dir,
                    config_name=staged.state.get("config_name"), full_state=self.cfg.upload_full_state))
                files.append((CARD_FILE, text.encode()))
            where = staged.repo_dir if staged is not None else "sync"
            ok = self._commit(files, f"Update plots, TensorBoard logs and model card ({where})",
                              f"upload of plots, TensorBoard logs and model card ({where})")
            if ok:
                self._committed_stat.update(sent_stat)
            return ok

    def _publish_latest(self, phase: int, name: str, state: dict, files: list[str]) -> bool:
        key = (phase, int(state["global_step"]))
        if self._latest_key is not None and key <= self._latest_key:
            logger.info("%s stays at phase %d step %d: phase_%d/%s is not newer", LATEST_FILE, *self._latest_key,
                        phase, name)
            return True
        latest = {"path": f"phase_{phase}/{name}", "phase": phase, "epoch": int(state["epoch"]),
                  "global_step": int(state["global_step"]), "full_state": is_full_state(files)}
        ok = self._commit([(LATEST_FILE, (json.dumps(latest, indent=1) + "\n").encode())],
                          f"Point {LATEST_FILE} at phase_{phase}/{name}", f"upload of {LATEST_FILE}")
        if ok:
            self._latest_key = key
        return ok

    def _sync(self) -> None:
        result = call_with_retries(self._refresh_with_repo, cfg=self.cfg, what="listing of the Hub repo",
                                   stop=self._stop)
        if not result.ok:
            assert result.error is not None
            if result.outcome is Outcome.AUTH:
                self._disable(FailureKind.AUTH, result.error)
            elif result.outcome is not Outcome.STOPPED:
                logger.error("could not list %s to find missing files: %s", self.repo_id,
                             describe_error(result.error))
            self._note_not_mirrored("files missing from the Hub (the repo could not be listed)")
            return
        newest: tuple[tuple[int, int, int, int], int, str, dict, list[str]] | None = None
        for phase, name, folder, owned_staging in self._local_checkpoints():
            try:
                files = checkpoint_files(folder, full_state=self.cfg.upload_full_state)
                state = _read_state(folder)
            except FileNotFoundError:
                continue  # deleted by rotation meanwhile: nothing left to upload
            repo_dir = f"phase_{phase}/{name}"
            rels = [f"{repo_dir}/{p.relative_to(folder).as_posix()}" for p in files]
            config = self.run_dir / CONFIG_FILE
            if owned_staging is None and not (folder / CONFIG_FILE).exists() and config.is_file():
                files, rels = files + [config], rels + [f"{repo_dir}/{CONFIG_FILE}"]
            missing = [(rel, src) for rel, src in zip(rels, files) if self._remote.get(rel) != src.stat().st_size]
            if missing and not self._commit_snapshot(missing, repo_dir, state):
                self._note_not_mirrored(f"{repo_dir}: checkpoint files (sync)")
                continue
            if owned_staging is not None:
                shutil.rmtree(owned_staging, ignore_errors=True)  # an earlier run's leftover, now on the Hub
            order = checkpoint_order(phase, name)
            if newest is None or order > newest[0]:
                newest = (order, phase, name, state, rels)
        latest_state = newest[3] if newest is not None else None
        card = CARD_FILE not in self._remote and latest_state is not None and (self.run_dir / CONFIG_FILE).is_file()
        staged_for_card = (_Staged(self._staging_root, newest[1], newest[2], newest[3]) if card and newest else None)
        self._staging_root.mkdir(parents=True, exist_ok=True)
        if not self._mirror_run_files(staged_for_card, extra=[], card=card, only_missing=True):
            self._note_not_mirrored("plots, TensorBoard logs and model card (sync)")
        if newest is not None and not self._publish_latest(newest[1], newest[2], newest[3], newest[4]):
            self._note_not_mirrored(f"{LATEST_FILE} (sync)")

    def _refresh_with_repo(self) -> None:
        if self._repo_ready:
            self._refresh_remote()  # a fresh listing: the worker may have committed since start()
        else:
            self._ensure_repo()

    def _commit_snapshot(self, missing: list[tuple[str, Path]], repo_dir: str, state: dict) -> bool:
        """Stage ``missing`` (rotation may delete the folder meanwhile) and commit it."""
        self._staging_root.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="sync-", dir=self._staging_root))
        try:
            for rel, src in missing:
                link_or_copy(src, root / rel)
        except FileNotFoundError:
            shutil.rmtree(root, ignore_errors=True)
            logger.info("%s was deleted while it was being staged for upload; skipped", repo_dir)
            return True
        ok = self._commit([(rel, root / rel) for rel, _ in missing],
                          f"Add {repo_dir} (epoch {state['epoch']}, step {state['global_step']}; sync)",
                          f"upload of {repo_dir} (sync)")
        shutil.rmtree(root, ignore_errors=True)
        return ok

    def _local_checkpoints(self) -> list[tuple[int, str, Path, Path | None]]:
        """(phase, name, folder, staging job folder or None) of every checkpoint in the run folder, oldest first.

        Includes snapshots an earlier run staged but could not upload (DIR/.hub_staging/<job>/phase_N/<name>/),
        except those of jobs this mirror still has queued.
        """
        found: dict[tuple[int, str], tuple[Path, Path | None]] = {}
        active = {job.staging for job in self._pending_jobs() if job.staging is not None}
        if self._staging_root.is_dir():
            for job_dir in sorted(self._staging_root.iterdir()):
                if job_dir in active or not job_dir.is_dir():
                    continue
                for folder in job_dir.glob("phase_*/checkpoint_*"):
                    phase = PHASE_DIR_RE.match(folder.parent.name)
                    if phase and CHECKPOINT_DIR_RE.match(folder.name):
                        found[(int(phase.group(1)), folder.name)] = (folder, job_dir)
        for folder in self.run_dir.glob("phase_*/checkpoints/checkpoint_*"):
            phase = PHASE_DIR_RE.match(folder.parent.parent.name)
            if phase and CHECKPOINT_DIR_RE.match(folder.name) and folder.is_dir():
                key = (int(phase.group(1)), folder.name)
                found.setdefault(key, (folder, None))
        ordered = sorted(found, key=lambda k: checkpoint_order(*k))
        return [(phase, name, *found[(phase, name)]) for phase, name in ordered]

    def _pending_jobs(self) -> list[_Job]:
        with self._cond:
            return list(self._queue)

    def _remove_empty_staging(self) -> None:
        try:
            self._staging_root.rmdir()
        except OSError:
            pass  # not empty (snapshots kept for a later upload) or never created


# ---------------------------------------------------------------------------------------------------------------
# one checkpoint, synchronously (scripts/upload_checkpoint.py)


def upload_checkpoint(
    checkpoint_dir: Path,
    repo_id: str,
    *,
    phase: int | None = None,
    name: str | None = None,
    create: bool = False,
    full_state: bool = True,
    cfg: HubConfig | None = None,
    token: str | None = None,
    endpoint: str | None = None,
) -> str:
    """Upload one checkpoint folder to ``phase_N/<name>/`` in one commit; point latest.json at it if it is newest.

    Args:
        phase: default: ``phase`` from its training_state.json.
        name: default: the folder's name (``checkpoint_E`` or ``checkpoint_E_stepS``).
        create: create the repo (private per ``cfg.private``) when it does not exist.
        full_state: every file of the folder (resumable); False: weights, training_state.json, config.yaml.
        cfg: retries and timeouts (default: HubConfig's defaults).

    Returns the folder's path in the repo. Raises HubError saying what went wrong and what to do.
    """
    cfg = cfg or HubConfig(repo_id=repo_id)
    checkpoint_dir = Path(checkpoint_dir)
    try:
        files = checkpoint_files(checkpoint_dir, full_state=full_state)
    except FileNotFoundError as err:
        raise HubError(str(err)) from None
    state = _read_state(checkpoint_dir)
    phase = int(state["phase"]) if phase is None else phase
    name = name or checkpoint_dir.name
    if CHECKPOINT_DIR_RE.match(name) is None:
        raise HubError(f"{name!r} is not a checkpoint folder name: pass --name checkpoint_E or checkpoint_E_stepS")
    repo_dir = f"phase_{phase}/{name}"
    entries: list[tuple[str, Path | bytes]] = [(f"{repo_dir}/{p.relative_to(checkpoint_dir).as_posix()}", p)
                                               for p in files]
    run_config = checkpoint_dir.parent.parent.parent / CONFIG_FILE  # DIR/phase_N/checkpoints/<name> -> DIR
    if not (checkpoint_dir / CONFIG_FILE).exists() and run_config.is_file():
        entries.append((f"{repo_dir}/{CONFIG_FILE}", run_config))

    configure_request_timeout(cfg.request_timeout)
    api = make_api(token=token, endpoint=endpoint)
    stop = threading.Event()

    def ensure_repo() -> None:
        try:
            api.repo_info(repo_id, timeout=cfg.request_timeout)
        except RepositoryNotFoundError as err:
            if not create or err.response is None or err.response.status_code != 404:
                raise HubError(f"repository {repo_id} does not exist on {resolve_endpoint(endpoint)} (or the token "
                               "may not read it); pass --create to create it") from err
            api.create_repo(repo_id, private=cfg.private, exist_ok=True)

    def commit(items: list[tuple[str, Path | bytes]], message: str) -> None:
        def attempt() -> None:
            operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(src) if isinstance(src, Path)
                                             else src) for path, src in items]
            api.create_commit(repo_id, operations, commit_message=message)

        result = call_with_retries(attempt, cfg=cfg, what=f"upload to {repo_id}", stop=stop)
        if not result.ok:
            raise HubError(f"upload of {message!r} to {repo_id} failed ({result.outcome.value}): "
                           f"{describe_error(result.error) if result.error else ''}") from result.error

    result = call_with_retries(ensure_repo, cfg=cfg, what=f"checking {repo_id}", stop=stop)
    if not result.ok:
        if isinstance(result.error, HubError):
            raise result.error
        raise HubError(f"cannot reach {repo_id} ({result.outcome.value}): "
                       f"{describe_error(result.error) if result.error else ''}") from result.error
    commit(entries, f"Add {repo_dir} (epoch {state['epoch']}, step {state['global_step']})")
    latest = read_remote_json(api, repo_id, LATEST_FILE, timeout=cfg.request_timeout)
    key = (phase, int(state["global_step"]))
    if latest is None or key >= (int(latest.get("phase", 0)), int(latest.get("global_step", -1))):
        payload = {"path": repo_dir, "phase": phase, "epoch": int(state["epoch"]),
                   "global_step": int(state["global_step"]), "full_state": is_full_state(p for p, _ in entries)}
        commit([(LATEST_FILE, (json.dumps(payload, indent=1) + "\n").encode())], f"Point {LATEST_FILE} at {repo_dir}")
    return repo_dir
