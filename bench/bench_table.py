"""Time `empgan table` on a sweep of 1,000 trials x 8 milestones, from sqlite and from a local `mlflow server`.

    .venv/bin/python bench/bench_table.py [--runs 1000] [--repeat 3] [--workdir DIR]

Fills a fresh sqlite store through MlflowClient.log_batch (one call per trial), then times
export_table (Markdown, plots written and logged on the parent) and its parts, and compares the bulk
history fetch with one `get_metric_history` call per run and key.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from empgan.config import build_config, flatten, to_dict
from empgan.report import export_table
from empgan.report.collect import collect
from empgan.report.histories import _per_run_rows, fetch_histories
from empgan.report.plots import write_plots
from empgan.report.render import render
from empgan.report.source import open_client
from empgan.report.table import build_table

EXPERIMENT = "bench-table"
STEPS = [100, 200, 300, 400, 500, 600, 700, 800]


def fill(uri: str, runs: int) -> float:
    client = MlflowClient(uri)
    start = time.perf_counter()
    exp_id = client.create_experiment(EXPERIMENT)
    parent = client.create_run(exp_id, run_name=EXPERIMENT, tags={"empgan.role": "sweep", "empgan.sweep": EXPERIMENT})
    for i in range(runs):
        over = {"resolution": 256, "total_kimg": 800, "milestones_kimg": STEPS, "seed": i % 3, "emp": True,
                "batch": 32, "patch_num": [2, 4, 8, 16][i // 3 % 4], "prob": [0.0, 0.5, 1.0][i // 12 % 3],
                "w": [1.0, 10.0, 100.0][i // 36 % 3], "len": [16, 32, 64, 128][i // 108 % 4],
                "proj_reduce": bool(i // 432 % 2)}
        cfg = build_config(over)
        status = "stopped_early" if i % 7 == 0 else "completed"
        tags = {"mlflow.parentRunId": parent.info.run_id, "empgan.role": "trial", "status": status,
                "model": cfg.model_kind, "fid_weights_sha1": "0" * 40, "dataset_hash": "d0", "trial_id": str(i)}
        run_id = client.create_run(exp_id, run_name=f"trial {i}", tags=tags).info.run_id
        steps = STEPS[:2] if status == "stopped_early" else STEPS
        metrics = [Metric(key, value, 1_700_000_000_000 + step * 1000, step) for step in steps
                   for key, value in (("fid", 300.0 / (1 + step / 100) + i % 13), ("wall_clock_s", 9.6 * step),
                                      ("train_time_s", 9.0 * step), ("eval_time_s", 0.6 * step), ("kimg", step),
                                      ("loss_d", 0.5), ("loss_g", 1.0))]
        client.log_batch(run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in flatten(to_dict(cfg)).items()])
        client.set_terminated(run_id)
    return time.perf_counter() - start


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(uri: str, repeat: int, workdir: Path) -> list[str]:
    lines = []
    total, text = timed(lambda: export_table(EXPERIMENT, uri, plot_dir=workdir / "plots"), repeat)
    rows = sum(1 for line in text.splitlines() if line.startswith("| ")) - 1
    lines.append(f"export_table (md, plots written + logged): {total:.2f} s median of {repeat} ({rows} rows)")
    client, resolved = open_client(uri)
    t_collect, found = timed(lambda: collect(client, resolved, EXPERIMENT), repeat)
    run_ids = [t.run_id for t in found.trials]
    t_bulk, _ = timed(lambda: fetch_histories(client, resolved, run_ids, ("fid", "wall_clock_s")), repeat)
    t_per_run, _ = timed(lambda: [list(_per_run_rows(client, run_ids, k)) for k in ("fid", "wall_clock_s")], 1)
    t_build, table = timed(lambda: build_table(EXPERIMENT, found.trials), repeat)
    t_render, _ = timed(lambda: [render(table, f) for f in ("md", "csv", "latex", "html")], repeat)
    t_plots, _ = timed(lambda: write_plots(table, workdir / "plots", "bench"), repeat)
    lines += [f"  collect (search_runs + bulk histories): {t_collect:.2f} s",
              f"  bulk histories (fid, wall_clock_s) of {len(run_ids)} runs: {t_bulk:.2f} s"
              f" vs per-run get_metric_history: {t_per_run:.2f} s",
              f"  build table: {t_build:.3f} s, render 4 formats: {t_render:.3f} s, 2 plots: {t_plots:.2f} s"]
    return lines


def start_server(db: Path, workdir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--workers", "1", "--host", "127.0.0.1",
                             "--port", str(port), "--backend-store-uri", f"sqlite:///{db}",
                             "--artifacts-destination", str(workdir / "served-artifacts")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("mlflow server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-table-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)   # the sqlite store's default artifact root lands here
    db = workdir / "mlflow.db"
    uri = f"sqlite:///{db}"
    print(f"# bench_table: {args.runs} trials x {len(STEPS)} milestones; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {datetime.date.today()}")
    print(f"fill (create_run + log_batch + set_terminated per trial): {fill(uri, args.runs):.1f} s")
    print(f"[sqlite] {uri}")
    for line in measure(uri, args.repeat, workdir):
        print(line)
    proc, url = start_server(db, workdir)
    try:
        print(f"[server] mlflow server --workers 1 on {url}, same sqlite file")
        for line in measure(url, args.repeat, workdir):
            print(line)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
