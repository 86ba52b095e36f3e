"""`bench import-scores`: another framework's per-sample scores as a run record."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_import(args: argparse.Namespace) -> int:
    """Check the file against the test split, write its record, print where and its AUC."""
    from bench.tasks.imported import Import, import_scores

    spec = Import(args.file, args.runner, args.domain, args.shots, args.seed, args.validation)
    record, written = import_scores(spec, args.results_dir, args.force)
    path = record.runner_label, record.domain, f"k{record.n_shots}", f"seed {record.seed}"
    subset = f"fixed subset of {record.test_limit}" if record.test_limit else "whole test split"
    print(
        f"{'imported' if written else 'already imported'} {' '.join(path)}: AUC "
        f"{record.auc:.4f} on {len(record.predictions)} samples ({subset}) into {args.results_dir}"
    )
    return 0


def add_parser(commands: Any) -> None:
    """Add this subcommand to ``python -m bench``'s parser."""
    found = commands.add_parser(
        "import-scores",
        help="a file of sample_id,score from another framework as a run record",
        description="Read FILE (CSV with a sample_id,score header, or .jsonl), check that its "
        "ids are exactly a domain's test split or one of its fixed subsets and that each "
        "score is in [0, 1], and write a run record of it (file name and sha256 kept).",
    )
    found.add_argument("file", type=Path, metavar="FILE")
    found.add_argument("--runner", required=True, help="the method's name in the table")
    found.add_argument("--domain", required=True, help="movie or book (bench list)")
    found.add_argument("--shots", type=int, required=True, help="few-shot samples it trained on")
    found.add_argument("--seed", type=int, required=True, help="the few-shot draw's seed")
    found.add_argument("--validation", default="full", help="the draw's validation mode")
    found.add_argument("--results-dir", type=Path, default=Path("runs"), help="default: runs/")
    found.add_argument("--force", action="store_true", help="replace a record of other scores")
    found.set_defaults(handler=cmd_import)
