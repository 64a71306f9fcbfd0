"""Sweep overhead: N trials of fixed, known work as a real sweep against the same trials one after another in one process.

    .venv/bin/python bench/bench_sweep_overhead.py [--trials 8] [--kimg 3] [--cpu 2] [--append docs/benchmarks.md]

The trials are the demo's model (32 px, batch 16, EG patch 2, prob 1) trained for `--kimg` with two
milestones (kimg // 2 and kimg; FID of 128 samples, grid and checkpoint at each), seeds 0 .. N-1, so
every trial does the same work. Baseline: `training_loop` on the N trial configs in this process, one after another
(configs built by the sweep's own `trial_config`, so they are the ones the sweep runs). Sweep:
`tune_main.py` on the same sweep YAML in a subprocess (local Ray started and stopped, sqlite
MLflow parent + child runs, Ray checkpoints), grid search over the seed, no scheduler, one trial
at a time with `--cpu` CPUs. Overhead per trial = (sweep wall-clock - baseline wall-clock) / N.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import empgan  # noqa: F401  (sets the allocator environment before torch is imported)
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent


def sweep_yaml(trials: int, kimg: int, cpu: float) -> dict:
    return {
        "name": "overhead",
        "base": {"data": "builtin:digits", "resolution": 32, "batch": 16, "total_kimg": kimg,
                 "milestones_kimg": [max(kimg // 2, 1), kimg], "tick_kimg": kimg, "emp": True, "patch_num": 2, "prob": 1,
                 "pretrained": False, "fid_samples": 128, "model.ngf": 16, "model.feature_resize": 0,
                 "emp_loss.hidden": 256, "eval.allow_few_fid_samples": True, "eval.fid_real_images": 256,
                 "eval.fid_batch": 64},
        "search_space": {"seed": {"grid": list(range(trials))}},
        "search": {"algorithm": "grid", "max_concurrent": 1},
        "scheduler": {"type": "none"},
        "resources": {"cpu": cpu, "gpu": 0},
    }


def run_baseline(sweep_file: Path, work: Path) -> tuple[float, list[float], list[float]]:
    from empgan.train.loop import training_loop
    from empgan.tune.sweep_config import load_sweep, trial_config

    sweep = load_sweep(str(sweep_file))
    seeds = sweep_yaml_seeds(sweep_file)
    per_trial, clocks = [], []
    start = time.perf_counter()
    for seed in seeds:
        cfg = trial_config(sweep, {"seed": seed}, seed)
        trial_start = time.perf_counter()
        outcome = training_loop(cfg, work / f"seq-{seed}", log=lambda line: None)
        assert outcome.status == "completed", outcome
        per_trial.append(time.perf_counter() - trial_start)
        clocks.append(outcome.last_metrics["wall_clock_s"])
        print(f"baseline trial seed {seed}: {per_trial[-1]:.1f} s (its own clock {clocks[-1]:.1f} s)", flush=True)
    return time.perf_counter() - start, per_trial, clocks


def sweep_yaml_seeds(sweep_file: Path) -> list[int]:
    return list(yaml.safe_load(sweep_file.read_text())["search_space"]["seed"]["grid"])


def run_sweep(sweep_file: Path, work: Path) -> tuple[float, list[float], list[float]]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    start = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "tune_main.py"), str(sweep_file)], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    import mlflow

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("overhead")
    runs = [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert len(finished) == len(sweep_yaml_seeds(sweep_file)), [r.info.status for r in runs]
    # Each trial run's wall-clock as MLflow saw it (run start to end: Ray + MLflow + the trial), and
    # the trial's own clock (training + FID since its start, the last milestone's wall_clock_s).
    return (wall, sorted((r.info.end_time - r.info.start_time) / 1000 for r in finished),
            [r.data.metrics["wall_clock_s"] for r in finished])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--kimg", type=int, default=3, help="whole kimg (sweep milestones are whole kimg)")
    parser.add_argument("--cpu", type=float, default=2)
    parser.add_argument("--append", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="empgan-overhead-") as tmp:
        work = Path(tmp)
        sweep_file = work / "overhead.yaml"
        sweep_file.write_text(yaml.safe_dump(sweep_yaml(args.trials, args.kimg, args.cpu), sort_keys=False))
        base_wall, base_trials, base_clocks = run_baseline(sweep_file, work)
        print(f"baseline: {base_wall:.1f} s for {args.trials} trials", flush=True)
        sweep_wall, sweep_runs, sweep_clocks = run_sweep(sweep_file, work)
        print(f"sweep: {sweep_wall:.1f} s", flush=True)
    per_trial = base_wall / args.trials
    overhead = (sweep_wall - base_wall) / args.trials
    # The same difference without the trials' own training + FID time, which on a shared VM varies by
    # +-10% from trial to trial and would swamp a few seconds of overhead: what each side spends outside it.
    base_outside = (base_wall - sum(base_clocks)) / args.trials
    sweep_outside = (sweep_wall - sum(sweep_clocks)) / args.trials
    lines = [f"### bench_sweep_overhead ({datetime.date.today()}, {platform.machine()} {os.cpu_count()} CPUs, "
             f"torch {torch.__version__}, {args.cpu:g} CPUs per trial, one trial at a time)", "",
             "`" + " ".join(["python", *sys.argv]) + "`", "",
             "| | wall-clock s | per trial s |", "|:---|---:|---:|",
             f"| {args.trials} trials one after another in one process | {base_wall:.1f} | {per_trial:.1f} |",
             f"| the same {args.trials} trials as a sweep (`tune_main.py`, whole command) | {sweep_wall:.1f} | "
             f"{sweep_wall / args.trials:.1f} |",
             f"| overhead per trial | | **{overhead:.1f} ({overhead / per_trial:.1%})** |",
             f"| time per trial outside the trial's own training + FID clock: one process / sweep | | "
             f"{base_outside:.1f} / {sweep_outside:.1f} |",
             f"| overhead per trial from that split (noise of the training itself removed) | | "
             f"**{sweep_outside - base_outside:.1f} ({(sweep_outside - base_outside) / per_trial:.1%})** |", "",
             f"Baseline trials: {min(base_trials):.1f} .. {max(base_trials):.1f} s; sweep trials as MLflow runs "
             f"(run start to end): {min(sweep_runs):.1f} .. {max(sweep_runs):.1f} s; the trials' own clocks: "
             f"{min(base_clocks):.1f} .. {max(base_clocks):.1f} s in one process, {min(sweep_clocks):.1f} .. "
             f"{max(sweep_clocks):.1f} s in the sweep."]
    print("\n".join(lines))
    if args.append:
        with args.append.open("a") as f:
            f.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
