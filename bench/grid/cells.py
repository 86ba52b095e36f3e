"""The cells of a grid: a task's runners x domains x seeds and its own axes (like: shots).

Every task's cells are selected here, from a profile or from the arguments of ``bench run``
and ``bench.evaluate``; unknown tasks, runners, domains or settings fail before any cell runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.errors import UsageError
from bench.grid.profiles import Profile
from bench.registry import TASKS, Registry
from bench.tasks.runner import parse_runner_spec, with_settings


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
            with_settings(runner, **merged)  # unknown or mistyped settings fail here
        out.append((name, tuple(sorted(merged.items()))))
    return out


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
) -> list:
    """The cells of a ``bench run`` or ``bench.evaluate`` call, of ``task`` or the profile's.

    Refuses a profile of another task, a call with neither runners nor a profile, and axes
    the task does not have (``shots``, ``validation``, ``test_domain`` are the like task's).
    """
    name = task or (profile.task if profile else "like")
    found = TASKS.load(name)
    if profile is not None and profile.task != name:
        raise UsageError(f"profile {profile.name} is a {profile.task} profile, not {name}")
    if profile is None and not runners:
        raise UsageError(
            "give --runner NAME... or --all [--profile NAME|FILE.yaml] "
            "(from Python: runners=[...] or profile=...)"
        )
    axes = {"shots": shots, "validation": validation, "test_domain": test_domain}
    axes = {axis: value for axis, value in axes.items() if value}
    foreign = sorted(set(axes) - set(found.axes))
    if foreign:
        flags = ", ".join(f"--{axis.replace('_', '-')}" for axis in foreign)
        raise UsageError(f"--task {name} has no {flags}: drop {flags}")
    wanted = domains or (profile.domains if profile else found.default_domains)
    if test_limit is None:
        test_limit = profile.test_limit if profile else 0
    return found.make_cells(
        variants=runner_variants(found.runners, profile, runners, changes),
        domains=[found.domains.check(domain) for domain in wanted],
        seeds=list(seeds or (profile.seeds if profile else found.default_seeds)),
        test_limit=test_limit,
        profile=profile,
        axes=axes,
    )


def profile_cells(profile: Profile) -> list:
    """Every cell of ``profile``, of its task."""
    return select_cells(None, profile)
