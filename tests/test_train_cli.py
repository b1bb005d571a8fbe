"""The command line of train.py."""

from seqtrack_accel.cli.train import build_parser, main


def test_resume_flag_without_a_value_leaves_a_following_override_alone(monkeypatch, tmp_path):
    seen = {}

    class FakeTrainer:
        def __init__(self, cfg, *, run_dir, phase, epochs, resume_from):
            seen.update(cfg=cfg, resume_from=resume_from)

        def fit(self):
            raise SystemExit(0)

    monkeypatch.setattr("seqtrack_accel.training.Trainer", FakeTrainer)
    try:
        main(["--config", "configs/demo.yaml", "--output_dir", str(tmp_path), "--resume_from_checkpoint",
              "train.lr=0.001"])
    except SystemExit:
        pass
    assert seen["resume_from"] == "latest" and seen["cfg"].train.lr == 0.001


def test_resume_flag_alone_means_latest():
    args = build_parser().parse_args(["--resume_from_checkpoint"])
    assert args.resume_from_checkpoint == "latest"
