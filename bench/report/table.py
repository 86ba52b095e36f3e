"""The like/dislike AUC table as data, and its formats: text, markdown, csv, json, latex, html.

:func:`auc_table_data` turns records into an :class:`AucTable` (rows in the paper's order,
columns Movie 16/64/256 | Book 16/64/256, each cell's AUCs by seed); :func:`render` writes
it in one format. Row labels are short (the paper's name of the runner); a row's model,
changed settings and test subset go into a numbered footnote, so the text table fits a
terminal. The JSON schema (``SCHEMA``, ``SCHEMA_VERSION``) is documented in the README.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import shutil
import statistics
import textwrap
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tabulate import tabulate

from bench.report.paper import PAPER_AUC, PAPER_NAMES, SHOTS
from bench.store.records import RunRecord, runner_folder
from bench.store.scores import model_of

FORMATS = ("text", "github", "markdown", "csv", "json", "latex", "html")
MACHINE_FORMATS = ("csv", "json")  # data alone: no notes, statistics or text around it
SCHEMA = "tallrec-bench/auc-table"
SCHEMA_VERSION = 1
DOMAIN_ORDER = ("movie", "book")
TEXT_WIDTH = 120  # the text table's width when the terminal's is unknown (a pipe, CI)


@dataclass(frozen=True)
class Cell:
    """One (row, domain, shots) cell: AUC x 100 of each seed, and the paper's value."""

    domain: str
    shots: int
    by_seed: tuple[tuple[int, float], ...]  # (seed, AUC x 100), seeds ascending
    status: str  # "ok", "failed" (an error file, no record) or "not run"
    paper: float | None  # TALLRec's Table 1, for rows with the runner's own settings
    best: bool = False  # the best mean of its column

    @property
    def values(self) -> list[float]:
        """AUC x 100 of each seed."""
        return [value for _, value in self.by_seed]

    @property
    def n(self) -> int:
        """Seeds in the cell."""
        return len(self.by_seed)

    @property
    def mean(self) -> float | None:
        """Mean over seeds; None for a cell without records."""
        return statistics.fmean(self.values) if self.by_seed else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (ddof 1); None below two seeds."""
        return statistics.stdev(self.values) if self.n > 1 else None

    @property
    def ci95(self) -> tuple[float, float] | None:
        """95% Student t interval of the mean over seeds; None below two seeds."""
        if self.n < 2:
            return None
        from scipy.stats import t

        half = float(t.ppf(0.975, self.n - 1)) * self.std / math.sqrt(self.n)
        return self.mean - half, self.mean + half

    @property
    def paper_in_range(self) -> bool:
        """The paper's value lies within the range of several seeds (seed noise)."""
        return (
            self.paper is not None
            and self.n > 1
            and min(self.values) <= self.paper <= max(self.values)
        )


@dataclass(frozen=True)
class Row:
    """A runner with one set of settings: its short label, footnote and cells."""

    runner: str
    variant: str  # settings changed from the runner's defaults ('' for its own)
    test_limit: int
    model: str  # LLM runners' model, else ''
    label: str  # the paper's name of the runner, with its footnote's number
    note: str  # what the footnote says ('' when there is none)
    in_paper: bool
    cells: tuple[Cell, ...]

    @property
    def runner_label(self) -> str:
        """The runner with its variant, as records and score files name it."""
        return runner_folder(self.runner, self.variant)


@dataclass(frozen=True)
class AucTable:
    """Rows in the paper's order, the paper's six columns first, and the footnotes."""

    columns: tuple[tuple[str, int], ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...]  # "[1] ..." per footnote number
    seeds: int  # seeds a complete cell has (the paper's 5)


def row_key(record: RunRecord) -> tuple[str, str, int]:
    """A record's row: runner, changed settings, test subset."""
    return record.runner, record.variant, record.test_limit


def _note(model: str, variant: str, test_limit: int) -> str:
    parts = [f"model {model}"] if model else []
    parts += [f"settings {variant.replace(',', ', ')}"] if variant else []
    parts += [f"test on a fixed subset of {test_limit} samples"] if test_limit else []
    return "; ".join(parts)


def columns_of(keys: Sequence[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """The paper's six columns, then those of other domains or shot counts in ``keys``."""
    domains = list(DOMAIN_ORDER) + sorted({d for d, _ in keys} - set(DOMAIN_ORDER))
    shots = sorted(set(SHOTS) | {k for _, k in keys})
    return tuple((domain, k) for domain in domains for k in shots)


def auc_table_data(
    records: Sequence[RunRecord],
    failed: frozenset[tuple[str, str, int]] = frozenset(),
    seeds: int = 5,
    cross_domain: bool = False,
) -> AucTable:
    """The same-domain records as a table.

    With ``cross_domain``, the other records instead: a column per train->test direction
    and shots, without paper values.
    """
    by_cell: dict[tuple, dict[int, float]] = defaultdict(dict)
    models: dict[tuple, str] = {}
    for record in records:
        if (record.tested_on != record.domain) == cross_domain:
            column = f"{record.domain}->{record.tested_on}" if cross_domain else record.domain
            by_cell[row_key(record), column, record.n_shots][record.seed] = record.auc * 100
            models[row_key(record)] = model_of(record)
    columns = columns_of([(d, k) for _, d, k in by_cell])
    order = {name: position for position, name in enumerate(PAPER_NAMES)}
    keys = sorted({key for key, _, _ in by_cell}, key=lambda r: (order.get(r[0], len(order)), r))
    best = {
        column: max(
            (statistics.fmean(v.values()) for (_, d, k), v in by_cell.items() if (d, k) == column),
            default=None,
        )
        for column in columns
    }
    notes: dict[str, int] = {}
    rows = []
    for key in keys:
        runner, variant, test_limit = key
        note = _note(models[key], variant, test_limit)
        if note:
            notes.setdefault(note, len(notes) + 1)
        cells = []
        for domain, shots in columns:
            values = by_cell.get((key, domain, shots), {})
            status = (
                "ok" if values else "failed" if (runner, domain, shots) in failed else "not run"
            )
            mean = statistics.fmean(values.values()) if values else None
            cells.append(
                Cell(
                    domain,
                    shots,
                    tuple(sorted(values.items())),
                    status,
                    None
                    if variant or cross_domain
                    else PAPER_AUC.get(runner, {}).get((domain, shots)),
                    mean is not None and mean == best[domain, shots],
                )
            )
        name = PAPER_NAMES.get(runner, runner)
        rows.append(
            Row(
                runner,
                variant,
                test_limit,
                models[key],
                f"{name} [{notes[note]}]" if note else name,
                note,
                runner in PAPER_NAMES,
                tuple(cells),
            )
        )
    footnotes = tuple(f"[{number}] {note}" for note, number in notes.items())
    return AucTable(columns, tuple(rows), footnotes, seeds)


DETAIL = ("ci", "n", "mark")  # the text table's levels of detail, widest first


def cell_text(cell: Cell, seeds: int, detail: str = "n") -> str:
    """A cell as the table shows it: mean, ``± std`` with several seeds, ``*`` if best.

    ``detail``: ``ci`` adds the 95% interval of the mean over seeds, ``n`` the seed count
    when below ``seeds``, ``mark`` a † in its place (a narrow terminal).
    """
    if cell.mean is None:
        return "failed" if cell.status == "failed" else "–"
    text = f"{cell.mean:.2f}" + (f" ± {cell.std:.2f}" if cell.std is not None else "")
    if detail == "ci" and cell.ci95 is not None:
        text += f" [{cell.ci95[0]:.2f}, {cell.ci95[1]:.2f}]"
    if 1 < cell.n < seeds:
        text += " †" if detail == "mark" else f" (n={cell.n})"
    return text + (" *" if cell.best else "")


def _paper_text(cell: Cell) -> str:
    if cell.paper is None:
        return ""
    if cell.mean is None:
        return f"{cell.paper:.2f}"
    return f"{cell.paper:.2f} ({cell.mean - cell.paper:+.2f}{'~' if cell.paper_in_range else ''})"


def headers(table: AucTable) -> list[str]:
    """Column headers: "Movie 16" ..."""
    return [f"{domain.capitalize()} {shots}" for domain, shots in table.columns]


def _grid(table: AucTable, with_paper: bool, detail: str) -> list[list[str]]:
    rows: list[list[str]] = []
    separated = False
    for row in table.rows:
        if not row.in_paper and not separated:
            rows.append(["(not in the paper)"] + [""] * len(table.columns))
            separated = True
        rows.append([row.label] + [cell_text(cell, table.seeds, detail) for cell in row.cells])
        if with_paper and any(cell.paper is not None for cell in row.cells):
            rows.append(["↳ paper (ours - paper)"] + [_paper_text(cell) for cell in row.cells])
    return rows


def legend(table: AucTable, with_paper: bool, detail: str = "n") -> list[str]:
    """The lines under the table: footnotes, then what the marks mean."""
    lines = list(table.notes)
    lines.append(
        "Cells: AUC x 100 on the test split; with several seeds mean ± sample std over seeds; "
        "* best mean in its column; – not run."
    )
    several = [c for row in table.rows for c in row.cells if c.n > 1]
    if detail == "ci" and several:
        lines.append("[low, high]: 95% Student t interval of the mean over seeds.")
    if detail == "mark" and any(c.n < table.seeds for c in several):
        lines.append(f"† fewer than {table.seeds} seeds (n in --format markdown or json).")
    if with_paper:
        lines.append(
            "paper: TALLRec's Table 1 (TALLRec on LLaMA-7B), for rows with the runner's own "
            "settings; ~ the paper's value lies within the range of our seeds."
        )
    return lines


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
                _grid(table, with_paper, detail),
                headers=["runner", *headers(table)],
                tablefmt="simple",
                disable_numparse=True,
            )
            if max(map(len, text.splitlines())) <= width:
                break
        lines = legend(table, with_paper, detail)
        return text + "\n\n" + "\n".join(wrap(line, width) for line in lines)
    grid = tabulate(  # github / markdown: the complete content
        _grid(table, with_paper, "n"),
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
            paper = "".join(td(_paper_text(c)) for c in row.cells)
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
