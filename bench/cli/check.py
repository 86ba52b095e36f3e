"""`bench check`: CI's regression guard on a profile's figures."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.store.records import invocation

if TYPE_CHECKING:
    pass


def cmd_check(args: argparse.Namespace) -> int:
    """Re-run a profile (ci, ci-next) and compare its figures with the committed reference."""
    import tempfile

    from bench.grid.check import TOLERANCE, read_reference, reference_path

    args.reference = args.reference or reference_path(args.profile)
    args.tolerance = TOLERANCE if args.tolerance is None else args.tolerance
    reference = None if args.update else read_reference(args.reference)  # before any cell
    temporary = args.results_dir is None
    results_dir = args.results_dir or Path(tempfile.mkdtemp(prefix="bench-check-"))
    os.environ["BENCH_SCORE_CACHE"] = "0"  # the check runs the scorer, never the cache
    try:
        status = _check(args, results_dir, reference)
    except BaseException:
        if temporary:
            shutil.rmtree(results_dir, ignore_errors=True)
        raise
    if temporary and status == 0:  # a failed check keeps its records for a look
        shutil.rmtree(results_dir, ignore_errors=True)
    return status


def _check(args: argparse.Namespace, results_dir: Path, reference: dict | None) -> int:
    """Measure the profile into ``results_dir``, then compare (or write the reference)."""
    from bench.grid.check import compare, measure, read_reference, write_reference

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
    result = compare(measured, reference["cells"], args.tolerance)
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


def add_parser(commands: Any) -> None:
    """Add this subcommand to ``python -m bench``'s parser."""
    check = commands.add_parser("check", help="re-run a profile, compare its figures (CI)")
    check.add_argument(
        "--reference", type=Path, default=None, help="default: reports/reference/<profile>.json"
    )
    check.add_argument("--tolerance", type=float, default=None, help="default: 0.005")
    check.add_argument("--profile", default="ci", help="default: ci; ci-next for next-item")
    check.add_argument("--update", action="store_true", help="rewrite the reference, print diff")
    check.add_argument("--results-dir", type=Path, help="default: a fresh temporary folder")
    check.set_defaults(handler=cmd_check)
