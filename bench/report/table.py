"""The like/dislike AUC table as data: rows, cells, footnotes, and each cell's text.

:func:`auc_table_data` turns records into an :class:`AucTable` (rows in the paper's order,
columns Movie 16/64/256 | Book 16/64/256, each cell's AUCs by seed). Row labels are short
(the paper's name of the runner); a row's model, changed settings and test subset go into a
numbered footnote, so the text table fits a terminal. ``bench.report.formats`` writes it.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report.paper import PAPER_AUC, PAPER_NAMES, SHOTS
from bench.store.records import RunRecord, runner_folder
from bench.store.scores import model_of

DOMAIN_ORDER = ("movie", "book")


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
    means = {cell: statistics.fmean(values.values()) for cell, values in by_cell.items()}
    best: dict[tuple[str, int], float] = {}
    for (_, domain, shots), mean in means.items():
        best[domain, shots] = max(mean, best.get((domain, shots), mean))
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
            mean = means.get((key, domain, shots))
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


def paper_text(cell: Cell) -> str:
    """The paper's value and our difference (``~``: within our seeds' range)."""
    if cell.paper is None:
        return ""
    if cell.mean is None:
        return f"{cell.paper:.2f}"
    return f"{cell.paper:.2f} ({cell.mean - cell.paper:+.2f}{'~' if cell.paper_in_range else ''})"


def headers(table: AucTable) -> list[str]:
    """Column headers: "Movie 16" ..."""
    return [f"{domain.capitalize()} {shots}" for domain, shots in table.columns]


def grid_rows(table: AucTable, with_paper: bool, detail: str) -> list[list[str]]:
    """Label and cell texts per row (with ``with_paper`` a paper line under each paper row)."""
    rows: list[list[str]] = []
    separated = False
    for row in table.rows:
        if not row.in_paper and not separated:
            rows.append(["(not in the paper)"] + [""] * len(table.columns))
            separated = True
        rows.append([row.label] + [cell_text(cell, table.seeds, detail) for cell in row.cells])
        if with_paper and any(cell.paper is not None for cell in row.cells):
            rows.append(["↳ paper (ours - paper)"] + [paper_text(cell) for cell in row.cells])
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
