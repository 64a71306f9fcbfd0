"""FID of a generator (sampled in memory) against a real image set, clean-fid 'clean' mode.

    evaluator = FIDEvaluator(cfg.eval.fid_weights, device, cfg.eval.fid_batch, cfg.eval.cache_dir)
    value = evaluator.fid(image_set, generator_sampler(G_ema, cfg.model.z_dim, device, seed=0),
                          num=cfg.fid_samples, max_real_images=cfg.eval.fid_real_images)

Every FID value should be logged with `evaluator.weights_sha1`, which names the feature extractor.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch

from empgan.errors import UserError
from empgan.metrics.frechet import frechet_distance
from empgan.metrics.inception import FEATURE_DIM, RESIZE_MODE, InceptionFeatures
from empgan.metrics.inception_weights import file_sha1, resolve_inception_weights
from empgan.metrics.stats_cache import default_cache_dir, load_stats, save_stats, stats_key, stats_path

log = logging.getLogger(__name__)

SUBSET_SEED = 0  # the fixed subset of real images when max_images is below the set's size

Generate = Callable[[int], torch.Tensor]  # n -> uint8 [n, 3, R, R]


class ImageSetLike(Protocol):
    images: torch.Tensor   # uint8 [N, 3, R, R]
    content_hash: str


def to_uint8_pixels(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 [0, 255]: floor(127.5 x + 128) clamped, as StyleGAN2-ADA
    does; i.e. 127.5 (x + 1) rounded half up: -1 -> 0, 0 -> 128, 1 -> 255."""
    return (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def generator_sampler(G: torch.nn.Module, z_dim: int, device: torch.device | str, seed: int = 0) -> Generate:
    """generate(n) -> uint8 [n, 3, R, R] from G(z), z ~ N(0, I) [n, z_dim] from a seeded CPU generator.

    Successive calls continue the latent stream, so a fresh sampler per evaluation gives the same latents at
    every milestone. G runs in eval mode under inference_mode; its previous mode is restored. Nothing is written to disk.
    """
    latents = torch.Generator().manual_seed(seed)

    def generate(n: int) -> torch.Tensor:
        z = torch.randn(n, z_dim, generator=latents).to(device)          # [n, z_dim]
        was_training = G.training
        G.eval()
        try:
            with torch.inference_mode():
                images = G(z)                                            # [n, 3, R, R], about [-1, 1]
        finally:
            G.train(was_training)
        return to_uint8_pixels(images)                                   # [n, 3, R, R] uint8

    return generate


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """features [N, d] -> (mu [d], sigma [d, d]) in float64, as clean-fid (np.mean, np.cov rowvar=False)."""
    features = features.astype(np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def real_subset_indices(num_images: int, max_images: int) -> torch.Tensor | None:
    """Sorted indices of the fixed seeded subset of `max_images` images, or None for all of them."""
    if max_images <= 0 or max_images >= num_images:
        return None
    order = torch.randperm(num_images, generator=torch.Generator().manual_seed(SUBSET_SEED))
    return order[:max_images].sort().values


def _check_sample_count(num: int, what: str) -> None:
    if num < 2:
        raise UserError(f"FID needs at least 2 {what}, got {num}")
    if num < FEATURE_DIM:
        warnings.warn(f"FID from {num} {what} (< {FEATURE_DIM} feature dimensions): the covariance is "
                      "rank-deficient and the FID is biased upwards; compare only values made with the same count",
                      stacklevel=3)


class FIDEvaluator:
    """Inception features, real-set statistics (cached on disk) and generator statistics for FID."""

    def __init__(self, weights: str | None = None, device: torch.device | str = "cpu", batch: int = 100,
                 cache_dir: str | None = None):
        if batch < 1:
            raise UserError(f"FID batch must be >= 1, got {batch}")
        self.weights_path: Path = resolve_inception_weights(weights)
        self.weights_sha1: str = file_sha1(self.weights_path)
        self.device = torch.device(device)
        self.batch = batch
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.images_featurized = 0   # images that went through Inception (a cache hit adds none)
        self._inception: InceptionFeatures | None = None

    @property
    def inception(self) -> InceptionFeatures:
        if self._inception is None:  # loaded on first use: a cache hit never needs it
            self._inception = InceptionFeatures(self.weights_path, self.device)
        return self._inception

    def features_of_images(self, images_uint8: torch.Tensor) -> np.ndarray:
        """uint8 [N, 3, H, W] -> float32 [N, 2048], one Inception forward per `batch` images."""
        chunks = [self.inception(images_uint8[i:i + self.batch]) for i in range(0, len(images_uint8), self.batch)]
        self.images_featurized += len(images_uint8)
        return np.concatenate(chunks) if chunks else np.zeros((0, FEATURE_DIM), np.float32)

    def real_stats_path(self, image_set: ImageSetLike, max_images: int = 0) -> Path:
        return stats_path(self.cache_dir, self._real_stats_key(image_set, max_images))

    def _real_stats_key(self, image_set: ImageSetLike, max_images: int) -> str:
        num_images = len(image_set.images)
        subset = "all" if real_subset_indices(num_images, max_images) is None else f"{max_images}of{num_images}:seed{SUBSET_SEED}"
        return stats_key(image_set.content_hash, subset, self.weights_sha1, RESIZE_MODE)

    def real_stats(self, image_set: ImageSetLike, max_images: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(mu [2048], sigma [2048, 2048]) of all images (max_images 0) or a fixed seeded subset; cached on disk."""
        key = self._real_stats_key(image_set, max_images)
        path = stats_path(self.cache_dir, key)
        cached = load_stats(path, key)
        if cached is not None:
            log.info("FID real statistics loaded from %s", path)
            return cached
        indices = real_subset_indices(len(image_set.images), max_images)
        images = image_set.images if indices is None else image_set.images[indices]   # [n, 3, R, R] uint8
        _check_sample_count(len(images), "real images")
        mu, sigma = gaussian_stats(self.features_of_images(images))
        save_stats(path, key, mu, sigma, len(images))
        log.info("FID real statistics of %d images saved to %s", len(images), path)
        return mu, sigma

    def generator_stats(self, generate: Generate, num: int) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma) of `num` images from generate(n) -> uint8 [n, 3, R, R], drawn `batch` at a time."""
        _check_sample_count(num, "generated samples")
        chunks = []
        for start in range(0, num, self.batch):
            n = min(self.batch, num - start)
            images = generate(n)                                                   # [n, 3, R, R] uint8
            if images.dtype != torch.uint8 or tuple(images.shape[:2]) != (n, 3):
                raise ValueError(f"generate({n}) must return uint8 [{n}, 3, R, R], got {images.dtype} "
                                 f"{tuple(images.shape)} (map [-1, 1] output with to_uint8_pixels)")
            chunks.append(self.features_of_images(images))
        return gaussian_stats(np.concatenate(chunks))

    def fid(self, image_set: ImageSetLike, generate: Generate, num: int, max_real_images: int = 0) -> float:
        """FID of `num` generated images against the (cached) statistics of the real set."""
        mu_real, sigma_real = self.real_stats(image_set, max_real_images)
        mu_fake, sigma_fake = self.generator_stats(generate, num)
        return frechet_distance(mu_fake, sigma_fake, mu_real, sigma_real)
