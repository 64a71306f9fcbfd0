"""Sweeps on a real two-node Ray cluster on loopback, tracked in a real `mlflow server`.

The head node is 127.0.0.2 and the worker node 127.0.0.3 (Ray rewrites 127.0.0.1 to the host's address),
each with 1 CPU, both started with `ray start` in their own session under a private `--temp-dir`, so that
everything the tests start can be stopped by session id without touching any other Ray on the machine
(`ray stop` would kill them all). The driver joins with `tune_main.py SWEEP --address 127.0.0.2:PORT`.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from empgan.report import export_table
from test_tune_sweep import CHEAP_SPACE, REPO, finish, kill_session, session_pids, wait_for, write_sweep
from mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
RAY = str(Path(sys.executable).with_name("ray"))
# One RAY_AUTH_MODE for head, worker and driver: nodes and drivers that disagree on it cannot talk to each other.
ENV = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"), "HF_HUB_OFFLINE": "1",
       "RAY_USAGE_STATS_ENABLED": "0"}
END_STATUSES = {"completed", "failed", "stopped_early"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def kill_sid(sid: int) -> None:
    """SIGKILL every process of session `sid` and wait until none is left."""
    for pid in session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not session_pids(sid), 60, f"the processes of session {sid} to exit")


def pids_with(text: str) -> list[int]:
    """Live processes whose command line contains `text` (not this one)."""
    needle, pids = text.encode(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in entry.joinpath("cmdline").read_bytes() and entry.joinpath("stat").read_text(
                        ).rsplit(")", 1)[1].split()[0] != "Z":
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


class Cluster:
    """A head (127.0.0.2) and a worker (127.0.0.3) node started by `ray start`, each in a session of its own."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.temp_dir = Path(tempfile.mkdtemp(prefix="erc-", dir="/tmp"))   # short: Ray's socket paths live here
        self.port = free_port()
        self.address = f"{HEAD_IP}:{self.port}"
        self.sessions: list[int] = []     # the pid of each `ray start` = the session id of the node it started
        self.worker_sid: int | None = None

    def _ray_start(self, node: str, *args: str) -> int:
        log = self.logs / f"{node}.log"
        with log.open("ab") as out:       # each node its own temp dir (sockets, logs), as on separate machines
            proc = subprocess.Popen([RAY, "start", *args, "--num-cpus", "1", "--num-gpus", "0",
                                     "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats",
                                     "--temp-dir", str(self.temp_dir / node)],
                                    env=ENV, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.sessions.append(proc.pid)
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            pass
        assert proc.returncode == 0, f"ray start {' '.join(args)} failed:\n{log.read_text()[-3000:]}"
        return proc.pid

    def start_head(self) -> None:
        self._ray_start("head", "--head", "--node-ip-address", HEAD_IP, "--port", str(self.port),
                        "--include-dashboard=false", "--dashboard-port", str(free_port()))

    def start_worker(self) -> None:
        self.worker_sid = self._ray_start("worker", "--address", self.address, "--node-ip-address", WORKER_IP)

    def worker_raylets(self) -> list[int]:
        return [pid for pid in session_pids(self.worker_sid) if b"/raylet/raylet\0" in _cmdline(pid)
                and f"--node_ip_address={WORKER_IP}".encode() in _cmdline(pid)] if self.worker_sid else []

    def ensure_worker(self) -> None:
        """A live worker node (a test before may have killed it)."""
        if not self.worker_raylets():
            self.start_worker()
        assert self.worker_raylets(), (self.logs / "worker.log").read_text()[-3000:]

    def kill_worker(self) -> None:
        """Lose the worker node: SIGKILL its raylet and everything else it runs (the trial on it included)."""
        kill_sid(self.worker_sid)

    def stop(self) -> None:
        for sid in self.sessions:
            kill_sid(sid)
        for pid in pids_with(str(self.temp_dir)):   # anything that left the sessions but runs from our temp dir
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not pids_with(str(self.temp_dir)), 60, f"the processes of {self.temp_dir} to exit")
        for node in ("head", "worker"):             # keep Ray's logs beside the test's for a post-mortem
            try:
                shutil.copytree(self.temp_dir / node / "session_latest" / "logs", self.logs / f"ray-logs-{node}",
                                dirs_exist_ok=True)
            except (OSError, shutil.Error):
                pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start_head()
        c.start_worker()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `mlflow server` on loopback (sqlite backend, artifacts served by the server itself)."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server"), env=ENV) as url:
        yield url


def cluster_sweep(tmp_path: Path, name: str, tracking_uri: str, **over) -> Path:
    """4 tiny trials, 2 at a time (1 CPU each: one per node), no scheduler, into `tracking_uri`."""
    return write_sweep(tmp_path, name, scheduler={"type": "none"}, mlflow={"tracking_uri": tracking_uri},
                       search_space=CHEAP_SPACE,
                       search={"algorithm": "optuna", "seed": 0, "num_samples": 4, "max_concurrent": 2},
                       resources={"cpu": 1, "gpu": 0}, **over)


def submit(sweep: Path, address: str, log: Path, err: Path | None = None) -> subprocess.Popen:
    """`tune_main.py SWEEP --address ADDRESS` in its own session, stdout (and stderr unless `err`) to `log`."""
    with log.open("w") as out, (err or log).open("a") as err_out:
        return subprocess.Popen([sys.executable, str(REPO / "tune_main.py"), str(sweep), "--address", address],
                                cwd=sweep.parent, env=ENV, stdout=out,
                                stderr=err_out if err else subprocess.STDOUT, start_new_session=True)


def runs_of(client: MlflowClient, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000) if exp else []
    return ([r for r in runs if r.data.tags.get("empgan.role") == "sweep"],
            [r for r in runs if r.data.tags.get("empgan.role") == "trial"])


def fid_steps(client: MlflowClient, run_id: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, "fid"))


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Config")]


@pytest.mark.timeout(1500)
def test_sweep_runs_trials_on_both_nodes_into_the_server(cluster, server, tmp_path):
    cluster.ensure_worker()
    sweep = cluster_sweep(tmp_path, "two-nodes", server)
    log = tmp_path / "driver.log"
    started = time.monotonic()
    out = finish(submit(sweep, cluster.address, log), log, timeout=1300)
    print(f"sweep on 2 nodes: {time.monotonic() - started:.0f} s")
    assert "Connecting to existing Ray cluster" in out

    client = MlflowClient(server)
    parents, children = runs_of(client, "two-nodes")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 4 and len({r.data.tags["trial_id"] for r in children}) == 4
    for run in children:
        assert run.info.status == "FINISHED", (run.info.run_name, run.data.tags)
        assert run.data.tags["status"] == "completed", run.data.tags
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert fid_steps(client, run.info.run_id) == [1, 2]
        # artifacts logged on either node reached the server's artifact store
        assert len(client.list_artifacts(run.info.run_id, "grids")) == 2
    assert {r.data.tags["node"] for r in children} == {HEAD_IP, WORKER_IP}   # trials ran on both nodes

    text = export_table("two-nodes", server, plot_dir=tmp_path / "plots")
    assert "| Config | 0.001M | 0.002M |" in text, text
    assert len(table_rows(text)) == 4, text


def checkpointed_trial_on_worker(client: MlflowClient, experiment: str, log: Path):
    """(run id, trial id) of a trial RUNNING on the worker node whose first milestone (and checkpoint) the
    driver has received, and not yet its second one; None while there is none."""
    _, children = runs_of(client, experiment)
    text = log.read_text() if log.exists() else ""
    for run in children:
        tid = run.data.tags.get("trial_id", "?")
        if (run.data.tags.get("node") == WORKER_IP and run.info.status == "RUNNING"
                and re.search(rf"^\[{re.escape(tid)}\] kimg 1 ", text, re.M)
                and not re.search(rf"^\[{re.escape(tid)}\] kimg 2 ", text, re.M)):
            return run.info.run_id, tid
    return None


@pytest.mark.timeout(1500)
def test_losing_the_worker_node_mid_sweep_retries_its_trial_on_the_head(cluster, server, tmp_path):
    cluster.ensure_worker()
    sweep = cluster_sweep(tmp_path, "node-lost", server, max_failures=2)
    log = tmp_path / "driver.log"
    client = MlflowClient(server)
    started = time.monotonic()
    proc = submit(sweep, cluster.address, log)
    try:
        run_id, trial_id = wait_for(lambda: checkpointed_trial_on_worker(client, "node-lost", log), 900,
                                    "a trial on the worker node past its first milestone", proc, log)
        assert cluster.worker_raylets()
        cluster.kill_worker()
        killed_at = time.monotonic()
        out = finish(proc, log, timeout=1300)
    finally:
        kill_session(proc)
    print(f"sweep losing a node: {time.monotonic() - started:.0f} s ({time.monotonic() - killed_at:.0f} s after "
          f"the worker node was killed)")

    parents, children = runs_of(client, "node-lost")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 4 and len({r.data.tags["trial_id"] for r in children}) == 4
    for run in children:                                    # every trial accounted for
        assert run.info.status != "RUNNING", (run.info.run_name, run.data.tags)
        assert run.data.tags["status"] in END_STATUSES, run.data.tags
    (retried,) = [r for r in children if r.info.run_id == run_id]  # the same MLflow run continued
    assert retried.data.tags["trial_id"] == trial_id
    assert retried.info.status == "FINISHED" and retried.data.tags["status"] == "completed", retried.data.tags
    assert retried.data.tags["node"] == HEAD_IP             # retried on the surviving node
    assert fid_steps(client, run_id) == [1, 2]              # step 1 not logged twice
    # ... from its checkpoint at the first milestone, not from scratch (the retry runs beside the driver on the head)
    assert re.search(r"resumed from \S+ at kimg 1\.\d{3}\b", out), out[-4000:]   # kimg 1.008: 63 x 16
    assert len(client.list_artifacts(run_id, "grids")) == 2


@pytest.mark.timeout(1500)
def test_a_file_store_is_refused_on_a_cluster_before_any_trial(cluster, tmp_path):
    cluster.ensure_worker()                                 # the test before killed it
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = cluster_sweep(tmp_path, "file-store", uri)
    log, err_log = tmp_path / "driver.log", tmp_path / "driver.err"
    proc = submit(sweep, cluster.address, log, err_log)
    try:
        proc.wait(timeout=600)
    finally:
        kill_session(proc)
    out, err = log.read_text(), err_log.read_text()
    assert proc.returncode == 2, out[-2000:] + err[-4000:]
    assert "Traceback" not in err, err[-4000:]
    errors = [line for line in err.splitlines() if line.startswith("tune_main.py: error:")]
    assert len(errors) == 1 and err.rstrip("\n").splitlines()[-1] == errors[0], err[-4000:]  # one line, the last
    assert "mlflow.tracking_uri" in errors[0] and "tracking server" in errors[0] and uri in errors[0], errors[0]
    assert "2 nodes" in errors[0], errors[0]

    client = MlflowClient(uri)
    parents, children = runs_of(client, "file-store")
    assert children == []                                   # no trial ran
    assert not list((tmp_path / "ray_results").rglob("params.json"))
    # nothing is left RUNNING in the store: the refusal comes before the sweep's parent run is created
    assert [(r.info.run_name, r.info.status) for r in parents if r.info.status == "RUNNING"] == []
