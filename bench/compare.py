"""Tables of AUC x 100 (mean +- std over seeds) from run records, in the paper's layout."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

from bench.errors import DataError
from bench.paper import PAPER_AUC, PAPER_NAMES, SHOTS
from bench.records import RunRecord, read_record

DOMAIN_ORDER = ("movie", "book")


def collect(results_dir: Path) -> tuple[list[RunRecord], list[str]]:
    """Every intact record under ``results_dir``, and one line per damaged one."""
    records, problems = [], []
    for path in sorted(results_dir.rglob("*.json")):
        if path.name.startswith(("last-grid", ".")) or ".work" in path.parts[-2]:
            continue
        try:
            records.append(read_record(path))
        except DataError as error:
            problems.append(str(error))
    return records, problems


def _cell(values: list[float], expected_seeds: int) -> str:
    mean = statistics.fmean(values) * 100
    std = statistics.stdev(values) * 100 if len(values) > 1 else 0.0
    text = f"{mean:.2f} ± {std:.2f}"
    return text if len(values) >= expected_seeds else f"{text} (n={len(values)})"


def auc_table(
    records: list[RunRecord], with_paper: bool = False, fmt: str = "github", seeds: int = 5
) -> str:
    """Rows: runners (paper rows first); columns: Movie 16/64/256 | Book 16/64/256."""
    aucs: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for record in records:
        aucs[record.runner, record.domain, record.n_shots].append(record.auc)
    order = {name: position for position, name in enumerate(PAPER_NAMES)}
    runners = sorted({r for r, _, _ in aucs}, key=lambda r: (order.get(r, len(order)), r))
    headers = ["runner"] + [f"{d.capitalize()} {k}" for d in DOMAIN_ORDER for k in SHOTS]
    rows = []
    for runner in runners:
        row = [PAPER_NAMES.get(runner, runner)]
        for domain in DOMAIN_ORDER:
            for shots in SHOTS:
                values = aucs.get((runner, domain, shots))
                text = _cell(values, seeds) if values else "missing"
                paper = PAPER_AUC.get(runner, {}).get((domain, shots))
                if with_paper and paper is not None:
                    diff = f"{statistics.fmean(values) * 100 - paper:+.2f}" if values else "n/a"
                    text = f"{text} (paper {paper:.2f}, {diff})"
                row.append(text)
        rows.append(row)
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)
