"""One EMP-GAN training trial: train to total_kimg, evaluate/checkpoint/report at every milestone.

A plain function with no Ray in it: the sweep's trainable and `empgan train` both call it.
Progress is counted in kimg (thousands of real images shown to D); one status line per tick and a
JSONL of stats in the run dir.
"""

from __future__ import annotations

import json
import math
import resource
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from empgan.config import TrainConfig, dump_yaml, to_dict
from empgan.data import load_image_set
from empgan.errors import UserError
from empgan.metrics.fid import FIDEvaluator, generator_sampler
from empgan.metrics.frechet import frechet_distance
from empgan.model import EMPGAN
from empgan.train.checkpoint import (check_resume_config, checkpoint_dir_name, copy_checkpoint, find_checkpoint,
                                     load_checkpoint, load_module_state, prune_checkpoints, save_checkpoint)
from empgan.train.divergence import DivergenceMonitor
from empgan.train.ema import ema_beta, make_ema, update_ema
from empgan.train.grid import save_grid
from empgan.train.step import TrainStep

# report(metrics, checkpoint_dir): called once per milestone, and once more when a trial diverges between milestones.
ReportFn = Callable[[dict, Optional[str]], None]

LOSS_KEYS = ("loss/d_real", "loss/d_fake", "loss/g", "loss/emp", "emp/tcr", "emp/invariance")


@dataclass
class TrialOutcome:
    status: str                         # completed | diverged
    reason: str = ""
    last_metrics: dict = field(default_factory=dict)
    best_fid: float = math.inf
    best_checkpoint: Optional[str] = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise UserError(f"config key 'device' = {name!r}: no such CUDA device here "
                        f"({torch.cuda.device_count()} visible); use auto or cpu")
    return device


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


class LossAverager:
    """Mean of each loss term since the last reset (for ticks and milestones)."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, stats: dict[str, float]) -> None:
        for k, v in stats.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1

    def means(self) -> dict[str, float]:
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}

    def reset(self) -> None:
        self.sums, self.count = {}, 0


def training_loop(cfg: TrainConfig, run_dir: str | Path, report: ReportFn | None = None,
                  resume: str | Path | None = None, log: Callable[[str], None] | None = None) -> TrialOutcome:
    """Train one trial. `resume`: a checkpoint (file, folder or run dir) to continue exactly from."""
    log = log or (lambda line: print(line, flush=True))   # one status line at a time, also into a pipe or file
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_root = run_dir / "checkpoints"
    report = report or (lambda metrics, checkpoint_dir: None)
    device = resolve_device(cfg.device)

    # ---- data, networks, optimisers, evaluation -----------------------------------------------
    torch.manual_seed(cfg.seed)
    image_set = load_image_set(cfg.data, cfg.resolution)
    images = image_set.images                                              # [N, 3, R, R] uint8 (CPU)
    model = EMPGAN(cfg).to(device)
    G_ema = make_ema(model.G)
    step = TrainStep(model, cfg, device)
    opt_g, opt_d = step.opt_g, step.opt_d
    fid_eval = FIDEvaluator(weights=cfg.eval.fid_weights, device=device, batch=cfg.eval.fid_batch,
                            cache_dir=cfg.eval.cache_dir)
    real_mu, real_sigma = fid_eval.real_stats(image_set, max_images=cfg.eval.fid_real_images)
    grid_z = torch.randn(cfg.eval.grid_rows * cfg.eval.grid_cols, model.z_dim,
                         generator=torch.Generator().manual_seed(cfg.seed + 12345)).to(device)
    data_rng = torch.Generator().manual_seed(cfg.seed)
    monitor = DivergenceMonitor(cfg.divergence)
    ema_half_life = cfg.optim.ema_kimg if cfg.optim.ema_kimg is not None else cfg.batch * 10 / 32

    # ---- counters (restored on resume) -----------------------------------------------------------
    cur_nimg, train_time, eval_time, milestones_done = 0, 0.0, 0.0, 0
    if resume is not None:
        file = find_checkpoint(resume)
        state = load_checkpoint(file, map_location="cpu")
        check_resume_config(state["config"], cfg, str(file))
        load_module_state(model, state["model"], "model", str(file))
        load_module_state(G_ema, state["G_ema"], "G_ema", str(file))
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        monitor.load_state_dict(state["divergence"])
        c = state["counters"]
        cur_nimg, train_time, eval_time = int(c["cur_nimg"]), float(c["train_time_s"]), float(c["eval_time_s"])
        milestones_done = sum(1 for m in cfg.milestones_kimg if m * 1000 <= cur_nimg)
        torch.set_rng_state(state["rng"]["torch"])
        data_rng.set_state(state["rng"]["data"])
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        log(f"resumed from {file} at kimg {cur_nimg / 1000:.3f}")
    (run_dir / "config.yaml").write_text(dump_yaml(cfg))                  # only once the resume is accepted

    milestone_nimg = [round(m * 1000) for m in cfg.milestones_kimg]
    total_nimg = round(cfg.total_kimg * 1000)
    tick_nimg = max(round(cfg.tick_kimg * 1000), 1)
    header = {"trial": run_dir.name, "model": cfg.model_kind, "node": socket.gethostname(),
              "device": str(device), "dataset_hash": image_set.content_hash, "images": len(images),
              "fid_weights_sha1": fid_eval.weights_sha1}
    log("trial " + " ".join(f"{k}={v}" for k, v in header.items()))
    stats_file = (run_dir / "stats.jsonl").open("a")
    tick_losses, milestone_losses = LossAverager(), LossAverager()
    tick_start_nimg, tick_start_time = cur_nimg, time.perf_counter()
    last_interval_ckpt = time.monotonic()
    outcome = TrialOutcome(status="completed", best_fid=monitor.best_fid)
    milestone_start = (cur_nimg, train_time)

    def snapshot() -> dict:
        rng = {"torch": torch.get_rng_state(), "data": data_rng.get_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(device)
        return {"config": to_dict(cfg), "model": model.state_dict(), "G_ema": G_ema.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "divergence": monitor.state_dict(),
                "counters": {"cur_nimg": cur_nimg, "train_time_s": train_time, "eval_time_s": eval_time},
                "rng": rng}

    def write_stats(kind: str, values: dict) -> None:
        stats_file.write(json.dumps({"kind": kind, **values}) + "\n")
        stats_file.flush()

    try:
        while cur_nimg < total_nimg:
            # ---- one iteration: D step, G step, EMA ------------------------------------------------
            step_start = time.perf_counter()
            model.train()
            index = torch.randint(len(images), (cfg.batch,), generator=data_rng)
            real = images[index].to(device).float() / 127.5 - 1                # [B, 3, R, R] in [-1, 1]
            if cfg.augment.mirror:
                flip = torch.rand(cfg.batch, generator=data_rng) < 0.5        # [B]
                real = torch.where(flip.to(device)[:, None, None, None], real.flip(3), real)
            d_stats = step.d_step(real, torch.randn(cfg.batch, model.z_dim, device=device))
            g_stats = step.g_step(torch.randn(cfg.batch, model.z_dim, device=device))

            cur_nimg += cfg.batch
            update_ema(G_ema, model.G, ema_beta(cfg.batch, cur_nimg, ema_half_life, cfg.optim.ema_rampup))
            losses = {k: float(v) for k, v in {**d_stats, **g_stats}.items()}
            train_time += time.perf_counter() - step_start
            tick_losses.add(losses)
            milestone_losses.add(losses)

            reason = monitor.check_losses(losses)
            if reason:
                outcome.status, outcome.reason = "diverged", reason
                break

            # ---- tick: one status line and a JSONL record --------------------------------------------
            if cur_nimg - tick_start_nimg >= tick_nimg or cur_nimg >= total_nimg:
                elapsed = time.perf_counter() - tick_start_time
                sec_per_kimg = elapsed / ((cur_nimg - tick_start_nimg) / 1000)
                means = tick_losses.means()
                mem = peak_memory_gb(device)
                log(f"tick kimg {cur_nimg / 1000:8.3f}  sec/kimg {sec_per_kimg:7.2f}  "
                    + "  ".join(f"{k} {v:7.3f}" for k, v in means.items()) + f"  mem {mem:.2f}GB")
                write_stats("tick", {"kimg": cur_nimg / 1000, "sec_per_kimg": sec_per_kimg, "mem_gb": mem, **means})
                tick_losses.reset()
                tick_start_nimg, tick_start_time = cur_nimg, time.perf_counter()

            # ---- milestone: FID, grid, checkpoint, report ---------------------------------------------
            if milestones_done < len(milestone_nimg) and cur_nimg >= milestone_nimg[milestones_done]:
                kimg = cfg.milestones_kimg[milestones_done]
                eval_start = time.perf_counter()
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    generate = generator_sampler(G_ema, model.z_dim, device, seed=cfg.seed)
                    mu, sigma = fid_eval.generator_stats(generate, cfg.fid_samples)
                    fid = frechet_distance(mu, sigma, real_mu, real_sigma)
                    grid_path = save_grid(G_ema, grid_z, cfg.eval.grid_rows, cfg.eval.grid_cols,
                                          run_dir / "grids" / f"grid-{checkpoint_dir_name(kimg)}.png")
                eval_seconds = time.perf_counter() - eval_start
                eval_time += eval_seconds
                tick_start_time += eval_seconds            # a tick's sec/kimg counts training only
                milestones_done += 1
                nimg_since, time_since = cur_nimg - milestone_start[0], train_time - milestone_start[1]
                metrics = {"fid": fid, "kimg": kimg, "wall_clock_s": train_time + eval_time,
                           "train_time_s": train_time, "eval_time_s": eval_time,
                           "images_per_s": nimg_since / max(time_since, 1e-9), **milestone_losses.means(),
                           "fid_weights_sha1": fid_eval.weights_sha1, "dataset_hash": image_set.content_hash}
                milestone_losses.reset()
                milestone_start = (cur_nimg, train_time)
                previous_best = monitor.best_fid
                reason = monitor.check_fid(fid)
                folder = save_checkpoint(snapshot(), ckpt_root / checkpoint_dir_name(kimg)).parent
                if fid < previous_best:
                    copy_checkpoint(folder, ckpt_root / "best")
                prune_checkpoints(ckpt_root, cfg.checkpoint.keep_last)
                metrics["best_fid"] = monitor.best_fid
                metrics["final"] = reason is not None or milestones_done == len(milestone_nimg)
                metrics["status"] = "diverged" if reason else ("completed" if metrics["final"] else "running")
                log(f"milestone kimg {kimg:g}  FID {fid:.3f}  wall {metrics['wall_clock_s']:.1f}s  "
                    f"(train {train_time:.1f}s, eval {eval_time:.1f}s)  grid {grid_path.name}")
                write_stats("milestone", metrics)
                outcome.last_metrics = metrics
                outcome.best_fid = monitor.best_fid
                if reason:
                    outcome.status, outcome.reason = "diverged", reason
                    metrics["reason"] = reason
                report(metrics, str(folder))
                if reason:
                    break
            elif cfg.checkpoint.interval_s > 0 and time.monotonic() - last_interval_ckpt > cfg.checkpoint.interval_s:
                save_checkpoint(snapshot(), ckpt_root / checkpoint_dir_name(cur_nimg / 1000))
                prune_checkpoints(ckpt_root, cfg.checkpoint.keep_last)
                last_interval_ckpt = time.monotonic()

        if outcome.status == "diverged" and outcome.last_metrics.get("status") != "diverged":
            # Diverged between milestones: report the last milestone's FID (inf if none) so the
            # searcher and scheduler always see `fid` and `kimg` on a trial's final result.
            metrics = {"fid": outcome.last_metrics.get("fid", math.inf),
                       "kimg": cur_nimg / 1000, "wall_clock_s": train_time + eval_time, "train_time_s": train_time,
                       "eval_time_s": eval_time, "best_fid": monitor.best_fid, "final": True,
                       "status": "diverged", "reason": outcome.reason}
            log(f"diverged at kimg {cur_nimg / 1000:.3f}: {outcome.reason}")
            write_stats("diverged", metrics)
            outcome.last_metrics = metrics
            report(metrics, None)
    finally:
        stats_file.close()
    best = ckpt_root / "best" / "checkpoint.pt"
    outcome.best_checkpoint = str(best) if best.exists() else None
    return outcome
