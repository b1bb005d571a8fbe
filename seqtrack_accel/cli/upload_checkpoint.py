"""Mirror one checkpoint of a run folder, or all of a run folder that the Hub lacks, to a Hub repo, as the trainer
does (``seqtrack-upload-checkpoint``).

    seqtrack-upload-checkpoint runs/demo/phase_1/checkpoints/checkpoint_6 --repo_id my-org/seqtrack-demo
    seqtrack-upload-checkpoint runs/demo --repo_id my-org/seqtrack-demo    # what the end of a run left pending

The trainer's own mirror (:class:`seqtrack_accel.hub.HubMirror`) makes the commits: the checkpoint's files under
``phase_N/<name>/``, then the run's plots, TensorBoard logs and model card, then latest.json when the checkpoint is
newer (by phase, then global step) than the one it names. Given a run folder, it uploads every checkpoint the repo
lacks (those of the run folder and the copies a run staged in ``DIR/.hub_staging`` when the Hub was away), and the
plots, logs, card and latest.json, as a resumed run does first. The repo is created when missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqtrack_accel.config import ConfigError, HubConfig
from seqtrack_accel.hub import HubMirror
from seqtrack_accel.hub.remote import HUB_ERRORS, describe_error, resolve_endpoint
from seqtrack_accel import run_folder as ckpt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqtrack-upload-checkpoint", description=__doc__)
    parser.add_argument("checkpoint_dir", type=Path, help="a checkpoint folder of a run folder DIR, "
                        "DIR/phase_N/checkpoints/checkpoint_E[_stepS], e.g. runs/demo/phase_1/checkpoints/"
                        "checkpoint_6; or the run folder DIR itself: all of it that the repo lacks")
    parser.add_argument("--repo_id", required=True, help="ORG/NAME of the model repo")
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument("--private", dest="private", action="store_true", default=True,
                            help="create a missing repo private (the default)")
    visibility.add_argument("--public", dest="private", action="store_false", help="create a missing repo public")
    parser.add_argument("--weights_only", action="store_true",
                        help="upload only the weights, training_state.json and config.yaml (not resumable)")
    args = parser.parse_args(argv)
    try:
        cfg = HubConfig(repo_id=args.repo_id, private=args.private, upload_full_state=not args.weights_only)
    except ConfigError as err:
        parser.error(f"{args.repo_id}: {err.message}")
    folder = args.checkpoint_dir.resolve()
    whole_run = (folder / ckpt.CONFIG_FILE).is_file() and not (folder / ckpt.STATE_FILE).is_file()
    try:
        if whole_run:
            mirror = HubMirror(cfg, folder)
            mirror.start()
            mirror.sync_missing()
            done = f"what {args.checkpoint_dir} had and {cfg.repo_id} lacked"
        else:
            state = ckpt.TrainingState.read(folder)
            run_dir = folder.parent.parent.parent
            if folder.parent != ckpt.checkpoints_dir(run_dir, state.phase):
                raise ckpt.CheckpointError(f"{args.checkpoint_dir} is not in DIR/phase_{state.phase}/checkpoints/ of "
                                           "a run folder DIR, where its run's config, plots and TensorBoard logs are")
            mirror = HubMirror(cfg, run_dir)
            mirror.start()
            mirror.submit_checkpoint(folder, state.phase)
            done = f"{args.checkpoint_dir} as phase_{state.phase}/{folder.name}/"
    except HUB_ERRORS as err:
        print(f"could not upload {args.checkpoint_dir} to {cfg.repo_id}: {describe_error(err)}", file=sys.stderr)
        return 1
    not_mirrored = mirror.close()  # the mirror logs each failure's cause
    if not_mirrored:
        print(f"could not upload {args.checkpoint_dir} to {cfg.repo_id}; not mirrored: {'; '.join(not_mirrored)}",
              file=sys.stderr)
        return 1
    print(f"uploaded {done} to {resolve_endpoint()}/{cfg.repo_id}")
    return 0
