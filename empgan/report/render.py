"""The table as Markdown, CSV, LaTeX or HTML text. Every format has the same cells; only markup differs."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

from empgan.errors import UserError

if TYPE_CHECKING:  # types only: the command line imports this module without MLflow
    from empgan.report.table import Table

FORMATS = ("md", "csv", "latex", "html")
SUFFIX_FORMATS = {".md": "md", ".csv": "csv", ".tex": "latex", ".html": "html", ".htm": "html"}


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UserError(f"unknown table format '{fmt}'; allowed: {', '.join(FORMATS)}")
    return fmt


def format_for_output(output: str | None) -> str:
    """The format a file name asks for (table.tex -> latex; no suffix or .txt -> Markdown)."""
    if not output:
        return "md"
    suffix = Path(output).suffix.lower()
    if suffix in ("", ".txt"):
        return "md"
    if suffix not in SUFFIX_FORMATS:
        raise UserError(f"--output {output!r}: no table format writes '{suffix}' files; use a name ending in "
                        f"{', '.join(SUFFIX_FORMATS)} (or .txt for Markdown), or pass --format")
    return SUFFIX_FORMATS[suffix]


def check_output_path(output: str | None) -> None:
    """An --output that is a folder, or inside a file, is refused before MLflow is read."""
    if not output:
        return
    path = Path(output)
    if path.is_dir():
        raise UserError(f"--output {output!r} is a folder; give a file name such as {str(path / 'table.md')!r}")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UserError(f"--output {output!r}: {str(parent)!r} is a file, not a folder")


def render(table: Table, fmt: str) -> str:
    return {"md": render_md, "csv": render_csv, "latex": render_latex, "html": render_html}[check_format(fmt)](table)


def _cells(table: Table, bold) -> list[list[str]]:
    """Body rows: the label, then one text per milestone ('' when the row never reached it)."""
    out = []
    for row in table.rows:
        cells = [row.label]
        for m in table.milestones:
            cell = table.cell(row, m)
            cells.append("" if cell is None else (bold(cell[0]) if cell[2] else cell[0]) + cell[1])
        out.append(cells)
    return out


def render_md(table: Table) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("*", "\\*")

    lines = [table.header, "", "| " + " | ".join(table.columns()) + " |",
             "|" + "|".join([":---"] + ["---:"] * len(table.milestones)) + "|"]
    for row in _cells(table, lambda fid: f"**{fid}**"):
        lines.append("| " + " | ".join([esc(row[0])] + row[1:]) + " |")
    for note in table.notes:  # paragraphs: Markdown joins consecutive lines
        lines += ["", esc(note)]
    return "\n".join(lines) + "\n"


def render_csv(table: Table) -> str:
    """Plain cells (no bold), with the header and the notes as '#' comment lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f"# {table.header}"])
    writer.writerow(table.columns())
    writer.writerows(_cells(table, lambda fid: fid))
    writer.writerows([f"# {note}"] for note in table.notes)
    return buffer.getvalue()


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "±": r"$\pm$", "†": r"$^\dagger$", "‡": r"$^\ddagger$", "§": r"$^\S$", "*": r"$^*$", "·": r"$\cdot$"}


def _latex(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def render_latex(table: Table) -> str:
    """A tabular (column spec: l, then r per milestone); the header and notes as % comments above it."""
    lines = [f"% {table.header}"] + [f"% {note}" for note in table.notes]
    lines += [r"\begin{tabular}{l" + "r" * len(table.milestones) + "}", r"\hline",
              " & ".join(_latex(c) for c in table.columns()) + r" \\", r"\hline"]
    for row in _cells(table, lambda fid: "\0" + fid + "\1"):
        lines.append(" & ".join(_latex(c).replace("\0", r"\textbf{").replace("\1", "}") for c in row) + r" \\")
    return "\n".join(lines + [r"\hline", r"\end{tabular}"]) + "\n"


def render_html(table: Table) -> str:
    """An HTML fragment in ASCII (non-ASCII as character references), best FIDs in <b>."""
    def esc(text: str) -> str:
        return html.escape(text).replace("\0", "<b>").replace("\1", "</b>")

    lines = [f"<p>{esc(table.header)}</p>", "<table>", "<thead>",
             "<tr>" + "".join(f"<th>{esc(c)}</th>" for c in table.columns()) + "</tr>", "</thead>", "<tbody>"]
    for row in _cells(table, lambda fid: "\0" + fid + "\1"):
        lines.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    lines += ["</tbody>", "</table>"] + [f"<p>{esc(note)}</p>" for note in table.notes]
    return ("\n".join(lines) + "\n").encode("ascii", "xmlcharrefreplace").decode("ascii")
