"""The table: one row per configuration (its seeds grouped) or per run, one column per milestone."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from empgan.report.labels import HEADLINE, SEPARATOR, config_key, make_labels
from empgan.report.settings import fid_settings, header_line
from empgan.report.units import format_duration, format_milestone

if TYPE_CHECKING:  # types only: the command line imports this module without MLflow
    from empgan.report.collect import Trial

# status -> (suffix on the row label, legend text); completed rows carry none.
MARKERS = {"stopped_early": ("†", "stopped early by the scheduler"), "diverged": ("‡", "diverged"),
           "failed": ("§", "failed"), "running": ("*", "still running")}


@dataclass
class Point:
    fid: float             # mean over the runs of the row that reached this step
    std: float | None      # sample standard deviation (n - 1) when two or more runs reached it
    time_s: float | None   # mean wall-clock (training + evaluation) of those runs
    n: int                 # runs that reached this step
    of: int                # runs in the row

    def fid_text(self) -> str:
        return f"{self.fid:.2f}" + (f"±{self.std:.2f}" if self.std is not None else "")

    def rest_text(self) -> str:
        time = f"/{format_duration(self.time_s)}" if self.time_s is not None else ""
        return time + (f" ({self.n}/{self.of})" if self.n < self.of else "")


@dataclass
class Row:
    label: str                 # with the run count of a group and the status markers
    points: dict[int, Point]   # every step (kimg) at which a run of the row logged an FID


@dataclass
class Table:
    experiment: str
    header: str
    milestones: list[int]      # kimg
    rows: list[Row]
    notes: list[str]           # below the table: what cells mean, which markers are used
    best: dict[int, float]     # milestone -> lowest FID of a column with 2+ values, as displayed (2 decimals)

    def columns(self) -> list[str]:
        return ["Config"] + [format_milestone(m) for m in self.milestones]

    def cell(self, row: Row, milestone: int) -> tuple[str, str, bool] | None:
        """(FID text, '/time' text, is the best FID of its column) or None for an empty cell."""
        point = row.points.get(milestone)
        if point is None:
            return None
        return point.fid_text(), point.rest_text(), round(point.fid, 2) == self.best.get(milestone)


def build_table(experiment: str, trials: list[Trial], milestones: list[int] | None = None,
                by_seed: bool = False) -> Table:
    header = header_line(experiment, fid_settings(experiment, trials))
    groups: dict[tuple, list[Trial]] = {}
    for trial in trials:
        key = (trial.run_id,) if by_seed else config_key(trial.kind, trial.params)
        groups.setdefault(key, []).append(trial)
    members = list(groups.values())
    labels = make_labels([(g[0].kind, g[0].params) for g in members])
    order = sorted(range(len(members)), key=lambda i: _sort_key(members[i][0], labels[i]))

    rows, seen = [], set()
    for i in order:
        group = members[i]
        label = labels[i]
        if by_seed:
            label += f"{SEPARATOR.get(group[0].kind, ',')}seed={group[0].params.get('seed', '?')}"
        elif len(group) > 1:
            label += f" ({len(group)} runs)"
        if label in seen:  # the same configuration and seed twice: tell the runs apart
            label += f" [{group[0].run_id[:8]}]"
        seen.add(label)
        label += "".join(MARKERS[s][0] for s in MARKERS if any(t.status == s for t in group))
        rows.append(Row(label, _points(group)))

    steps = sorted({s for t in trials for s in t.fid}) if milestones is None else list(milestones)
    return Table(experiment, header, steps, rows, _notes(trials, members), _best(rows, steps))


def _best(rows: list[Row], milestones: list[int]) -> dict[int, float]:
    best = {}
    for m in milestones:
        values = [round(r.points[m].fid, 2) for r in rows if m in r.points and math.isfinite(r.points[m].fid)]
        if len(values) > 1:  # a lone value is no comparison: nothing is bold
            best[m] = min(values)
    return best


def _points(group: list[Trial]) -> dict[int, Point]:
    points = {}
    for step in sorted({s for t in group for s in t.fid}):
        fids = [t.fid[step] for t in group if step in t.fid]
        times = [t.wall_clock_s[step] for t in group if step in t.fid and step in t.wall_clock_s]
        points[step] = Point(statistics.fmean(fids), statistics.stdev(fids) if len(fids) > 1 else None,
                             statistics.fmean(times) if times else None, len(fids), len(group))
    return points


def _number(value: str | None) -> tuple:
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


def _sort_key(trial: Trial, label: str) -> tuple:
    """PG rows first; then by the headline keys as numbers (patch, prob, batch, w, len), then the label."""
    headline = tuple(_number(trial.params.get(key)) for _, key in HEADLINE.get(trial.kind, ()))
    return (trial.kind != "PG", trial.kind, headline, label, _number(trial.params.get("seed")))


def _notes(trials: list[Trial], groups: list[list[Trial]]) -> list[str]:
    """Lines under the table (no commas: they are CSV comments too)."""
    notes = ["Cells: FID/time at that many real images shown (M = million); time = wall-clock since the trial "
             "started (training + FID) rounded down to whole minutes; best FID of each column (of 2+ values) in bold."]
    if any(len(g) > 1 for g in groups):
        notes.append("Rows of several runs (seeds): mean±std (sample std) of FID/mean time; "
                     "(k/n): k of the n runs reached that milestone.")
    used = [f"{mark} {text}" for status, (mark, text) in MARKERS.items() if any(t.status == status for t in trials)]
    if used:
        notes.append("; ".join(used))
    return notes
