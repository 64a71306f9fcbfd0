"""FID vs kimg and FID vs wall-clock, one line per table row (PNG, Agg canvas, no pyplot state)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from empgan.report.table import Table

MAX_LEGEND_ROWS = 20   # beyond this a legend hides the plot: lines are drawn unlabelled


def write_plots(table: Table, directory: Path, stem: str) -> list[Path]:
    """`<stem>_fid_vs_kimg.png` and `<stem>_fid_vs_time.png` in `directory`; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, xlabel, x_of in (("kimg", "real images shown (kimg)", lambda step, p: step),
                                 ("time", "wall-clock (hours, training + evaluation)",
                                  lambda step, p: None if p.time_s is None else p.time_s / 3600)):
        fig = Figure(figsize=(8, 5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for row in table.rows:
            xy = [(x_of(step, p), p) for step, p in sorted(row.points.items())]
            xy = [(x, p) for x, p in xy if x is not None]
            if not xy:
                continue
            xs, fids = [x for x, _ in xy], [p.fid for _, p in xy]
            line, = ax.plot(xs, fids, marker="o", markersize=3, label=row.label)
            stds = [p.std or 0.0 for _, p in xy]
            if any(stds):
                ax.fill_between(xs, [f - s for f, s in zip(fids, stds)], [f + s for f, s in zip(fids, stds)],
                                color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("FID (lower is better)")
        ax.set_title(table.header, fontsize=7)
        ax.grid(alpha=0.3)
        if len(table.rows) <= MAX_LEGEND_ROWS and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = directory / f"{stem}_fid_vs_{suffix}.png"
        fig.savefig(path)
        paths.append(path)
    return paths
