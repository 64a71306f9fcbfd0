"""Real sweeps on a real local Ray into a real sqlite MLflow store: runs, tags, metrics, kill and resume."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import psutil
import pytest
import yaml
from mlflow import MlflowClient

from tiny_trial import TINY_TRIAL

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
MILESTONE_STEPS = [32, 64]          # kimg in MLflow steps must be whole: the tiny trial at 1000x smaller kimg

# The tiny trial with whole-kimg milestones: 2 and 4 iterations of batch 8 make 0.016 / 0.032 kimg,
# which a sweep refuses (steps are whole kimg), so sweeps here count 1 kimg = 8 x 125 images.
SWEEP_BASE = {**TINY_TRIAL, "batch": 8, "total_kimg": 2, "milestones_kimg": [1, 2], "tick_kimg": 1}


def sweep_file(tmp_path: Path, name: str, **over) -> Path:
    sweep = {
        "name": name,
        "base": {**TINY_TRIAL, "total_kimg": 0.064, "milestones_kimg": [0.032, 0.064],
                 "eval": {**TINY_TRIAL["eval"], "cache_dir": str(tmp_path / "fid-cache")}},
        "search_space": {"w": {"loguniform": [1, 20]}, "len": {"choice": [8, 16]},
                         "prob": {"choice": [0, 1]}, "patch_num": {"choice": [1, 2]}},
        "search": {"algorithm": "optuna", "seed": 0, "num_samples": 4, "max_concurrent": 2},
        "scheduler": {"type": "asha", "grace_period": 32, "reduction_factor": 2},
        "resources": {"cpu": 1, "gpu": 0},
        "max_failures": 2,
        "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        "storage_path": str(tmp_path / "ray_results"),
    }
    sweep.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path
