"""`export_table`: MLflow experiment -> table text (+ file), plots beside it and on the sweep's parent run."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mlflow.exceptions import MlflowException

from empgan.errors import UserError
from empgan.report.collect import collect
from empgan.report.plots import write_plots
from empgan.report.render import check_format, render
from empgan.report.source import mlflow_error, open_client
from empgan.report.table import build_table

ARTIFACT_DIR = "report"   # where the parent run keeps the table and the plots
TABLE_ARTIFACT = {"md": "table.md", "csv": "table.csv", "latex": "table.tex", "html": "table.html"}


def parse_milestones(milestones: str | Sequence[int] | None) -> list[int] | None:
    """'100,200,400' or [100, 200, 400] (kimg) -> sorted list; None -> None (every step with an FID)."""
    if milestones is None:
        return None
    tokens = milestones.split(",") if isinstance(milestones, str) else list(milestones)
    allowed = "expected comma-separated milestones in kimg (positive integers), e.g. 100,200,400"
    steps = []
    for token in tokens:
        text = str(token).strip()
        if not text.isdigit() or int(text) == 0:
            raise UserError(f"milestones '{milestones}': '{text}' is not a positive integer; {allowed}")
        steps.append(int(text))
    if not steps or len(set(steps)) != len(steps):
        raise UserError(f"milestones '{milestones}': {'empty' if not steps else 'repeated milestone'}; {allowed}")
    return sorted(steps)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "experiment"


def export_table(experiment: str, tracking_uri: str | None = None, milestones: str | Sequence[int] | None = None,
                 fmt: str = "md", output: str | Path | None = None, by_seed: bool = False,
                 filter_string: str | None = None, plot_dir: str | Path | None = None, plots: bool = True) -> str:
    """The table of an experiment's trials as text in `fmt` (md, csv, latex, html).

    output: also write the text there; the plots go beside it as `<stem>_fid_vs_kimg.png` and
    `<stem>_fid_vs_time.png`. Without output they go to `plot_dir` (default `./<experiment>_plots/`).
    The table (and the plots) are logged under `report/` on every sweep parent run with trials in the table.
    filter_string: an MLflow search filter AND-ed to the trial query, e.g. "params.fid_samples = '10000'".
    """
    check_format(fmt)
    steps = parse_milestones(milestones)
    client, uri = open_client(tracking_uri)
    found = collect(client, uri, experiment, filter_string)
    table = build_table(experiment, found.trials, steps, by_seed)
    text = render(table, fmt)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
    paths = []
    if plots:
        if output is not None:
            folder, stem = Path(output).parent, Path(output).stem
        else:
            folder, stem = Path(plot_dir) if plot_dir else Path.cwd() / f"{slug(experiment)}_plots", slug(experiment)
        paths = write_plots(table, folder, stem)
    try:
        for run_id in found.parent_ids:
            client.log_text(run_id, text, f"{ARTIFACT_DIR}/{TABLE_ARTIFACT[fmt]}")
            for path in paths:
                client.log_artifact(run_id, str(path), ARTIFACT_DIR)
    except MlflowException as exc:
        raise mlflow_error(uri, exc) from None
    return text


def print_table_for_sweep(experiment: str, tracking_uri: str | None) -> str:
    """For the sweep driver's last step: print the Markdown table and log it with its plots on the parent run."""
    with tempfile.TemporaryDirectory(prefix="empgan-table-") as folder:
        text = export_table(experiment, tracking_uri, plot_dir=folder)
    print(text, end="")
    return text
