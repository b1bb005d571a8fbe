"""The config system: defaults are the original B256, YAML holds differences, overrides and errors name the key."""

import logging
from pathlib import Path

import pytest
import yaml

from seqtrack_accel.config import (Config, ConfigError, SourceConfig, config_from_dict, dump_config, load_config,
                                   shipped_configs)

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_the_original_b256_values():
    cfg = Config()
    assert (cfg.data.search.size, cfg.data.search.factor, cfg.data.search.center_jitter) == (256, 4.0, 3.5)
    assert (cfg.data.template.number, cfg.train.lr, cfg.train.epochs, cfg.train.lr_drop_epoch) == (2, 1e-4, 500, 400)
    assert (cfg.model.bins, cfg.train.grad_clip_norm, cfg.train.encoder_lr_mult) == (4000, 0.1, 0.1)
    assert cfg.data.datasets == (SourceConfig("lasot"), SourceConfig("got10k", split="vottrain"),
                                 SourceConfig("coco17"), SourceConfig("trackingnet"))
    assert cfg.eval.dataset is None  # the held-out split of the first source: LaSOT's test split


def test_b192_config_holds_the_report_setting():
    cfg = load_config("configs/seqtrack_b192.yaml")
    assert cfg.name == "seqtrack_b192"
    assert (cfg.data.search.size, cfg.data.template.size) == (192, 192)
    assert (cfg.data.search.factor, cfg.data.template.factor) == (3.0, 3.0)
    assert cfg.data.datasets == (SourceConfig("lasot", classes=("book", "coin")),)
    assert cfg.data.search.center_jitter == 3.5  # untouched keys keep the default


def test_override_sets_a_nested_key():
    cfg = load_config("configs/demo.yaml", ["train.batch_size=4", "data.search.factor=2.5"])
    assert cfg.train.batch_size == 4 and cfg.data.search.factor == 2.5


def test_yaml_round_trip_is_identical():
    cfg = load_config("configs/demo.yaml", ["data.datasets[0].classes=[coin]"])
    assert config_from_dict(yaml.safe_load(dump_config(cfg))) == cfg


@pytest.mark.parametrize("override, key", [
    ("train.batch_sizee=3", "train.batch_sizee"),
    ("data.search.size=100", "data.search.size"),
    ("data.template.size=-16", "data.template.size"),
    ("data.datasets[0].classes=[]", "data.datasets[0].classes"),
    ("data.datasets[0].ratio=0", "data.datasets[0].ratio"),
    ("data.datasets=[]", "data.datasets"),
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


def test_an_override_reaches_into_a_list_of_sources_by_index():
    cfg = load_config("seqtrack_b256", ["data.datasets[1].root=/data/GOT-10k", "data.datasets[3].chunks=[0, 1]"])
    assert cfg.data.datasets[1] == SourceConfig("got10k", root="/data/GOT-10k", split="vottrain")
    assert cfg.data.datasets[3].chunks == (0, 1) and cfg.data.datasets[0] == SourceConfig("lasot")


def test_an_override_replaces_a_whole_entry_of_a_list():
    cfg = load_config("demo", ["data.datasets[0]={name: custom, root: data/mine}"])
    assert cfg.data.datasets == (SourceConfig("custom", root="data/mine"),)


def test_an_index_past_the_end_of_a_list_is_an_error_naming_the_key_and_the_length():
    with pytest.raises(ConfigError, match=r"'data.datasets\[1\]': data.datasets holds 1 entries, so the index "
                                          r"must be 0 to 0; set data.datasets=\[...\]"):
        load_config("demo", ["data.datasets[1].root=/data"])


def test_an_index_on_a_key_that_is_no_list_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"'train\[0\]': is not a list"):
        load_config("demo", ["train[0].lr=1"])


def test_an_override_into_an_unset_evaluation_source_starts_from_the_first_training_source():
    cfg = load_config("demo", ["eval.dataset.classes=[coin]"])
    first = cfg.data.datasets[0]
    assert cfg.eval.dataset == SourceConfig("lasot", root=first.root, classes=("coin",), synthetic=first.synthetic)


@pytest.mark.parametrize("override, spelling", [
    ("data.root=/data/LaSOT", "data.datasets[0].root=/data/LaSOT"),
    ("data.classes=[cup]", "data.datasets[0].classes=[cup]"),
    ("data.synthetic=null", "data.datasets[0].synthetic=null"),
    ("data.synthetic.frames=25", "data.datasets[0].synthetic.frames=25"),
    ("eval.split=train", "eval.dataset.split=train"),
    ("eval.classes=[book]", "eval.dataset.classes=[book]"),
])
def test_an_override_of_an_old_flat_key_is_an_error_showing_the_new_spelling(override, spelling):
    key = override.split("=")[0]
    with pytest.raises(ConfigError) as e:
        load_config("demo", [override])
    assert e.value.key == key and f"write {spelling}" in str(e.value)


OLD_DEMO = """\
data:
  root: data/synthetic_lasot
  synthetic: {classes: [book, coin], sequences_per_class: 20, frames: 60, width: 320, height: 240, seed: 0}
  classes: [book, coin]
  split: train
  split_file: ''
  datasets: []
eval:
  split: test
  classes: null
  dataset: null
"""


def test_an_old_config_is_read_in_the_one_form_with_a_note_showing_it(tmp_path, caplog):
    path = tmp_path / "config.yaml"  # as a run folder of an earlier version holds it (defaults written out)
    path.write_text(OLD_DEMO)
    with caplog.at_level(logging.WARNING, logger="seqtrack_accel.config"):
        cfg = load_config(path)
    demo = load_config("demo")
    assert (cfg.data.datasets, cfg.eval.dataset) == (demo.data.datasets, demo.eval.dataset)
    (note,) = [r.getMessage() for r in caplog.records]
    assert note.startswith(f"{path} uses the flat data keys of earlier versions (data.root, data.synthetic, "
                           "data.classes, data.split, data.split_file, eval.split, eval.classes)")
    assert "datasets:\n  - name: lasot\n    root: data/synthetic_lasot" in note and "eval:" not in note


def test_an_old_config_evaluated_on_other_classes_keeps_them_as_its_evaluation_source(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("data: {root: /data/LaSOT, classes: [book, coin]}\neval: {classes: [coin]}\n")
    cfg = load_config(path)
    assert cfg.data.datasets == (SourceConfig("lasot", root="/data/LaSOT", classes=("book", "coin")),)
    assert cfg.eval.dataset == SourceConfig("lasot", root="/data/LaSOT", split="test", classes=("coin",))


def test_an_old_config_with_sources_gives_data_root_to_its_lasot_entries(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("data:\n  root: /data/LaSOT\n  datasets: [{name: lasot}, {name: got10k, split: vottrain}]\n")
    cfg = load_config(path)
    assert cfg.data.datasets == (SourceConfig("lasot", root="/data/LaSOT"), SourceConfig("got10k", split="vottrain"))
    assert cfg.eval.dataset is None  # LaSOT's test split at data.root: the first source's held-out split


def test_a_config_in_the_one_form_is_read_without_a_note(caplog):
    with caplog.at_level(logging.WARNING, logger="seqtrack_accel.config"):
        load_config("demo")
    assert not caplog.records


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


def test_a_crop_size_that_is_no_multiple_of_the_patch_size_is_an_error_naming_both_keys():
    with pytest.raises(ConfigError) as e:
        load_config("demo", ["model.patch_size=12"])
    assert e.value.key == "data.search.size"
    assert "model.patch_size=12" in str(e.value)


def test_an_infinite_learning_rate_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match="train.lr.*finite"):
        load_config("demo", ["train.lr=.inf"])
