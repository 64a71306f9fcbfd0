"""Driver-side Tune callbacks: a line per milestone result, and each trial's final MLflow status.

A trial whose last result is not final was stopped by the scheduler (`stopped_early`); one that
errored past `max_failures` is `failed`; `completed`/`diverged` come from the trial itself.
"""

from __future__ import annotations

from ray.tune import Callback

from empgan.tune import mlflow_runs


class MilestonePrinter(Callback):
    def on_trial_result(self, iteration, trials, trial, result, **info):
        print(f"[{trial.trial_id}] kimg {result.get('kimg', 0):g}  FID {result.get('fid', float('nan')):.3f}  "
              f"wall {result.get('wall_clock_s', 0):.1f}s  status {result.get('status', '?')}", flush=True)


class MlflowTrialStatus(Callback):
    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str):
        self.tracking_uri, self.experiment_id, self.parent_run_id = tracking_uri, experiment_id, parent_run_id

    def _run_id(self, trial) -> str | None:
        run_id = (trial.last_result or {}).get("mlflow_run_id")
        if run_id:
            return run_id
        client = mlflow_runs.client_for(self.tracking_uri)
        run = mlflow_runs.find_child_run(client, self.experiment_id, self.parent_run_id, trial.trial_id)
        return run.info.run_id if run else None

    def on_trial_complete(self, iteration, trials, trial, **info):
        last = trial.last_result or {}
        if last.get("final"):
            status, reason = last.get("status", "completed"), last.get("reason", "")
        else:
            status, reason = "stopped_early", f"stopped by the scheduler at kimg {last.get('kimg', 0):g}"
        self._finish(trial, status, reason)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._finish(trial, "failed", str(trial.error_file or "trial error")[:2000])

    def _finish(self, trial, status: str, reason: str) -> None:
        run_id = self._run_id(trial)
        if run_id:
            mlflow_runs.finish_trial_run(mlflow_runs.client_for(self.tracking_uri), run_id, status, reason)
