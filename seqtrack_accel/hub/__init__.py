"""Hugging Face Hub: mirror a run while it trains, fetch what an ``hf://`` address names, check a repo.

See ``mirror`` for the upload protocol, ``remote`` for the repo layout and ``address`` for the ``hf://`` grammar.
"""

from .address import Fetched, HubAddress, download, is_address, parse_address, with_hub_weights
from .mirror import HubMirror
from .model_card import render_model_card
from .remote import HubError, RepoLayout, check_repo, configure_request_timeout, describe_repo

__all__ = ["Fetched", "HubAddress", "HubError", "HubMirror", "RepoLayout", "check_repo", "configure_request_timeout",
           "describe_repo", "download", "is_address", "parse_address", "render_model_card", "with_hub_weights"]
