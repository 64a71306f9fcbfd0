"""Trial checkpoints: one file of plain state dicts, counters, RNG states and the resolved config.

Loadable with `torch.load(weights_only=True)`; written atomically (temp file, then rename).
Layout under a run dir:
    checkpoints/kimg-000100.000/checkpoint.pt   one folder per milestone (what Ray copies), last N kept
    checkpoints/best/checkpoint.pt              the best FID so far (kept when the trial diverges)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from empgan.config import build_config, resume_differences, TrainConfig
from empgan.errors import UserError, first_line

CHECKPOINT_FILE = "checkpoint.pt"


def checkpoint_dir_name(kimg: float) -> str:
    return f"kimg-{kimg:010.3f}"


def save_checkpoint(state: dict, folder: Path) -> Path:
    """Write `state` to folder/checkpoint.pt atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, folder / CHECKPOINT_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / CHECKPOINT_FILE


def copy_checkpoint(src_folder: Path, dst_folder: Path) -> None:
    """Atomically replace dst_folder's checkpoint with src_folder's (used for `best`)."""
    dst_folder.mkdir(parents=True, exist_ok=True)
    tmp = dst_folder / ".checkpoint-copy.tmp"
    shutil.copyfile(src_folder / CHECKPOINT_FILE, tmp)
    os.replace(tmp, dst_folder / CHECKPOINT_FILE)


def prune_checkpoints(root: Path, keep_last: int) -> None:
    """Keep the newest `keep_last` milestone folders (and `best`)."""
    folders = sorted(p for p in root.glob("kimg-*") if p.is_dir())
    for old in folders[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)


def find_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, a checkpoint folder, or a run dir (its newest milestone checkpoint)."""
    path = Path(path)
    if path.is_file():
        return path
    if (path / CHECKPOINT_FILE).is_file():
        return path / CHECKPOINT_FILE
    folders = sorted((path / "checkpoints").glob("kimg-*/" + CHECKPOINT_FILE))
    if folders:
        return folders[-1]
    raise UserError(f"no checkpoint at '{path}' (expected a {CHECKPOINT_FILE}, its folder, or a run dir with checkpoints/)")


def run_dir_of(checkpoint_file: Path) -> Path:
    """The run dir a checkpoint file belongs to (<run>/checkpoints/<name>/checkpoint.pt), else its folder."""
    folder = checkpoint_file.parent
    return folder.parent.parent if folder.parent.name == "checkpoints" else folder


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    file = find_checkpoint(path)
    try:
        state = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt / truncated / not a checkpoint
        first = first_line(exc)
        raise UserError(f"checkpoint '{file}' cannot be read: {first[:300]}") from None
    missing = [k for k in ("config", "model", "G_ema", "counters") if not isinstance(state, dict) or k not in state]
    if missing:
        raise UserError(f"'{file}' is not an empgan checkpoint (no {', '.join(missing)}); "
                        "expected a checkpoint.pt written by empgan train or a sweep")
    return state


def load_module_state(module: torch.nn.Module, state: dict, part: str, file: str) -> None:
    """module.load_state_dict, with a checkpoint of another model layout as a one-line UserError."""
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:   # a tensor of another shape
        raise UserError(f"checkpoint '{file}' does not fit this model ({part}): {first_line(exc)[:300]}") from None
    if missing or unexpected:
        found = [f"{len(missing)} missing (first {missing[0]!r})"] if missing else []
        found += [f"{len(unexpected)} unexpected (first {unexpected[0]!r})"] if unexpected else []
        raise UserError(f"checkpoint '{file}' does not fit this model ({part}: {len(state)} tensors, "
                        f"{'; '.join(found)}); it was written by another empgan version, e.g. one from before "
                        "the frozen feature stages' BatchNorms were folded (issue 7), which cannot be resumed")


def check_resume_config(saved: dict, cfg: TrainConfig, file: str) -> None:
    """Refuse a resume whose config differs in anything but total_kimg, milestones and evaluation settings."""
    from empgan.config import to_dict

    diff = resume_differences(saved, to_dict(cfg))
    if diff:
        from empgan.config import flatten
        a, b = flatten(saved), flatten(to_dict(cfg))
        shown = "; ".join(f"{k}: checkpoint {a.get(k)!r} vs now {b.get(k)!r}" for k in diff[:6])
        more = f" (+{len(diff) - 6} more)" if len(diff) > 6 else ""
        raise UserError(f"resume refused: config differs from checkpoint '{file}' in {shown}{more}")


def load_generator(path: str | os.PathLike, device="cpu"):
    """(G_ema in eval mode, its TrainConfig) from a checkpoint; used by `empgan fid` on checkpoints."""
    from empgan.model.generator import Generator  # noqa: the model is built by its own module

    state = load_checkpoint(path)
    cfg = build_config(state["config"], str(path))
    G = Generator.from_config(cfg)
    load_module_state(G, state["G_ema"], "G_ema", str(path))
    return G.to(device).eval().requires_grad_(False), cfg
