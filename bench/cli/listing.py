"""`bench list`: domains, runners, validation modes, data folders."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bench import config
from bench.data.datastore import domain_dir, read_verified
from bench.data.splits import (
    PAPER_SEEDS,
    PAPER_SHOTS,
    VALIDATION_MODES,
)
from bench.errors import DataError
from bench.registry import DOMAINS, NEXT_ITEM_DOMAINS, NEXT_ITEM_RUNNERS, RUNNERS, TASKS

if TYPE_CHECKING:
    pass


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
    print("tasks:")
    for name in TASKS.names():
        print(f"  {name:10} {_task_line(name)}")
    print(f"validation modes: {', '.join(VALIDATION_MODES)}")
    print(f"paper grid: shots {list(PAPER_SHOTS)} x seeds {list(PAPER_SEEDS)}")
    return 0


def _task_line(name: str) -> str:
    """A task's axes and default profile, or why it does not load."""
    try:
        task = TASKS.load(name)
    except Exception as error:  # a plugin that does not import: say so, list the rest
        return f"cannot load ({error})"
    axes = " x ".join(("runners", "domains", *task.axes, "seeds"))
    return f"{axes}; bench run --all --task {name} runs profile {task.default_profile}"


def add_parser(commands: Any) -> None:
    """Add this subcommand to ``python -m bench``'s parser."""
    listing = commands.add_parser("list", help="domains, validation modes, data folders")
    listing.set_defaults(handler=cmd_list)
