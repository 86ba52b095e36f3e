"""Tables of AUC x 100 (mean +- std over seeds) from run records, in the paper's layout."""

from __future__ import annotations

import gzip
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

from bench.errors import DataError
from bench.files import atomic_write_bytes
from bench.paper import PAPER_AUC, PAPER_NAMES, SHOTS
from bench.records import RunRecord, read_record

DOMAIN_ORDER = ("movie", "book")
GRID_LOG = "grids.jsonl"  # one line per `bench run` invocation on a results folder


def collect(results_dir: Path) -> tuple[list[RunRecord], list[str]]:
    """Every intact record under ``results_dir``, and one line per damaged one."""
    records, problems = [], []
    for path in sorted(results_dir.rglob("*.json")):
        inside = path.relative_to(results_dir).parts
        skipped = any(part.endswith(".work") for part in inside[:-1]) or "next-item" in inside
        if path.name.startswith(".") or skipped:  # next-item records: compare --task next-item
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


def _row_key(record: RunRecord) -> tuple[str, str]:
    variant = record.variant + (f" test n={record.test_limit}" if record.test_limit else "")
    return record.runner, variant.strip()


def _label(runner: str, variant: str, model: str | None = None) -> str:
    label = PAPER_NAMES.get(runner, runner) + (f" ({model})" if model else "")
    return f"{label} [{variant}]" if variant else label


def _models(records: list[RunRecord]) -> dict[tuple[str, str], str]:
    """The model of each LLM row (LLM runners are those with a prompt template)."""
    return {_row_key(r): r.config["model"] for r in records if "template" in r.config}


def auc_table(
    records: list[RunRecord],
    with_paper: bool = False,
    fmt: str = "github",
    seeds: int = 5,
    failed: frozenset[tuple[str, str, int]] = frozenset(),
) -> str:
    """AUC table in the paper's layout; the best mean of each column marked with ``*``.

    Rows GRU4Rec ... TALLRec, then the rows not in the paper; columns Movie 16/64/256 | Book
    16/64/256. ``failed``: (runner, domain, shots) of cells that left an error file, so a
    missing cell says whether it failed or was not run.
    """
    aucs: dict[tuple[tuple[str, str], str, int], list[float]] = defaultdict(list)
    for record in records:
        if record.tested_on == record.domain:  # cross-domain runs have their own table
            aucs[_row_key(record), record.domain, record.n_shots].append(record.auc)
    models = _models(records)
    order = {name: position for position, name in enumerate(PAPER_NAMES)}
    keys = sorted({r for r, _, _ in aucs}, key=lambda r: (order.get(r[0], len(order)), r))
    columns = [(domain, shots) for domain in DOMAIN_ORDER for shots in SHOTS]
    best = {
        column: max(
            (statistics.fmean(v) for (_, d, k), v in aucs.items() if (d, k) == column),
            default=None,
        )
        for column in columns
    }
    headers = ["runner"] + [f"{d.capitalize()} {k}" for d, k in columns]
    rows, separated = [], False
    for runner, variant in keys:
        if runner not in PAPER_NAMES and not separated:
            rows.append(["(not in the paper)"] + [""] * len(columns))
            separated = True
        row = [_label(runner, variant, models.get((runner, variant)))]
        for domain, shots in columns:
            values = aucs.get(((runner, variant), domain, shots))
            if values:
                mark = " *" if statistics.fmean(values) == best[domain, shots] else ""
                text = _cell(values, seeds) + mark
            else:
                text = "failed" if (runner, domain, shots) in failed else "not run"
            # the paper's value beside rows whose settings are the runner's own (a fixed test
            # subset, as in the quick profile, is marked in the label but still compared)
            changed = re.sub(r"\s*test n=\d+$", "", variant)
            paper = None if changed else PAPER_AUC.get(runner, {}).get((domain, shots))
            if with_paper and paper is not None:
                diff = f"{statistics.fmean(values) * 100 - paper:+.2f}" if values else "n/a"
                text = f"{text} (paper {paper:.2f}, {diff})"
            row.append(text)
        rows.append(row)
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


def cross_domain_table(records: list[RunRecord], fmt: str = "github", seeds: int = 5) -> str:
    """AUC of runs trained on one domain and tested on the other ('' when there are none)."""
    aucs: dict[tuple[tuple[str, str], str, int], list[float]] = defaultdict(list)
    for record in records:
        if record.tested_on != record.domain:
            direction = f"{record.domain}->{record.tested_on}"
            aucs[_row_key(record), direction, record.n_shots].append(record.auc)
    if not aucs:
        return ""
    models = _models(records)
    directions = sorted({d for _, d, _ in aucs})
    headers = ["runner (train->test)"] + [f"{d} {k}" for d in directions for k in SHOTS]
    rows = [
        [_label(*key, models.get(key))]
        + [
            _cell(aucs[key, d, k], seeds) if (key, d, k) in aucs else "not run"
            for d in directions
            for k in SHOTS
        ]
        for key in sorted({key for key, _, _ in aucs})
    ]
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


def failed_cells(results_dir: Path) -> frozenset[tuple[str, str, int]]:
    """(runner, domain, shots) of every cell that left an error file under ``results_dir``."""
    cells = set()
    for path in results_dir.rglob("*.error.json"):
        try:
            cell = json.loads(path.read_text(encoding="utf-8"))["cell"]
            cells.add((cell["runner"], cell["domain"], int(cell["n_shots"])))
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return frozenset(cells)


def provenance(records: list[RunRecord], results_dir: Path, command: str) -> str:
    """Markdown lines saying where the table's numbers come from."""
    lines = [f"Produced by `{command}` from {len(records)} run records in `{results_dir}`."]
    fit_s = sum(r.wall_s["fit"] for r in records)
    score_s = sum(r.wall_s["score"] for r in records)
    lines.append(
        f"Summed over the records: fit {fit_s:.0f} s (including data set-up), test scoring "
        f"{score_s:.0f} s."
    )
    lines += grid_lines(results_dir, "like")
    commits = sorted({str(r.environment.get("git_commit")) for r in records})
    machines = sorted({r.environment.get("machine", "?") for r in records})
    packages = records[0].environment.get("packages", {}) if records else {}
    validations = sorted({r.validation for r in records})
    seeds = sorted({r.seed for r in records})
    lines += [
        f"Seeds {seeds}; validation {validations}; machine {machines}; commit {commits}.",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in sorted(packages.items())) + ".",
        "Cells: AUC x 100, mean ± sample std over seeds; n is shown when a cell has fewer than "
        "5 seeds. Per-sample scores: each run record, and the scores file beside this report.",
    ]
    return "\n".join(f"- {line}" for line in lines)


def grid_lines(results_dir: Path, task: str) -> list[str]:
    """One line per ``bench run`` of ``task`` logged in the results folder's grid logs."""
    grids = [
        json.loads(line)
        for grid_log in sorted(results_dir.rglob(GRID_LOG))
        for line in grid_log.read_text(encoding="utf-8").splitlines()
    ]
    return [
        f"Runs made by `{grid['command']}`: {grid['cells']} cells, {grid['computed']} "
        f"computed, {grid['wall_s']} s wall time in one process."
        for grid in grids
        if grid.get("task", "like") == task
    ]


def write_scores(records: list[RunRecord], path: Path) -> None:
    """Every test sample's score of every record, as gzipped CSV (AUCs can be recomputed)."""
    rows = ["runner,domain,n_shots,seed,validation,sample_id,label,score\n"]
    for r in sorted(records, key=lambda r: (r.runner, r.domain, r.n_shots, r.seed)):
        prefix = f"{r.runner},{r.domain},{r.n_shots},{r.seed},{r.validation}"
        rows += [f"{prefix},{p.sample_id},{p.label},{p.score!r}\n" for p in r.predictions]
    atomic_write_bytes(path, gzip.compress("".join(rows).encode("utf-8"), mtime=0))
