"""python -m bench: build data, draw few-shot manifests, run runners, compare AUC tables."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from bench import config
from bench.data.datastore import build_domain, domain_dir, load_domain, read_verified
from bench.data.splits import (
    PAPER_SEEDS,
    PAPER_SHOTS,
    VALIDATION_MODES,
    make_fewshot,
    manifest_path,
    read_manifest,
    write_manifest,
)
from bench.data.tallrec_format import write_tallrec_files
from bench.errors import BenchError, DataError, UsageError
from bench.files import atomic_write_text
from bench.registry import DOMAINS, NEXT_ITEM_DOMAINS, NEXT_ITEM_RUNNERS, PAPER_DOMAINS, RUNNERS
from bench.report.compare import (
    GRID_LOG,
    auc_table,
    collect,
    cross_domain_table,
    deduplicate,
    failed_cells,
    pool_notes,
    provenance,
    seed_range_table,
)
from bench.report.paper import PAPER_AUC, rerun_note
from bench.store.records import COMMAND_VARIABLE, environment, invocation
from bench.store.scores import read_scores, write_scores
from bench.tasks.like import Cell, loaded_domain

if TYPE_CHECKING:
    from bench.tasks.next_item import NextItemCell

TASKS = ("like", "next-item")

EPILOG = """examples:
  python -m bench data build --domain all
  python -m bench data export-tallrec --domain movie --out exported/
  python -m bench split --domain all --shots 16 64 256 --seeds 0 1 2 3 4
  python -m bench run --runner sasrec --domain movie --shots 64 --seed 0
  python -m bench run --runner tallrec-cpu --domain movie --shots 16 --seed 0
  python -m bench run --runner tallrec --model /models/llama-7b --set load_in_8bit=true
  python -m bench run --runner icl-api --set endpoint=https://api.openai.com/v1
  python -m bench compare --with-paper --format markdown
  python -m bench run --task next-item --runner sasrec icl llara-cpu --domain lastfm
  python -m bench run --all --task next-item --executor ray
  python -m bench compare --task next-item
  python -m bench list
"""


def _domains(value: str) -> list[str]:
    return list(PAPER_DOMAINS) if value == "all" else [DOMAINS.check(value)]


def cmd_build(args: argparse.Namespace) -> int:
    """Build domains into the cache."""
    next_item = NEXT_ITEM_DOMAINS.names()
    names = [args.domain] if args.domain in next_item else _domains(args.domain)
    for name in tqdm(names, desc="build", unit="domain", disable=args.quiet):
        path = build_domain(name, force=args.force)
        print(f"{name}: {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write TALLRec instruction files."""
    for name in _domains(args.domain):
        domain, _ = load_domain(name)
        for path in write_tallrec_files(domain, args.out):
            print(path)
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    """Draw few-shot manifests into the cache (or ``--out``)."""
    grid = [
        (name, shots, seed)
        for name in _domains(args.domain)
        for shots in args.shots
        for seed in args.seeds
    ]
    loaded = {name: load_domain(name) for name in dict.fromkeys(name for name, _, _ in grid)}
    manifests = [
        make_fewshot(loaded[name][0], loaded[name][1], shots, seed, args.validation)
        for name, shots, seed in grid
    ]
    for manifest in tqdm(manifests, desc="split", unit="manifest", disable=args.quiet):
        path = manifest_path(manifest.domain, manifest.n_shots, manifest.seed, args.validation)
        if args.out is not None:
            path = args.out / manifest.domain / path.name
        if path.exists() and not args.force:
            try:
                existing = read_manifest(path, manifest.data_sha256)
            except DataError as error:
                raise DataError(f"{error} (or delete {path})") from None
            if existing != manifest:
                raise DataError(f"manifest {path} differs from a fresh draw: rerun with --force")
        else:
            write_manifest(manifest, path)
        print(f"{path}  sha256={manifest.sha256[:12]}")
    return 0


def grid_cells(args: argparse.Namespace) -> tuple[list[Cell] | list[NextItemCell], str]:
    """The cells ``bench run`` was asked for, and the profile they come from ('' for none).

    The task is ``--task``, else the profile's; ``--all`` without ``--profile`` takes the
    task's default profile (quick, or next-item-cpu).
    """
    from bench.grid.cells import cells_of, next_item_cells
    from bench.grid.profiles import load_profile
    from bench.tasks.runner import parse_setting

    default_profile = "next-item-cpu" if args.task == "next-item" else "quick"
    wanted = args.profile or (default_profile if args.all else None)
    profile = load_profile(wanted) if wanted else None
    task = args.task or (profile.task if profile else "like")
    if profile is not None and profile.task != task:
        raise UsageError(f"profile {profile.name} is a {profile.task} profile, not {task}")
    if profile is None and not args.runner:
        raise UsageError("give --runner NAME... or --all [--profile NAME|FILE.yaml]")
    changes = dict(parse_setting(text) for text in args.set)
    if args.model:
        changes["model"] = args.model
    name = profile.name if profile else ""
    if task == "next-item":
        if args.shots or args.validation or args.test_domain:
            raise UsageError(
                "--task next-item has no --shots, --validation or --test-domain: "
                "they belong to the like/dislike task"
            )
        return next_item_cells(
            profile, args.runner, args.domain, args.seed, args.test_limit, changes
        ), name
    cells = cells_of(
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
    return cells, name


def cmd_run(args: argparse.Namespace) -> int:
    """Run a grid of cells (like/dislike or next-item), locally or on Ray; one summary line."""
    from bench.grid.local import run_grid

    cells, profile = grid_cells(args)
    if not cells:
        raise UsageError("no cells to run: give at least one runner, domain and seed")
    results_dir = args.results_dir or (Path("runs") / profile if profile else Path("runs"))
    started = time.perf_counter()
    if args.executor == "ray":
        from bench.grid.ray_executor import run_grid_ray

        summary = run_grid_ray(
            cells, results_dir, args.force, args.fail_fast, args.quiet, args.address
        )
    else:
        summary = run_grid(cells, results_dir, args.force, args.fail_fast, args.quiet)
    wall_s = time.perf_counter() - started
    line = {
        "command": invocation(),
        "task": cells[0].task,
        "profile": profile,
        "cells": len(cells),
        "computed": len(summary.computed),
        "failed": len(summary.failed),
        "wall_s": round(wall_s, 1),
        "cells_run_s": round(summary.run_seconds, 1),
        "grid_overhead_s": round(summary.overhead_seconds, 2),
        "environment": environment(),
    }
    log_path = results_dir / GRID_LOG
    previous = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
    atomic_write_text(log_path, previous + json.dumps(line, sort_keys=True) + "\n")
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
    return 1 if summary.failed else 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Print (or write) the AUC table of the records in the results folder."""
    results_dir = args.results_dir or (
        Path("runs") / args.profile if args.profile else Path("runs")
    )
    fmt = {"markdown": "github", "text": "simple", "latex": "latex", "csv": "tsv"}[args.format]
    if args.task is None:  # a shipped or given profile decides; a bare folder name: like
        from bench.grid.profiles import load_profile, profile_names

        named = args.profile and (args.profile in profile_names() or Path(args.profile).is_file())
        args.task = load_profile(args.profile).task if named else "like"
    if args.task == "next-item":
        from bench.report.nextitem_compare import (
            collect_next_item,
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
            next_item_table(records, fmt), args, records, results_dir, next_item_provenance
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
    table = auc_table(records, args.with_paper, fmt, failed=failed)
    table += "\n\n* best mean in its column"
    table += "".join(f"\n\n{note}" for note in pool_notes(records))
    if args.with_paper and any(r.runner in PAPER_AUC and "template" in r.config for r in records):
        table += f"\n\n{rerun_note()}"
    if args.format == "markdown":
        ranges = seed_range_table(records, fmt)
        table += f"\n\nRange over seeds (lowest–highest AUC x 100):\n\n{ranges}" if ranges else ""
    cross = cross_domain_table(records, fmt)
    if cross:
        table += "\n\nCross-domain (train on one domain, test on the other):\n\n" + cross
    if args.stats:
        table += "\n\n" + _stats(records, fmt)
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


def _stats(records: list, fmt: str) -> str:
    """The ``--stats`` block: each LLM row against the paper's baselines, by test unit."""
    from bench.report.stats import comparison_notes, comparison_table, llm_comparisons

    def users_of(name: str) -> dict[str, str]:
        domain, _ = loaded_domain(name)
        return {s.sample_id: s.user_id for s in domain.samples("test")}

    groups, skipped = llm_comparisons(records, users_of)
    notes = "".join(f"\n- not compared: {line}" for line in skipped)
    if not groups:
        return "No LLM row shares a column, test subset and seed with a paper baseline." + notes
    return (
        "LLM rows against the paper's baselines, paired on the same test samples and seeds "
        "(cluster bootstrap and DeLong):\n\n"
        + comparison_notes(groups)
        + notes
        + "\n\n"
        + comparison_table(groups, fmt)
    )


def _emit(
    table: str, args: argparse.Namespace, records: list, results_dir: Path, describe: Any
) -> int:
    """Print ``table``, or write it (Markdown: with ``describe``'s provenance) to ``--out``."""
    if args.out is None:
        print(table)
        return 0
    if args.format == "markdown":
        command = invocation()
        table = describe(records, results_dir, command) + "\n\n" + table
    atomic_write_text(args.out, table + "\n")
    print(args.out)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Re-run a profile (ci, ci-next) and compare its figures with the committed reference."""
    import tempfile

    from bench.grid.check import (
        TOLERANCE,
        compare,
        measure,
        read_reference,
        reference_path,
        write_reference,
    )

    args.reference = args.reference or reference_path(args.profile)
    args.tolerance = TOLERANCE if args.tolerance is None else args.tolerance
    results_dir = args.results_dir or Path(tempfile.mkdtemp(prefix="bench-check-"))
    measured, failed = measure(results_dir, args.profile, quiet=args.quiet)
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    if args.update:
        old = read_reference(args.reference)["cells"] if args.reference.exists() else {}
        print(compare(measured, old, args.tolerance).table)
        if failed:
            print("reference not written: some cells failed", file=sys.stderr)
            return 1
        command = invocation()
        write_reference(args.reference, measured, command, args.tolerance, args.profile)
        print(f"wrote {args.reference}")
        return 0
    result = compare(measured, read_reference(args.reference)["cells"], args.tolerance)
    print(result.table)
    if result.failures or failed:
        print(
            f"{Path(args.profile).stem} check failed ({len(result.failures)} cells), records in "
            f"{results_dir}:",
            file=sys.stderr,
        )
        for line in result.failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    name = Path(args.profile).stem
    print(f"{name} check passed: {len(measured)} figures within {args.tolerance}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Show domains (and whether they are built), validation modes and the data folders."""
    print(f"data dir:  {config.data_dir()}")
    print(f"cache dir: {config.cache_dir()}")
    print("domains:")
    for name in DOMAINS.names():
        try:
            manifest, _ = read_verified(name)
        except DataError:
            print(f"  {name:8} not built (python -m bench data build --domain {name})")
            continue
        counts = manifest["counts"]
        sizes = ", ".join(
            f"{split} {counts[split]['samples']} ({counts[split]['likes']} likes)"
            for split in ("train", "valid", "test")
        )
        print(f"  {name:8} {sizes}; {counts['items']} items; data {manifest['data_sha256'][:12]}")
        print(f"           {domain_dir(name)}")
    print(f"runners: {', '.join(RUNNERS.names())}")
    print(f"next-item domains: {', '.join(NEXT_ITEM_DOMAINS.names())} (built on first use)")
    print(f"next-item runners: {', '.join(NEXT_ITEM_RUNNERS.names())}")
    print(f"validation modes: {', '.join(VALIDATION_MODES)}")
    print(f"paper grid: shots {list(PAPER_SHOTS)} x seeds {list(PAPER_SEEDS)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or logs")
    commands = parser.add_subparsers(dest="command", required=True)
    domain_help = f"one of {', '.join(DOMAINS.names())}, or all ({', '.join(PAPER_DOMAINS)})"

    data = commands.add_parser("data", help="build the canonical datasets, export TALLRec files")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    build = data_commands.add_parser("build", help="build domains into the cache")
    build.add_argument("--domain", default="all", help=domain_help)
    build.add_argument("--force", action="store_true", help="rebuild even if a valid build exists")
    build.set_defaults(handler=cmd_build)
    export = data_commands.add_parser(
        "export-tallrec", help="write OUT/<domain>/{train,valid,test}.json in TALLRec's format"
    )
    export.add_argument("--domain", default="all", help=domain_help)
    export.add_argument("--out", type=Path, required=True, help="output folder")
    export.set_defaults(handler=cmd_export)

    split = commands.add_parser("split", help="draw the shared few-shot manifests")
    split.add_argument("--domain", default="all", help=domain_help)
    split.add_argument("--shots", type=int, nargs="+", default=list(PAPER_SHOTS))
    split.add_argument("--seeds", type=int, nargs="+", default=list(PAPER_SEEDS))
    split.add_argument("--validation", choices=VALIDATION_MODES, default="full")
    split.add_argument("--out", type=Path, help="folder for manifests (default: the cache)")
    split.add_argument("--force", action="store_true", help="replace manifests that differ")
    split.set_defaults(handler=cmd_split)

    run = commands.add_parser("run", help="run runners x domains x shots x seeds")
    run.add_argument("--all", action="store_true", help="the whole grid of --profile")
    run.add_argument(
        "--task", choices=TASKS, help="like (TALLRec, the default) or next-item (LLaRA)"
    )
    run.add_argument(
        "--profile",
        help="paper, quick (default with --all), ci, next-item-cpu (default with --all "
        "--task next-item), next-item-paper, or a .yaml",
    )
    run.add_argument("--runner", "--runners", nargs="+", help=", ".join(RUNNERS.names()))
    run.add_argument("--domain", "--domains", nargs="+", help="default: movie book")
    run.add_argument("--shots", nargs="+", type=int, help="default: 16 64 256")
    run.add_argument("--seed", "--seeds", nargs="+", type=int, help="default: 0 1 2 3 4")
    run.add_argument("--validation", choices=VALIDATION_MODES, help="default: full")
    run.add_argument(
        "--results-dir", type=Path, help="default: runs/<profile>/ with a profile, else runs/"
    )
    run.add_argument("--force", action="store_true", help="recompute cells that have a record")
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failing cell")
    run.add_argument("--executor", choices=("local", "ray"), default="local", help="default: local")
    run.add_argument("--address", help="ray executor: cluster address (default: a local Ray)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a runner setting (repeatable), e.g. --set dtype=bfloat16 --set demos=8",
    )
    run.add_argument(
        "--model", help="LLM runners: Hugging Face id, local folder or .gguf (= --set model=...)"
    )
    run.add_argument("--test-domain", help="LLM runners: test on another domain (cross-domain)")
    run.add_argument(
        "--test-limit",
        type=int,
        metavar="N",
        help="score a fixed subset of N test samples (smoke runs; marked in tables)",
    )
    run.set_defaults(handler=cmd_run)

    compare = commands.add_parser("compare", help="AUC table of the run records")
    compare.add_argument("--profile", help="read runs/<profile>/ (default: all of runs/)")
    compare.add_argument(
        "--task", choices=TASKS, help="like (TALLRec) or next-item; default: the profile's, or like"
    )
    compare.add_argument("--results-dir", type=Path, help="default: runs/<profile>/ or runs/")
    compare.add_argument("--format", choices=("markdown", "text", "latex", "csv"), default="text")
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

    check = commands.add_parser("check", help="re-run a profile, compare its figures (CI)")
    check.add_argument(
        "--reference", type=Path, default=None, help="default: reports/reference/<profile>.json"
    )
    check.add_argument("--tolerance", type=float, default=None, help="default: 0.005")
    check.add_argument("--profile", default="ci", help="default: ci; ci-next for next-item")
    check.add_argument("--update", action="store_true", help="rewrite the reference, print diff")
    check.add_argument("--results-dir", type=Path, help="default: a fresh temporary folder")
    check.set_defaults(handler=cmd_check)

    listing = commands.add_parser("list", help="domains, validation modes, data folders")
    listing.set_defaults(handler=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; a BenchError becomes one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    words = sys.argv[1:] if argv is None else list(argv)
    caller = os.environ.get(COMMAND_VARIABLE)
    os.environ[COMMAND_VARIABLE] = shlex.join(["python", "-m", "bench", *words])  # records
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("recbole", "sentence_transformers", "httpx", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.handler(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:  # an in-process caller (tests, the API) keeps its own command
        if caller is None:
            os.environ.pop(COMMAND_VARIABLE, None)
        else:
            os.environ[COMMAND_VARIABLE] = caller
