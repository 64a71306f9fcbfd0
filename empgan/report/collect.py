"""The trials of one experiment, read from MLflow: params, tags, and the `fid` / `wall_clock_s` histories.

A trial is a run tagged `empgan.role = trial`. Runs with another role (the sweep's parent, anything
else) are not trials. A trial whose `mlflow.parentRunId` names a run that is not a sweep parent of
this experiment (a deleted sweep, a run copied from elsewhere) is left out; a trial without a parent
(a single tracked `empgan train`) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from empgan.errors import UserError
from empgan.report.histories import fetch_histories
from empgan.report.source import mlflow_error

ROLE_TAG = "empgan.role"
PARENT_TAG = "mlflow.parentRunId"
# Trials logged without a `status` tag: MLflow's own run status says what we know.
RUN_STATUS = {"FINISHED": "completed", "RUNNING": "running", "SCHEDULED": "running"}
PAGE = 1000


@dataclass
class Trial:
    run_id: str
    name: str
    params: dict[str, str]
    tags: dict[str, str]
    status: str                  # completed, stopped_early, diverged, failed or running
    kind: str                    # 'PG' or 'EG'
    fid: dict[int, float]        # step (kimg) -> FID
    wall_clock_s: dict[int, float]  # step (kimg) -> seconds since the trial started


@dataclass
class Experiment:
    name: str
    experiment_id: str
    trials: list[Trial]
    parent_ids: list[str]        # sweep parent runs that have trials in `trials`


def collect(client: MlflowClient, tracking_uri: str, experiment: str, filter_string: str | None = None) -> Experiment:
    try:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            known = [e.name for e in client.search_experiments(max_results=20)]
            raise UserError(f"experiment '{experiment}' not found at '{tracking_uri}'; experiments there: "
                            + (", ".join(known) or "(none)"))
        sweeps = {r.info.run_id for r in _search(client, exp.experiment_id, "sweep", None)}
        runs = [r for r in _search(client, exp.experiment_id, "trial", filter_string)
                if r.data.tags.get(PARENT_TAG) in sweeps or PARENT_TAG not in r.data.tags]
        if not runs:
            where = f" matching --filter \"{filter_string}\"" if filter_string else ""
            raise UserError(f"experiment '{experiment}' has no trial runs{where} "
                            f"(runs tagged {ROLE_TAG}=trial under a sweep parent of this experiment)")
        histories = fetch_histories(client, tracking_uri, [r.info.run_id for r in runs], ("fid", "wall_clock_s"))
    except MlflowException as exc:
        raise mlflow_error(tracking_uri, exc) from None
    trials = [_trial(r, histories[r.info.run_id]) for r in runs]
    parents = sorted({r.data.tags[PARENT_TAG] for r in runs if PARENT_TAG in r.data.tags})
    return Experiment(experiment, exp.experiment_id, trials, parents)


def _search(client: MlflowClient, experiment_id: str, role: str, filter_string: str | None):
    query = f"tags.`{ROLE_TAG}` = '{role}'" + (f" and {filter_string}" if filter_string else "")
    token = None
    while True:
        page = client.search_runs([experiment_id], query, max_results=PAGE, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _trial(run, history: dict[str, dict[int, float]]) -> Trial:
    tags, params = run.data.tags, run.data.params
    status = tags.get("status") or RUN_STATUS.get(run.info.status, "failed")
    kind = tags.get("model") or _kind_from_params(params)
    return Trial(run.info.run_id, run.info.run_name or run.info.run_id, dict(params), dict(tags),
                 status, kind,
                 history.get("fid", {}), history.get("wall_clock_s", {}))


def _kind_from_params(params: dict[str, str]) -> str:
    """As TrainConfig.model_kind: EMP, extra views or ADA augmentation make an EG run."""
    multi = params.get("emp") == "True" or float(params.get("patch_num", 1)) > 1 or float(params.get("prob", 0)) > 0
    return "EG" if multi else "PG"
