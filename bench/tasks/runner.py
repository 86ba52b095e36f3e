"""The two runner protocols: like/dislike (``Runner``) and next-item (``NextItemRunner``).

A runner is a class: ``Runner(seed=...)`` makes one run's instance. Shipped runners and a
user's own (``module:Class`` on the command line, an entry point in the groups
``tallrec_bench.runners`` / ``tallrec_bench.next_item_runners``, or
``bench.register_runner``) meet the same protocol; the registry refuses a class that lacks
one of the required methods. Optional, used when present: ``settings`` (a frozen dataclass
whose fields ``--set KEY=VALUE`` changes), ``code_version`` (an int in the run key: raise it
when the code changes results), ``use_domain(domain)`` (like: may test on another domain),
``scoring_notes()`` (like: a dict kept in the record), ``generate(samples)`` (next-item: one
free-text answer per sample).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Protocol

from bench.data.domain import Domain
from bench.data.schema import Sample
from bench.data.splits import FewShotManifest


class Runner(Protocol):
    """Fit on the samples a few-shot manifest names, then score samples.

    ``fit`` may use only the manifest's train and validation samples (and the domain's item
    table); it returns what the run record should keep about training (best epoch, ...).
    ``score`` returns P(like) in [0, 1] for each sample, in order.
    """

    name: str

    def config(self) -> dict[str, Any]:
        """Every setting that can change the result: part of the run key."""
        ...

    def fit(self, domain: Domain, manifest: FewShotManifest, workdir: Path) -> dict[str, Any]:
        """Train (or prepare) on the manifest's samples; ``workdir`` is this run's folder."""
        ...

    def score(self, samples: Sequence[Sample]) -> list[float]:
        """P(like) for each sample, in order."""
        ...


class NextItemRunner(Protocol):
    """Fit on a next-item domain's train split, then score each test sample's candidates.

    ``rank`` returns, per sample, one score per candidate in the sample's order (higher is
    better); the top-scored one is the answer in ``rank`` mode.
    """

    name: str

    def config(self) -> dict[str, Any]:
        """Every setting that can change the result: part of the run key."""
        ...

    def fit(self, domain: Any, data_sha256: str, workdir: Path) -> dict[str, Any]:
        """Train (or prepare); returns what the record keeps about training."""
        ...

    def rank(self, samples: Sequence[Any]) -> list[list[float]]:
        """A score per candidate of each sample."""
        ...


def with_settings(runner: type, **changes: Any) -> type:
    """A runner class like ``runner`` whose frozen ``settings`` have some fields changed."""
    from bench.errors import UsageError

    known = {f.name: f.type for f in fields(runner.settings)}
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise UsageError(
            f"runner {runner.name} has no setting {', '.join(unknown)}: "
            f"use one of {', '.join(sorted(known))}"
        )
    return type(runner.__name__, (runner,), {"settings": replace(runner.settings, **changes)})


def parse_setting(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value as JSON when it parses, else a string."""
    import json

    from bench.errors import UsageError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"setting {text!r} is not key=value: write e.g. --set model=PATH")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_runner_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``name`` or ``name@key=value,key=value`` (a profile's runner entry) -> name, changes.

    The ``@`` form names the same variant a record folder does (``runner@variant``); values
    are read as by :func:`parse_setting`, so they cannot contain commas.
    """
    name, _, variant = spec.partition("@")
    changes = dict(parse_setting(part) for part in variant.split(",")) if variant else {}
    return name, changes
