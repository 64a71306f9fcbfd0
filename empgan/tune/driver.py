"""The sweep driver: validate, set up MLflow, start or join Ray, run (or resume) the Tuner, close up.

Every sweep run lives in `<storage_path>/<name>-<YYYYmmdd-HHMMSS>/` (Ray's experiment folder) with
`empgan_sweep.json` beside Ray's state: the MLflow parent run and the Optuna study it re-attaches
to on `--resume`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

from empgan.errors import UserError
from empgan.tune import mlflow_runs
from empgan.tune.sweep_config import Sweep, describe

STATE_FILE = "empgan_sweep.json"
SHARED_URI_SCHEMES = ("http://", "https://", "databricks", "postgresql", "mysql", "mssql")


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def latest_sweep_dir(sweep: Sweep) -> Path:
    candidates = sorted(p.parent for p in Path(sweep.storage_path).glob(f"{sweep.name}-*/{STATE_FILE}"))
    if not candidates:
        raise UserError(f"--resume: no earlier run of sweep '{sweep.name}' under storage_path '{sweep.storage_path}'")
    return candidates[-1]


def check_tracking_uri_for_cluster(uri: str, node_count: int) -> None:
    """Workers on other nodes cannot write to a file on the driver's disk."""
    if node_count > 1 and not uri.startswith(SHARED_URI_SCHEMES):
        raise UserError(f"mlflow.tracking_uri '{uri}' is a local file store, but the Ray cluster has {node_count} nodes: "
                        "workers on other nodes cannot reach it. Use a tracking server (mlflow.tracking_uri: "
                        "http://HOST:5000, see cluster/README.md)")


def run_sweep(sweep: Sweep, address: str | None = None, resume: bool = False, dry_run: bool = False) -> int:
    if dry_run:
        print(describe(sweep))
        return 0
    exp_dir = latest_sweep_dir(sweep) if resume else None       # before anything is written
    if not sweep.tracking_uri.startswith("sqlite:"):            # a sweep creates its sqlite file; others must exist
        from empgan.report.source import check_reachable
        check_reachable(sweep.tracking_uri)                       # one line in seconds, not a hang in MLflow's retries
    client = mlflow_runs.client_for(sweep.tracking_uri)
    experiment_id = mlflow_runs.ensure_experiment(client, sweep.experiment)
    _connect_ray(sweep, address)   # refuses a file store on a cluster before this sweep writes any run or folder

    if resume:
        state = json.loads((exp_dir / STATE_FILE).read_text())
        parent_run_id = state["parent_run_id"]
        client.update_run(parent_run_id, status="RUNNING")
        print(f"resuming sweep {exp_dir.name} (MLflow parent run {parent_run_id})")
    else:
        exp_dir = Path(sweep.storage_path) / f"{sweep.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        exp_dir.mkdir(parents=True, exist_ok=False)
        parent_run_id = mlflow_runs.start_parent_run(
            client, experiment_id, sweep.name, tags={"ray_experiment_dir": str(exp_dir), "git_sha": git_sha()},
            params={"algorithm": sweep.algorithm, "num_samples": sweep.num_samples, "seeds": sweep.seeds,
                    "scheduler": sweep.scheduler, "metric": sweep.metric, "mode": sweep.mode,
                    "sweep_file": sweep.source})
        client.log_text(parent_run_id, Path(sweep.source).read_text() if Path(sweep.source).is_file() else "",
                        "sweep.yaml")
        state = {"parent_run_id": parent_run_id, "experiment_id": experiment_id,
                 "study_name": f"{sweep.name}-{uuid.uuid4().hex[:8]}", "tracking_uri": sweep.tracking_uri}
        (exp_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    failed, results = True, None
    try:
        results = _fit(sweep, exp_dir, state, resume)
        failed = False
    finally:
        _close_runs(client, experiment_id, parent_run_id, failed, _ray_trial_ids(results))
    _print_summary(sweep, results)
    return 0


def _connect_ray(sweep: Sweep, address: str | None) -> None:
    import ray

    # No --address: always a fresh local Ray ("local"), never an unrelated cluster that `ray start` left running here.
    # Trial workers get the driver's allocator setting (see empgan/__init__.py) before they import torch.
    runtime_env = {"env_vars": {"THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE", "1")}}
    ray.init(address=address or "local", ignore_reinit_error=True, runtime_env=runtime_env,
             include_dashboard=False if address is None else None, log_to_driver=True)
    check_tracking_uri_for_cluster(sweep.tracking_uri, len([n for n in ray.nodes() if n["Alive"]]))


def _fit(sweep: Sweep, exp_dir: Path, state: dict, resume: bool):
    from ray import tune

    from empgan.tune.callbacks import MilestonePrinter, MlflowTrialStatus
    from empgan.tune.search import build_scheduler, build_search
    from empgan.tune.trainable import SweepContext, run_trial

    ctx = SweepContext(sweep=sweep, experiment_id=state["experiment_id"], parent_run_id=state["parent_run_id"],
                       git_sha=git_sha())
    trainable = tune.with_resources(tune.with_parameters(run_trial, ctx=ctx), {"cpu": sweep.cpu, "gpu": sweep.gpu})
    callbacks = [MlflowTrialStatus(sweep.tracking_uri, state["experiment_id"], state["parent_run_id"]),
                 MilestonePrinter()]
    run_config = tune.RunConfig(name=exp_dir.name, storage_path=sweep.storage_path, callbacks=callbacks,
                                failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
                                checkpoint_config=tune.CheckpointConfig(num_to_keep=2), verbose=1)
    if resume:
        tuner = tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_unfinished=True, resume_errored=True)
    else:
        search_alg, space, num_samples = build_search(sweep, exp_dir, state["study_name"])
        tuner = tune.Tuner(trainable, param_space=space, run_config=run_config,
                           tune_config=tune.TuneConfig(metric=sweep.metric, mode=sweep.mode, search_alg=search_alg,
                                                       scheduler=build_scheduler(sweep), num_samples=num_samples,
                                                       max_concurrent_trials=sweep.max_concurrent or None,
                                                       # a finished trial's worker (torch, timm, clean-fid imported)
                                                       # runs the next one; one still busy is replaced
                                                       reuse_actors=True))
    return tuner.fit()


def _ray_trial_ids(results) -> set[str] | None:
    """The ids of every trial in Ray's experiment (None when unknown)."""
    analysis = getattr(results, "_experiment_analysis", None)
    return {t.trial_id for t in analysis.trials} if analysis is not None else None


def _close_runs(client, experiment_id: str, parent_run_id: str, failed: bool, ray_trial_ids: set[str] | None) -> None:
    """No run is left RUNNING: trials Ray never finished are marked failed, then the parent run ends.

    A run whose trial Ray does not know and that has no milestone was started by a killed driver
    after Ray's last experiment snapshot: the resumed sweep ran that suggestion again under a new
    trial id, so the empty run is deleted (soft: `mlflow runs restore` brings it back), not left
    as a failed duplicate in the report."""
    for run in mlflow_runs.child_runs(client, experiment_id, parent_run_id):
        if run.info.status != "RUNNING" or failed:
            continue
        trial_id = run.data.tags.get("trial_id")
        if ray_trial_ids is not None and trial_id not in ray_trial_ids and "fid" not in run.data.metrics:
            client.delete_run(run.info.run_id)
            print(f"deleted MLflow run {run.info.run_id} (trial {trial_id}): started after Ray's last snapshot "
                  "by the killed driver, before its first milestone; its suggestion ran again")
        else:
            mlflow_runs.finish_trial_run(client, run.info.run_id, "failed", "the sweep ended while the trial was running")
    if not failed:
        mlflow_runs.close_parent_run(client, parent_run_id)


def _print_summary(sweep: Sweep, results) -> None:
    print(f"\nsweep {sweep.name}: {len(results)} trials")
    for result in results:
        m = result.metrics or {}
        fid = m.get("best_fid", m.get("fid"))
        status = "failed" if result.error else (m.get("status", "?") if m.get("final") else "stopped_early")
        print(f"  {m.get('trial_id', '?'):>12}  status {status:<13} "
              f"kimg {m.get('kimg', 0):>6}  best FID {fid if fid is None else round(fid, 2)}")
