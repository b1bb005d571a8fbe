"""Mirror a training run to the Hugging Face Hub from a background thread, without ever stopping training.

The trainer (main process only) calls::

    mirror = HubMirror(cfg.hub, run_dir)
    mirror.start()                                  # create the repo if missing, list what is there
    mirror.sync_missing()                           # a resumed run: upload what an earlier run did not
    mirror.submit_checkpoint(ckpt_dir, phase)       # after each checkpoint; returns in about a millisecond
    not_mirrored = mirror.close()                   # wait up to hub.final_wait seconds for pending uploads

``submit_checkpoint`` hard-links the checkpoint's files into ``DIR/.hub_staging/`` right away (rotation may delete
the checkpoint folder at any moment after) and queues one job for the mirror's worker thread, which runs the jobs
one at a time, in order. Per checkpoint the job makes:

1. one commit with the checkpoint's files under ``phase_N/<folder name>/`` (weights, training_state.json,
   config.yaml; plus optimizer, scheduler, scaler and RNG files when ``hub.upload_full_state``);
2. one commit with the plots (``plots/``, ``phase_N/plots/``) and TensorBoard files (``tensorboard/``) changed since
   their last commit, and the model card ``README.md``;
3. only when commit 1 succeeded, one commit with ``latest.json``, if the checkpoint is newer than the one it names;
4. one commit with ``best.json`` when the run folder's ``best.json`` names another checkpoint than the repo's and
   that checkpoint's files are on the Hub.

Transient failures (HTTP 408 / 429 / 5xx, timeouts, connection errors) are retried with exponential backoff from
``hub.backoff_base`` to ``hub.backoff_max`` seconds, waiting ``Retry-After`` when the Hub sends it, at most
``hub.max_retries`` times. Other HTTP 4xx are logged with their cause and the item is dropped. An authentication
failure (401 / 403) is logged once and disables mirroring. Training is never blocked or stopped by the Hub.
An unreachable Hub is told within seconds by ``start``; ``close`` logs what it waits for, and does not wait after a run
in which no request succeeded unless one last short request gets an answer. A Hub that went away during the run (its
last request got no answer, refused or timed out) gets ``hub.unreachable_grace`` seconds of the wait, not all of
``hub.final_wait``, unless it answers meanwhile.
A checkpoint that could not be mirrored keeps its staged copy in ``DIR/.hub_staging/``: a later run's
``sync_missing`` uploads it, as does ``seqtrack-upload-checkpoint DIR`` (``upload_command``), which runs this same
mirror; ``seqtrack-upload-checkpoint`` also uploads one checkpoint.

huggingface_hub does the commits (``create_commit``, with its preupload and LFS steps), the listing and the card's
metadata. Kept by hand because it lacks them: retrying a whole commit (it retries single requests, not the commit
POST), the commit order above, staging (a queued job reads its files only when it runs), ``sync_missing``,
disabling the mirror on an authentication failure, and a ``close`` that ends the run in bounded time. The last one
is why the queue is a daemon thread of its own: ``HfApi.run_as_future`` also runs jobs one at a time in order, but
on a thread the interpreter joins at exit, so an upload still in flight after ``close`` gave up would keep the
finished run's process alive for as long as that upload lasts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shlex
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable

import huggingface_hub
from huggingface_hub import CommitOperationAdd, ModelCard
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from .. import run_folder as ckpt
from ..config import HubConfig
from ..run_folder import BEST_FILE, CheckpointError, TrainingState

from .model_card import render_model_card
from .results import results_in_card, update_card
from .remote import (CARD_FILE, CONNECT_TIMEOUT, LATEST_FILE, TENSORBOARD_DIR, Failure, HubError, RequestsAbandoned,
                     abandon_requests, classify_error, configure_request_timeout, describe_error, make_api,
                     read_layout, resolve_endpoint, silent_since)

logger = logging.getLogger(__name__)

STAGING_DIR = ".hub_staging"
PROGRESS_EVERY = 15.0  # seconds between the lines close() logs while it waits
Files = list[tuple[str, Path | bytes]]  # one commit: (repo path, local file or content)


def lower_thread_priority(niceness: int = 19) -> None:
    """Give the calling thread (and the upload threads it starts, which inherit it) the lowest CPU priority.

    Linux schedules threads individually, so on a machine whose cores are busy with training (DataLoader workers,
    intra-op threads) the hashing and sending of checkpoint files takes only the CPU time training leaves idle.
    Elsewhere (no per-thread niceness) this does nothing.
    """
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), niceness))
    except (AttributeError, OSError) as err:  # not Linux, or not permitted: mirroring works the same, less politely
        logger.debug("could not lower the mirror thread's priority: %s", err)


@dataclass
class _Job:
    label: str  # what a user reads in "not mirrored" lists
    run: Callable[[], None]
    staging: Path | None = None
    future: Future = field(default_factory=Future)  # done when the job ran, cancelled when close() dropped it


@dataclass
class _Staged:
    """A checkpoint's snapshot, ``folder`` = ``DIR/.hub_staging/<job>/phase_N/checkpoints/<name>``: laid out as in
    the run folder, so that a later run's ``sync_missing`` finds a snapshot left behind as it finds checkpoints."""

    root: Path  # DIR/.hub_staging/<job>
    folder: Path
    phase: int
    state: TrainingState
    full_state: bool  # the checkpoint (not only the staged files) holds the optimizer and RNG states
    files: list[str]  # paths inside folder

    @property
    def repo_dir(self) -> str:
        return f"phase_{self.phase}/{self.folder.name}"


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
        self._api = make_api(token=token, endpoint=self.endpoint)
        self._staging_root = self.run_dir / STAGING_DIR
        self._jobs: list[_Job] = []  # submitted and not known to be done, oldest first
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # None: the worker ends
        self._stop = threading.Event()  # set by close(): no new job, no new attempt, no backoff wait
        self._not_mirrored: list[str] = []
        self._disabled: str | None = None  # why mirroring stopped for good (authentication)
        self._connected = False  # the repo exists and was listed
        self._remote: dict[str, int] = {}  # repo path -> size, of files known to be on the Hub
        # repo path -> (size, mtime_ns, inode) of the local plot / TensorBoard file when it was last committed:
        # unchanged files (older event files, plots between step checkpoints) are not sent again. Plots are replaced
        # atomically, so each redraw has a new inode even within one coarse timestamp tick.
        self._committed_stat: dict[str, tuple[int, int, int]] = {}
        self._latest_key: tuple[int, int] | None = None  # (phase, global_step) latest.json points at
        self._best: dict | None = None  # the repo's best.json
        configure_request_timeout(cfg.request_timeout)
        self._worker = threading.Thread(target=self._work, name=f"hub-mirror {self.repo_id}", daemon=True)
        self._worker.start()

    # -------------------------------------------------------------------------------------------------------------
    # public API

    def start(self) -> None:
        """Create the repo if missing (private per ``hub.private``) and list its files.

        Never raises for the Hub: a network failure is logged and retried by the worker; an authentication
        failure is logged once and disables mirroring; training goes on either way.
        """
        try:
            self._connect()  # its first request gives up connecting after CONNECT_TIMEOUT
        except Exception as err:  # classified: start must never stop training
            if classify_error(err)[0] is not Failure.TRANSIENT:
                self._disable(err)
            else:
                logger.warning("the Hub at %s is unreachable (%s). Training goes on: checkpoints are staged in %s "
                               "and their uploads are queued and retried; what is left at the end of the run is "
                               "uploaded by a later run with the same hub.repo_id", self.endpoint,
                               describe_error(err), self._staging_root)

    def submit_checkpoint(self, checkpoint_dir: Path, phase: int) -> None:
        """Snapshot a just-written checkpoint (hard links) and queue its upload; returns at once.

        Args:
            checkpoint_dir: ``DIR/phase_N/checkpoints/checkpoint_E[_stepS]``, complete (renamed into place).
            phase: the phase N it belongs to; it is uploaded to ``phase_N/<folder name>/``.

        Raises CheckpointError / HubError (naming the folder) when ``checkpoint_dir`` is not a checkpoint folder.
        """
        if self._stop.is_set():
            raise RuntimeError(f"HubMirror for {self.repo_id} is closed; submit checkpoints before close()")
        checkpoint_dir = Path(checkpoint_dir)
        if ckpt.CHECKPOINT_NAME.match(checkpoint_dir.name) is None:
            raise HubError(f"{checkpoint_dir} is not named checkpoint_E or checkpoint_E_stepS; the Hub layout and "
                           "latest.json rely on that name")
        if self._disabled is not None:
            self._not_mirrored.append(f"phase_{phase}/{checkpoint_dir.name}: mirroring is disabled ({self._disabled})")
            return
        staged = self._stage(phase, checkpoint_dir)
        self._submit(_Job(staged.repo_dir, lambda: self._upload([(staged, None)]), staged.root))

    def sync_missing(self) -> None:
        """Queue the upload of whatever the run folder has and the Hub lacks (compared by path and size).

        For a run that resumes into an existing repo: checkpoints (and staged copies an earlier run could not
        upload), plots, TensorBoard files, the card if missing, and latest.json if the newest local checkpoint
        is newer than the one it points at.
        """
        if self._disabled is None:
            # Staged copies present now are an earlier run's, or of this mirror's jobs queued before the sync's.
            leftovers = sorted(self._staging_root.glob("*"))
            self._submit(_Job("files missing from the Hub (sync)", lambda: self._sync(leftovers)))

    def close(self, timeout: float | None = None) -> list[str]:
        """Wait up to ``timeout`` seconds (default ``hub.final_wait``) for pending uploads, then stop the worker.

        Logs what is pending every ``PROGRESS_EVERY`` seconds. After a run in which no request to the Hub succeeded,
        it waits only if one more request (timeout ``CONNECT_TIMEOUT``) gets an answer. While the Hub answers no
        request from the start of the wait on, and the last one got no answer (refused, reset or timed out), it
        stops after ``hub.unreachable_grace`` seconds: a Hub gone for good must not hold the finished run's machine.
        Returns a line per thing that was not mirrored (and logs them, with the command that uploads them later);
        empty when everything is on the Hub.
        A request in flight cannot be interrupted: it goes on in the daemon worker thread (ending within
        ``hub.request_timeout`` of the Hub falling silent) without holding up the process, and no request follows it
        (not even huggingface_hub's own retries: ``abandon_requests``).
        """
        timeout = self.cfg.final_wait if timeout is None else timeout
        gave_up = f"close() gave up after {timeout:g} s"
        if self._pending() and not self._connected and self._disabled is None and (err := self._probe()) is not None:
            timeout, gave_up = 0.0, "close() gave up at once on an unreachable Hub"
            logger.warning("the Hub at %s did not answer during the run, nor now (%s): not waiting for the uploads",
                           self.endpoint, describe_error(err))
        began = time.monotonic()
        deadline, grace_end = began + timeout, began + self.cfg.unreachable_grace
        while (pending := self._pending()) and (left := deadline - time.monotonic()) > 0:
            if time.monotonic() >= grace_end and (cause := silent_since(self.endpoint, began)) is not None:
                gave_up = f"close() gave up after {time.monotonic() - began:.0f} s on a Hub that did not answer"
                logger.warning("the Hub at %s has answered no request since the end-of-run wait began %.0f s ago "
                               "(last: %s): not waiting the rest of hub.final_wait (hub.unreachable_grace=%g s)",
                               self.endpoint, time.monotonic() - began, cause, self.cfg.unreachable_grace)
                break
            logger.info("waiting up to %.0f s more for the uploads to %s still pending: %s", left, self.repo_id,
                        ", ".join(job.label for job in pending))
            step = min(left, PROGRESS_EVERY)
            if time.monotonic() < grace_end:
                step = min(step, grace_end - time.monotonic())
            wait([job.future for job in pending], timeout=max(step, 0.0))
        self._stop.set()
        abandon_requests(self._worker)
        # cancel() drops a job not started yet (True); the one running cannot be cancelled and is not done.
        pending = [job for job in self._jobs if job.future.cancel() or not job.future.done()]
        self._queue.put(None)
        not_mirrored = list(self._not_mirrored) + [
            f"{job.label}: still pending when {gave_up}"
            + (f" (staged copy kept in {job.staging})" if job.staging is not None else "") for job in pending
        ]
        with contextlib.suppress(OSError):  # not empty (snapshots kept for a later upload) or never created
            self._staging_root.rmdir()
        if not_mirrored:
            logger.warning("not mirrored to %s:\n  %s\nUpload them later with (a later run with the same "
                           "hub.repo_id does it too):\n  %s", self.repo_id, "\n  ".join(not_mirrored),
                           self.upload_command())
        else:
            logger.info("everything is mirrored to %s/%s", self.endpoint, self.repo_id)
        return not_mirrored

    def upload_command(self) -> str:
        """The command that uploads, later, whatever of the run folder the Hub lacks: its checkpoints and the staged
        copies in ``DIR/.hub_staging``, plots, TensorBoard logs, card and latest.json, with this mirror's settings."""
        endpoint = resolve_endpoint()  # HF_ENDPOINT as the command will see it
        where = "" if endpoint == self.endpoint else f"HF_ENDPOINT={shlex.quote(self.endpoint)} "
        flags = "" if self.cfg.upload_full_state else " --weights_only"
        run_dir = shlex.quote(str(self.run_dir.absolute()))
        return f"{where}seqtrack-upload-checkpoint {run_dir} --repo_id {self.repo_id}{flags}"

    # -------------------------------------------------------------------------------------------------------------
    # jobs

    def _pending(self) -> list[_Job]:
        return [job for job in self._jobs if not job.future.done()]

    def _probe(self) -> Exception | None:
        """Why the Hub does not answer one request with a short timeout, or None. Safe beside the worker: no state."""
        try:
            self._api.repo_info(self.repo_id, timeout=min(self.cfg.request_timeout, CONNECT_TIMEOUT))
        except Exception as err:  # classified: a 404 or 401 is an answer too
            return err if classify_error(err)[0] is Failure.TRANSIENT else None
        return None

    def _submit(self, job: _Job) -> None:
        self._jobs = self._pending() + [job]
        self._queue.put(job)

    def _work(self) -> None:
        lower_thread_priority()
        while (job := self._queue.get()) is not None:
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled by close()
            try:
                job.run()
            except RequestsAbandoned:  # close() gave up on it, and already listed it as not mirrored
                logger.debug("mirroring %s to %s: given up by close()", job.label, self.repo_id)
            except Exception:  # the worker must outlive any one job; the traceback goes to the log
                logger.exception("mirroring %s to %s failed", job.label, self.repo_id)
                self._not_mirrored.append(f"{job.label}: failed with an unexpected error (see the log)")
            job.future.set_result(None)

    def _disable(self, err: Exception) -> None:
        """Stop mirroring for good after a failure no retry can fix, logging why exactly once."""
        kind = classify_error(err)[0]
        if self._disabled is not None:  # start() and the worker's jobs never run at the same time: no lock needed
            return
        self._disabled = f"{kind.value}: {describe_error(err)}"
        if kind is not Failure.AUTH:
            hint = (f"the Hub refused the request for {self.repo_id}; check hub.repo_id and the environment "
                    "(HF_ENDPOINT, HF_HUB_OFFLINE)")
        elif self._api.token or huggingface_hub.get_token():
            hint = f"the token (HF_TOKEN or `hf auth login`) is invalid or may not write to {self.repo_id}"
        else:
            hint = "no Hugging Face token was found: set HF_TOKEN or run `hf auth login`"
        logger.error("Hub mirroring to %s/%s is disabled (%s): %s. Training goes on; upload later with "
                     "scripts/upload_checkpoint.py or a resumed run with the same hub.repo_id.",
                     self.endpoint, self.repo_id, self._disabled, hint, exc_info=not isinstance(err, HfHubHTTPError))

    def _drop(self, err: Exception, what: str) -> None:
        """Log why ``what`` failed for good (an authentication failure disables the mirror instead)."""
        kind = classify_error(err)[0]
        if kind is Failure.AUTH:
            self._disable(err)
        elif kind is Failure.PERMANENT or not self._stop.is_set():  # retries cut short by close() are no news
            # A traceback for what is neither an answer from the Hub nor a network failure: likely a bug.
            logger.error("%s failed and was dropped: %s", what, describe_error(err),
                         exc_info=kind is Failure.PERMANENT and not isinstance(err, HfHubHTTPError))

    def _stage(self, phase: int, folder: Path, *, only_missing: bool = False) -> _Staged:
        """Hard-link a checkpoint's files to mirror (``only_missing``: those not on the Hub) into a new folder under
        DIR/.hub_staging/. Runs in the trainer's thread for a submitted checkpoint, so it must stay cheap.

        The files: the weights, training_state.json and config.yaml (the run's when the folder has none), or with
        ``hub.upload_full_state`` every file. A hard link is a snapshot of files that are replaced, never rewritten
        in place: true of checkpoint files (the trainer writes a new folder each time, and rotation only deletes).
        Raises CheckpointError naming the folder when it lacks the weights or a readable training_state.json.
        """
        state = TrainingState.read(folder)
        files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
        weights = [rel for rel in files if "/" not in rel and fnmatch(rel, ckpt.WEIGHTS_PATTERN)]
        if not weights:
            raise CheckpointError(f"{folder} has no {ckpt.WEIGHTS_PATTERN}: pass a checkpoint folder written by the "
                                  "trainer (Accelerate's save_state)")
        if not self.cfg.upload_full_state:
            files = {rel: p for rel, p in files.items() if rel in weights or rel in (ckpt.STATE_FILE, ckpt.CONFIG_FILE)}
        run_config = folder.parent.parent.parent / ckpt.CONFIG_FILE  # DIR/config.yaml of DIR/phase_N/checkpoints/..
        if ckpt.CONFIG_FILE not in files and run_config.is_file():
            files[ckpt.CONFIG_FILE] = run_config
        full_state = ckpt.is_full_state(files)
        if only_missing:
            files = {rel: src for rel, src in files.items()
                     if self._remote.get(f"phase_{phase}/{folder.name}/{rel}") != src.stat().st_size}
        self._staging_root.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=f"phase_{phase}-{folder.name}-", dir=self._staging_root))
        staged = _Staged(root, ckpt.checkpoints_dir(root, phase) / folder.name, phase, state, full_state, list(files))
        try:
            for rel, src in files.items():
                (staged.folder / rel).parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(src, staged.folder / rel)
                except OSError:  # another filesystem, or one without hard links (a missing file fails here too)
                    shutil.copy2(src, staged.folder / rel)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)  # a partial snapshot must not pass for a checkpoint later
            raise
        return staged

    def _upload(self, checkpoints: list[tuple[_Staged, Path | None]], *, sync: bool = False) -> None:
        """The commits of the module docstring for staged checkpoints (oldest first, each with the staging folder of
        an earlier run that held it, or None): each one's files, the run files and card, latest.json."""
        newest: _Staged | None = None
        for staged, leftover in checkpoints:
            ok = self._commit_checkpoint(staged, sync=sync)
            if ok or sync:  # a sync stages copies of folders that stay where they are
                shutil.rmtree(staged.root, ignore_errors=True)
            if not ok:
                self._not_mirrored.append(f"{staged.repo_dir}: checkpoint files" + (" (sync)" if sync else
                                          f" (staged copy kept in {staged.root}; a resumed run's sync uploads it)"))
                continue
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)  # an earlier run's staged copy, now on the Hub
            newest = staged
        where = "sync" if sync else checkpoints[0][0].repo_dir
        card = newest if not sync or CARD_FILE not in self._remote else None
        if not self._commit_run_files(where, card=card, only_missing=sync):
            self._not_mirrored.append(f"plots, TensorBoard logs and model card ({where})")
        if newest is not None and not self._publish_latest(newest):
            self._not_mirrored.append(f"{LATEST_FILE} pointing at {newest.repo_dir} ({where})")
        if not self._publish_best():
            self._not_mirrored.append(f"{BEST_FILE} ({where})")

    def _sync(self, leftovers: list[Path]) -> None:
        try:
            self._retried(lambda: self._connect(relist=True), f"listing of {self.repo_id}")
        except Exception as err:  # classified by _drop
            self._drop(err, f"listing of {self.repo_id}")
            self._not_mirrored.append("files missing from the Hub (the repo could not be listed)")
            return
        checkpoints = []
        for phase, folder, leftover in self._local_checkpoints(leftovers):
            try:
                checkpoints.append((self._stage(phase, folder, only_missing=True), leftover))
            except (CheckpointError, FileNotFoundError) as err:
                if folder.is_dir():  # else deleted by rotation meanwhile: nothing left to upload
                    logger.warning("%s is not uploaded: %s", folder, err)
        self._upload(checkpoints, sync=True)

    def _local_checkpoints(self, leftovers: list[Path]) -> list[tuple[int, Path, Path | None]]:
        """(phase, folder, staging job folder or None) of every checkpoint in the run folder and in the ``leftovers``
        (staging job folders whose upload failed), oldest first."""
        roots = [(self.run_dir, None)] + [(d, d) for d in leftovers]
        found = [(phase, folder, leftover) for root, leftover in roots
                 for phase in ckpt.phases(root) for folder in ckpt.list_checkpoints(root, phase)]
        return sorted(found, key=lambda item: (item[0], ckpt.checkpoint_order(item[1].name)))

    # -------------------------------------------------------------------------------------------------------------
    # Hub calls (worker thread, or start())

    def _retried(self, fn: Callable[[], object], what: str) -> None:
        """Run ``fn``, retrying transient Hub failures; raises the last error when it gives up.

        Waits ``Retry-After`` when the Hub sent it (waiting less only earns another 429), else exponentially longer.
        close() cuts a wait short and prevents further attempts.
        """
        for attempt in range(self.cfg.max_retries + 1):
            try:
                fn()
                return
            except Exception as err:  # classified: retried, or raised to the caller
                kind, delay = classify_error(err)
                if kind is not Failure.TRANSIENT or attempt == self.cfg.max_retries or self._stop.is_set():
                    raise
                if delay is None:
                    delay = min(self.cfg.backoff_max, self.cfg.backoff_base * 2 ** attempt)
                logger.warning("%s: %s; retry %d of %d in %.2f s", what, describe_error(err), attempt + 1,
                               self.cfg.max_retries, delay)
                if self._stop.wait(delay):
                    raise

    def _connect(self, *, relist: bool = False) -> None:
        """Create the repo if it is missing, then list its files and read latest.json; once per mirror, or again
        with ``relist`` (the worker may have committed since)."""
        if self._connected and not relist:
            return
        try:
            layout = read_layout(self._api, self.repo_id, timeout=self.cfg.request_timeout)
        except RepositoryNotFoundError as err:
            if err.response.status_code != 404:
                raise  # 401 means "not allowed to see it", not "missing"
            url = self._api.create_repo(self.repo_id, private=self.cfg.private, exist_ok=True)
            logger.info("created the %s repo %s", "private" if self.cfg.private else "public", url)
            layout = read_layout(self._api, self.repo_id, timeout=self.cfg.request_timeout)
        if not self._connected and layout.private not in (None, self.cfg.private):
            logger.warning("%s is %s although hub.private=%s; its visibility is left as it is (change it in the repo "
                           "settings)", self.repo_id, "private" if layout.private else "public",
                           str(self.cfg.private).lower())
        self._remote, self._connected = layout.files, True
        if layout.latest_error is not None:
            # The next checkpoint's latest.json replaces it; refusing every upload over it would help no one.
            logger.warning("%s; it will be overwritten by the next checkpoint's", layout.latest_error)
        if "phase" in (latest := layout.latest or {}) and "global_step" in latest:
            self._latest_key = (int(latest["phase"]), int(latest["global_step"]))
        self._best = layout.best

    def _commit(self, files: Files, message: str) -> bool:
        """One commit of ``files``, with retries. True when they are on the Hub."""
        if not files:
            return True
        if self._disabled is not None or self._stop.is_set():
            return False

        def attempt() -> None:
            self._connect()
            # Fresh operations per attempt: huggingface_hub mutates them and refuses to reuse committed ones.
            operations = [CommitOperationAdd(path, str(src) if isinstance(src, Path) else src) for path, src in files]
            self._api.create_commit(self.repo_id, operations, commit_message=message)

        try:
            self._retried(attempt, f"commit {message!r}")
        except Exception as err:  # classified by _drop
            self._drop(err, f"commit {message!r}")
            return False
        self._remote.update({path: src.stat().st_size if isinstance(src, Path) else len(src) for path, src in files})
        return True

    def _commit_checkpoint(self, staged: _Staged, *, sync: bool = False) -> bool:
        step = f"epoch {staged.state.epoch}, step {staged.state.global_step}" + ("; sync" if sync else "")
        return self._commit([(f"{staged.repo_dir}/{rel}", staged.folder / rel) for rel in staged.files],
                            f"Add {staged.repo_dir} ({step})")

    def _commit_run_files(self, where: str, *, card: _Staged | None, only_missing: bool = False) -> bool:
        """One commit of the plots and TensorBoard files not on the Hub as they are now, and with ``card`` (the
        newest checkpoint) a fresh model card, when the run folder has its config.yaml."""
        roots = [(self.run_dir / "plots", "plots"), (self.run_dir / TENSORBOARD_DIR, TENSORBOARD_DIR)]
        roots += [(ckpt.phase_dir(self.run_dir, p) / "plots", f"phase_{p}/plots") for p in ckpt.phases(self.run_dir)]
        files: Files = []
        sent: dict[str, tuple[int, int, int]] = {}
        self._staging_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="run-files-", dir=self._staging_root) as tmp:
            for local_root, repo_root in roots:
                for src in sorted(p for p in local_root.rglob("*") if p.is_file()):
                    repo_path = f"{repo_root}/{src.relative_to(local_root).as_posix()}"
                    stat = src.stat()
                    key = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
                    if (only_missing and self._remote.get(repo_path) == stat.st_size
                            or repo_path in self._remote and self._committed_stat.get(repo_path) == key):
                        continue
                    # Copied now (not linked, nor read into memory: an event file can grow to hundreds of MB): event
                    # files grow while training goes on, and an upload must send the bytes it announced.
                    (Path(tmp) / repo_path).parent.mkdir(parents=True, exist_ok=True)
                    files.append((repo_path, Path(shutil.copyfile(src, Path(tmp) / repo_path))))
                    sent[repo_path] = key
            config = self.run_dir / ckpt.CONFIG_FILE
            if card is not None and config.is_file():
                rendered = self._keep_results(render_model_card(
                    repo_id=self.repo_id, config_yaml=config.read_text(), history=card.state.history.to_dict(),
                    latest_path=card.repo_dir, config_name=card.state.config_name,
                    full_state=self.cfg.upload_full_state, best=self._best_on_hub()), Path(tmp))
                if rendered is not None:
                    files.append((CARD_FILE, str(rendered).encode()))
            ok = self._commit(files, f"Update plots, TensorBoard logs and model card ({where})")
        if ok:
            self._committed_stat.update(sent)
        return ok

    def _keep_results(self, card: ModelCard, tmp: Path) -> ModelCard | None:
        """``card`` with the evaluation results of the card on the Hub carried over (``seqtrack-evaluate
        --push_to_hub`` puts them there; a mirrored checkpoint must not erase them). None when the Hub's card cannot
        be read: the card then waits for the next commit rather than overwrite results it could not see."""
        if CARD_FILE not in self._remote:
            return card
        holder: list[str] = []

        def download() -> None:
            holder.append(self._api.hf_hub_download(self.repo_id, CARD_FILE, local_dir=tmp / "remote_card"))

        try:
            self._retried(download, f"read {CARD_FILE}")
            results = results_in_card(ModelCard.load(holder[0]))
        except Exception as err:  # classified and logged: the card is left as it is on the Hub this time
            logger.warning("%s: %s is not updated in this commit: the card on the Hub could not be read (%s)",
                           self.repo_id, CARD_FILE, describe_error(err))
            return None
        return update_card(card, results, model_name=self.repo_id.split("/")[-1]) if results else card

    def _publish_latest(self, staged: _Staged) -> bool:
        key = (staged.phase, staged.state.global_step)
        if self._latest_key is not None and key <= self._latest_key:
            logger.info("%s stays at phase %d step %d: %s is not newer", LATEST_FILE, *self._latest_key,
                        staged.repo_dir)
            return True
        latest = {"path": staged.repo_dir, "phase": staged.phase, "epoch": staged.state.epoch,
                  "global_step": staged.state.global_step, "full_state": staged.full_state}
        ok = self._commit([(LATEST_FILE, (json.dumps(latest, indent=1) + "\n").encode())],
                          f"Point {LATEST_FILE} at {staged.repo_dir}")
        if ok:
            self._latest_key = key
        return ok

    def _best_on_hub(self) -> dict | None:
        """The run folder's best.json in the repo's layout (``phase_N/checkpoint_E``) when that checkpoint's files are
        on the Hub; else None."""
        try:
            best = json.loads((self.run_dir / BEST_FILE).read_text())
        except FileNotFoundError:  # no epoch was best yet, or the metric is not computed
            return None
        phase, _, name = best["path"].split("/")  # phase_N/checkpoints/checkpoint_E
        best = {**best, "path": f"{phase}/{name}"}
        return best if f"{best['path']}/{ckpt.STATE_FILE}" in self._remote else None

    def _publish_best(self) -> bool:
        best = self._best_on_hub()
        if best is None or best == self._best:
            return True
        ok = self._commit([(BEST_FILE, (json.dumps(best, indent=1) + "\n").encode())],
                          f"Point {BEST_FILE} at {best['path']}")
        if ok:
            self._best = best
        return ok
