"""The Ray Tune trainable: a thin adapter over `training_loop` that reports at milestones only.

Each report carries `fid` and `kimg` and a checkpoint folder, so Ray can restart a failed trial
from its last milestone; each milestone is logged to the trial's MLflow run (step = kimg) before
it is reported, and a step already in MLflow is not logged again after a restart.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from ray import tune
from ray.tune import Checkpoint

from empgan.tune import mlflow_runs
from empgan.tune.sweep_config import Sweep, trial_config

SEED_KEY = "seed"                       # set by grid/random search when `seeds` lists several
TRIAL_INDEX_KEY = "__trial_index__"     # set by ray.tune.search.Repeater (Optuna with several seeds)


@dataclass
class SweepContext:
    """What every trial needs to know about its sweep (sent to workers with the trainable)."""
    sweep: Sweep
    experiment_id: str
    parent_run_id: str
    git_sha: str


def split_trial_config(sweep: Sweep, config: dict) -> tuple[dict, int]:
    """Ray's trial config -> (sampled search-space values by dotted key, seed)."""
    params = {d.key: config[d.key] for d in sweep.dimensions if d.key in config}
    if SEED_KEY in config and SEED_KEY not in params:
        seed = int(config[SEED_KEY])
    elif TRIAL_INDEX_KEY in config:
        seed = sweep.seeds[int(config[TRIAL_INDEX_KEY]) % len(sweep.seeds)]
    else:
        seed = int(params.get(SEED_KEY, sweep.seeds[0]))
    return params, seed


def gpu_name() -> str:
    import torch
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "none"


def run_trial(config: dict, ctx: SweepContext) -> None:
    from ray.util import get_node_ip_address

    from empgan.train.loop import training_loop

    sweep = ctx.sweep
    params, seed = split_trial_config(sweep, config)
    cfg = trial_config(sweep, params, seed)
    trial_id = tune.get_context().get_trial_id()
    client = mlflow_runs.client_for(sweep.tracking_uri)
    tags = {"node": get_node_ip_address(), "host": socket.gethostname(), "gpu": gpu_name(),
            "git_sha": ctx.git_sha, mlflow_runs.SWEEP_TAG: sweep.name}
    run_id, logged_steps = mlflow_runs.start_or_resume_child_run(client, ctx.experiment_id, ctx.parent_run_id,
                                                                 trial_id, cfg, tags)
    run_dir = Path(tune.get_context().get_trial_dir()) / "trial"
    fid_history = [(float(m.step), m.value) for m in client.get_metric_history(run_id, "fid")]

    def report(metrics: dict, checkpoint_dir: str | None) -> None:
        step = round(metrics["kimg"])
        if checkpoint_dir is not None and step not in logged_steps:  # a milestone (not a mid-way divergence)
            mlflow_runs.log_milestone(client, run_id, metrics, step)
            if not logged_steps:
                client.set_tag(run_id, "fid_weights_sha1", metrics["fid_weights_sha1"])
                client.set_tag(run_id, "dataset_hash", metrics["dataset_hash"])
            newest_grid = sorted((run_dir / "grids").glob("*.png"))[-1]  # named by kimg
            client.log_artifact(run_id, str(newest_grid), "grids")
            fid_history.append((metrics["kimg"], metrics["fid"]))
            curve = run_dir / "fid_curve.png"
            curve.write_bytes(mlflow_runs.fid_curve_png(fid_history, client.get_run(run_id).info.run_name))
            client.log_artifact(run_id, str(curve))
            logged_steps.add(step)
        result = {**metrics, "mlflow_run_id": run_id, "seed": seed}
        checkpoint = Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(result, checkpoint=checkpoint)

    resume_from = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        resume_from = checkpoint.to_directory(str(run_dir / "restored_checkpoint"))
    outcome = training_loop(cfg, run_dir, report, resume=resume_from)
    mlflow_runs.finish_trial_run(client, run_id, outcome.status, outcome.reason)
