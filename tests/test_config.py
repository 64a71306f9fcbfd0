"""The typed trial config: shipped YAMLs load, overrides by dotted path, errors name the full key path."""

from pathlib import Path

import pytest

from empgan.config import (BUILTIN_CONFIG_DIR, TrainConfig, build_config, load_config, parse_overrides,
                           resume_differences, to_dict)
from empgan.errors import ConfigError, UserError

SHIPPED = sorted(BUILTIN_CONFIG_DIR.glob("*.yaml"))


def test_the_shipped_configs_are_there():
    assert [p.stem for p in SHIPPED] == ["cpu_tiny", "eg", "pg"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert isinstance(cfg, TrainConfig)
    assert load_config(path.stem) == cfg                         # by name, as `empgan train pg` does


def test_pg_and_eg_are_the_reports_settings():
    pg, eg = load_config("pg"), load_config("eg")
    assert pg.model_kind == "PG" and (pg.patch_num, pg.prob, pg.emp) == (1, 0.0, False)
    assert eg.model_kind == "EG" and (eg.patch_num, eg.prob, eg.emp, eg.w, eg.len) == (4, 1.0, True, 1.0, 32)
    assert pg.milestones_kimg == eg.milestones_kimg == [100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0]
    assert pg.resolution == eg.resolution == 256 and pg.fid_samples == 10000 and pg.pretrained is True


def test_dotted_overrides_reach_nested_keys_and_parse_yaml_scalars():
    cfg = load_config("cpu_tiny", ["emp_loss.hidden=512", "emp=on", "milestones_kimg=[1,2]", "w=2.5",
                                   "model.feature_weights=/w/lite0.safetensors"])
    assert cfg.emp_loss.hidden == 512 and cfg.emp is True and cfg.milestones_kimg == [1.0, 2.0] and cfg.w == 2.5
    assert cfg.model.feature_weights == "/w/lite0.safetensors"
    assert cfg.model.ngf == 16                                   # the file's value survives a sibling override
    assert parse_overrides(["a.b=1", "a.c=x"]) == {"a": {"b": 1, "c": "x"}}


@pytest.mark.parametrize("data, message", [
    ({"batchsize": 8}, "config key 'batchsize' = 8: unknown key; allowed: augment, batch,"),
    ({"emp_loss": {"hiden": 8}}, "config key 'emp_loss.hiden' = 8: unknown key; allowed: eps, hidden, inv_weight,"),
    ({"batch": "eight"}, "config key 'batch' = 'eight': must be an integer"),
    ({"emp": "maybe"}, "config key 'emp' = 'maybe': must be true/false"),
    ({"milestones_kimg": [1, "x"]}, "config key 'milestones_kimg[1]' = 'x': must be a number"),
    ({"emp_loss": {"tune_backbone": "all"}}, "config key 'emp_loss.tune_backbone' = 'all': must be one of 'none', 'last_stage'"),
    ({"model": 3}, "config key 'model' = 3: must be a mapping of keys"),
    ({"resolution": 48}, "config key 'resolution' = 48: must be a power of two from 32 to 1024"),
    ({"patch_num": 0}, "config key 'patch_num' = 0: must be >= 1"),
    ({"prob": -1}, "config key 'prob' = -1.0: must be >= 0"),
    ({"len": 0}, "config key 'len' = 0: must be >= 1"),
    ({"total_kimg": 1, "milestones_kimg": [2]}, "config key 'milestones_kimg' = [2.0]: must not exceed total_kimg"),
    ({"total_kimg": 3, "milestones_kimg": [1, 2]}, "config key 'total_kimg' = 3.0: must equal the last milestone (2): "
                                                  "training past it is never evaluated"),
    ({"milestones_kimg": [1, 1]}, "config key 'milestones_kimg' = [1.0, 1.0]: must be strictly increasing"),
    ({"fid_samples": 100}, "config key 'fid_samples' = 100: is below eval.fid_min_samples (2048)"),
    ({"device": "cudaX"}, "config key 'device' = 'cudaX': must be auto, cpu, cuda or cuda:N"),
    ({"optim": {"beta1": 1.5}}, "config key 'optim.beta1' = 1.5: must be in [0, 1)"),
    ({"total_kimg": float("inf")}, "config key 'total_kimg' = inf: must be a finite number"),
    ({"optim": {"lr_g": float("inf")}}, "config key 'optim.lr_g' = inf: must be a finite number"),
])
def test_bad_values_name_the_full_key_path(data, message):
    with pytest.raises(ConfigError) as info:
        build_config(data, "trial.yaml")
    assert str(info.value).startswith(f"trial.yaml: {message}"), str(info.value)
    assert "\n" not in str(info.value)


def test_scientific_notation_without_a_dot_is_a_number():
    # PyYAML (YAML 1.1) reads `2e-4` as a string; users type it that way in files and in --set.
    cfg = load_config("cpu_tiny", ["optim.lr_g=2e-4", "optim.lr_d=1E-3"])
    assert cfg.optim.lr_g == 2e-4 and cfg.optim.lr_d == 1e-3
    with pytest.raises(ConfigError, match="'optim.lr_g' = '2e-4x': must be a number"):
        load_config("cpu_tiny", ["optim.lr_g=2e-4x"])


def test_bad_files_and_override_syntax(tmp_path):
    with pytest.raises(UserError, match="config file 'nope.yaml' does not exist"):
        load_config("nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("batch: [1,\n")
    with pytest.raises(UserError, match=r"is not valid YAML \(line"):
        load_config(bad)
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(UserError, match="must hold a mapping of keys, got list"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(UserError, match="--set 'patch_num': expected key=value"):
        parse_overrides(["patch_num"])
    with pytest.raises(UserError, match=r"--set 'milestones_kimg=\[1,2': the value is not valid YAML"):
        parse_overrides(["milestones_kimg=[1,2"])
    with pytest.raises(UserError, match="neither a file nor a shipped config; shipped: cpu_tiny, eg, pg"):
        load_config("tiny")


def test_resume_may_change_schedule_and_evaluation_only():
    old = to_dict(load_config("cpu_tiny"))
    new = to_dict(load_config("cpu_tiny", ["total_kimg=4", "milestones_kimg=[1,2,4]", "fid_samples=512",
                                           "eval.fid_batch=32", "patch_num=2", "optim.lr_d=0.001"]))
    assert resume_differences(old, new) == ["optim.lr_d", "patch_num"]


def test_pg_baseline_is_one_view_no_augmentation_no_emp():
    cfg = build_config({})
    assert (cfg.patch_num, cfg.prob, cfg.emp) == (1, 0.0, False) and cfg.model_kind == "PG"
    assert Path(BUILTIN_CONFIG_DIR).is_dir()
