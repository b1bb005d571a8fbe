"""The config system: defaults are the original B256, YAML holds differences, overrides and errors name the key."""

from pathlib import Path

import pytest
import yaml

from seqtrack_accel.config import Config, ConfigError, config_from_dict, dump_config, load_config, shipped_configs

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_the_original_b256_values():
    cfg = Config()
    assert (cfg.data.search.size, cfg.data.search.factor, cfg.data.search.center_jitter) == (256, 4.0, 3.5)
    assert (cfg.data.template.number, cfg.train.lr, cfg.train.epochs, cfg.train.lr_drop_epoch) == (2, 1e-4, 500, 400)
    assert (cfg.model.bins, cfg.train.grad_clip_norm, cfg.train.encoder_lr_mult) == (4000, 0.1, 0.1)


def test_b192_config_holds_the_report_setting():
    cfg = load_config("configs/seqtrack_b192.yaml")
    assert cfg.name == "seqtrack_b192"
    assert (cfg.data.search.size, cfg.data.template.size) == (192, 192)
    assert (cfg.data.search.factor, cfg.data.template.factor) == (3.0, 3.0)
    assert cfg.data.classes == ("book", "coin")
    assert cfg.data.search.center_jitter == 3.5  # untouched keys keep the default


def test_override_sets_a_nested_key():
    cfg = load_config("configs/demo.yaml", ["train.batch_size=4", "data.search.factor=2.5"])
    assert cfg.train.batch_size == 4 and cfg.data.search.factor == 2.5


def test_yaml_round_trip_is_identical():
    cfg = load_config("configs/demo.yaml", ["data.classes=[coin]"])
    assert config_from_dict(yaml.safe_load(dump_config(cfg))) == cfg


@pytest.mark.parametrize("override, key", [
    ("train.batch_sizee=3", "train.batch_sizee"),
    ("data.search.size=100", "data.search.size"),
    ("data.template.size=-16", "data.template.size"),
    ("data.classes=[]", "data.classes"),
    ("train.lr=fast", "train.lr"),
    ("model.encoder=huge", "model.encoder"),
    ("train.epochs=1.5", "train.epochs"),
    ("data.decoder=turbo", "data.decoder"),
])
def test_bad_value_error_names_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_config("configs/seqtrack_b192.yaml", [override])
    assert e.value.key == key
    assert f"'{key}'" in str(e.value)


def test_unknown_key_in_yaml_names_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  serch: {size: 128}\n")
    with pytest.raises(ConfigError, match="'data.serch'"):
        load_config(path)


def test_missing_root_error_says_how_to_set_it(monkeypatch):
    monkeypatch.delenv("LASOT_ROOT", raising=False)
    with pytest.raises(ConfigError, match="LASOT_ROOT"):
        Config().data.resolved_root()


def test_root_comes_from_the_environment_relative_to_cwd(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LASOT_ROOT", "lasot")
    assert Config().data.resolved_root() == tmp_path / "lasot"


def test_repository_configs_folder_is_the_package_folder():
    # one source of truth: the YAMLs users read in configs/ are the ones the wheel ships
    assert (REPO / "configs").resolve() == (REPO / "seqtrack_accel" / "configs").resolve()
    assert shipped_configs() == ["demo", "finetune_demo", "seqtrack_b192", "seqtrack_b256", "seqtrack_b256_got",
                                 "seqtrack_b384",
                                 "seqtrack_b384_got", "seqtrack_l256", "seqtrack_l256_got", "seqtrack_l384",
                                 "seqtrack_l384_got"]


@pytest.mark.parametrize("name", ["demo", "demo.yaml"])
def test_shipped_name_loads_the_same_config_as_its_file_from_any_folder(name, monkeypatch, tmp_path):
    from_file = load_config(REPO / "configs" / "demo.yaml", ["train.lr=0.01"])
    monkeypatch.chdir(tmp_path)
    assert load_config(name, ["train.lr=0.01"]) == from_file
    assert from_file.name == "demo"


def test_existing_file_wins_over_a_shipped_name(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo.yaml").write_text("train: {epochs: 3}\n")
    cfg = load_config("demo.yaml")
    assert cfg.train.epochs == 3 and cfg.name == "demo" and cfg.model.encoder == "base"


@pytest.mark.parametrize("given", ["demoo", "configs/demoo.yaml", "elsewhere/demo"])
def test_unknown_config_error_names_it_and_lists_the_shipped_ones(given):
    with pytest.raises(FileNotFoundError) as e:
        load_config(given)
    assert repr(given) in str(e.value)
    assert "demo, finetune_demo, seqtrack_b192, seqtrack_b256" in str(e.value)


def test_an_infinite_learning_rate_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match="train.lr.*finite"):
        load_config("demo", ["train.lr=.inf"])
