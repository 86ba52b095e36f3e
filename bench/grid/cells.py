"""The cells of a grid: a profile's (or the paper's) runners x domains x shots x seeds.

Unknown runners, domains or settings fail here, before any cell runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.data.splits import PAPER_SEEDS, PAPER_SHOTS
from bench.errors import UsageError
from bench.grid.profiles import TASKS, Profile
from bench.registry import (
    DOMAINS,
    NEXT_ITEM_DOMAINS,
    NEXT_ITEM_RUNNERS,
    PAPER_DOMAINS,
    RUNNERS,
    Registry,
)
from bench.tasks.like import Cell
from bench.tasks.next_item import NextItemCell
from bench.tasks.runner import parse_runner_spec, with_settings


def cells_of(
    profile: Profile | None,
    runners: Sequence[str] | None = None,
    domains: Sequence[str] | None = None,
    shots: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    validation: str | None = None,
    test_limit: int | None = None,
    test_domain: str = "",
    changes: dict[str, Any] | None = None,
) -> list[Cell]:
    """The cells of ``profile`` (or of the paper's grid), narrowed or changed by the arguments.

    Unknown runners, domains or settings fail here, before any cell runs.
    """
    if profile is not None and profile.task != "like":
        raise UsageError(f"profile {profile.name} is a {profile.task} profile, not like/dislike")
    domains = list(domains or (profile.domains if profile else PAPER_DOMAINS))
    for name in [*domains, *([test_domain] if test_domain else [])]:
        DOMAINS.check(name)
    if test_limit is None:
        test_limit = profile.test_limit if profile else 0
    return [
        Cell(
            runner,
            domain,
            k,
            seed,
            validation or (profile.validation if profile else "full"),
            test_domain,
            test_limit,
            settings,
            profile.name if profile else "",
        )
        for domain in domains
        for k in shots or (profile.shots if profile else PAPER_SHOTS)
        for seed in seeds or (profile.seeds if profile else PAPER_SEEDS)
        for runner, settings in runner_variants(RUNNERS, profile, runners, changes)
    ]


def runner_variants(
    registry: Registry,
    profile: Profile | None,
    runners: Sequence[str] | None,
    changes: dict[str, Any] | None,
) -> list[tuple[str, tuple[tuple[str, Any], ...]]]:
    """(runner name, sorted settings) per runner entry: the profile's, the entry's, ``changes``.

    Entries are names or ``name@key=value,...``; an unknown runner or setting fails here.
    """
    out = []
    for spec in runners or (profile.runners if profile else ()):
        name, own = parse_runner_spec(spec)
        merged = (profile.runner_settings(spec) if profile else own) | (changes or {})
        runner = registry.load(name)  # unknown names, imports and protocols fail here
        if merged:
            if not hasattr(runner, "settings"):
                raise UsageError(
                    f"runner {name} has no settings to change ({', '.join(sorted(merged))}): "
                    "drop --set or its profile settings"
                )
            with_settings(runner, **merged)
        out.append((name, tuple(sorted(merged.items()))))
    return out


def next_item_cells(
    profile: Profile | None,
    runners: Sequence[str] | None = None,
    domains: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    test_limit: int | None = None,
    changes: dict[str, Any] | None = None,
) -> list[NextItemCell]:
    """The cells of a next-item ``profile`` (or of ``runners``), narrowed by the arguments.

    Unknown runners, domains or settings fail here, before any cell runs.
    """
    domains = [
        NEXT_ITEM_DOMAINS.check(d)
        for d in domains or (profile.domains if profile else NEXT_ITEM_DOMAINS.names())
    ]
    if test_limit is None:
        test_limit = profile.test_limit if profile else 0
    return [
        NextItemCell(runner, domain, seed, settings, test_limit, profile.name if profile else "")
        for domain in domains
        for seed in seeds or (profile.seeds if profile else [0])
        for runner, settings in runner_variants(NEXT_ITEM_RUNNERS, profile, runners, changes)
    ]


def select_cells(
    task: str | None,
    profile: Profile | None,
    runners: Sequence[str] | None = None,
    domains: Sequence[str] | None = None,
    shots: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    validation: str | None = None,
    test_limit: int | None = None,
    test_domain: str = "",
    changes: dict[str, Any] | None = None,
) -> list[Cell] | list[NextItemCell]:
    """The cells of a ``bench run`` or ``bench.evaluate`` call, of ``task`` or the profile's.

    Refuses a profile of another task, a call with neither runners nor a profile, and the
    like/dislike task's axes given to the next-item task.
    """
    task = task or (profile.task if profile else "like")
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}: use one of {', '.join(TASKS)}")
    if profile is not None and profile.task != task:
        raise UsageError(f"profile {profile.name} is a {profile.task} profile, not {task}")
    if profile is None and not runners:
        raise UsageError(
            "give --runner NAME... or --all [--profile NAME|FILE.yaml] "
            "(from Python: runners=[...] or profile=...)"
        )
    if task == "next-item":
        if shots or validation or test_domain:
            raise UsageError(
                "--task next-item has no --shots, --validation or --test-domain: "
                "they belong to the like/dislike task"
            )
        return next_item_cells(profile, runners, domains, seeds, test_limit, changes)
    return cells_of(
        profile, runners, domains, shots, seeds, validation, test_limit, test_domain, changes
    )
