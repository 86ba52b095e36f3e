"""`bench run`: a grid of cells, local or on Ray; one summary line in grids.jsonl."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import config
from bench.data.splits import (
    VALIDATION_MODES,
)
from bench.errors import UsageError
from bench.files import append_line
from bench.registry import NEXT_ITEM_RUNNERS, RUNNERS, TASKS
from bench.report.compare import (
    GRID_LOG,
)
from bench.store.records import environment, invocation
from bench.tasks.like import Cell

if TYPE_CHECKING:
    from bench.tasks.next_item import NextItemCell


def grid_cells(args: argparse.Namespace) -> tuple[list[Cell] | list[NextItemCell], str]:
    """The cells ``bench run`` was asked for, and the profile they come from ('' for none).

    The task is ``--task``, else the profile's; ``--all`` without ``--profile`` takes the
    task's default profile (quick, or next-item-cpu).
    """
    from bench.grid.cells import select_cells
    from bench.grid.profiles import load_profile
    from bench.tasks.runner import parse_setting

    default_profile = TASKS.load(args.task or "like").default_profile
    wanted = args.profile or (default_profile if args.all else None)
    profile = load_profile(wanted) if wanted else None
    changes = dict(parse_setting(text) for text in args.set)
    if args.model:
        changes["model"] = args.model
    cells = select_cells(
        args.task,
        profile,
        runners=args.runner,
        domains=args.domain,
        shots=args.shots,
        seeds=args.seed,
        validation=args.validation,
        test_limit=args.test_limit,
        test_domain=args.test_domain or "",
        changes=changes,
    )
    return cells, profile.name if profile else ""


def cmd_run(args: argparse.Namespace) -> int:
    """Run a grid of cells (like/dislike or next-item), locally or on Ray; one summary line."""
    from bench.grid.local import run_grid

    cells, profile = grid_cells(args)
    if not cells:
        raise UsageError("no cells to run: give at least one runner, domain and seed")
    if args.no_cache:
        os.environ["BENCH_SCORE_CACHE"] = "0"  # read by llm.score_cache (and Ray's tasks)
    results_dir = args.results_dir or (Path("runs") / profile if profile else Path("runs"))
    started = time.perf_counter()
    jobs = None
    if args.executor == "ray":
        from bench.grid.ray_executor import run_grid_ray

        summary = run_grid_ray(
            cells, results_dir, args.force, args.fail_fast, args.quiet, args.address
        )
    else:
        jobs = args.jobs or config.default_jobs()
        summary = run_grid(cells, results_dir, args.force, args.fail_fast, args.quiet, jobs)
    wall_s = time.perf_counter() - started
    line = {
        "command": invocation(),
        "task": cells[0].task,
        "profile": profile,
        "cells": len(cells),
        "computed": len(summary.computed),
        "failed": len(summary.failed),
        "jobs": jobs,
        "wall_s": round(wall_s, 1),
        "cells_run_s": round(summary.run_seconds, 1),
        "grid_overhead_s": round(summary.overhead_seconds, 2),
        "environment": environment(),
    }
    try:
        append_line(results_dir / GRID_LOG, json.dumps(line, sort_keys=True))
    except OSError as error:  # the records are written; say what is missing and go on
        print(
            f"warning: {error.filename}: {error.strerror}: this run is not logged", file=sys.stderr
        )
    print(
        f"{len(cells)} cells: {len(summary.computed)} computed, {len(summary.reused)} reused, "
        f"{len(summary.failed)} failed in {wall_s:.1f} s; records in {results_dir}"
    )
    if summary.computed:
        print(
            f"grid overhead {summary.overhead_seconds:.2f} s = "
            f"{100 * summary.overhead_fraction:.2f}% of the computed cells' fit + scoring time"
        )
    for cell, message in summary.failed:
        print(f"failed: {cell.record_path(results_dir)}: {message}", file=sys.stderr)
    if any(outcome.usage for outcome in summary.outcomes):
        return 2  # bad input, as for a usage error before the grid
    return 1 if summary.failed else 0


def natural(text: str) -> int:
    """A whole number >= 0 (argparse type: anything else is a usage error, exit 2)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def positive(text: str) -> int:
    """A whole number >= 1."""
    if natural(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def add_parser(commands: Any) -> None:
    """Add this subcommand to ``python -m bench``'s parser."""
    run = commands.add_parser("run", help="run runners x domains x shots x seeds")
    run.add_argument("--all", action="store_true", help="the whole grid of --profile")
    run.add_argument(
        "--task",
        help="like (TALLRec, the default), next-item (LLaRA) or a plugin's (bench list)",
    )
    run.add_argument(
        "--profile",
        help="paper, quick (default with --all), ci, next-item-cpu (default with --all "
        "--task next-item), next-item-paper, or a .yaml",
    )
    run.add_argument(
        "--runner",
        "--runners",
        nargs="+",
        help=f"like: {', '.join(RUNNERS.names())}; next-item: "
        f"{', '.join(NEXT_ITEM_RUNNERS.names())}; module:Class for your own; "
        "`bench list RUNNER` shows its --set keys",
    )
    run.add_argument("--domain", "--domains", nargs="+", help="default: movie book")
    run.add_argument("--shots", nargs="+", type=positive, help="default: 16 64 256")
    run.add_argument("--seed", "--seeds", nargs="+", type=natural, help="default: 0 1 2 3 4")
    run.add_argument("--validation", choices=VALIDATION_MODES, help="default: full")
    run.add_argument(
        "--results-dir", type=Path, help="default: runs/<profile>/ with a profile, else runs/"
    )
    run.add_argument("--force", action="store_true", help="recompute cells that have a record")
    run.add_argument(
        "--no-cache",
        action="store_true",
        help="LLM runners: compute every score, neither reading nor filling the score cache",
    )
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failing cell")
    run.add_argument("--executor", choices=("local", "ray"), default="local", help="default: local")
    run.add_argument(
        "--jobs",
        type=positive,
        help="local executor: cells side by side in this many worker processes (default: "
        "CPUs / BENCH_THREADS, i.e. every CPU with 1 thread per cell; 1 with a CUDA device)",
    )
    run.add_argument("--address", help="ray executor: cluster address (default: a local Ray)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a runner setting (repeatable), e.g. --set dtype=bfloat16 --set demos=8; "
        "`bench list RUNNER` lists them",
    )
    run.add_argument(
        "--model", help="LLM runners: Hugging Face id, local folder or .gguf (= --set model=...)"
    )
    run.add_argument("--test-domain", help="LLM runners: test on another domain (cross-domain)")
    run.add_argument(
        "--test-limit",
        type=positive,
        metavar="N",
        help="score a fixed subset of N test samples (smoke runs; marked in tables)",
    )
    run.set_defaults(handler=cmd_run)
