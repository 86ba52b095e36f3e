"""Tables of AUC x 100 (mean +- std over seeds) from run records, in the paper's layout."""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from bench.report.collect import collect as collect_records
from bench.report.paper import PAPER_AUC, PAPER_NAMES, SHOTS
from bench.store.records import RunRecord
from bench.store.scores import model_of

DOMAIN_ORDER = ("movie", "book")
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


def _cell(values: list[float], expected_seeds: int) -> str:
    """Mean, and with several seeds ``± sample std`` (n when fewer than expected)."""
    mean = statistics.fmean(values) * 100
    if len(values) == 1:
        return f"{mean:.2f}"
    text = f"{mean:.2f} ± {statistics.stdev(values) * 100:.2f}"
    return text if len(values) >= expected_seeds else f"{text} (n={len(values)})"


def row_key(record: RunRecord) -> tuple[str, str]:
    """A table row: the runner and a label of its settings and test subset."""
    variant = record.variant + (f" test n={record.test_limit}" if record.test_limit else "")
    return record.runner, variant.strip()


def row_label(runner: str, variant: str, model: str | None = None) -> str:
    """A row's name: the paper's name of the runner, its model and settings."""
    label = PAPER_NAMES.get(runner, runner) + (f" ({model})" if model else "")
    return f"{label} [{variant}]" if variant else label


def _models(records: list[RunRecord]) -> dict[tuple[str, str], str]:
    """The model of each LLM row (LLM runners are those with a prompt template)."""
    return {row_key(r): model_of(r) for r in records if model_of(r)}


Aucs = dict[tuple[tuple[str, str], str, int], list[float]]  # (row, domain, shots) -> by seed


def _aucs_by_cell(records: list[RunRecord]) -> Aucs:
    """Same-domain AUCs by (row, domain, shots), one per seed (cross-domain: own table)."""
    aucs: Aucs = defaultdict(list)
    for record in records:
        if record.tested_on == record.domain:
            aucs[row_key(record), record.domain, record.n_shots].append(record.auc)
    return aucs


def _columns(aucs: Aucs) -> list[tuple[str, int]]:
    """The paper's six columns, then those of other domains or shot counts in the records."""
    domains = list(DOMAIN_ORDER) + sorted({d for _, d, _ in aucs} - set(DOMAIN_ORDER))
    shots = sorted(set(SHOTS) | {k for _, _, k in aucs})
    return [(domain, k) for domain in domains for k in shots]


def _row_order(aucs: Aucs) -> list[tuple[str, str]]:
    """Rows in the paper's order, then the others by name."""
    order = {name: position for position, name in enumerate(PAPER_NAMES)}
    return sorted({r for r, _, _ in aucs}, key=lambda r: (order.get(r[0], len(order)), r))


def seed_range_table(records: list[RunRecord], fmt: str = "github") -> str:
    """Lowest and highest seed of each cell with several seeds ('' when there is none)."""
    aucs = _aucs_by_cell(records)
    keys = [
        key
        for key in _row_order(aucs)
        if any(len(v) > 1 for (k, _, _), v in aucs.items() if k == key)
    ]
    if not keys:
        return ""
    columns = _columns(aucs)
    rows = []
    for key in keys:
        cells = [aucs.get((key, d, k), []) for d, k in columns]
        rows.append(
            [row_label(*key)]
            + [
                f"{100 * min(v):.2f}–{100 * max(v):.2f} (n={len(v)})" if len(v) > 1 else ""
                for v in cells
            ]
        )
    headers = ["runner"] + [f"{d.capitalize()} {k}" for d, k in columns]
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


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
    aucs = _aucs_by_cell(records)
    models = _models(records)
    keys = _row_order(aucs)
    columns = _columns(aucs)
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
        row = [row_label(runner, variant, models.get((runner, variant)))]
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
                noise = len(values or []) > 1 and min(values) <= paper / 100 <= max(values)
                text = f"{text} (paper {paper:.2f}, {diff}{' ~' if noise else ''})"
            row.append(text)
        rows.append(row)
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


def cross_domain_table(records: list[RunRecord], fmt: str = "github", seeds: int = 5) -> str:
    """AUC of runs trained on one domain and tested on the other ('' when there are none)."""
    aucs: dict[tuple[tuple[str, str], str, int], list[float]] = defaultdict(list)
    for record in records:
        if record.tested_on != record.domain:
            direction = f"{record.domain}->{record.tested_on}"
            aucs[row_key(record), direction, record.n_shots].append(record.auc)
    if not aucs:
        return ""
    models = _models(records)
    directions = sorted({d for _, d, _ in aucs})
    headers = ["runner (train->test)"] + [f"{d} {k}" for d in directions for k in SHOTS]
    rows = [
        [row_label(*key, models.get(key))]
        + [
            _cell(aucs[key, d, k], seeds) if (key, d, k) in aucs else "not run"
            for d in directions
            for k in SHOTS
        ]
        for key in sorted({key for key, _, _ in aucs})
    ]
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


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
    lines.append(
        "Cells: AUC x 100; with several seeds mean ± sample std (n shown when fewer than 5), "
        "with one seed its value; `~` after a paper value: it lies within the range of our "
        "seeds (within seed noise)."
    )
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
