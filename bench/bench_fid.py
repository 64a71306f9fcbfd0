"""FID evaluation cost against training cost, and the exact Fréchet distance against scipy's sqrtm.

    .venv/bin/python bench/bench_fid.py [--sizes 32,256] [--samples 500] [--train-steps 3] [--batch 8]
                                        [--device cpu] [--append docs/benchmarks.md]

For each size: time `--samples` generated images through G_ema and the Inception features (the
trainer's in-memory path, clean-fid's resize), extrapolate linearly to 10k samples; time
`--train-steps` training iterations (D step + G step, EG patch 4, the shipped defaults) and
extrapolate to 100 kimg. Their ratio is the evaluation overhead at the report's 100-kimg milestone
spacing. Then the Fréchet distance of two 2048-d Gaussians both ways.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import empgan  # noqa: F401  (sets the allocator environment before torch is imported)
import numpy as np
import scipy.linalg
import torch

from empgan.config import build_config
from empgan.metrics.fid import FIDEvaluator, generator_sampler
from empgan.metrics.frechet import frechet_distance
from empgan.model import EMPGAN
from empgan.train.step import TrainStep

TARGET_SAMPLES, TARGET_KIMG = 10_000, 100


def fid_seconds(model: EMPGAN, samples: int, device: torch.device) -> float:
    evaluator = FIDEvaluator(device=device, batch=100)
    evaluator.generator_stats(generator_sampler(model.G, model.z_dim, device), 100)   # warm-up, loads Inception
    start = time.perf_counter()
    evaluator.generator_stats(generator_sampler(model.G, model.z_dim, device), samples)
    return time.perf_counter() - start


def train_seconds_per_kimg(model: EMPGAN, cfg, steps: int, device: torch.device) -> float:
    """The trainer's iteration (TrainStep: D step + G step), timed after a warm-up iteration."""
    step = TrainStep(model, cfg, device)
    batch = cfg.batch
    real = torch.rand(batch, 3, cfg.resolution, cfg.resolution, device=device) * 2 - 1   # [B, 3, R, R]

    def iteration():
        step.d_step(real, torch.randn(batch, model.z_dim, device=device))
        step.g_step(torch.randn(batch, model.z_dim, device=device))

    iteration()                                                                        # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        iteration()
    return (time.perf_counter() - start) / (steps * batch) * 1000


def frechet_timing(dim: int = 2048, seed: int = 0) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((3000, dim)), rng.standard_normal((3000, dim)) * 1.1 + 0.05
    mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    start = time.perf_counter()
    ours = frechet_distance(mu1, s1, mu2, s2)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    ref = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    t_sqrtm = time.perf_counter() - start
    return t_ours, t_sqrtm, abs(ours - ref)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,256")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--append", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    machine = (torch.cuda.get_device_name(device) if device.type == "cuda"
               else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads")
    lines = [f"### bench_fid: FID evaluation vs training ({datetime.date.today()}, {machine})", "",
             "`" + " ".join(["python", *sys.argv]) + "`", "",
             f"| size | FID of {args.samples} samples s | -> 10k samples s | train s/kimg (EG patch 4, batch {args.batch}) "
             "| -> 100 kimg s | eval / train at 100-kimg milestones |",
             "|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for resolution in (int(s) for s in args.sizes.split(",")):
        cfg = build_config({"resolution": resolution, "batch": args.batch, "pretrained": False, "emp": True,
                            "patch_num": 4, "prob": 1})
        model = EMPGAN(cfg).to(device).train()
        t_fid = fid_seconds(model, args.samples, device) * TARGET_SAMPLES / args.samples
        t_kimg = train_seconds_per_kimg(model, cfg, args.train_steps, device)
        line = (f"| {resolution} | {t_fid * args.samples / TARGET_SAMPLES:.1f} | {t_fid:.0f} | {t_kimg:.1f} | "
                f"{t_kimg * TARGET_KIMG:.0f} | {t_fid / (t_kimg * TARGET_KIMG):.1%} |")
        lines.append(line)
        print(line, flush=True)
    t_ours, t_sqrtm, diff = frechet_timing()
    lines += ["", f"Fréchet distance of two 2048-d Gaussians: exact eigvalsh form {t_ours:.2f} s, "
              f"scipy.linalg.sqrtm {t_sqrtm:.2f} s ({t_sqrtm / t_ours:.1f}x), |difference| {diff:.2e}"]
    print(lines[-1])
    if args.append:
        with args.append.open("a") as f:
            f.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
