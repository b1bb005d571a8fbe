"""List a mirrored run's Hub repo by phase and checkpoint and check its organisation (``seqtrack-check-repo``).

Exits 0 when every checkpoint has its weights and training state, latest.json points at a complete checkpoint,
and the TensorBoard logs and model card are there; otherwise prints the problems and exits 1.
"""

from __future__ import annotations

import argparse
import sys

from seqtrack_accel.config import ConfigError, HubConfig
from seqtrack_accel.hub.remote import (HUB_ERRORS, RepoLayout, describe_error, describe_repo, layout_problems,
                                       resolve_endpoint)


def format_layout(layout: RepoLayout) -> str:
    """The repo's checkpoints grouped by phase, then latest.json, TensorBoard files and other files."""
    lines = [f"{resolve_endpoint()}/{layout.repo_id}: {len(layout.files)} files"]
    phase = None
    for ckpt in layout.checkpoints:
        if ckpt.phase != phase:
            phase = ckpt.phase
            lines.append(f"phase_{phase}/")
        kinds = [k for k, present in (("weights", ckpt.has_weights), ("state", ckpt.has_state),
                                      ("full state", ckpt.full_state)) if present]
        size_mb = sum(ckpt.files.values()) / 2**20
        lines.append(f"  {ckpt.name:<28} {len(ckpt.files):>3} files {size_mb:>9.2f} MB  {', '.join(kinds) or '-'}")
    if layout.latest is not None:
        lines.append(f"latest.json -> {layout.latest.get('path')} (epoch {layout.latest.get('epoch')}, step "
                     f"{layout.latest.get('global_step')}, full_state {layout.latest.get('full_state')})")
    lines.append(f"tensorboard/: {len(layout.tensorboard_files)} event files")
    in_checkpoints = {f"{c.path}/{name}" for c in layout.checkpoints for name in c.files}
    others = sorted(p for p in layout.files if p not in in_checkpoints and not p.startswith("tensorboard/"))
    if others:
        lines.append("other files: " + ", ".join(others))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqtrack-check-repo", description=__doc__)
    parser.add_argument("repo_id", help="ORG/NAME of the model repo")
    args = parser.parse_args(argv)
    try:
        cfg = HubConfig(repo_id=args.repo_id)
    except ConfigError as err:
        parser.error(f"{args.repo_id}: {err.message}")
    try:
        layout = describe_repo(cfg.repo_id, timeout=cfg.request_timeout)
    except HUB_ERRORS as err:
        print(f"could not read {cfg.repo_id}: {describe_error(err)}", file=sys.stderr)
        return 1
    print(format_layout(layout))
    problems = layout_problems(layout)
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("\nOK: the repo is organised as the mirror writes it")
    return 0
