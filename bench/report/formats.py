"""The AUC table's formats: text, github/markdown, csv, json, latex, html; plain tables too.

:func:`render` writes an :class:`~bench.report.table.AucTable` in one of ``FORMATS``; the
text table fits the terminal with the most detail that fits. The JSON schema (``SCHEMA``,
``SCHEMA_VERSION``) is documented in the README. :func:`tabular` writes the other tables
(next-item, statistics, a plugin's) in the same formats.
"""

from __future__ import annotations

import csv
import html
import io
import json
import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import replace

from tabulate import tabulate

from bench.report.table import (
    DETAIL,
    AucTable,
    Cell,
    auc_table_data,
    cell_text,
    grid_rows,
    headers,
    legend,
    paper_text,
)
from bench.store.records import RunRecord

FORMATS = ("text", "github", "markdown", "csv", "json", "latex", "html")
MACHINE_FORMATS = ("csv", "json")  # data alone: no notes, statistics or text around it
SCHEMA = "tallrec-bench/auc-table"
SCHEMA_VERSION = 1
TEXT_WIDTH = 120  # the text table's width when the terminal's is unknown (a pipe, CI)
TABULATE = {
    "text": "simple",
    "github": "github",
    "markdown": "github",
    "latex": "latex_booktabs",
    "html": "html",
}


def tabular(rows: Sequence[Sequence[str]], header: Sequence[str], fmt: str) -> str:
    """A plain table (next-item, statistics, a plugin's) in one of ``FORMATS``.

    csv is RFC 4180; json a list of objects keyed by ``header``; the others tabulate's.
    """
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerows([header, *rows])
        return buffer.getvalue()
    if fmt == "json":
        return json.dumps([dict(zip(header, row, strict=True)) for row in rows], indent=2)
    return tabulate(rows, headers=header, tablefmt=TABULATE.get(fmt, fmt), disable_numparse=True)


def wrap(text: str, width: int | None = None) -> str:
    """A note's line(s) wrapped to ``width`` (default: the terminal's), continuations indented."""
    return textwrap.fill(
        text, width or terminal_width(), subsequent_indent="    ", break_on_hyphens=False
    )


def terminal_width() -> int:
    """The terminal's columns, or ``TEXT_WIDTH`` when output is not a terminal."""
    return shutil.get_terminal_size((TEXT_WIDTH, 24)).columns


def render(table: AucTable, fmt: str, with_paper: bool = False, width: int | None = None) -> str:
    """``table`` in one of ``FORMATS``; ``text`` fits ``width`` (default: the terminal)."""
    if fmt == "json":
        return json.dumps(to_json(table), indent=2, sort_keys=True, allow_nan=False)
    if fmt == "csv":
        return to_csv(table)
    if fmt == "latex":
        return to_latex(table, with_paper)
    if fmt == "html":
        return to_html(table, with_paper)
    if fmt == "text":
        width = width or terminal_width()
        for detail in DETAIL:  # the most detail that fits
            text = tabulate(
                grid_rows(table, with_paper, detail),
                headers=["runner", *headers(table)],
                tablefmt="simple",
                disable_numparse=True,
            )
            if max(map(len, text.splitlines())) <= width:
                break
        lines = legend(table, with_paper, detail)
        return text + "\n\n" + "\n".join(wrap(line, width) for line in lines)
    grid = tabulate(  # github / markdown: the complete content
        grid_rows(table, with_paper, "n"),
        headers=["runner", *headers(table)],
        tablefmt="github",
        disable_numparse=True,
    )
    return grid + "\n\n" + "\n".join(f"- {line}" for line in legend(table, with_paper))


def to_json(table: AucTable) -> dict:
    """The documented JSON form: per cell its AUCs by seed, mean, std, CI, n, paper value."""
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "task": "like",
        "metric": "auc_x100",
        "seeds_expected": table.seeds,
        "columns": [{"domain": d, "shots": k} for d, k in table.columns],
        "rows": [
            {
                "runner": row.runner,
                "runner_label": row.runner_label,
                "label": row.label,
                "variant": row.variant,
                "model": row.model,
                "test_limit": row.test_limit,
                "note": row.note,
                "in_paper": row.in_paper,
                "cells": [
                    {
                        "domain": cell.domain,
                        "shots": cell.shots,
                        "status": cell.status,
                        "by_seed": {str(seed): value for seed, value in cell.by_seed},
                        "n": cell.n,
                        "mean": cell.mean,
                        "std": cell.std,
                        "ci95": list(cell.ci95) if cell.ci95 else None,
                        "best": cell.best,
                        "paper": cell.paper,
                    }
                    for cell in row.cells
                ],
            }
            for row in table.rows
        ],
        "notes": list(table.notes),
    }


CSV_COLUMNS = (
    "runner",
    "runner_label",
    "label",
    "model",
    "test_limit",
    "domain",
    "shots",
    "status",
    "n",
    "mean",
    "std",
    "ci95_low",
    "ci95_high",
    "best",
    "paper",
    "seeds",
    "auc_by_seed",
)


def to_csv(table: AucTable) -> str:
    """RFC 4180 CSV, one line per table cell (AUC x 100; empty where there is no value)."""

    def number(value: float | None) -> str:
        return "" if value is None else repr(value)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in table.rows:
        for cell in row.cells:
            low, high = cell.ci95 or (None, None)
            writer.writerow(
                [
                    row.runner,
                    row.runner_label,
                    row.label,
                    row.model,
                    row.test_limit,
                    cell.domain,
                    cell.shots,
                    cell.status,
                    cell.n,
                    number(cell.mean),
                    number(cell.std),
                    number(low),
                    number(high),
                    int(cell.best),
                    number(cell.paper),
                    " ".join(str(seed) for seed, _ in cell.by_seed),
                    " ".join(repr(value) for _, value in cell.by_seed),
                ]
            )
    return buffer.getvalue()


def _latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$")):
        text = text.replace(char, escaped)
    for char in "#_{}":
        text = text.replace(char, "\\" + char)
    return text.replace("~", r"\textasciitilde{}")


def to_latex(table: AucTable, with_paper: bool = False) -> str:
    """A booktabs table (needs the booktabs package): best mean bold, footnotes below."""

    def cell_tex(cell: Cell) -> str:
        if cell.mean is None:
            return "failed" if cell.status == "failed" else "--"
        text = f"{cell.mean:.2f}" + (f" $\\pm$ {cell.std:.2f}" if cell.std is not None else "")
        return f"\\textbf{{{text}}}" if cell.best else text

    domains = list(dict.fromkeys(d for d, _ in table.columns))
    spans = [sum(1 for d, _ in table.columns if d == domain) for domain in domains]
    lines = [
        "\\begin{tabular}{l" + "".join(" " + "r" * span for span in spans) + "}",
        "\\toprule",
        " & ".join(
            ["Runner"]
            + [
                f"\\multicolumn{{{span}}}{{c}}{{{domain.capitalize()}}}"
                for domain, span in zip(domains, spans, strict=True)
            ]
        )
        + " \\\\",
        "".join(
            f"\\cmidrule(lr){{{start}-{start + span - 1}}}"
            for start, span in zip(
                [2 + sum(spans[:i]) for i in range(len(spans))], spans, strict=True
            )
        ),
        " & ".join(["Shots"] + [str(k) for _, k in table.columns]) + " \\\\",
        "\\midrule",
    ]
    separated = False
    for row in table.rows:
        if not row.in_paper and not separated:
            lines.append("\\midrule")
            separated = True
        lines.append(
            " & ".join([_latex_escape(row.label)] + [cell_tex(c) for c in row.cells]) + " \\\\"
        )
        if with_paper and any(cell.paper is not None for cell in row.cells):
            lines.append(
                " & ".join(
                    ["\\quad paper"]
                    + ["" if c.paper is None else f"{c.paper:.2f}" for c in row.cells]
                )
                + " \\\\"
            )
    lines += ["\\bottomrule", "\\end{tabular}"]
    notes = [*table.notes, "AUC $\\times$ 100; mean $\\pm$ sample std over seeds; bold: best."]
    return "\n".join(lines) + "\n% " + "\n% ".join(_latex_escape(n) for n in notes)


def to_html(table: AucTable, with_paper: bool = False) -> str:
    """An HTML ``<table>`` (escaped; classes ``best``, ``paper``, ``missing``), notes below.

    A cell's title (shown on hover) lists its AUC per seed and its 95% CI.
    """

    def td(text: str, classes: str = "", title: str = "") -> str:
        attribute = (f' class="{classes}"' if classes else "") + (
            f' title="{html.escape(title)}"' if title else ""
        )
        return f"<td{attribute}>{html.escape(text)}</td>"

    def seeds(cell: Cell) -> str:
        values = ", ".join(f"seed {seed}: {value:.2f}" for seed, value in cell.by_seed)
        ci = f"; 95% CI [{cell.ci95[0]:.2f}, {cell.ci95[1]:.2f}]" if cell.ci95 else ""
        return values + ci

    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["runner", *headers(table)])
    body = []
    for row in table.rows:
        cells = "".join(
            td(
                cell_text(c, table.seeds),
                "best" if c.best else "" if c.mean is not None else "missing",
                seeds(c),
            )
            for c in row.cells
        )
        title = f' title="{html.escape(row.note)}"' if row.note else ""
        body.append(f'<tr><th scope="row"{title}>{html.escape(row.label)}</th>{cells}</tr>')
        if with_paper and any(cell.paper is not None for cell in row.cells):
            paper = "".join(td(paper_text(c)) for c in row.cells)
            body.append(f'<tr class="paper"><th scope="row">paper</th>{paper}</tr>')
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in legend(table, with_paper))
    return (
        f'<table class="auc"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
        f'</table>\n<ul class="notes">{notes}</ul>'
    )


def machine_table(
    records: Sequence[RunRecord],
    fmt: str,
    failed: frozenset[tuple[str, str, int]] = frozenset(),
    notes: Sequence[str] = (),
) -> str:
    """Csv or json of the same-domain and the cross-domain cells together, with ``notes``."""
    table = auc_table_data(records, failed)
    cross = auc_table_data(records, cross_domain=True)
    if fmt == "csv":
        return to_csv(replace(table, rows=table.rows + cross.rows))
    data = to_json(table)
    data["cross_domain"] = to_json(cross)["rows"]
    data["notes"] += list(notes)
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False)
