"""Upload one checkpoint folder to ``phase_N/<name>/`` of a Hub repo (``seqtrack-upload-checkpoint``).

latest.json is pointed at it when it is the newest checkpoint in the repo (by phase, then global step).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqtrack_accel.config import ConfigError, HubConfig
from seqtrack_accel.hub.mirror import upload_checkpoint
from seqtrack_accel.hub.remote import describe_error, hub_errors, resolve_endpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqtrack-upload-checkpoint", description=__doc__)
    parser.add_argument("checkpoint_dir", type=Path, help="a checkpoint folder (model.safetensors, "
                        "training_state.json, ...), e.g. runs/demo/phase_1/checkpoints/checkpoint_6")
    parser.add_argument("--repo_id", required=True, help="ORG/NAME of the model repo")
    parser.add_argument("--phase", type=int, default=None, help="phase N (default: from training_state.json)")
    parser.add_argument("--name", default=None, help="folder name in the repo (default: the folder's name)")
    parser.add_argument("--create", action="store_true", help="create the repo if it does not exist")
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument("--private", dest="private", action="store_true", default=True,
                            help="with --create: create it private (the default)")
    visibility.add_argument("--public", dest="private", action="store_false", help="with --create: create it public")
    parser.add_argument("--weights_only", action="store_true",
                        help="upload only the weights, training_state.json and config.yaml (not resumable)")
    args = parser.parse_args(argv)
    try:
        cfg = HubConfig(repo_id=args.repo_id, private=args.private)
    except ConfigError as err:
        parser.error(f"{args.repo_id}: {err.message}")
    try:
        repo_dir = upload_checkpoint(args.checkpoint_dir, cfg.repo_id, phase=args.phase, name=args.name,
                                     create=args.create, full_state=not args.weights_only, cfg=cfg)
    except hub_errors() as err:
        print(f"could not upload {args.checkpoint_dir} to {cfg.repo_id}: {describe_error(err)}", file=sys.stderr)
        return 1
    print(f"uploaded {args.checkpoint_dir} to {resolve_endpoint()}/{cfg.repo_id} as {repo_dir}/")
    return 0
