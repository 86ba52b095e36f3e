"""`bench data build|export-tallrec` and `bench split`: domains and few-shot manifests."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from bench.data.datastore import build_domain, load_domain
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
from bench.errors import DataError
from bench.registry import DOMAINS, NEXT_ITEM_DOMAINS, PAPER_DOMAINS

if TYPE_CHECKING:
    pass


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


def add_parser(commands: Any) -> None:
    """Add this subcommand to ``python -m bench``'s parser."""
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
