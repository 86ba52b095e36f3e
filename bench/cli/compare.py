"""`bench compare`: tables, statistics, plots and score files of the records."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.files import atomic_write_text
from bench.registry import TASKS
from bench.report.compare import (
    auc_table,
    collect,
    cross_domain_table,
    deduplicate,
    failed_cells,
    pool_notes,
    provenance,
    seed_range_table,
)
from bench.report.comparisons import stats_block
from bench.report.formats import FORMATS, MACHINE_FORMATS, machine_table, wrap
from bench.report.paper import PAPER_AUC, rerun_note
from bench.store.records import invocation
from bench.store.scores import read_scores, write_scores


def cmd_compare(args: argparse.Namespace) -> int:
    """Print (or write) the AUC table of the records in the results folder."""
    results_dir = args.results_dir or (
        Path("runs") / args.profile if args.profile else Path("runs")
    )
    fmt = args.format
    if args.stats and fmt in MACHINE_FORMATS:
        raise UsageError(
            f"--stats prints a table of its own with its notes: use --format text, markdown, "
            f"latex or html with it, not {fmt}"
        )
    if args.task is None:  # a shipped or given profile decides; a bare folder name: like
        from bench.grid.profiles import load_profile, profile_names

        named = args.profile and (args.profile in profile_names() or Path(args.profile).is_file())
        args.task = load_profile(args.profile).task if named else "like"
    TASKS.check(args.task)
    if args.task not in ("like", "next-item"):  # a plugin's task: its generic table
        return _task_compare(args, results_dir, fmt)
    if args.task == "next-item":
        from bench.report.nextitem_compare import (
            collect_next_item,
            failed_next_item_cells,
            next_item_provenance,
            next_item_table,
        )

        records, problems = collect_next_item(results_dir)
        for problem in problems:
            print(f"warning: {problem}", file=sys.stderr)
        if not records:
            raise UsageError(
                f"no next-item records in {results_dir}: run "
                "`python -m bench run --task next-item` first"
            )
        return _emit(
            next_item_table(
                records, fmt, failed_next_item_cells(results_dir), fmt not in MACHINE_FORMATS
            ),
            args,
            records,
            results_dir,
            next_item_provenance,
        )
    if args.scores:
        found = [(f"{path}", r) for path in args.scores for r in read_scores(path)]
        records, problems = deduplicate(found)
        source = "the score files " + ", ".join(f"`{path}`" for path in args.scores)
        grid_dir, failed = None, frozenset()
    else:
        records, problems = collect(results_dir)
        source, grid_dir, failed = f"`{results_dir}`", results_dir, failed_cells(results_dir)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not records:
        raise UsageError(f"no run records in {results_dir}: run `python -m bench run` first")
    if fmt in MACHINE_FORMATS:  # the table's data alone, nothing around it
        table = machine_table(records, fmt, failed, pool_notes(records))
    else:
        table = auc_table(records, args.with_paper, fmt, failed=failed)
        note = wrap if fmt == "text" else str
        table += "".join(f"\n\n{note(line)}" for line in pool_notes(records))
        if args.with_paper and any(
            r.runner in PAPER_AUC and "template" in r.config for r in records
        ):
            table += f"\n\n{note(rerun_note())}"
        if fmt in ("markdown", "github"):
            ranges = seed_range_table(records, fmt)
            table += (
                f"\n\nRange over seeds (lowest–highest AUC x 100):\n\n{ranges}" if ranges else ""
            )
        cross = cross_domain_table(records, fmt)
        if cross:
            table += "\n\nCross-domain (train on one domain, test on the other):\n\n" + cross
    if args.stats:
        table += "\n\n" + stats_block(records, fmt)
    if args.plot is not None:
        from bench.report.plot import plot_auc

        note = plot_auc(records, args.plot)
        print(f"wrote {args.plot}" + (f" ({note})" if note else ""), file=sys.stderr)
    if args.scores_out is not None:
        write_scores(records, args.scores_out)
    shipped = [args.scores_out] if args.scores_out else list(args.scores or [])
    where = args.out.parent if args.out else Path.cwd()
    names = [
        os.path.relpath(path, where) for path in shipped if path.parent.resolve() == where.resolve()
    ]
    describe = functools.partial(provenance, shipped=names, grid_dir=grid_dir)
    return _emit(table, args, records, source, describe)


def _task_compare(args: argparse.Namespace, results_dir: Path, fmt: str) -> int:
    """``compare --task NAME`` for a task without a table of its own (a plugin's)."""
    from bench.report.collect import collect as collect_records
    from bench.report.task_table import task_provenance, task_table

    task = TASKS.load(args.task)
    records, problems = collect_records(task, results_dir)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not records:
        raise UsageError(
            f"no {task.name} records in {results_dir}: run "
            f"`python -m bench run --task {task.name}` first"
        )
    describe = functools.partial(task_provenance, task)
    table = task_table(task, records, fmt, fmt not in MACHINE_FORMATS)
    return _emit(table, args, records, results_dir, describe)


def _emit(
    table: str, args: argparse.Namespace, records: list, results_dir: Path, describe: Any
) -> int:
    """Print ``table``, or write it (Markdown: with ``describe``'s provenance) to ``--out``."""
    if args.out is None:
        print(table, end="" if table.endswith("\n") else "\n")
        return 0
    if args.format in ("markdown", "github"):
        command = invocation()
        table = describe(records, results_dir, command) + "\n\n" + table
    atomic_write_text(args.out, table if table.endswith("\n") else table + "\n")
    print(args.out)
    return 0


def add_parser(commands: Any) -> None:
    """Add this subcommand to ``python -m bench``'s parser."""
    compare = commands.add_parser("compare", help="AUC table of the run records")
    compare.add_argument("--profile", help="read runs/<profile>/ (default: all of runs/)")
    compare.add_argument(
        "--task",
        help="like (TALLRec), next-item (LLaRA) or a plugin's (bench list); default: the "
        "profile's, or like",
    )
    compare.add_argument("--results-dir", type=Path, help="default: runs/<profile>/ or runs/")
    compare.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (fits the terminal; default), github or markdown (complete, with the "
        "seed ranges), csv (RFC 4180, one line per cell), json (schema in the README), "
        "latex (booktabs), html",
    )
    compare.add_argument("--with-paper", action="store_true", help="show the paper's values")
    compare.add_argument("--out", type=Path, help="write the table (with provenance) to FILE")
    compare.add_argument(
        "--scores",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="read the runs from score files (.csv.gz from --scores-out) instead of a folder",
    )
    compare.add_argument(
        "--scores-out", type=Path, help="write every per-sample score with provenance (.csv.gz)"
    )
    compare.add_argument(
        "--stats",
        action="store_true",
        help="LLM rows vs the paper's baselines: cluster bootstrap and DeLong, by test unit",
    )
    compare.add_argument("--plot", type=Path, help="write AUC against shots to FILE.png")
    compare.set_defaults(handler=cmd_compare)
