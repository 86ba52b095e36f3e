"""`bench list`: domains, runners, profiles, validation modes, data folders; a runner's settings."""

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
from bench.errors import DataError, UsageError
from bench.grid.profiles import load_profile, profile_names
from bench.registry import DOMAINS, NEXT_ITEM_DOMAINS, NEXT_ITEM_RUNNERS, RUNNERS, TASKS

if TYPE_CHECKING:
    pass


def cmd_list(args: argparse.Namespace) -> int:
    """Show domains (and whether they are built), validation modes and the data folders."""
    if args.runner:
        return _list_settings(args.runner)
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
    print("profiles (--profile NAME, or a .yaml file of your own):")
    for name in profile_names():
        description = " ".join(load_profile(name).description.split())
        print(f"  {name:15} {description[:100] + ('…' if len(description) > 100 else '')}")
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


def _list_settings(name: str) -> int:
    """A runner's ``--set`` keys: type, default and the line that explains each."""
    registries = [r for r in (RUNNERS, NEXT_ITEM_RUNNERS) if name in r.names()]
    if not registries:
        known = sorted({*RUNNERS.names(), *NEXT_ITEM_RUNNERS.names()})
        raise UsageError(f"unknown runner {name!r}: use one of {', '.join(known)}")
    for registry in registries:
        runner = registry.load(name)
        task = "like/dislike" if registry is RUNNERS else "next-item"
        doc = (runner.__doc__ or "").strip().splitlines()
        print(f"{name} ({task} runner{': ' + doc[0] if doc else ''})")
        rows = setting_rows(runner)
        if not rows:
            print("  no settings (--set takes none)")
            continue
        print("  settings (--set KEY=VALUE; a profile's settings: or runner@KEY=VALUE):")
        width = max(len(row[0]) for row in rows)
        for key, kind, default, help_line in rows:
            print(
                f"  {key:{width}}  {kind} = {default}" + (f"  # {help_line}" if help_line else "")
            )
    return 0


def setting_rows(runner: type) -> list[tuple[str, str, str, str]]:
    """(key, type, default, help) of each field of a runner's frozen ``settings``.

    The help is the field's trailing comment in its dataclass (or ``metadata["help"]``).
    """
    import inspect
    import json
    import re
    import typing
    from dataclasses import fields, is_dataclass

    settings = getattr(runner, "settings", None)
    if not is_dataclass(settings):
        return []
    comments: dict[str, str] = {}
    for klass in reversed(type(settings).__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            found = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.+)", line)
            if found:
                comments[found[1]] = found[2].strip()
    hints = typing.get_type_hints(type(settings))
    rows = []
    for item in fields(settings):
        hint = hints.get(item.name, item.type)
        kind = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
        value = getattr(settings, item.name)
        default = json.dumps(list(value) if isinstance(value, tuple) else value, default=str)
        help_line = item.metadata.get("help") or comments.get(item.name, "")
        rows.append((item.name, kind or str(hint).replace("typing.", ""), default, help_line))
    return rows


def add_parser(commands: Any) -> None:
    """Add this subcommand to ``python -m bench``'s parser."""
    listing = commands.add_parser(
        "list",
        help="domains, runners, profiles, data folders; `list RUNNER`: its settings",
    )
    listing.add_argument(
        "runner", nargs="?", help="a runner: list its --set keys, types, defaults and help"
    )
    listing.set_defaults(handler=cmd_list)
