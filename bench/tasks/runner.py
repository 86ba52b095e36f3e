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
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from bench.data.domain import Domain
from bench.data.schema import Sample
from bench.data.splits import FewShotManifest

# A runner may keep resumable state in ``<workdir>/checkpoint`` (LoRA training does, after
# every optimizer step); the folder is removed once the cell's record is written.
CHECKPOINT = "checkpoint"


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
    """A runner class like ``runner`` whose frozen ``settings`` have some fields changed.

    Each value is checked against the field's type (a string where a number belongs, a
    fraction for a whole number) and refused in one line naming the setting.
    """
    import typing

    from bench.errors import UsageError

    settings = getattr(runner, "settings", None)
    if not is_dataclass(settings):
        raise UsageError(f"runner {runner.name} has no settings: drop --set {', '.join(changes)}")
    hints = typing.get_type_hints(type(settings))
    known = {f.name for f in fields(settings)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise UsageError(
            f"runner {runner.name} has no setting {', '.join(unknown)}: "
            f"use one of {', '.join(sorted(known))}"
        )
    typed = {key: _typed(runner.name, key, value, hints.get(key)) for key, value in changes.items()}
    return type(runner.__name__, (runner,), {"settings": replace(settings, **typed)})


def _typed(runner: str, key: str, value: Any, hint: Any) -> Any:
    """``value`` as the settings field ``hint`` wants it, or a one-line usage error."""
    import types
    import typing

    from bench.errors import UsageError

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _typed(runner, key, value, option)
            except UsageError:
                continue
        wanted = " or ".join(getattr(a, "__name__", str(a)) for a in args)
    elif hint is type(None):
        if value is None:
            return None
        wanted = "null"
    elif hint is bool:
        if isinstance(value, bool):
            return value
        wanted = "true or false"
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        wanted = "a whole number"
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        wanted = "a number"
    elif hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # a name such as a model id that reads as a number
        wanted = "text"
    elif origin is tuple:
        if isinstance(value, list | tuple) and all(
            isinstance(part, args[0]) for part in value if args and args[0] is not Any
        ):
            return tuple(value)
        wanted = "a list"
    elif origin is dict or hint is dict:
        if isinstance(value, dict):
            return value
        wanted = "a JSON object"
    else:
        return value
    raise UsageError(f"setting {key}={value!r} of runner {runner} is not {wanted}: fix the value")


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
