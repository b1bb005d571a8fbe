"""Hugging Face Hub: mirror a run while it trains, resume from a mirrored checkpoint, check a repo.

See ``mirror`` for the upload protocol and ``remote`` for the repo layout.
"""

from .mirror import HubMirror
from .model_card import render_model_card
from .remote import (HubError, RepoLayout, check_repo, configure_request_timeout, describe_repo, download_checkpoint,
                     parse_spec)

__all__ = ["HubError", "HubMirror", "RepoLayout", "check_repo", "configure_request_timeout", "describe_repo",
           "download_checkpoint", "parse_spec", "render_model_card"]
