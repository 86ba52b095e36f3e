"""Tables of AUC x 100 (mean +- std over seeds) from run records, in the paper's layout."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.report.collect import collect as collect_records
from bench.report.formats import render, tabular
from bench.report.paper import PAPER_NAMES
from bench.report.table import DOMAIN_ORDER, Cell, auc_table_data, headers
from bench.store.records import RunRecord

__all__ = ["DOMAIN_ORDER", "auc_table", "collect", "cross_domain_table", "seed_range_table"]
GRID_LOG = "grids.jsonl"  # one line per `bench run` invocation on a results folder


def collect(results_dir: Path) -> tuple[list[RunRecord], list[str]]:
    """Every trusted like/dislike record under ``results_dir`` (each run once), and problems."""
    from bench.tasks.like import LIKE

    return collect_records(LIKE, results_dir, deduplicate)


def deduplicate(found: list[tuple[str, RunRecord]]) -> tuple[list[RunRecord], list[str]]:
    """Each run once: the first of records with one run key, or with one row, column and seed.

    Returns the records kept and a warning naming each set of duplicates.
    """
    kept: dict[tuple, tuple[str, RunRecord]] = {}
    dropped: dict[tuple, list[str]] = defaultdict(list)
    for where, record in found:
        for key in (("key", record.run_key), ("seed", *_seed_key(record))):
            if key in kept:
                dropped[key].append(where)
                break
        else:
            kept["key", record.run_key] = kept[("seed", *_seed_key(record))] = (where, record)
    warnings = [
        f"{', '.join(others)} repeat{'s' if len(others) == 1 else ''} "
        f"{'the run key' if key[0] == 'key' else 'the runner, column and seed'} of "
        f"{kept[key][0]}: counted once"
        for key, others in dropped.items()
    ]
    unique = {id(record): record for _, record in kept.values()}
    return list(unique.values()), warnings


def _seed_key(record: RunRecord) -> tuple:
    return (
        *row_key(record),
        record.domain,
        record.tested_on,
        record.n_shots,
        record.seed,
        record.validation,
    )


def row_key(record: RunRecord) -> tuple[str, str]:
    """A table row: the runner and a label of its settings and test subset."""
    variant = record.variant + (f" test n={record.test_limit}" if record.test_limit else "")
    return record.runner, variant.strip()


def row_label(runner: str, variant: str, model: str | None = None) -> str:
    """A row's long name (plots): the paper's name of the runner, its model and settings."""
    label = PAPER_NAMES.get(runner, runner) + (f" ({model})" if model else "")
    return f"{label} [{variant}]" if variant else label


def seed_range_table(records: list[RunRecord], fmt: str = "markdown") -> str:
    """Lowest and highest seed of each cell with several seeds ('' when there is none)."""
    table = auc_table_data(records)

    def spread(cell: Cell) -> str:
        return f"{min(cell.values):.2f}–{max(cell.values):.2f} (n={cell.n})" if cell.n > 1 else ""

    rows = [
        [row.label, *map(spread, row.cells)]
        for row in table.rows
        if any(c.n > 1 for c in row.cells)
    ]
    if not rows:
        return ""
    return tabular(rows, ["runner", *headers(table)], fmt)


def auc_table(
    records: list[RunRecord],
    with_paper: bool = False,
    fmt: str = "markdown",
    seeds: int = 5,
    failed: frozenset[tuple[str, str, int]] = frozenset(),
    width: int | None = None,
) -> str:
    """AUC table in the paper's layout, in one of ``table.FORMATS``, with its footnotes.

    Rows GRU4Rec ... TALLRec, then the rows not in the paper; columns Movie 16/64/256 | Book
    16/64/256. ``failed``: (runner, domain, shots) of cells that left an error file, so a
    missing cell says whether it failed or was not run; ``width``: the text table's.
    """
    return render(auc_table_data(records, failed, seeds), fmt, with_paper, width)


def cross_domain_table(records: list[RunRecord], fmt: str = "markdown", seeds: int = 5) -> str:
    """AUC of runs trained on one domain and tested on the other ('' when there are none)."""
    table = auc_table_data(records, seeds=seeds, cross_domain=True)
    return render(table, fmt) if table.rows else ""


def pool_notes(records: list[RunRecord]) -> list[str]:
    """Footnotes naming where the book runs' few-shot pool came from."""
    from bench.data.cards import load_card
    from bench.data.datastore import data_sha256

    book = {r.data_sha256 for r in records if r.domain == "book"}
    if not book:
        return []
    rebuilt = data_sha256(load_card("book").outputs)
    notes = []
    if book & {rebuilt, ""}:
        notes.append(
            "Book columns: few-shot samples drawn from a reconstructed pool (1,427 of the "
            "2,427 samples of TALLRec's released valid.json; TALLRec's own book train.json "
            "was not in BENCH_DATA_DIR), not from the paper's pool: datasets/book.yaml."
        )
    if book - {rebuilt, ""}:
        notes.append(
            "Book columns: few-shot samples drawn from TALLRec's released book train.json, "
            "as in the paper (datasets/book.yaml)."
        )
    return notes


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


def provenance(
    records: list[RunRecord],
    source: str,
    command: str,
    shipped: Sequence[str] = (),
    grid_dir: Path | None = None,
) -> str:
    """Markdown lines saying where the table's numbers come from.

    ``source`` names where the records were read; ``shipped`` the score files that go with
    the report (said only when there are some); ``grid_dir`` a results folder whose grid
    logs name the ``bench run`` commands.
    """
    lines = [f"Produced by `{command}` from {len(records)} runs in {source}."]
    fit_s = [r.wall_s["fit"] for r in records if math.isfinite(r.wall_s["fit"])]
    score_s = [r.wall_s["score"] for r in records if math.isfinite(r.wall_s["score"])]
    if fit_s:
        lines.append(
            f"Summed over {len(fit_s)} runs that record it: fit {sum(fit_s):.0f} s (including "
            f"data set-up), test scoring {sum(score_s):.0f} s."
        )
    lines += grid_lines(grid_dir, "like") if grid_dir is not None else []
    lines += command_lines(records)
    lines += environment_lines(records)
    if shipped:
        names = ", ".join(f"`{name}`" for name in shipped)
        lines.append(
            f"Per-sample scores of every run, with each run's provenance: {names}, shipped "
            "with this report (`python -m bench compare --scores FILE...` rebuilds it)."
        )
    else:
        lines.append("Per-sample scores: in the run records only; no score file is shipped.")
    return "\n".join(f"- {line}" for line in lines)


def command_lines(records: Sequence[Any]) -> list[str]:
    """The command lines the records name, with their counts; a line for those that name none."""
    commands = Counter(r.command for r in records)
    lines = [f"{n} runs made by `{c}`." for c, n in sorted(commands.items()) if c]
    if commands[""]:
        lines.append(
            f"{commands['']} runs do not record their command, and runs read from a score file "
            "of before 0.6.0 no commit, machine or versions either: the report that first "
            "printed them names those (reports/README.md for the shipped ones)."
        )
    return lines


def environment_lines(records: Sequence[Any]) -> list[str]:
    """Seeds, machines, commits, Python and every package version any record used."""
    environments = [r.environment for r in records]
    versions: dict[str, set[str]] = defaultdict(set)
    for environment in environments:
        for name, version in environment.get("packages", {}).items():
            versions[name].add(version)
    commits = sorted({str(e["git_commit"]) for e in environments if e.get("git_commit")})
    machines = sorted(
        {e["machine"] for e in environments if e.get("machine") not in (None, "", "?")}
    )
    dirty = sum(bool(e.get("git_dirty")) for e in environments)
    pythons = sorted({e["python"] for e in environments if e.get("python")})
    unknown = sum(not e.get("git_commit") for e in environments)
    return [
        f"Seeds {sorted({r.seed for r in records})}; machine {machines or 'not recorded'}; "
        f"commit {commits or 'not recorded'}"
        + (f" ({unknown} runs record none)" if unknown and commits else "")
        + (f" ({dirty} runs with uncommitted changes)" if dirty else "")
        + (f"; Python {', '.join(pythons)}" if pythons else "")
        + ".",
        "Packages (every version any run used): "
        + (
            ", ".join(f"{k} {' / '.join(sorted(v))}" for k, v in sorted(versions.items()))
            or "not recorded"
        )
        + ".",
    ]


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
