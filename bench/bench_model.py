"""Forward+backward time of one D step and one G step, PG against EG (patch_num 1, 2, 4, 8), and projector sizes.

    .venv/bin/python bench/bench_model.py [--sizes 64,256] [--patches 1,2,4,8] [--batch 8] [--repeat 3]
                                          [--threads N] [--device cpu] [--append docs/benchmarks.md]

Each step is timed as the trainer runs it (zero_grad, loss, backward, optimiser step), median of
`--repeat` after one warm-up step. The floating-point operations of each step are counted with
torch's FlopCounterMode, so the EG/PG time ratio can be compared with the EG/PG FLOP ratio.
The networks are the shipped ones at their defaults (feature network fed at 224 px below 224,
native at 256), with random weights (`pretrained: false`: the same cost as ImageNet weights).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from empgan.config import build_config
from empgan.model import EMPGAN


def step_fns(model: EMPGAN, batch: int, resolution: int, device: torch.device):
    opt_d = torch.optim.Adam(model.d_trainable_parameters(), lr=2e-4, betas=(0.0, 0.99))
    opt_g = torch.optim.Adam(model.g_trainable_parameters(), lr=2e-4, betas=(0.0, 0.99))
    real = torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1   # [B, 3, R, R]

    def d_step():
        opt_d.zero_grad(set_to_none=True)
        loss, _ = model.d_loss(real, torch.randn(batch, model.z_dim, device=device))
        loss.backward()
        opt_d.step()

    def g_step():
        opt_g.zero_grad(set_to_none=True)
        loss, _ = model.g_loss(torch.randn(batch, model.z_dim, device=device))
        loss.backward()
        opt_g.step()

    return d_step, g_step


def median_ms(fn, repeat: int, device: torch.device) -> float:
    fn()                                                   # warm-up
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def flops(fn) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def model_for(kind: str, patch_num: int, resolution: int, batch: int, device: torch.device) -> EMPGAN:
    over = {"resolution": resolution, "batch": batch, "pretrained": False, "patch_num": patch_num,
            "emp": kind == "EG", "prob": 1 if kind == "EG" else 0}
    return EMPGAN(build_config(over)).to(device).train()


def projector_params(resolution: int, reduce: bool, length: int = 32, hidden: int | None = None) -> int:
    over = {"resolution": resolution, "pretrained": False, "emp": True, "len": length, "proj_reduce": reduce}
    if hidden:
        over["emp_loss"] = {"hidden": hidden}
    return sum(p.numel() for p in EMPGAN(build_config(over)).projector.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256")
    parser.add_argument("--patches", default="1,2,4,8")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--append", type=Path, help="append the table to this Markdown file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    machine = (torch.cuda.get_device_name(device) if device.type == "cuda"
               else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads")
    lines = [f"### bench_model: D and G step, batch {args.batch} ({datetime.date.today()}, {machine}, torch {torch.__version__})",
             "", "`" + " ".join(["python", *sys.argv]) + "`", "",
             "| size | model | D step ms | G step ms | D+G ms | D+G GFLOP | time EG/PG | FLOP EG/PG |",
             "|---:|:---|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for resolution in (int(s) for s in args.sizes.split(",")):
        base_ms = base_flops = None
        for kind, patch in [("PG", 1)] + [("EG", int(p)) for p in args.patches.split(",")]:
            model = model_for(kind, patch, resolution, args.batch, device)
            d_step, g_step = step_fns(model, args.batch, resolution, device)
            d_ms, g_ms = median_ms(d_step, args.repeat, device), median_ms(g_step, args.repeat, device)
            total_flops = flops(d_step) + flops(g_step)
            base_ms, base_flops = base_ms or d_ms + g_ms, base_flops or total_flops
            name = "PG" if kind == "PG" else f"EG patch {patch}"
            line = (f"| {resolution} | {name} | {d_ms:.0f} | {g_ms:.0f} | {d_ms + g_ms:.0f} | {total_flops / 1e9:.1f} | "
                    f"{(d_ms + g_ms) / base_ms:.2f} | {total_flops / base_flops:.2f} |")
            lines.append(line)
            print(line, flush=True)
            del model
    lines += ["", "| projector at 256 px, len 32 | hidden 1024 (default) | hidden 4096 (EMP-SSL) |", "|:---|---:|---:|"]
    for reduce in (False, True):
        counts = [projector_params(256, reduce), projector_params(256, reduce, hidden=4096)]
        lines.append(f"| {'variant C (proj_reduce)' if reduce else 'plain'} | {counts[0]:,} | {counts[1]:,} |")
    print("\n".join(lines[-4:]))
    if args.append:
        with args.append.open("a") as f:
            f.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
