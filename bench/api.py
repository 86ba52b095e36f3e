"""The Python API: run a grid and get its results, or a comparison table, as DataFrames.

    import bench
    results = bench.evaluate(runners=["like-rate", "logreg"], domains=["movie"], shots=[16])
    table = bench.compare(results_dir="runs")
    print(table.text)

Both go through the same grid, store and comparator as ``python -m bench run`` and
``compare``: the same cells, run keys, records, resume and tables.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import UsageError
from bench.registry import TASKS
from bench.report.table import auc_table_data, cell_text, headers

if TYPE_CHECKING:
    import pandas as pd


def _cells(task, profile, runners, domains, shots, seeds, validation, test_limit, settings):
    from bench.grid.cells import select_cells
    from bench.grid.profiles import load_profile

    loaded = load_profile(profile) if isinstance(profile, str) else profile
    cells = select_cells(
        task, loaded, runners, domains, shots, seeds, validation, test_limit, changes=settings
    )
    return cells, TASKS.load(task or (loaded.task if loaded else "like"))


def _row(task: Any, cell: Any, outcome: Any, results_dir: Path) -> dict[str, Any]:
    row = {
        "task": cell.task,
        "runner": cell.runner,
        "variant": cell.variant,
        "domain": cell.domain,
        "shots": getattr(cell, "n_shots", None),
        "seed": cell.seed,
        "test_limit": cell.test_limit,
        "status": "failed" if outcome.error else ("computed" if outcome.computed else "reused"),
        "error": outcome.error,
        "path": str(cell.record_path(results_dir)),
    }
    if outcome.record is None:
        return row
    metrics = task.metrics(outcome.record)
    return row | metrics | {"run_key": outcome.record.run_key}


def evaluate(
    runners: Sequence[str] | None = None,
    domains: Sequence[str] | None = None,
    shots: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    task: str | None = None,
    profile: str | None = None,
    results_dir: str | Path = "runs",
    settings: dict[str, Any] | None = None,
    validation: str | None = None,
    test_limit: int | None = None,
    force: bool = False,
    quiet: bool = True,
) -> pd.DataFrame:
    """Run the grid (resuming: cells with an intact record are reused) and return its results.

    Arguments narrow a ``profile`` (a shipped name or a YAML path) as the CLI's flags do;
    without a profile, ``runners`` is required and the rest default to the paper's grid.
    ``settings`` changes runner settings (as ``--set``). Returns one row per cell: task,
    runner, variant, domain, shots, seed, test_limit, status (computed, reused, failed),
    error, the record's path and run key, and its metrics (``auc``, ``log_loss`` for the
    like/dislike task; ``<mode>/<metric>`` such as ``rank/hit_ratio`` for next-item; a
    plugin task's ``Task.metrics``).
    """
    import pandas as pd

    from bench.grid.local import run_grid

    cells, found = _cells(
        task, profile, runners, domains, shots, seeds, validation, test_limit, settings
    )
    if not cells:
        raise UsageError("no cells to run: give at least one runner, domain and seed")
    folder = Path(results_dir)
    summary = run_grid(cells, folder, force=force, quiet=quiet)
    by_cell = {outcome.cell: outcome for outcome in summary.outcomes}
    return pd.DataFrame([_row(found, cell, by_cell[cell], folder) for cell in cells])


@dataclass(frozen=True)
class Comparison:
    """A comparison table: ``frame`` (one row per table row, one column per cell), ``text``."""

    frame: pd.DataFrame
    text: str


def compare(
    results_dir: str | Path = "runs",
    task: str = "like",
    with_paper: bool = False,
    fmt: str = "text",
) -> Comparison:
    """The table ``python -m bench compare`` prints, as text and as a DataFrame of its cells.

    ``fmt`` is one of ``bench.report.table.FORMATS`` (``text``, ``markdown``, ``latex``...).
    """
    import pandas as pd

    folder = Path(results_dir)
    found = TASKS.load(task)
    if task == "next-item":
        from bench.report.nextitem_compare import collect_next_item, next_item_table

        records, _ = collect_next_item(folder)

        def make(style: str) -> str:
            return next_item_table(records, style, notes=False)

    elif task == "like":
        from bench.report.compare import auc_table, collect

        records, _ = collect(folder)

        def make(style: str) -> str:
            return auc_table(records, with_paper, style)

    else:  # a plugin's task: the table of its own metrics
        from bench.report.collect import collect as collect_records
        from bench.report.task_table import task_table

        records, _ = collect_records(found, folder)

        def make(style: str) -> str:
            return task_table(found, records, style, notes=False)

    if not records:
        raise UsageError(f"no {task} records in {folder}: run bench.evaluate(...) first")
    if task == "like":  # the table's cells as printed, one row per runner row
        table = auc_table_data(records)
        rows = [[row.label, *(cell_text(c, table.seeds) for c in row.cells)] for row in table.rows]
        frame = pd.DataFrame(rows, columns=["runner", *headers(table)])
    else:
        header, *rows = csv.reader(io.StringIO(make("csv")))
        frame = pd.DataFrame(rows, columns=header)
    return Comparison(frame=frame, text=make(fmt))
