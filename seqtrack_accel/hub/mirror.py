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
the checkpoint folder at any moment after) and queues one job for the mirror's worker thread, which runs the jobs
one at a time, in order. Per checkpoint the job makes:

1. one commit with the checkpoint's files under ``phase_N/<folder name>/`` (weights, training_state.json,
   config.yaml; plus optimizer, scheduler, scaler and RNG files when ``hub.upload_full_state``);
2. one commit with the plots (``plots/``, ``phase_N/plots/``), the TensorBoard files (``tensorboard/``) and the
   model card ``README.md``;
3. only when commit 1 succeeded, one commit with ``latest.json``, so latest.json never points at missing files.

Transient failures (HTTP 408 / 429 / 5xx, timeouts, connection errors) are retried with exponential backoff from
``hub.backoff_base`` to ``hub.backoff_max`` seconds, waiting ``Retry-After`` when the Hub sends it, at most
``hub.max_retries`` times. Other HTTP 4xx are logged with their cause and the item is dropped. An authentication
failure (401 / 403) is logged once and disables mirroring. Training is never blocked or stopped by the Hub.
A checkpoint that could not be mirrored keeps its staged copy in ``DIR/.hub_staging/``: a later run's
``sync_missing`` (or scripts/upload_checkpoint.py) uploads it.

Kept by hand because huggingface_hub lacks it: retrying a whole commit (the library retries single requests, not
the commit POST with its preupload and LFS steps), the commit order above, staging (a queued job reads its files
only when it runs), ``sync_missing``, disabling the mirror on an authentication failure, and a ``close`` that ends
the run in bounded time. The last one is why the queue is a daemon thread of its own: ``HfApi.run_as_future`` also
runs jobs one at a time in order, but on a thread the interpreter joins at exit, so an upload still in flight after
``close`` gave up would keep the finished run's process alive for as long as that upload lasts.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import tempfile
import threading
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable

import huggingface_hub
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from seqtrack_accel.config import HubConfig
from seqtrack_accel.training import checkpoint as ckpt
from seqtrack_accel.training.checkpoint import CheckpointError, TrainingState

from .model_card import render_model_card
from .remote import (CARD_FILE, LATEST_FILE, TENSORBOARD_DIR, Failure, HubError, classify_error,
                     configure_request_timeout, describe_error, list_remote_files, make_api, read_remote_json,
                     resolve_endpoint)

logger = logging.getLogger(__name__)

STAGING_DIR = ".hub_staging"
Files = list[tuple[str, Path | bytes]]  # one commit: (repo path, local file or content)


def lower_thread_priority(niceness: int = 19) -> None:
    """Give the calling thread (and the upload threads it starts, which inherit it) the lowest CPU priority.

    Linux schedules threads individually, so on a machine whose cores are busy with training (DataLoader workers,
    intra-op threads) the hashing and sending of checkpoint files takes only the CPU time training leaves idle.
    Elsewhere (no per-thread niceness) this does nothing.
    """
    if not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), niceness))
    except OSError as err:  # not permitted, or not Linux: mirroring works the same, only less politely
        logger.debug("could not lower the mirror thread's priority: %s", err)


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


def checkpoint_files(folder: Path, *, full_state: bool) -> tuple[dict[str, Path], TrainingState]:
    """The files of a checkpoint folder to mirror, {path inside the folder: file}, and its training state.

    The weights, training_state.json and config.yaml, or with ``full_state`` every file. A folder without
    config.yaml gets the run's (``DIR/config.yaml`` of ``DIR/phase_N/checkpoints/<name>``).
    Raises CheckpointError naming the folder when it lacks the weights or a readable training_state.json.
    """
    folder = Path(folder)
    state = TrainingState.read(folder)
    files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
    weights = [rel for rel in files if "/" not in rel and fnmatch(rel, ckpt.WEIGHTS_PATTERN)]
    if not weights:
        raise CheckpointError(f"{folder} has no {ckpt.WEIGHTS_PATTERN}: pass a checkpoint folder written by the "
                              "trainer (Accelerate's save_state)")
    if not full_state:
        files = {rel: p for rel, p in files.items() if rel in weights or rel in (ckpt.STATE_FILE, ckpt.CONFIG_FILE)}
    run_config = folder.parent.parent.parent / ckpt.CONFIG_FILE
    if ckpt.CONFIG_FILE not in files and run_config.is_file():
        files[ckpt.CONFIG_FILE] = run_config
    return files, state


def latest_json(repo_dir: str, phase: int, state: TrainingState, full_state: bool) -> bytes:
    """latest.json pointing at ``repo_dir`` (``phase_N/checkpoint_E``)."""
    latest = {"path": repo_dir, "phase": phase, "epoch": state.epoch, "global_step": state.global_step,
              "full_state": full_state}
    return (json.dumps(latest, indent=1) + "\n").encode()


def _operations(files: Files) -> list[CommitOperationAdd]:
    # Fresh operations per attempt: huggingface_hub mutates them and refuses to reuse committed ones.
    return [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(src) if isinstance(src, Path) else src)
            for path, src in files]


def call_with_retries(fn: Callable[[], object], *, cfg: HubConfig, what: str,
                      stop: threading.Event) -> tuple[Failure, BaseException | None] | None:
    """Run ``fn``, retrying transient Hub failures; None when it succeeded, else why it gave up and the last error.

    Waits ``Retry-After`` when the Hub sent it (waiting less only earns another 429), else exponentially longer.
    ``stop`` cuts a wait short and prevents further attempts (then STOPPED).
    """
    err: BaseException | None = None
    for attempt in range(cfg.max_retries + 1):
        if stop.is_set():
            return Failure.STOPPED, err
        try:
            fn()
            return None
        except Exception as caught:  # classified below: retried, or returned to the caller
            err = caught
        kind, retry_after = classify_error(err)
        if kind is not Failure.TRANSIENT:
            return kind, err
        if attempt < cfg.max_retries:
            delay = retry_after if retry_after is not None else min(cfg.backoff_max, cfg.backoff_base * 2 ** attempt)
            logger.warning("%s: %s; retry %d of %d in %.2f s", what, describe_error(err), attempt + 1,
                           cfg.max_retries, delay)
            stop.wait(delay)
    return Failure.EXHAUSTED, err


def _unexpected(err: BaseException) -> BaseException | None:
    """``err`` when it is not an answer from the Hub (likely a bug, whose traceback belongs in the log), else None."""
    return None if isinstance(err, HfHubHTTPError) else err


@dataclass
class _Job:
    label: str  # what a user reads in "not mirrored" lists
    run: Callable[[], None]
    staging: Path | None = None
    future: Future = field(default_factory=Future)  # done when the job ran, cancelled when close() dropped it


@dataclass
class _Staged:
    """A checkpoint snapshot under DIR/.hub_staging/<job>/: files at their repo paths below ``root``."""

    root: Path
    phase: int
    repo_dir: str  # phase_N/<checkpoint folder name>
    state: TrainingState
    files: list[str] = field(default_factory=list)  # repo paths, relative to root


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
        self._api = make_api(token=token, endpoint=self.endpoint)
        self._staging_root = self.run_dir / STAGING_DIR
        self._jobs: list[_Job] = []  # submitted and not known to be done, oldest first
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # None: the worker ends
        self._stop = threading.Event()  # set by close(): no new attempt, no backoff wait
        self._closed = False
        self._lock = threading.Lock()
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
        threading.Thread(target=self._work, name=f"hub-mirror {self.repo_id}", daemon=True).start()

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
            kind, _ = classify_error(err)
            if kind is Failure.TRANSIENT:
                logger.warning("Hub %s is not reachable now (%s); uploads will retry in the background",
                               self.endpoint, describe_error(err))
            else:
                self._disable(kind, err)

    def submit_checkpoint(self, checkpoint_dir: Path, phase: int) -> None:
        """Snapshot a just-written checkpoint (hard links) and queue its upload; returns at once.

        Args:
            checkpoint_dir: ``DIR/phase_N/checkpoints/checkpoint_E[_stepS]``, complete (renamed into place).
            phase: the phase N it belongs to; it is uploaded to ``phase_N/<folder name>/``.

        Raises CheckpointError / HubError (naming the folder) when ``checkpoint_dir`` is not a checkpoint folder.
        """
        if self._closed:
            raise RuntimeError(f"HubMirror for {self.repo_id} is closed; submit checkpoints before close()")
        checkpoint_dir = Path(checkpoint_dir)
        if ckpt.CHECKPOINT_NAME.match(checkpoint_dir.name) is None:
            raise HubError(f"{checkpoint_dir} is not named checkpoint_E or checkpoint_E_stepS; the Hub layout and "
                           "latest.json rely on that name")
        if self._disabled is not None:
            self._not_mirrored.append(f"phase_{phase}/{checkpoint_dir.name}: mirroring is disabled ({self._disabled})")
            return
        files, state = checkpoint_files(checkpoint_dir, full_state=self.cfg.upload_full_state)
        staged = self._stage(phase, checkpoint_dir.name, state, files)
        self._submit(_Job(staged.repo_dir, lambda: self._mirror_checkpoint(staged), staged.root))

    def sync_missing(self) -> None:
        """Queue the upload of whatever the run folder has and the Hub lacks (compared by path and size).

        For a run that resumes into an existing repo: checkpoints (and staged copies an earlier run could not
        upload), plots, TensorBoard files, the card if missing, and latest.json if the newest local checkpoint
        is newer than the one it points at. Files already on the Hub are not uploaded again.
        """
        if self._disabled is None:
            self._submit(_Job("files missing from the Hub (sync)", self._sync))

    def close(self, timeout: float | None = None) -> list[str]:
        """Wait up to ``timeout`` seconds (default ``hub.final_wait``) for pending uploads, then stop the worker.

        Returns a line per thing that was not mirrored (and logs them); empty when everything is on the Hub.
        A request in flight cannot be interrupted: it goes on in the daemon worker thread (ending within
        ``hub.request_timeout`` of the Hub falling silent) without holding up the process, and no request follows it.
        """
        timeout = self.cfg.final_wait if timeout is None else timeout
        self._closed = True
        wait([job.future for job in self._jobs], timeout=timeout)
        self._stop.set()
        # cancel() drops a job not started yet (True); the one running cannot be cancelled and is not done.
        pending = [job for job in self._jobs if job.future.cancel() or not job.future.done()]
        self._queue.put(None)
        not_mirrored = list(self._not_mirrored) + [
            f"{job.label}: still pending when close() gave up after {timeout:g} s"
            + (f" (staged copy kept in {job.staging})" if job.staging is not None else "") for job in pending
        ]
        try:
            self._staging_root.rmdir()
        except OSError:
            pass  # not empty (snapshots kept for a later upload) or never created
        if not_mirrored:
            logger.warning("not mirrored to %s:\n  %s", self.repo_id, "\n  ".join(not_mirrored))
        else:
            logger.info("everything is mirrored to %s/%s", self.endpoint, self.repo_id)
        return not_mirrored

    # -------------------------------------------------------------------------------------------------------------
    # jobs

    def _submit(self, job: _Job) -> None:
        self._jobs = [j for j in self._jobs if not j.future.done()] + [job]
        self._queue.put(job)

    def _work(self) -> None:
        lower_thread_priority()
        while (job := self._queue.get()) is not None:
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled by close()
            try:
                job.run()
            except Exception:  # the worker must outlive any one job; the traceback goes to the log
                logger.exception("mirroring %s to %s failed", job.label, self.repo_id)
                self._not_mirrored.append(f"{job.label}: failed with an unexpected error (see the log)")
            job.future.set_result(None)

    def _disable(self, kind: Failure, err: BaseException) -> None:
        """Stop mirroring for good, logging why exactly once."""
        with self._lock:
            if self._disabled is not None:
                return
            self._disabled = f"{kind.value}: {describe_error(err)}"
        if kind is Failure.AUTH:
            hint = ("no Hugging Face token was found: set HF_TOKEN or run `hf auth login`" if not self._has_token else
                    "the token (HF_TOKEN or `hf auth login`) is invalid or may not write to "
                    f"{self.repo_id.split('/')[0]}")
        else:
            hint = (f"the Hub refused the request for {self.repo_id}; check hub.repo_id and the environment "
                    "(HF_ENDPOINT, HF_HUB_OFFLINE)")
        logger.error("Hub mirroring to %s/%s is disabled (%s): %s. Training goes on; upload later with "
                     "scripts/upload_checkpoint.py or a resumed run with the same hub.repo_id.",
                     self.endpoint, self.repo_id, self._disabled, hint, exc_info=_unexpected(err))

    def _stage(self, phase: int, name: str, state: TrainingState, files: dict[str, Path]) -> _Staged:
        """Hard-link ``files`` into a new folder under DIR/.hub_staging/ (caller's thread: must stay cheap)."""
        self._staging_root.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=f"phase_{phase}-{name}-", dir=self._staging_root))
        staged = _Staged(root, phase, f"phase_{phase}/{name}", state)
        try:
            for rel, src in files.items():
                link_or_copy(src, root / staged.repo_dir / rel)
                staged.files.append(f"{staged.repo_dir}/{rel}")
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)  # a partial snapshot must not pass for a checkpoint later
            raise
        return staged

    def _mirror_checkpoint(self, staged: _Staged) -> None:
        ckpt_ok = self._commit_staged(staged)
        if not ckpt_ok:
            self._not_mirrored.append(f"{staged.repo_dir}: checkpoint files (staged copy kept in {staged.root}; "
                                      "a resumed run's sync_missing or scripts/upload_checkpoint.py uploads it)")
        if not self._commit_run_files(staged.repo_dir, card=(staged.repo_dir, staged.state)):
            self._not_mirrored.append(f"plots, TensorBoard logs and model card after {staged.repo_dir}")
        if ckpt_ok:
            if not self._publish_latest(staged.phase, staged.repo_dir, staged.state,
                                        ckpt.is_full_state(staged.files)):
                self._not_mirrored.append(f"{LATEST_FILE} pointing at {staged.repo_dir}")
            shutil.rmtree(staged.root, ignore_errors=True)

    def _sync(self) -> None:
        failed = call_with_retries(self._refresh_with_repo, cfg=self.cfg, what="listing of the Hub repo",
                                   stop=self._stop)
        if failed is not None:
            kind, err = failed
            if kind is Failure.AUTH:
                self._disable(kind, err)
            elif kind is not Failure.STOPPED:
                logger.error("could not list %s to find missing files: %s", self.repo_id, describe_error(err))
            self._not_mirrored.append("files missing from the Hub (the repo could not be listed)")
            return
        newest: tuple[int, str, TrainingState, list[str]] | None = None  # (phase, repo dir, state, repo paths)
        for phase, folder, leftover in self._local_checkpoints():
            repo_dir = f"phase_{phase}/{folder.name}"
            try:
                files, state = checkpoint_files(folder, full_state=self.cfg.upload_full_state)
                missing = {rel: src for rel, src in files.items()
                           if self._remote.get(f"{repo_dir}/{rel}") != src.stat().st_size}
                staged = self._stage(phase, folder.name, state, missing) if missing else None
            except (CheckpointError, FileNotFoundError) as err:
                if folder.is_dir():  # else deleted by rotation meanwhile: nothing left to upload
                    logger.warning("%s is not uploaded: %s", folder, err)
                continue
            if staged is not None:
                ok = self._commit_staged(staged, sync=True)
                shutil.rmtree(staged.root, ignore_errors=True)
                if not ok:
                    self._not_mirrored.append(f"{repo_dir}: checkpoint files (sync)")
                    continue
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)  # an earlier run's staged copy, now on the Hub
            newest = (phase, repo_dir, state, [f"{repo_dir}/{rel}" for rel in files])
        card = None
        if newest is not None and CARD_FILE not in self._remote and (self.run_dir / ckpt.CONFIG_FILE).is_file():
            card = (newest[1], newest[2])
        if not self._commit_run_files("sync", card=card, only_missing=True):
            self._not_mirrored.append("plots, TensorBoard logs and model card (sync)")
        if newest is not None and not self._publish_latest(*newest[:3], ckpt.is_full_state(newest[3])):
            self._not_mirrored.append(f"{LATEST_FILE} (sync)")

    def _local_checkpoints(self) -> list[tuple[int, Path, Path | None]]:
        """(phase, folder, staging job folder or None) of every checkpoint in the run folder, oldest first.

        Includes snapshots an earlier run staged but could not upload (DIR/.hub_staging/<job>/phase_N/<name>/),
        except those of jobs this mirror still has queued.
        """
        found: dict[tuple[int, str], tuple[Path, Path | None]] = {}
        staged = sorted(self._staging_root.glob("*/phase_*/checkpoint_*"))
        queued = {job.staging for job in self._jobs if not job.future.done()}
        for folder in staged:
            phase, job_dir = ckpt.PHASE_NAME.match(folder.parent.name), folder.parent.parent
            if phase and ckpt.CHECKPOINT_NAME.match(folder.name) and folder.is_dir() and job_dir not in queued:
                found[(int(phase.group(1)), folder.name)] = (folder, job_dir)
        for phase in ckpt.phases(self.run_dir):
            for folder in ckpt.list_checkpoints(self.run_dir, phase):
                found.setdefault((phase, folder.name), (folder, None))
        ordered = sorted(found, key=lambda key: (key[0], ckpt.checkpoint_order(key[1])))
        return [(phase, *found[(phase, name)]) for phase, name in ordered]

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

    def _refresh_with_repo(self) -> None:
        if self._repo_ready:
            self._refresh_remote()  # a fresh listing: the worker may have committed since start()
        else:
            self._ensure_repo()

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

    def _commit(self, files: Files, message: str, what: str) -> bool:
        """One commit of ``files``, with retries. True when they are on the Hub."""
        if self._disabled is not None or not files:
            return self._disabled is None

        def attempt() -> None:
            self._ensure_repo()
            self._api.create_commit(self.repo_id, _operations(files), commit_message=message)

        failed = call_with_retries(attempt, cfg=self.cfg, what=what, stop=self._stop)
        if failed is None:
            self._remote.update({path: src.stat().st_size if isinstance(src, Path) else len(src)
                                 for path, src in files})
            return True
        kind, err = failed
        if kind is Failure.AUTH:
            self._disable(kind, err)
        elif kind is Failure.PERMANENT:
            logger.error("%s failed and was dropped: %s", what, describe_error(err), exc_info=_unexpected(err))
        elif kind is Failure.EXHAUSTED:
            logger.error("%s failed %d times and was dropped: %s", what, self.cfg.max_retries + 1,
                         describe_error(err))
        return False

    def _commit_staged(self, staged: _Staged, *, sync: bool = False) -> bool:
        step = f"epoch {staged.state.epoch}, step {staged.state.global_step}" + ("; sync" if sync else "")
        return self._commit([(rel, staged.root / rel) for rel in staged.files], f"Add {staged.repo_dir} ({step})",
                            f"upload of {staged.repo_dir}" + (" (sync)" if sync else ""))

    def _commit_run_files(self, where: str, *, card: tuple[str, TrainingState] | None,
                          only_missing: bool = False) -> bool:
        """One commit of the plots and TensorBoard files not on the Hub as they are now, and with ``card`` (the
        newest checkpoint's repo folder and state) a fresh model card."""
        roots = [(self.run_dir / "plots", "plots"), (self.run_dir / TENSORBOARD_DIR, TENSORBOARD_DIR)]
        roots += [(ckpt.phase_dir(self.run_dir, p) / "plots", f"phase_{p}/plots") for p in ckpt.phases(self.run_dir)]
        self._staging_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="run-files-", dir=self._staging_root) as tmp:
            files: Files = []
            sent: dict[str, tuple[int, int, int]] = {}
            for local_root, repo_root in roots:
                for src in sorted(p for p in local_root.rglob("*") if p.is_file()):
                    repo_path = f"{repo_root}/{src.relative_to(local_root).as_posix()}"
                    stat = src.stat()
                    key = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
                    if (only_missing and self._remote.get(repo_path) == stat.st_size
                            or repo_path in self._remote and self._committed_stat.get(repo_path) == key):
                        continue
                    # Copied, not linked: event files and plots are rewritten in place while training goes on, and
                    # an upload must read the same bytes it announced.
                    copy = Path(tmp) / repo_path
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, copy)
                    files.append((repo_path, copy))
                    sent[repo_path] = key
            if card is not None:
                repo_dir, state = card
                text = str(render_model_card(
                    repo_id=self.repo_id, config_yaml=(self.run_dir / ckpt.CONFIG_FILE).read_text(),
                    history=state.history.to_dict(), latest_path=repo_dir, config_name=state.config_name,
                    full_state=self.cfg.upload_full_state))
                files.append((CARD_FILE, text.encode()))
            ok = self._commit(files, f"Update plots, TensorBoard logs and model card ({where})",
                              f"upload of plots, TensorBoard logs and model card ({where})")
        if ok:
            self._committed_stat.update(sent)
        return ok

    def _publish_latest(self, phase: int, repo_dir: str, state: TrainingState, full_state: bool) -> bool:
        key = (phase, state.global_step)
        if self._latest_key is not None and key <= self._latest_key:
            logger.info("%s stays at phase %d step %d: %s is not newer", LATEST_FILE, *self._latest_key, repo_dir)
            return True
        ok = self._commit([(LATEST_FILE, latest_json(repo_dir, phase, state, full_state))],
                          f"Point {LATEST_FILE} at {repo_dir}", f"upload of {LATEST_FILE}")
        if ok:
            self._latest_key = key
        return ok


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

    Returns the folder's path in the repo. Raises HubError (CheckpointError for the local folder) saying what went
    wrong and what to do.
    """
    cfg = cfg or HubConfig(repo_id=repo_id)
    checkpoint_dir = Path(checkpoint_dir)
    files, state = checkpoint_files(checkpoint_dir, full_state=full_state)
    phase = state.phase if phase is None else phase
    name = name or checkpoint_dir.name
    if ckpt.CHECKPOINT_NAME.match(name) is None:
        raise HubError(f"{name!r} is not a checkpoint folder name: pass --name checkpoint_E or checkpoint_E_stepS")
    repo_dir = f"phase_{phase}/{name}"
    configure_request_timeout(cfg.request_timeout)
    api = make_api(token=token, endpoint=endpoint)

    def ensure_repo() -> None:
        try:
            api.repo_info(repo_id, timeout=cfg.request_timeout)
        except RepositoryNotFoundError as err:
            if not create or err.response is None or err.response.status_code != 404:
                raise HubError(f"repository {repo_id} does not exist on {resolve_endpoint(endpoint)} (or the token "
                               "may not read it); pass --create to create it") from err
            api.create_repo(repo_id, private=cfg.private, exist_ok=True)

    def retried(fn: Callable[[], object], what: str, failure: str) -> None:
        failed = call_with_retries(fn, cfg=cfg, what=what, stop=threading.Event())
        if failed is not None:
            kind, err = failed
            if isinstance(err, HubError):
                raise err
            raise HubError(f"{failure} ({kind.value}): {describe_error(err) if err else ''}") from err

    def commit(entries: Files, message: str) -> None:
        retried(lambda: api.create_commit(repo_id, _operations(entries), commit_message=message),
                f"upload to {repo_id}", f"upload of {message!r} to {repo_id} failed")

    retried(ensure_repo, f"checking {repo_id}", f"cannot reach {repo_id}")
    commit([(f"{repo_dir}/{rel}", src) for rel, src in files.items()],
           f"Add {repo_dir} (epoch {state.epoch}, step {state.global_step})")
    latest = read_remote_json(api, repo_id, LATEST_FILE, timeout=cfg.request_timeout) or {}
    if (phase, state.global_step) >= (int(latest.get("phase", 0)), int(latest.get("global_step", -1))):
        commit([(LATEST_FILE, latest_json(repo_dir, phase, state, ckpt.is_full_state(files)))],
               f"Point {LATEST_FILE} at {repo_dir}")
    return repo_dir
