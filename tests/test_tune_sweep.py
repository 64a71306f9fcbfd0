"""Real sweeps on a real local Ray into a real sqlite MLflow store: runs, tags, metrics, kill and resume."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient

from tiny_trial import TINY_TRIAL

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TRIAL_TAGS = {"trial_id", "status", "node", "gpu", "git_sha", "fid_weights_sha1", "dataset_hash", "model"}


def write_sweep(tmp_path: Path, name: str, **over) -> Path:
    """A sweep of tiny trials (whole-kimg milestones, as sweeps require: 1 and 2 kimg, ~20 s/kimg on CPU)."""
    sweep = {
        "name": name,
        "base": {**TINY_TRIAL, "batch": 16, "total_kimg": 2, "milestones_kimg": [1, 2], "tick_kimg": 1,
                 "fid_samples": 32,
                 "eval": {**TINY_TRIAL["eval"], "fid_real_images": 64, "cache_dir": str(tmp_path / "fid-cache")}},
        "search_space": {"w": {"loguniform": [1, 20]}, "len": {"choice": [8, 16]},
                         "prob": {"choice": [0, 1]}, "patch_num": {"choice": [1, 2]}},
        "search": {"algorithm": "optuna", "seed": 0, "num_samples": 4, "max_concurrent": 2},
        "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
        "resources": {"cpu": 1, "gpu": 0},
        "max_failures": 2,
        "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        "storage_path": str(tmp_path / "ray_results"),
    }
    sweep.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


# One view, no ADA: the cheapest trials, for the tests about restarts rather than about the search space.
CHEAP_SPACE = {"w": {"loguniform": [1, 20]}, "len": {"choice": [8, 16]}, "prob": {"choice": [0]},
               "patch_num": {"choice": [1]}}


def driver(sweep: Path, *args: str, log: Path) -> subprocess.Popen:
    """tune_main.py in its own session (so the whole local Ray it starts can be killed), output to `log`."""
    return subprocess.Popen([sys.executable, str(REPO / "tune_main.py"), str(sweep), *args], cwd=sweep.parent,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def finish(proc: subprocess.Popen, log: Path, timeout: float = 900) -> str:
    try:
        proc.wait(timeout=timeout)
    finally:
        kill_session(proc)
    text = log.read_text()
    assert proc.returncode == 0, text[-4000:]
    return text


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the driver and everything in its session (the local Ray it started), and wait for them."""
    members = session_pids(proc.pid)
    for pid in members:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)
    wait_for(lambda: not session_pids(proc.pid), 60, f"the processes of session {proc.pid} to exit")


def session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid and not _is_zombie(entry):
                    pids.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                pass
    return pids


def _is_zombie(proc_dir: Path) -> bool:
    try:
        return proc_dir.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"driver exited ({proc.returncode}) while waiting for {what}:\n"
                                 + (log.read_text()[-4000:] if log else ""))
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def sweep_runs(tmp_path: Path, experiment: str):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("empgan.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("empgan.role") == "trial"]
    return client, parents, children


def fid_steps(client: MlflowClient, run) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run.info.run_id, "fid"))


def study_trials(tmp_path: Path, name: str) -> int:
    (state_file,) = (tmp_path / "ray_results").glob(f"{name}-*/empgan_sweep.json")
    state = json.loads(state_file.read_text())
    study = optuna.load_study(study_name=state["study_name"], storage=f"sqlite:///{state_file.parent / 'optuna.db'}")
    return len(study.trials)


def test_sweep_of_four_trials_into_mlflow(tmp_path):
    sweep = write_sweep(tmp_path, "four")
    log = tmp_path / "driver.log"
    out = finish(driver(sweep, log=log), log)
    client, parents, children = sweep_runs(tmp_path, "four")
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    statuses = []
    for run in children:
        tags, params = run.data.tags, run.data.params
        assert run.info.status == "FINISHED"
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert TRIAL_TAGS <= set(tags), TRIAL_TAGS - set(tags)
        assert tags["model"] == "EG" and tags["gpu"] == "none"
        assert re.fullmatch(r"[0-9a-f]{40}", tags["fid_weights_sha1"])
        assert {"w", "len", "prob", "patch_num", "data", "resolution", "emp_loss.hidden"} <= set(params)
        assert run.info.run_name.startswith(f"EG patch={params['patch_num']} prob=")
        statuses.append(tags["status"])
        steps = fid_steps(client, run)
        assert steps == ([1, 2] if tags["status"] == "completed" else [1])
        for key in ("wall_clock_s", "train_time_s", "loss/d_real", "emp/tcr"):
            assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == steps
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config.yaml", "fid_curve.png", "grids"} <= artifacts
        grids = [a.path for a in client.list_artifacts(run.info.run_id, "grids")]
        assert len(grids) == len(steps)
    assert set(statuses) <= {"completed", "stopped_early"} and "completed" in statuses
    assert "stopped_early" in statuses   # ASHA with reduction 2 stops trials worse than the median at 1 kimg
    assert len({r.data.tags["trial_id"] for r in children}) == 4
    assert study_trials(tmp_path, "four") == 4
    results = list((tmp_path / "ray_results").glob("four-*/run_trial_*/result.json"))
    worker_pids = {json.loads(line)["pid"] for f in results for line in f.read_text().splitlines() if line}
    assert len(results) == 4 and len(worker_pids) < 4, worker_pids   # reuse_actors: a finished trial's worker runs the next
    assert "| Config | 0.001M | 0.002M |" in out and "mlflow ui --backend-store-uri" in out
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "report")} >= {"report/table.md"}


def first_milestone_result(log: Path):
    return re.search(r"^\[\w+\] kimg 1 ", log.read_text(), re.M) if log.exists() else None


def test_driver_killed_then_resumed_finishes_every_trial_once(tmp_path):
    sweep = write_sweep(tmp_path, "resumed", seeds=2, search_space=CHEAP_SPACE,
                        search={"algorithm": "optuna", "seed": 1, "num_samples": 2, "max_concurrent": 2})
    log = tmp_path / "first.log"
    proc = driver(sweep, log=log)
    try:
        wait_for(lambda: first_milestone_result(log), 600, "a first milestone result", proc, log)
    finally:
        kill_session(proc)                                      # SIGKILL: driver, Ray and trials all at once
    client, parents, children = sweep_runs(tmp_path, "resumed")
    assert any(r.info.status == "RUNNING" for r in children)  # what a killed driver leaves behind

    log2 = tmp_path / "resume.log"
    out = finish(driver(sweep, "--resume", log=log2), log2)
    assert "resuming sweep resumed-" in out
    client, parents, children = sweep_runs(tmp_path, "resumed")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 2 * 2                               # num_samples x seeds, no duplicate run
    assert len({r.data.tags["trial_id"] for r in children}) == 4
    assert sorted(int(r.data.params["seed"]) for r in children) == [0, 0, 1, 1]
    for run in children:
        assert run.info.status == "FINISHED", (run.info.run_name, run.data.tags)
        assert run.data.tags["status"] in ("completed", "stopped_early")
        steps = fid_steps(client, run)
        assert steps == sorted(set(steps)) and steps[0] == 1    # no step logged twice
    assert study_trials(tmp_path, "resumed") == 2              # the study kept its history: 2 suggestions x 2 seeds


def test_killed_trial_restarts_from_its_checkpoint_in_the_same_run(tmp_path):
    sweep = write_sweep(tmp_path, "restart", scheduler={"type": "none"}, search_space=CHEAP_SPACE,
                        search={"algorithm": "optuna", "seed": 0, "num_samples": 1})
    log = tmp_path / "driver.log"
    proc = driver(sweep, log=log)
    try:
        wait_for(lambda: first_milestone_result(log), 600, "the first milestone", proc, log)
        (worker,) = [pid for pid in session_pids(proc.pid)
                     if b"ray::ImplicitFunc" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        os.kill(worker, signal.SIGKILL)
        out = finish(proc, log)
    finally:
        kill_session(proc)
    assert re.search(r"resumed from \S+/restored_checkpoint/checkpoint.pt at kimg 1.008", out)   # 63 x 16 images
    client, parents, children = sweep_runs(tmp_path, "restart")
    (run,) = children                                           # the same MLflow run continued
    assert run.info.status == "FINISHED" and run.data.tags["status"] == "completed"
    assert fid_steps(client, run) == [1, 2]                     # step 1 not logged twice
    grids = [a.path for a in client.list_artifacts(run.info.run_id, "grids")]
    assert len(grids) == 2


def test_closing_runs_deletes_only_empty_runs_ray_lost_with_a_killed_driver(tmp_path, capsys):
    from empgan.tune.driver import _close_runs
    from empgan.tune.mlflow_runs import PARENT_TAG, ROLE_TAG, start_parent_run

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.create_experiment("close")
    parent = start_parent_run(client, experiment_id, "close", tags={}, params={})
    runs = {}
    for name, trial_id, fid in [("known", "t1", None), ("lost-empty", "t2", None), ("lost-with-fid", "t3", 300.0)]:
        run = client.create_run(experiment_id, run_name=name, tags={PARENT_TAG: parent, ROLE_TAG: "trial",
                                                                    "trial_id": trial_id, "status": "running"})
        if fid is not None:
            client.log_metric(run.info.run_id, "fid", fid, step=1)
        runs[name] = run.info.run_id
    _close_runs(client, experiment_id, parent, failed=False, ray_trial_ids={"t1"})
    assert client.get_run(runs["lost-empty"]).info.lifecycle_stage == "deleted"
    assert f"deleted MLflow run {runs['lost-empty']} (trial t2)" in capsys.readouterr().out
    for name in ("known", "lost-with-fid"):                    # what has data, or is Ray's, is kept and closed
        run = client.get_run(runs[name])
        assert run.info.lifecycle_stage == "active" and run.info.status == "FAILED"
        assert run.data.tags["status"] == "failed"
    assert client.get_run(parent).info.status == "FINISHED"
