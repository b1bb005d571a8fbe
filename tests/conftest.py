"""Shared fixtures: the session's synthetic LaSOT tree, a checkpoint of a small random network, a local Hub, the
one-thread setting. Defined here once: a test module that needs another variant says why beside it."""

from __future__ import annotations

import contextlib
import os
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
def tiny_lasot(tmp_path_factory) -> Path:
    """A smaller LaSOT tree, for tests that track every frame: book-1..4 and coin-1..4, 16 frames of 96x72 (some
    invisible); the test split is book-3 and coin-3. Shared by the session: tests must not modify it."""
    return make_synthetic_lasot(tmp_path_factory.mktemp("tiny_lasot") / "lasot", SYNTHETIC_CLASSES, 4, 16, (96, 72),
                                seed=1)


@pytest.fixture(scope="session")
def lasot_test_split(tiny_lasot):
    """The sequences of ``tiny_lasot``'s test split (book-3 and coin-3), loaded."""
    from seqtrack_accel.data.lasot import load_lasot

    return load_lasot(tiny_lasot, split="test")


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> str:
    """A training checkpoint folder (``config.yaml`` + ``model.safetensors``) of a small random network: the demo
    config with ``model_helpers.NANO_NETWORK``, its demo source (``data/synthetic_lasot``, generator settings) kept
    as a demo run's checkpoint carries it. Shared by the session: tests must not modify it."""
    from model_helpers import NANO_NETWORK, write_checkpoint

    return write_checkpoint(tmp_path_factory.mktemp("checkpoint"), "demo", NANO_NETWORK)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, checkpoint) -> str:
    """The URL of ``seqtrack-app --checkpoint <checkpoint> --max_frames APP_MAX_FRAMES``, served by a child
    process for the whole session (starting it takes torch's and gradio's imports); needs the app extra."""
    pytest.importorskip("gradio", reason='seqtrack-app needs the optional app extra: pip install -e ".[app]"')
    from app_helpers import APP_MAX_FRAMES, app_server

    with app_server(["--checkpoint", checkpoint, "--device", "cpu", "--max_frames", str(APP_MAX_FRAMES)],
                    tmp_path_factory.mktemp("app")) as url:
        yield url


@pytest.fixture
def one_thread():
    """One intra-op thread for the test (``model_helpers.one_torch_thread``)."""
    from model_helpers import one_torch_thread

    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def module_one_thread():
    """``one_thread`` for a whole module, its module-scoped fixtures included (``pytestmark =
    pytest.mark.usefixtures("module_one_thread")`` sets it up before them)."""
    from model_helpers import one_torch_thread

    with one_torch_thread():
        yield


@contextlib.contextmanager
def _local_hub(env: pytest.MonkeyPatch, cache: Path):
    """A started local Hub (tests/fake_hub.py) that the package and ``huggingface_hub`` find as a user's shell would
    set them: HF_ENDPOINT, HF_TOKEN (``hub_helpers.HUB_TOKEN``) and HF_HUB_DISABLE_XET in the environment (for child
    processes too), and an empty download cache at ``cache``."""
    import huggingface_hub.constants
    from fake_hub import FakeHub
    from hub_helpers import HUB_TOKEN

    with FakeHub(token=HUB_TOKEN) as server:
        env.setenv("HF_ENDPOINT", server.endpoint)  # the package reads it at each call; huggingface_hub at import
        env.setenv("HF_TOKEN", HUB_TOKEN)
        env.setenv("HF_HUB_DISABLE_XET", "1")  # the local Hub speaks no Xet (FakeHub.start disables it in-process)
        env.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
        yield server


@pytest.fixture
def hub(monkeypatch, tmp_path_factory):
    """A local Hub for the test, its address and token in the environment (see ``_local_hub``)."""
    with _local_hub(monkeypatch, tmp_path_factory.mktemp("hub_cache")) as server:
        yield server


@pytest.fixture(scope="module")
def module_hub(tmp_path_factory):
    """``hub`` for a whole module: for module-scoped runs that mirror to it and the tests that read what they left."""
    with pytest.MonkeyPatch.context() as env, _local_hub(env, tmp_path_factory.mktemp("hub_cache")) as server:
        yield server


@pytest.fixture
def closed_port(monkeypatch) -> str:
    """HF_ENDPOINT at a local port nothing listens on: every connection is refused at once."""
    from train_helpers import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    return endpoint
