"""On-disk cache of real-set FID statistics (mu, sigma) as .npz files.

One file per (image set content, subset, Inception weights, resize mode); the file name is a hash of
that key and the key is stored inside, so a stale or foreign file is recomputed, never trusted.
Writes are atomic (temp file + rename): concurrent trials that compute the same statistics race
harmlessly.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ENV_CACHE_DIR = "EMPGAN_CACHE"
STATS_SUBDIR = "fid_stats"


def default_cache_dir() -> Path:
    """$EMPGAN_CACHE, else ~/.cache/empgan."""
    return Path(os.environ.get(ENV_CACHE_DIR) or Path.home() / ".cache" / "empgan").expanduser()


def stats_key(content_hash: str, subset: str, weights_sha1: str, mode: str) -> str:
    return f"content={content_hash}|subset={subset}|weights_sha1={weights_sha1}|mode={mode}"


def stats_path(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / STATS_SUBDIR / (hashlib.sha1(key.encode()).hexdigest()[:24] + ".npz")


def load_stats(path: Path, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(mu [d], sigma [d, d]) stored under `key` at `path`, or None when absent, foreign or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            return data["mu"], data["sigma"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def save_stats(path: Path, key: str, mu: np.ndarray, sigma: np.ndarray, num_images: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, key=np.array(key), mu=mu, sigma=sigma, num_images=np.array(num_images))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
