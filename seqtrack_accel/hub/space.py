"""A Hugging Face Space that runs ``seqtrack-app`` with a model of the Hub, and a link to it on the model's card.

    push_space("my-org/seqtrack-demo-app", "hf://my-org/seqtrack-demo-export", max_frames=600)

The Space (a Gradio Space, created when missing) receives three files in one commit:

- ``app.py``: starts the app with the model fixed (``public=True``: visitors track their own videos; they cannot load
  another model or name the Space's files), tracking at most ``max_frames`` frames of a video;
- ``requirements.txt``: ``seqtrack-accel[app]`` pinned to this package's version, the one that wrote ``app.py``;
- ``README.md``: the front matter Spaces read (``sdk: gradio``, ``sdk_version``: the gradio the app was run with
  here, ``app_file``, and ``models``, which makes the Hub list the Space on the model's page) and a paragraph.

The model's card (README.md of the model repo) gets a section linking to the Space, between two HTML comments, so a
later push replaces it (one Space per model card); the rest of the card is kept as it is. Pushing again with the
same settings changes nothing in the Space but its commit.
"""

from __future__ import annotations

from huggingface_hub import CommitOperationAdd, ModelCard, SpaceCard, SpaceCardData
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from .. import __version__
from .address import parse_address
from .remote import UNREACHABLE, HubError, configure_request_timeout, describe_error, make_api, resolve_endpoint
from .results import edit_card, place_section

APP_FILE = "app.py"
REQUIREMENTS_FILE = "requirements.txt"
SPACE_CARD_FILE = "README.md"
LINK_START = "<!-- seqtrack-accel:space:start -->"
LINK_END = "<!-- seqtrack-accel:space:end -->"


def requirement() -> str:
    """What the Space installs: this package, with the app extra, at this version."""
    return f"seqtrack-accel[app]=={__version__}"


def space_files(space_id: str, checkpoint: str, *, max_frames: int, gradio_version: str, endpoint: str
                ) -> dict[str, str]:
    """Path -> text of the Space's files (see the module docstring) for the model ``checkpoint`` (hf://ORG/NAME)."""
    model_id = parse_address(checkpoint).repo_id
    app = (f'"""seqtrack-app with the model {checkpoint}, written by `seqtrack-app --push_to_space` (seqtrack-accel '
           f'{__version__}); push again to change it."""\n\n'
           "from seqtrack_accel.app import build_app\n\n"
           f"build_app({checkpoint!r}, public=True, max_frames={max_frames}).launch()\n")
    data = SpaceCardData(title=space_id.split("/")[-1], sdk="gradio", sdk_version=gradio_version, app_file=APP_FILE,
                         models=[model_id], emoji="🎯", colorFrom="green", colorTo="blue", pinned=False,
                         short_description="Track an object through your own video with SeqTrack")
    limit = f"at most {max_frames} frames of a video" if max_frames else "whole videos"
    card = SpaceCard(f"---\n{data.to_yaml()}\n---\n\n# {space_id.split('/')[-1]}\n\n"
                     f"Track an object through your own video with the [SeqTrack](https://arxiv.org/abs/2304.14394) "
                     f"tracker [{model_id}]({endpoint.rstrip('/')}/{model_id}): upload a video or a zip of frames, "
                     "click two opposite corners of the target on the first frame, and get the annotated video, the "
                     f"tracker's confidence per frame, a contact sheet and the boxes. This Space tracks {limit}. It "
                     f"runs `seqtrack-app` of seqtrack-accel {__version__}.\n")
    return {APP_FILE: app, REQUIREMENTS_FILE: requirement() + "\n", SPACE_CARD_FILE: str(card)}


def link_space(card: ModelCard, space_id: str, endpoint: str) -> ModelCard:
    """A copy of ``card`` whose Space section links to ``space_id``, in place of the one there, if any."""
    url = f"{endpoint.rstrip('/')}/spaces/{space_id}"
    section = "\n".join([LINK_START, "## Try it in the browser", "",
                         f"[{space_id}]({url}): track an object through your own video with this model, in a "
                         "Gradio app (`seqtrack-app` of seqtrack-accel).", LINK_END])
    card = ModelCard(str(card))
    card.text = place_section(card.text, section, LINK_START, LINK_END, "the link to the Space")
    return card


def push_space(space_id: str, checkpoint: str, *, max_frames: int, gradio_version: str, private: bool = False,
               token: str | None = None, endpoint: str | None = None, timeout: float = 60.0) -> str:
    """Create or update the Gradio Space ``space_id`` to run ``seqtrack-app`` with ``checkpoint`` (``hf://ORG/NAME``
    of a ``save_pretrained`` export), and link it from the model's card.

    Args:
        max_frames: the most frames of a video the Space tracks (0: all).
        gradio_version: the Space's ``sdk_version``.
        private: create the Space private (an existing Space keeps its visibility).
        token, endpoint, timeout: as ``push_results_to_card``.

    Returns the Space's URL. Raises HubError for a checkpoint that is not an ``hf://`` address, and naming the repo and
    saying what to do when the Hub refuses.
    """
    model_id = parse_address(checkpoint).repo_id
    endpoint = resolve_endpoint(endpoint)
    configure_request_timeout(timeout)
    api = make_api(token=token, endpoint=endpoint)
    try:
        api.repo_info(model_id)  # before anything is created: a Space of a model that is not there helps nobody
    except RepositoryNotFoundError:
        raise HubError(f"the model {model_id} was not found on {endpoint} (or the token may not see it): upload its "
                       "save_pretrained export first, then push the Space") from None
    except (HfHubHTTPError, *UNREACHABLE) as err:
        raise HubError(f"the Hub at {endpoint} could not be asked for the model {model_id} ({describe_error(err)}); "
                       "check the network and HF_ENDPOINT, then push again") from None
    files = space_files(space_id, checkpoint, max_frames=max_frames, gradio_version=gradio_version,
                        endpoint=endpoint)
    try:
        api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.create_commit(space_id, [CommitOperationAdd(path, text.encode()) for path, text in files.items()],
                          repo_type="space", commit_message=f"seqtrack-app with {checkpoint}")
    except (HfHubHTTPError, *UNREACHABLE) as err:
        raise HubError(f"the Space {space_id} could not be created or updated on {endpoint} ({describe_error(err)}); "
                       "check that the token may write to it (`hf auth login` or HF_TOKEN), then push again") from None
    edit_card(model_id, lambda card: link_space(card, space_id, endpoint), what="the link to the Space",
              message=f"Link the Space {space_id}", token=token, endpoint=endpoint, timeout=timeout)
    return f"{endpoint}/spaces/{space_id}"
