"""MLflow bookkeeping of a sweep: one parent run per sweep, one child run per trial (no Ray here).

Child runs are found again by their `trial_id` tag, so a restarted trial or a resumed sweep keeps
logging into the same run, and a milestone step already logged is never logged twice.
"""

from __future__ import annotations

import io
import math
import time
from typing import Iterable

import yaml
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from empgan.config import TrainConfig, flatten, to_dict
from empgan.errors import UserError, first_line

ROLE_TAG, SWEEP_TAG, PARENT_TAG = "empgan.role", "empgan.sweep", "mlflow.parentRunId"
TRIAL_STATUSES = ("completed", "stopped_early", "diverged", "failed")
LONG_PARAMS_ARTIFACT = "long_params.yaml"


def client_for(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri)


def ensure_experiment(client: MlflowClient, name: str) -> str:
    try:
        exp = client.get_experiment_by_name(name)
    except Exception as exc:  # unreachable server, unreadable store
        raise UserError(f"MLflow tracking URI '{client.tracking_uri}' cannot be used: {first_line(exc)}") from None
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    return client.create_experiment(name)


def start_parent_run(client: MlflowClient, experiment_id: str, sweep_name: str, tags: dict[str, str],
                     params: dict[str, str]) -> str:
    run = client.create_run(experiment_id, run_name=sweep_name, tags={ROLE_TAG: "sweep", SWEEP_TAG: sweep_name, **tags})
    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in params.items()])
    return run.info.run_id


def trial_run_name(cfg: TrainConfig) -> str:
    """`EG patch=8 prob=1 w=10 len=32 C seed=0` / `PG batch=88 seed=0`."""
    def num(x):
        return f"{x:g}" if isinstance(x, float) else str(x)
    if cfg.model_kind == "PG":
        return f"PG batch={cfg.batch} seed={cfg.seed}"
    parts = [f"EG patch={cfg.patch_num}", f"prob={num(cfg.prob)}", f"w={num(cfg.w)}"]
    if cfg.emp:
        parts.append(f"len={cfg.len}")
        if cfg.proj_reduce:
            parts.append("C")
    else:
        parts.append("noEMP")
    return " ".join(parts + [f"seed={cfg.seed}"])


def find_child_run(client: MlflowClient, experiment_id: str, parent_run_id: str, trial_id: str):
    runs = client.search_runs([experiment_id],
                              filter_string=f"tags.trial_id = '{trial_id}' and tags.`{PARENT_TAG}` = '{parent_run_id}'",
                              max_results=2)
    return runs[0] if runs else None


def start_or_resume_child_run(client: MlflowClient, experiment_id: str, parent_run_id: str, trial_id: str,
                              cfg: TrainConfig, tags: dict[str, str]) -> tuple[str, set[int]]:
    """The trial's run (created, or found by trial_id and set RUNNING again) and the fid steps it already has."""
    existing = find_child_run(client, experiment_id, parent_run_id, trial_id)
    all_tags = {PARENT_TAG: parent_run_id, ROLE_TAG: "trial", "trial_id": trial_id, "model": cfg.model_kind,
                "status": "running", **tags}
    if existing is not None:
        run_id = existing.info.run_id
        client.update_run(run_id, status="RUNNING")
        client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in all_tags.items()])
        steps = {m.step for m in client.get_metric_history(run_id, "fid")}
        return run_id, steps
    run = client.create_run(experiment_id, run_name=trial_run_name(cfg), tags=all_tags)
    run_id = run.info.run_id
    log_config_params(client, run_id, cfg)
    return run_id, set()


def log_config_params(client: MlflowClient, run_id: str, cfg: TrainConfig) -> None:
    """Every resolved config value as a param; values too long for MLflow go to an artifact instead."""
    flat = flatten(to_dict(cfg))
    params, long_values = [], {}
    for key, value in flat.items():
        text = str(value)
        if len(text) > MAX_PARAM_VAL_LENGTH:
            long_values[key] = value
            text = f"<{len(text)} chars: see artifact {LONG_PARAMS_ARTIFACT}>"
        params.append(Param(key, text))
    for i in range(0, len(params), 100):  # MLflow's batch limit is 100 params
        client.log_batch(run_id, params=params[i:i + 100])
    client.log_text(run_id, yaml.safe_dump(to_dict(cfg), sort_keys=False), "config.yaml")
    if long_values:
        client.log_text(run_id, yaml.safe_dump(long_values, sort_keys=False), LONG_PARAMS_ARTIFACT)


def log_milestone(client: MlflowClient, run_id: str, metrics: dict, step: int) -> None:
    """Numeric, finite metrics at `step` (= kimg)."""
    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, step) for k, v in metrics.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    client.log_batch(run_id, metrics=batch)


def fid_curve_png(history: Iterable[tuple[float, float]], title: str) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kimg, fid = zip(*sorted(history)) if history else ((), ())
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    ax.plot(kimg, fid, marker="o")
    ax.set_xlabel("kimg (real images shown / 1000)")
    ax.set_ylabel("FID")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def finish_trial_run(client: MlflowClient, run_id: str, status: str, reason: str = "") -> None:
    assert status in TRIAL_STATUSES, status
    tags = [RunTag("status", status)] + ([RunTag("status_reason", reason[:5000])] if reason else [])
    client.log_batch(run_id, tags=tags)
    client.set_terminated(run_id, "FAILED" if status == "failed" else "FINISHED")


def child_runs(client: MlflowClient, experiment_id: str, parent_run_id: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
                                  max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def close_parent_run(client: MlflowClient, parent_run_id: str, failed: bool = False) -> None:
    client.set_terminated(parent_run_id, RunStatus.to_string(RunStatus.FAILED if failed else RunStatus.FINISHED))
