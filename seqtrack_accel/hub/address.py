"""``hf://`` addresses: one grammar for every flag that takes a model or a checkpoint, and what is at an address.

    hf://ORG/NAME[@REVISION][/PATH]

``REVISION`` is a branch, tag or commit (a ``/`` in a branch name written ``%2F``, as huggingface_hub's file system
writes it). What is at ``PATH`` (default: the repo's root) decides how it loads, never the flag:

- a ``SeqTrack.save_pretrained`` export (``PATH/config.json``): a model, to track, evaluate, export or fine-tune from;
- a training run mirrored by ``HubMirror``: its newest checkpoint (``latest.json``) at the root or ``PATH=latest``,
  its best (``best.json``) at ``PATH=best``, or the checkpoint folder ``PATH=phase_N/checkpoint_E[_stepS]``. Its
  weights load as a model; with ``hub.upload_full_state=true`` its full state also resumes training.

    fetched = download("hf://my-org/seqtrack-demo/best")           # weights, config, training state: the HF cache
    fetched.kind, fetched.folder                                    # "checkpoint", .../phase_1/checkpoint_12
    download("hf://my-org/seqtrack-demo", full_state=True, dest=Path("runs/demo/.hub_downloads"))  # to resume

One listing of the repo, at one commit, decides what the address names; a checkpoint's files are committed together,
so a mirror writing meanwhile cannot mix two checkpoints. Errors say which kind was found and what the flag needs.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import huggingface_hub
from huggingface_hub import constants
from huggingface_hub.errors import LocalEntryNotFoundError, RevisionNotFoundError

from ..config import Config
from ..model.card import TRACKING_FILE
from ..run_folder import BEST_FILE, CHECKPOINT_NAME, CONFIG_FILE, PHASE_NAME, STATE_FILE, WEIGHTS_PATTERN
from .remote import LATEST_FILE, HubError, RepoLayout, describe_repo, resolve_endpoint

logger = logging.getLogger(__name__)

SCHEME = "hf://"
GRAMMAR = "hf://ORG/NAME[@REVISION][/PATH]"
POINTERS = {"": LATEST_FILE, "latest": LATEST_FILE, "best": BEST_FILE}  # PATH -> the file of a run that names it


@dataclass(frozen=True)
class HubAddress:
    """A parsed ``hf://`` address. ``path`` is "" for the repo's root."""

    repo_id: str
    revision: str | None = None
    path: str = ""

    def __str__(self) -> str:
        revision = f"@{quote(self.revision, safe='')}" if self.revision else ""
        return f"{SCHEME}{self.repo_id}{revision}" + (f"/{self.path}" if self.path else "")


def is_address(text: str | None) -> bool:
    return bool(text) and text.startswith(SCHEME)


def parse_address(text: str) -> HubAddress:
    """The parts of ``hf://ORG/NAME[@REVISION][/PATH]``; HubError saying how to write it when it is not one."""
    parts = text[len(SCHEME):].split("/") if is_address(text) else []
    if len(parts) >= 2 and "@" in parts[1]:
        name, _, revision = parts[1].partition("@")
    else:
        name, revision = (parts[1] if len(parts) >= 2 else ""), None
    path = parts[2:]
    if path and path[-1] == "":  # a trailing slash
        path = path[:-1]
    if not (parts and parts[0] and name and revision != "" and "@" not in parts[0] + (revision or "")
            and all(p and p not in (".", "..") for p in path)):
        raise HubError(f"{text!r} is not a Hub address: write {GRAMMAR}, e.g. hf://my-org/seqtrack-demo (an "
                       "export, or a mirrored run's newest checkpoint), hf://my-org/seqtrack-demo/best, "
                       "hf://my-org/seqtrack-demo/phase_1/checkpoint_6, hf://my-org/seqtrack-export@v1")
    return HubAddress(f"{parts[0]}/{name}", unquote(revision) if revision else None, "/".join(path))


@dataclass(frozen=True)
class Fetched:
    """What ``download`` put on disk.

    Attributes:
        address: the address asked for, with ``path`` the folder it resolved to.
        kind: ``"export"`` (a ``save_pretrained`` folder: ``config.json``, ``model.safetensors``, ``config.yaml``) or
            ``"checkpoint"`` (a training checkpoint folder: ``model.safetensors``, ``training_state.json``,
            ``config.yaml``, and with ``full_state`` the optimizer, scheduler and RNG files).
        folder: the local folder.
        commit: the repo commit it was read at.
    """

    address: HubAddress
    kind: str
    folder: Path
    commit: str


def download(address: str, *, full_state: bool = False, dest: Path | None = None, token: str | None = None,
             endpoint: str | None = None, timeout: float = 60.0) -> Fetched:
    """Fetch what ``address`` names (see the module docstring).

    Args:
        full_state: fetch a checkpoint's optimizer, scheduler and RNG states too, to resume training: an export, or
            a checkpoint mirrored without ``hub.upload_full_state=true``, is then an error saying so.
        dest: the local folder (the files land at ``dest/PATH``); default: huggingface_hub's cache.
        token, endpoint: default ``$HF_TOKEN`` or the login, ``$HF_ENDPOINT`` or huggingface.co.
        timeout: seconds per request.

    Raises:
        HubError: the address is malformed, the repo, revision or path is missing, or it names what the caller
            cannot use; each message names the address and what was found there.
    """
    parsed = parse_address(address)
    if huggingface_hub.constants.HF_HUB_OFFLINE and dest is None and not full_state:
        return _from_cache(parsed, address)
    try:
        layout = describe_repo(parsed.repo_id, revision=parsed.revision, token=token, endpoint=endpoint,
                               timeout=timeout)
    except RevisionNotFoundError as err:
        raise HubError(f"{address}: {parsed.repo_id} has no revision {parsed.revision!r}; give a branch, tag or "
                       "commit of the repo") from err
    kind, path = _resolve(parsed, layout)
    if kind == "export":
        if full_state:
            raise HubError(f"{address} is a save_pretrained export ({_join(path, constants.CONFIG_NAME)}): a model "
                           "without a training state, so it cannot resume training. Start a new run from it with "
                           f"model.init=pretrained model.init_weights={address}")
        patterns = _files(kind, path)
    else:
        found = next(c for c in layout.checkpoints if c.path == path)
        if not (found.has_weights and found.has_state):
            raise HubError(f"{address}: {parsed.repo_id}/{path} is incomplete (no weights or no {STATE_FILE}); name "
                           f"another checkpoint (the repo holds: {layout.listing()})")
        if full_state and not found.full_state:
            raise HubError(f"{address}: {parsed.repo_id}/{path} holds the weights only: it was mirrored without "
                           "hub.upload_full_state=true, so it has no optimizer / scheduler / RNG state to resume "
                           f"from. Start a new run from its weights instead (model.init=pretrained "
                           f"model.init_weights={address}), or mirror with hub.upload_full_state=true")
        patterns = [f"{path}/*"] if full_state else _files(kind, path)
    # Into the cache by the revision as written (the cache records which commit a branch names only when a download
    # names the branch, and an offline load finds it by that name); a checkpoint's files are committed together and
    # never deleted by the mirror, so a commit made since the listing holds them too. Into ``dest`` at the listed one.
    root = Path(huggingface_hub.snapshot_download(
        parsed.repo_id, revision=layout.revision if dest is not None else parsed.revision, allow_patterns=patterns,
        local_dir=dest, token=token, endpoint=resolve_endpoint(endpoint), etag_timeout=timeout))
    # huggingface_hub checks each file's size against the Hub's and raises on a short download.
    commit = layout.revision if dest is not None else root.name  # the cache's snapshot folders are named by commit
    fetched = Fetched(dataclasses.replace(parsed, path=path), kind, root / path, commit)
    logger.info("downloaded %s (%s at commit %s) into %s", address, kind, commit, fetched.folder)
    return fetched


def _resolve(address: HubAddress, layout: RepoLayout) -> tuple[str, str]:
    """(kind, path in the repo) of what ``address`` names in the repo listed as ``layout``."""
    path = address.path
    if _join(path, constants.CONFIG_NAME) in layout.files:
        return "export", path
    if path in POINTERS:
        pointer = POINTERS[path]
        target = layout.best if pointer == BEST_FILE else layout.latest
        error = layout.best_error if pointer == BEST_FILE else layout.latest_error
        if error is not None or not isinstance((target or {}).get("path"), str):
            raise HubError(error or f"{address} is neither a save_pretrained export (no "
                           f"{_join(path, constants.CONFIG_NAME)}) nor a mirrored run with a {pointer}; name a "
                           f"checkpoint, {SCHEME}{address.repo_id}/phase_N/checkpoint_E (the repo holds: "
                           f"{layout.listing()})")
        path = target["path"]
    elif not _is_checkpoint_path(path):
        raise HubError(f"{address}: {address.repo_id} has no {_join(path, constants.CONFIG_NAME)}, so {path} is not "
                       "a save_pretrained export; a mirrored run's checkpoint is named phase_N/checkpoint_E, latest "
                       f"or best (the repo holds: {layout.listing()})")
    if not any(c.path == path for c in layout.checkpoints):
        raise HubError(f"{address}: {path} is not in {address.repo_id}; the repo holds: {layout.listing()}")
    return "checkpoint", path


def _from_cache(address: HubAddress, text: str) -> Fetched:
    """What huggingface_hub's cache holds at ``address``, under HF_HUB_OFFLINE (the Hub is not asked): an export, or a
    checkpoint named by its folder."""
    kinds = ["export"] + (["checkpoint"] if _is_checkpoint_path(address.path) else [])
    for kind in kinds:
        try:
            root = Path(huggingface_hub.snapshot_download(address.repo_id, revision=address.revision,
                                                          allow_patterns=_files(kind, address.path),
                                                          local_files_only=True))
        except LocalEntryNotFoundError:  # not cached, or only part of it
            continue
        folder = root / address.path
        if (folder / (constants.CONFIG_NAME if kind == "export" else STATE_FILE)).is_file():
            return Fetched(address, kind, folder, root.name)
    raise HubError(f"{text}: HF_HUB_OFFLINE is set and the download cache holds no copy of an export or checkpoint "
                   f"of {address.repo_id} at {address.path or 'its root'} (a run's newest or best checkpoint is looked "
                   "up on the Hub: name its folder, phase_N/checkpoint_E); fetch it once with the network, or unset "
                   "HF_HUB_OFFLINE")


def _files(kind: str, path: str) -> list[str]:
    """The files to fetch of an export or a checkpoint (its weights, training state and config) at ``path``."""
    if kind == "export":
        return [_join(path, name) for name in (constants.CONFIG_NAME, constants.SAFETENSORS_SINGLE_FILE, TRACKING_FILE)]
    return [f"{path}/{WEIGHTS_PATTERN}", f"{path}/{STATE_FILE}", f"{path}/{CONFIG_FILE}"]


def _is_checkpoint_path(path: str) -> bool:
    """Whether ``path`` is ``phase_N/checkpoint_E[_stepS]``."""
    parts = path.split("/")
    return len(parts) == 2 and bool(PHASE_NAME.match(parts[0])) and bool(CHECKPOINT_NAME.match(parts[1]))


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def with_hub_weights(cfg: Config, *, timeout: float = 60.0) -> Config:
    """``cfg`` with a Hub address in ``model.init_weights`` (``model.init=pretrained``) replaced by the local folder
    it downloads to (the weights only); any other ``cfg`` as it is. ``build_model`` reads local folders only."""
    if cfg.model.init != "pretrained" or not is_address(cfg.model.init_weights):
        return cfg
    folder = download(cfg.model.init_weights, timeout=timeout).folder
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, init_weights=str(folder)))
