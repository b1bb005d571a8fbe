"""Shared fixtures. ``synthetic_lasot`` is a tiny LaSOT tree generated once per test session."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

# The benchmark scripts (and their bench_env helper) are imported by their tests as modules.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from seqtrack_accel.data.synthetic import make_synthetic_lasot

# 4 sequences per class so the built-in protocol split has both parts: book-3 / coin-3 are test, the rest train.
SYNTHETIC_CLASSES = ("book", "coin")
SYNTHETIC_SEQUENCES_PER_CLASS = 4
SYNTHETIC_FRAMES = 25
SYNTHETIC_SIZE = (160, 120)


@pytest.fixture(scope="session", autouse=True)
def index_cache(tmp_path_factory) -> Path:
    """The readers' index caches go to one folder of the session, not beside the data (the default): the shared
    trees stay as their generators wrote them. Tests of the placement itself unset the variable."""
    from seqtrack_accel.data.index_cache import CACHE_VARIABLE

    folder = tmp_path_factory.mktemp("index_cache")
    os.environ[CACHE_VARIABLE] = str(folder)
    return folder


@pytest.fixture(scope="session")
def synthetic_lasot(tmp_path_factory) -> Path:
    """Root of a synthetic LaSOT tree: classes book and coin, 4 sequences each, 25 frames of 160x120.

    Shared by the whole session: tests must not modify it (copy a sequence to tmp_path to break it).
    """
    return make_synthetic_lasot(tmp_path_factory.mktemp("lasot") / "LaSOT", SYNTHETIC_CLASSES,
                                SYNTHETIC_SEQUENCES_PER_CLASS, SYNTHETIC_FRAMES, SYNTHETIC_SIZE, seed=0)


@pytest.fixture(scope="session")
def app_checkpoint(tmp_path_factory) -> str:
    """A training checkpoint folder of a tiny random network, the model of ``app_url``."""
    from model_helpers import TINY_NETWORK, write_checkpoint

    return write_checkpoint(tmp_path_factory.mktemp("app_checkpoint"), None, TINY_NETWORK)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, app_checkpoint) -> str:
    """The URL of ``seqtrack-app --checkpoint <app_checkpoint> --max_frames APP_MAX_FRAMES``, served by a child
    process for the whole session (starting it takes torch's and gradio's imports); needs the app extra."""
    pytest.importorskip("gradio", reason='seqtrack-app needs the optional app extra: pip install -e ".[app]"')
    from app_helpers import APP_MAX_FRAMES, app_server

    with app_server(["--checkpoint", app_checkpoint, "--device", "cpu", "--max_frames", str(APP_MAX_FRAMES)],
                    tmp_path_factory.mktemp("app")) as url:
        yield url


@pytest.fixture
def one_thread():
    """Many tiny ops: one intra-op thread is several times faster than two on a shared, busy CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def closed_port(monkeypatch) -> str:
    """HF_ENDPOINT at a local port nothing listens on: every connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    return endpoint
