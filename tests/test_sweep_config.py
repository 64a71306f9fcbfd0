"""Sweep YAML validation: every bad file exits 2 with a one-line message naming the key, before Ray."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from empgan.errors import ConfigError
from empgan.tune.sweep_config import load_sweep, parse_sweep, trial_config

REPO = Path(__file__).resolve().parents[1]
SHARED_POKEMON = REPO.parent / "shared" / "data" / "pokemon"

GOOD = {
    "name": "t",
    "base": {"total_kimg": 2, "milestones_kimg": [1, 2], "emp": True, "eval.allow_few_fid_samples": True,
             "fid_samples": 64},
    "search_space": {"w": {"loguniform": [1, 20]}, "len": {"choice": [16, 32]},
                     "prob": {"choice": [0, 1]}, "patch_num": {"int": [1, 4]}},
    "search": {"algorithm": "optuna", "num_samples": 4},
}


def with_change(path: str, value):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    node = data
    keys = path.split("/")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    if value is DELETE:
        node.pop(keys[-1])
    else:
        node[keys[-1]] = value
    return data


DELETE = object()

# (change, text the one-line message must contain)
BAD = [
    (("colour", "red"), "config key 'colour'"),                                         # unknown top-level key
    (("name", ""), "config key 'name'"),                                               # empty name
    (("base/batchsize", 8), "config key 'batchsize' = 8: unknown key"),                # unknown trial key
    (("base/batch", "eight"), "config key 'batch' = 'eight': must be an integer"),     # wrong type
    (("search_space/w", {"uniform": [5, 1]}), "search_space.w.uniform"),              # inverted range
    (("search_space/w", {"uniform": []}), "must be a non-empty list"),                # empty range
    (("search_space/patch_num", {"int": [0, 4]}), "patch_num"),                       # patch_num < 1
    (("search_space/prob", {"choice": [-1, 1]}), "prob"),                             # negative prob
    (("search_space/len", {"choice": [0, 16]}), "len"),                               # len < 1
    (("search_space/w", {"loguniform": [0, 10]}), "log scale"),                       # log of 0
    (("search_space/colour", {"choice": [1]}), "search_space.colour"),                # not a config key
    (("search_space/w", {"normal": [0, 1]}), "exactly one of"),                       # unknown distribution
    (("scheduler", {"type": "asha", "mode": "max"}), "scheduler.mode"),               # metric/mode conflict
    (("objective", {"metric": "fid", "mode": "max"}), "objective.mode"),              # fid must be min
    (("search/algorithm", "bayes"), "search.algorithm"),                              # unknown searcher
    (("search/num_samples", 0), "search.num_samples"),                                # no trials
    (("seeds", [0, 0]), "repeated seeds"),                                            # duplicate seeds
    (("resources/gpu", -1), "resources.gpu"),                                         # negative resources
    (("base/milestones_kimg", [1.5, 2]), "whole kimg"),                               # fractional MLflow steps
    (("base/total_kimg", 3), "must equal the last milestone"),                        # untracked training
    (("search/points_to_evaluate", [{"momentum": 1}]), "points_to_evaluate[0].momentum"),
    (("search/points_to_evaluate", [{"len": 48}]),
     "key 'search.points_to_evaluate[0].len' = 48: is not one of the search_space choice values [16, 32]"),
    (("search/points_to_evaluate", [{"w": 0.5}]),
     "key 'search.points_to_evaluate[0].w' = 0.5: is outside the search_space loguniform range [1, 20]"),
    (("base/batch", 1), "config key 'batch' = 1: must be >= 2 with emp on and patch_num 1"),
    (("search_space/len", {"choice": [16, 32], "when": {"emp": "maybe"}}),
     "key 'search_space.len.when.emp' = 'maybe': can never match: emp must be true/false"),
    (("base/data", "/no/such/folder"), "config key 'base.data'"),                     # missing dataset
    (("search_space/overrides", {"grid": [{"batch": 8}]}), "needs search.algorithm grid or random"),
]


@pytest.mark.parametrize("change,expected", BAD, ids=[c[0][0] + ":" + str(c[0][1])[:20] for c in BAD])
def test_invalid_sweep_exits_2_before_ray(tmp_path, change, expected):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(with_change(*change)))
    code = ("import sys; from empgan.tune.cli import main; rc = main([sys.argv[1]]); "
            "print('RAY_IMPORTED' if 'ray' in sys.modules else 'NO_RAY'); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tune_main.py: error: "), proc.stderr
    assert expected in lines[0]
    assert str(path) in lines[0]
    assert proc.stdout.strip() == "NO_RAY"


def test_unreadable_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    for target, expected in ((bad, "is not valid YAML (line"), (tmp_path / "nope.yaml", "does not exist")):
        proc = subprocess.run([sys.executable, str(REPO / "tune_main.py"), str(target)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2 and expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("sweep_file", sorted((REPO / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_passes_dry_run(sweep_file, tmp_path):
    if "pokemon" in sweep_file.name and not SHARED_POKEMON.is_dir():
        pytest.skip(f"{SHARED_POKEMON} is absent (the pokemon sweeps point at it)")
    proc = subprocess.run([sys.executable, str(REPO / "tune_main.py"), str(sweep_file), "--dry-run"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    sweep = load_sweep(sweep_file)
    assert f"trials      {sweep.total_trials}" in proc.stdout
    assert sweep.total_trials >= (6 if sweep.name == "demo" else 1)


def test_report_grid_rows_and_conditional_keys():
    sweep = parse_sweep(with_change("search_space/proj_reduce", {"choice": [True, False], "when": {"emp": True}}))
    assert trial_config(sweep, {"proj_reduce": True, "w": 3.0}, seed=1).proj_reduce is True
    off = parse_sweep(with_change("base/emp", False) | {
        "search_space": {"proj_reduce": {"choice": [True, False], "when": {"emp": True}}}})
    assert trial_config(off, {"proj_reduce": True}, seed=0).proj_reduce is False  # condition not met: not applied
    rows = parse_sweep({**GOOD, "search_space": {"overrides": {"grid": [{"batch": 8}, {"patch_num": 4, "prob": 1}]}},
                        "search": {"algorithm": "grid"}, "seeds": [0, 1]})
    assert rows.total_trials == 4
    cfg = trial_config(rows, {"overrides": {"patch_num": 4, "prob": 1}}, seed=1)
    assert (cfg.patch_num, cfg.prob, cfg.seed, cfg.model_kind) == (4, 1.0, 1, "EG")


def test_relative_sqlite_uri_and_data_made_absolute(tmp_path):
    (tmp_path / "imgs").mkdir()
    sweep = parse_sweep(with_change("mlflow", {"tracking_uri": "sqlite:///runs.db"}) | {"base": {
        **GOOD["base"], "data": "imgs"}}, cwd=tmp_path)
    assert sweep.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'runs.db'}"
    assert sweep.base["data"] == str((tmp_path / "imgs").resolve())


def test_tracking_uri_from_the_environment_when_the_sweep_names_none(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.lab:5000")
    assert parse_sweep(GOOD, cwd=tmp_path).tracking_uri == "http://mlflow.lab:5000"
    assert parse_sweep(with_change("mlflow", {"tracking_uri": "http://other:5000"}), cwd=tmp_path).tracking_uri \
        == "http://other:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert parse_sweep(GOOD, cwd=tmp_path).tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


def test_integer_keys_need_an_int_range_and_scientific_bounds_are_numbers(tmp_path):
    with pytest.raises(ConfigError, match=r"search_space.len.uniform.*len must be an integer"):
        parse_sweep(with_change("search_space/len", {"uniform": [16, 64]}), cwd=tmp_path)
    sweep = parse_sweep(with_change("search_space/w", {"loguniform": ["1e-1", "2e1"]}), cwd=tmp_path)
    (w,) = [d for d in sweep.dimensions if d.key == "w"]
    assert w.values == [0.1, 20.0]
