"""The table of any task from its own figures: rows runner x metric, a column per cell kind.

The shipped tasks have tables in their paper's layout (``compare``, ``nextitem_compare``);
a plugin's task gets this one from ``Task.metrics`` and ``Task.column``, with the same
mean ± sample std over seeds (n when several).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.report.compare import command_lines, environment_lines, grid_lines
from bench.report.formats import tabular


def _cell(values: list[float]) -> str:
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {statistics.stdev(values):.4f} (n={len(values)})"


def task_table(task: Any, records: list, fmt: str = "text", notes: bool = True) -> str:
    """Every metric of every runner label per column, over seeds, in one of ``FORMATS``."""
    values: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    columns: dict[str, None] = {}
    for record in sorted(records, key=lambda r: (r.runner_label, task.column(r), r.seed)):
        column = task.column(record)
        columns[column] = None
        for metric, value in task.metrics(record).items():
            values[record.runner_label, metric][column].append(float(value))
    rows = [
        [label, metric, *(_cell(cells[c]) if c in cells else "not run" for c in columns)]
        for (label, metric), cells in values.items()
    ]
    note = "Several seeds: mean ± sample std (ddof=1) over seeds, n seeds."
    table = tabular(rows, ["runner", "metric", *columns], fmt)
    return f"{table}\n\n{note}" if notes else table


def task_provenance(task: Any, records: list, results_dir: Path, command: str) -> str:
    """Markdown lines saying where a task table's numbers come from."""
    lines = [
        f"Produced by `{command}` from {len(records)} {task.name} run records in "
        f"`{results_dir}`; per-sample predictions in the records.",
        *grid_lines(results_dir, task.name),
        *command_lines(records),
        *environment_lines(records),
    ]
    return "\n".join(f"- {line}" for line in lines)
