"""FIDs share a table only when they were measured the same way; the header says which way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from empgan.errors import UserError
from empgan.report.units import format_value

if TYPE_CHECKING:  # types only: the command line imports this module without MLflow
    from empgan.report.collect import Trial

# (where, key): what an FID depends on besides the generator.
FID_SETTINGS = (("params", "data"), ("params", "resolution"), ("params", "fid_samples"),
                ("params", "eval.fid_real_images"), ("tags", "fid_weights_sha1"), ("tags", "dataset_hash"))


def fid_settings(experiment: str, trials: list[Trial]) -> dict[str, str | None]:
    """The FID settings shared by every trial that logged an FID; UserError naming the first key that differs."""
    measured = [t for t in trials if t.fid] or trials
    settings: dict[str, str | None] = {}
    for where, key in FID_SETTINGS:
        groups: dict[str | None, list[Trial]] = {}
        for trial in measured:
            value = getattr(trial, where).get(key)
            groups.setdefault(None if value is None else format_value(value), []).append(trial)
        if len(groups) > 1:
            ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), str(kv[0])))  # most runs first
            raise UserError(f"experiment '{experiment}' mixes FID settings, whose FIDs are not comparable: {key} is "
                            + " vs ".join(f"{'(missing)' if v is None else v} in {len(ts)} run{'s' * (len(ts) > 1)} "
                                          f"(e.g. '{ts[0].name}')" for v, ts in ranked)
                            + f"; select one with --filter \"{where}.`{key}` = '{ranked[0][0] or ''}'\"")
        settings[key] = next(iter(groups))
    return settings


def header_line(experiment: str, settings: dict[str, str | None]) -> str:
    """One line, without commas (it is a CSV comment too)."""
    real = settings["eval.fid_real_images"]
    real_text = "all real images" if real in (None, "0") else f"{real} real images"
    sha1 = settings["fid_weights_sha1"]
    res = settings["resolution"]
    return (f"Experiment {experiment} · dataset {settings['data']} · {res}x{res} · "
            f"FID of {settings['fid_samples']} samples vs {real_text} · FID weights sha1 {sha1[:8] if sha1 else 'unknown'}")
