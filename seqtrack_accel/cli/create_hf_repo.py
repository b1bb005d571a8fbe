"""Create the Hub model repo a run mirrors to, or report that it exists (``seqtrack-create-hf-repo ORG/NAME``)."""

from __future__ import annotations

import argparse
import sys

from huggingface_hub.errors import RepositoryNotFoundError

from seqtrack_accel.config import ConfigError, HubConfig
from seqtrack_accel.hub.remote import HUB_ERRORS, configure_request_timeout, describe_error, make_api, resolve_endpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqtrack-create-hf-repo", description=__doc__)
    parser.add_argument("repo_id", help="ORG/NAME of the model repo")
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument("--private", dest="private", action="store_true", default=True,
                            help="create it private (the default)")
    visibility.add_argument("--public", dest="private", action="store_false", help="create it public")
    args = parser.parse_args(argv)
    try:
        cfg = HubConfig(repo_id=args.repo_id, private=args.private)
    except ConfigError as err:
        parser.error(f"{args.repo_id}: {err.message}")
    endpoint = resolve_endpoint()
    configure_request_timeout(cfg.request_timeout)
    api = make_api(endpoint=endpoint)
    try:
        try:
            info = api.repo_info(cfg.repo_id, timeout=cfg.request_timeout)
            print(f"{cfg.repo_id} already exists ({'private' if info.private else 'public'}): "
                  f"{endpoint}/{cfg.repo_id}")
            return 0
        except RepositoryNotFoundError as err:
            if err.response.status_code != 404:
                raise
        url = api.create_repo(cfg.repo_id, private=cfg.private)
        print(f"created the {'private' if cfg.private else 'public'} repo {url}")
        return 0
    except HUB_ERRORS as err:
        print(f"could not create {cfg.repo_id} on {endpoint}: {describe_error(err)}\n"
              "Check the name and that the token (HF_TOKEN or `hf auth login`) may write to "
              f"{cfg.repo_id.split('/')[0]}.", file=sys.stderr)
        return 1
