"""`bench report`: a self-contained HTML report of the like/dislike records."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.errors import UsageError


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report of a results folder (or of score files) to ``--out``."""
    from bench.files import atomic_write_text
    from bench.report.compare import collect, deduplicate, failed_cells
    from bench.report.html import report_html
    from bench.store.records import invocation
    from bench.store.scores import read_scores

    if args.out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {args.out}: the report is HTML: name a .html file")
    if args.scores:
        found = [(f"{path}", r) for path in args.scores for r in read_scores(path)]
        records, problems = deduplicate(found)
        source = "the score files " + ", ".join(f"`{path}`" for path in args.scores)
        failed, grid_dir = frozenset(), None
    else:
        folder = args.results_dir or (Path("runs") / args.profile if args.profile else Path("runs"))
        records, problems = collect(folder)
        source, failed, grid_dir = f"`{folder}`", failed_cells(folder), folder
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    atomic_write_text(args.out, report_html(records, source, invocation(), failed, grid_dir))
    print(args.out)
    return 0


def add_parser(commands: Any) -> None:
    """Add this subcommand to ``python -m bench``'s parser."""
    report = commands.add_parser(
        "report", help="one self-contained HTML file: table, statistics, plots, provenance"
    )
    report.add_argument("--out", type=Path, required=True, help="the .html file to write")
    report.add_argument("--profile", help="read runs/<profile>/ (default: all of runs/)")
    report.add_argument("--results-dir", type=Path, help="default: runs/<profile>/ or runs/")
    report.add_argument(
        "--scores", type=Path, nargs="+", metavar="FILE", help="read score files instead"
    )
    report.set_defaults(handler=cmd_report)
