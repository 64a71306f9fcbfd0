"""FID sanity with the real Inception network: a set against itself, against a noisy copy; cached statistics."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from empgan.data import load_image_set
from empgan.metrics.fid import FIDEvaluator, generator_sampler, to_uint8_pixels
from empgan.metrics.frechet import frechet_distance

N_IMAGES = 200


class Images:
    def __init__(self, images, content_hash):
        self.images, self.content_hash = images, content_hash


@pytest.fixture(scope="module")
def digits():
    full = load_image_set("builtin:digits", 32)
    return Images(full.images[:N_IMAGES], full.content_hash + f"-first{N_IMAGES}")   # [200, 3, 32, 32] uint8


def test_fid_of_a_set_with_itself_is_below_one_and_noise_is_far(digits, tmp_path):
    evaluator = FIDEvaluator(device="cpu", batch=100, cache_dir=str(tmp_path))
    mu, sigma = evaluator.real_stats(digits)
    assert mu.shape == (2048,) and sigma.shape == (2048, 2048)
    # The same images as a generator would give them: FID of the set with itself.
    stream = iter(digits.images.split(100))
    same = evaluator.generator_stats(lambda n: next(stream), N_IMAGES)
    assert frechet_distance(*same, mu, sigma) < 1
    noise = torch.Generator().manual_seed(0)
    noisy = (digits.images.float() + 80 * torch.randn(digits.images.shape, generator=noise)).clamp(0, 255)
    stream = iter(noisy.to(torch.uint8).split(100))
    far = frechet_distance(*evaluator.generator_stats(lambda n: next(stream), N_IMAGES), mu, sigma)
    assert far > 50


def test_real_statistics_are_cached_and_reused(digits, tmp_path):
    first = FIDEvaluator(device="cpu", batch=100, cache_dir=str(tmp_path))
    mu, sigma = first.real_stats(digits)
    assert first.images_featurized == N_IMAGES
    assert first.real_stats_path(digits).is_file()
    second = FIDEvaluator(device="cpu", batch=100, cache_dir=str(tmp_path))
    mu2, sigma2 = second.real_stats(digits)
    assert second.images_featurized == 0 and second._inception is None   # Inception never even loaded
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(sigma, sigma2)
    # Another subset is another cache entry.
    third = FIDEvaluator(device="cpu", batch=100, cache_dir=str(tmp_path))
    third.real_stats(digits, max_images=100)
    assert third.images_featurized == 100


def test_generator_output_is_mapped_from_minus_one_one_to_uint8():
    x = torch.tensor([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0])
    assert to_uint8_pixels(x).tolist() == [0, 0, 128, 191, 255, 255]

    class Constant(torch.nn.Module):
        def forward(self, z):                                          # [n, z_dim] -> [n, 3, 8, 8]
            return torch.zeros(z.shape[0], 3, 8, 8)

    images = generator_sampler(Constant(), 4, "cpu")(5)
    assert images.dtype == torch.uint8 and images.shape == (5, 3, 8, 8) and int(images.unique()) == 128


def test_too_few_samples_are_refused_before_training():
    proc = subprocess.run([sys.executable, "-m", "empgan.cli", "train", "cpu_tiny", "--set", "fid_samples=100",
                           "--set", "eval.allow_few_fid_samples=false"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "config key 'fid_samples' = 100: is below eval.fid_min_samples (2048)" in proc.stderr
    assert "eval.allow_few_fid_samples=true" in proc.stderr


def test_fid_cli_between_two_folders(tmp_path):
    from PIL import Image
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        rng = np.random.default_rng(0 if name == "a" else 1)
        for i in range(20):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    env = {**__import__("os").environ, "EMPGAN_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "empgan.cli", "fid", str(tmp_path / "a"), str(tmp_path / "a"),
                           "--resolution", "32"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "FID 0.0000" in proc.stdout or "FID -0.0000" in proc.stdout
    assert "weights sha1 a16e4d89c0ecbc17a915dd76ea9e41211aa82562" in proc.stdout
