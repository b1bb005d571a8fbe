"""The command line of train.py."""

import pytest

from seqtrack_accel.cli.train import build_parser, main, resolve_config
from seqtrack_accel.config import load_config


def test_resume_flag_without_a_value_leaves_a_following_override_alone(monkeypatch, tmp_path):
    seen = {}

    class FakeTrainer:
        def __init__(self, cfg, *, run_dir, phase, epochs, resume_from, stop):
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


def test_default_config_is_the_shipped_b192_from_any_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = resolve_config(build_parser().parse_args([]))
    assert cfg.name == "seqtrack_b192" and cfg.data.search.size == 192


def test_config_takes_a_shipped_name(monkeypatch, tmp_path):
    expected = load_config("configs/demo.yaml", ["train.batch_size=4"])
    monkeypatch.chdir(tmp_path)
    assert resolve_config(build_parser().parse_args(["--config", "demo", "train.batch_size=4"])) == expected


def test_unknown_config_name_exits_2_listing_the_shipped_configs(capsys):
    assert main(["--config", "seqtrack_b19"]) == 2
    err = capsys.readouterr().err
    assert "'seqtrack_b19'" in err and "demo, seqtrack_b192, seqtrack_b256" in err


def test_flags_take_underscores_and_dashes_alike():
    from seqtrack_accel.cli.evaluate import build_parser as evaluate_parser
    from seqtrack_accel.cli.train import build_parser as train_parser

    assert evaluate_parser().parse_args(["--max_frames", "3"]).max_frames == 3
    assert evaluate_parser().parse_args(["--max-frames", "3"]).max_frames == 3
    assert train_parser().parse_args(["--output-dir", "runs/x"]).output_dir == "runs/x"


def test_a_float_override_takes_every_spelling_python_takes():
    assert load_config("demo", ["train.lr=1e-4"]).train.lr == 1e-4  # YAML 1.1 reads 1e-4 as a string


def test_overrides_may_follow_other_flags():
    args = build_parser().parse_intermixed_args(["train.lr=0.1", "--epochs", "2", "train.batch_size=4"])
    assert args.overrides == ["train.lr=0.1", "train.batch_size=4"] and args.epochs == 2


@pytest.mark.parametrize("flag", ["--epochs", "--phase"])
def test_zero_epochs_or_phase_is_a_usage_error(flag, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--config", "demo", flag, "0"])
    assert info.value.code == 2 and "must be >= 1" in capsys.readouterr().err


def _trainer_failing_with(monkeypatch, error: Exception) -> None:
    class FailingTrainer:
        def __init__(self, *args, **kwargs):
            pass

        def fit(self):
            raise error

    monkeypatch.setattr("seqtrack_accel.training.Trainer", FailingTrainer)


def test_bad_input_raised_as_value_error_is_one_error_line_and_exit_2(monkeypatch, tmp_path, capsys):
    _trainer_failing_with(monkeypatch, ValueError("groundtruth.txt line 3: values must be numbers"))
    assert main(["--config", "demo", "--output_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: groundtruth.txt line 3" in err and "Traceback" not in err


def test_a_hub_error_is_one_error_line_and_exit_2(monkeypatch, tmp_path, capsys):
    from seqtrack_accel.hub import HubError

    _trainer_failing_with(monkeypatch, HubError("the Hub at http://127.0.0.1:9 could not be reached (ConnectError)"))
    assert main(["--config", "demo", "--output_dir", str(tmp_path), "--resume_from_checkpoint", "hf://org/run"]) == 2
    assert "error: the Hub at http://127.0.0.1:9 could not be reached" in capsys.readouterr().err
