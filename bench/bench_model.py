"""Train-step time, FLOPs and peak memory of PG against EG (patch_num 1, 2, 4, 8) at several sizes; projector sizes.

    .venv/bin/python bench/bench_model.py [--sizes 32,64,256] [--batches 16,8,8] [--patches 1,2,4,8]
                                          [--repeat 3] [--threads N] [--device cpu|cuda]
                                          [--set perf.channels_last=false ...] [--append docs/benchmarks.md]

Every (size, model) cell runs in a fresh subprocess (so peak memory is its own), builds the shipped
model at its defaults (feature network fed at 224 px below 224, native at 256) with random weights
(`pretrained: false`: the same cost as ImageNet weights), and times the D step and the G step
exactly as the trainer runs them (`empgan.train.step.TrainStep`: zero_grad, loss, backward, Adam),
median of `--repeat` after one warm-up iteration. FLOPs of each step come from torch's
FlopCounterMode. Peak memory: CUDA max_memory_allocated over the timed steps, or on CPU the peak
resident set size of the process (ru_maxrss) and its growth over the steps (activations, gradients,
Adam state) above the resident size before the first step.
`excess` = (time EG/PG) / (FLOP EG/PG) - 1: the time EG spends beyond its extra arithmetic.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import empgan  # noqa: F401  (sets the allocator environment before torch is imported)
import torch
from torch.utils.flop_counter import FlopCounterMode

from empgan.config import build_config, deep_merge, parse_overrides
from empgan.model import EMPGAN
from empgan.train.step import TrainStep


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn, repeat: int, device: torch.device) -> float:
    times = []
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def count_flops(fn) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def cell_config(kind: str, patch_num: int, resolution: int, batch: int, device: str, overrides: dict):
    over = {"resolution": resolution, "batch": batch, "pretrained": False, "patch_num": patch_num,
            "emp": kind == "EG", "prob": 1 if kind == "EG" else 0, "device": device}
    return build_config(deep_merge(over, overrides))


def run_cell(kind: str, patch_num: int, resolution: int, batch: int, repeat: int, device_name: str,
             overrides: dict) -> dict:
    """One (size, model) cell, in this process: times, FLOPs and memory of the D and G steps."""
    device = torch.device(device_name)
    torch.manual_seed(0)
    cfg = cell_config(kind, patch_num, resolution, batch, device_name, overrides)
    model = EMPGAN(cfg).to(device).train()
    step = TrainStep(model, cfg, device)
    real = torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1   # [B, 3, R, R]
    d_step = lambda: step.d_step(real, torch.randn(batch, model.z_dim, device=device))  # noqa: E731
    g_step = lambda: step.g_step(torch.randn(batch, model.z_dim, device=device))        # noqa: E731

    sync(device)
    rss_before = rss_bytes()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        allocated_before = torch.cuda.memory_allocated(device)
    d_step(), g_step()                                                      # warm-up (and compile)
    d_ms, g_ms = median_ms(d_step, repeat, device), median_ms(g_step, repeat, device)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        memory = {"peak_gb": peak / 2**30, "step_peak_gb": (peak - allocated_before) / 2**30}
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024        # Linux: KiB
        memory = {"peak_gb": peak / 2**30, "step_peak_gb": (peak - rss_before) / 2**30}
    return {"d_ms": d_ms, "g_ms": g_ms, "d_flops": count_flops(d_step), "g_flops": count_flops(g_step), **memory}


def projector_params(resolution: int, reduce: bool, length: int = 32, hidden: int | None = None) -> int:
    over = {"resolution": resolution, "pretrained": False, "emp": True, "len": length, "proj_reduce": reduce}
    if hidden:
        over["emp_loss"] = {"hidden": hidden}
    return sum(p.numel() for p in EMPGAN(build_config(over)).projector.parameters())


def machine_name(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}"
    return f"{platform.machine()} {os.cpu_count()} CPUs, {threads} torch threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,64,256")
    parser.add_argument("--batches", default="16,8,8", help="batch per size, in the order of --sizes")
    parser.add_argument("--patches", default="1,2,4,8")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every cell, e.g. perf.channels_last=false")
    parser.add_argument("--append", type=Path, help="append the table to this Markdown file")
    parser.add_argument("--cell", help=argparse.SUPPRESS)                  # internal: KIND,PATCH,SIZE,BATCH
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.overrides)
    if args.cell:
        kind, patch, size, batch = args.cell.split(",")
        print(json.dumps(run_cell(kind, int(patch), int(size), int(batch), args.repeat, args.device, overrides)))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    if len(batches) != len(sizes):
        parser.error(f"--batches has {len(batches)} entries for {len(sizes)} sizes")
    device = torch.device(args.device)
    title = (f"### bench_model: train steps ({datetime.date.today()}, {machine_name(device, torch.get_num_threads())}, "
             f"torch {torch.__version__}, THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE')})")
    lines = [title, "", "`" + " ".join(["python", *sys.argv]) + "`", "",
             "| size | batch | model | D ms | G ms | D GFLOP | G GFLOP | ms/kimg | img/s | peak GB | step peak GB "
             "| time EG/PG | FLOP EG/PG | excess |",
             "|---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    passthrough = ["--repeat", str(args.repeat), "--device", args.device]
    passthrough += ["--threads", str(args.threads)] if args.threads else []
    for item in args.overrides:
        passthrough += ["--set", item]
    for size, batch in zip(sizes, batches):
        base = None
        for kind, patch in [("PG", 1)] + [("EG", int(p)) for p in args.patches.split(",")]:
            out = subprocess.run([sys.executable, __file__, "--cell", f"{kind},{patch},{size},{batch}", *passthrough],
                                 check=True, capture_output=True, text=True).stdout
            cell = json.loads(out.strip().splitlines()[-1])
            ms, flops = cell["d_ms"] + cell["g_ms"], cell["d_flops"] + cell["g_flops"]
            base = base or (ms, flops)
            time_ratio, flop_ratio = ms / base[0], flops / base[1]
            name = "PG" if kind == "PG" else f"EG patch {patch}"
            line = (f"| {size} | {batch} | {name} | {cell['d_ms']:.0f} | {cell['g_ms']:.0f} | {cell['d_flops'] / 1e9:.1f} | "
                    f"{cell['g_flops'] / 1e9:.1f} | {ms / batch * 1000:.0f} | {batch / ms * 1000:.2f} | "
                    f"{cell['peak_gb']:.2f} | {cell['step_peak_gb']:.2f} | {time_ratio:.2f} | {flop_ratio:.2f} | "
                    f"{time_ratio / flop_ratio - 1:+.0%} |")
            lines.append(line)
            print(line, flush=True)
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
