"""seqtrack-app --push_to_space against the local Hub server: the Space's files, its front matter, the link from the
model card, a second push, and what is refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import yaml
from huggingface_hub import ModelCard

from hub_helpers import HUB_TOKEN

from seqtrack_accel import __version__
from seqtrack_accel.cli.app import SPACE_MAX_FRAMES
from seqtrack_accel.cli.app import main as app_main
from seqtrack_accel.hub.results import SECTION_START
from seqtrack_accel.hub.space import LINK_START

pytest.importorskip("gradio", reason='seqtrack-app needs the optional app extra: pip install -e ".[app]"')

MODEL, SPACE = "org/seqtrack-demo-export", "org/seqtrack-demo-app"


@pytest.fixture(autouse=True)
def model_on_the_hub(hub):
    """The model the Space runs, on the local Hub before each test (its card has a section for the link to go after)."""
    hub.create_repo(MODEL)
    hub.commit_files(MODEL, {"README.md": b"---\nlicense: mit\n---\n# seqtrack demo\n\n## Usage\n\nTrack.\n",
                             "config.json": b"{}"})


def push(*extra: str) -> int:
    return app_main(["--push_to_space", SPACE, "--checkpoint", f"hf://{MODEL}", *extra])


def front_matter(readme: bytes) -> dict:
    return yaml.safe_load(readme.decode().split("---")[1])


def test_push_to_space_creates_a_gradio_space_that_runs_the_app_with_the_model(hub):
    assert push() == 0
    files = hub.files(SPACE, repo_type="space")
    assert sorted(files) == [".gitattributes", "README.md", "app.py", "requirements.txt"]
    assert f"build_app('hf://{MODEL}', public=True, max_frames={SPACE_MAX_FRAMES}).launch()" in files["app.py"].decode()
    compile(files["app.py"], "app.py", "exec")
    assert files["requirements.txt"].decode() == f"seqtrack-accel[app]=={__version__}\n"


def test_the_spaces_readme_has_the_front_matter_spaces_read(hub):
    import gradio

    push()
    meta = front_matter(hub.files(SPACE, repo_type="space")["README.md"])
    assert {k: meta[k] for k in ("sdk", "sdk_version", "app_file", "models")} == {
        "sdk": "gradio", "sdk_version": gradio.__version__, "app_file": "app.py", "models": [MODEL]}


def test_the_model_card_links_to_the_space_and_keeps_the_rest(hub):
    push()
    card = ModelCard(hub.files(MODEL)["README.md"].decode())
    assert f"[{SPACE}]({hub.endpoint}/spaces/{SPACE})" in card.text
    assert card.text.index(LINK_START) < card.text.index("## Usage") and card.data.license == "mit"


def test_a_second_push_updates_the_space_and_replaces_the_link(hub):
    push()
    assert push("--max_frames", "100") == 0
    assert "max_frames=100" in hub.files(SPACE, repo_type="space")["app.py"].decode()
    assert hub.files(MODEL)["README.md"].decode().count(LINK_START) == 1


def test_the_link_leaves_the_evaluation_results_on_the_card(hub):
    from seqtrack_accel.hub.results import BenchmarkResult, push_results_to_card

    push_results_to_card(MODEL, [BenchmarkResult("lasot", "test", "demo", {"auc": 60.0}, 8, None, "2026-12-01", "")])
    push()
    text = hub.files(MODEL)["README.md"].decode()
    assert SECTION_START in text and LINK_START in text


def test_a_model_not_on_the_hub_is_refused_before_a_space_is_made(hub, capsys):
    assert app_main(["--push_to_space", SPACE, "--checkpoint", "hf://org/missing"]) == 2
    assert capsys.readouterr().err.startswith("error: the model org/missing was not found on")
    assert not hub.repo_exists(SPACE, repo_type="space")


def test_a_local_checkpoint_cannot_be_a_spaces_model(hub, tmp_path, capsys):
    assert app_main(["--push_to_space", SPACE, "--checkpoint", str(tmp_path)]) == 2
    assert f"error: '{tmp_path}' is not a Hub address: write hf://ORG/NAME" in capsys.readouterr().err
    assert not hub.repo_exists(SPACE, repo_type="space")


def test_the_space_is_created_with_the_gradio_sdk(hub):
    from huggingface_hub import HfApi

    push()
    assert HfApi(endpoint=hub.endpoint, token=HUB_TOKEN).space_info(SPACE).sdk == "gradio"


def test_the_local_hub_refuses_a_space_without_an_sdk_as_the_hub_does(hub):
    request = urllib.request.Request(f"{hub.endpoint}/api/repos/create", method="POST",
                                     data=json.dumps({"name": "bare", "type": "space"}).encode(),
                                     headers={"Authorization": f"Bearer {HUB_TOKEN}",
                                              "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and not hub.repo_exists("tester/bare", repo_type="space")
