"""Profiles: named grids (runners x domains x shots x seeds, and their settings), one YAML each.

``paper`` is the full protocol, ``quick`` every runner on real data in about half an hour on
2 CPU cores, ``ci`` the few-minute subset whose AUCs CI guards (``bench check``); profiles
with ``task: next-item`` are grids of LLaRA's next-item task (runners x domains x seeds, no
shots). A runner entry may name a variant, ``runner@key=value,...``, as its record folder
does. The files live in ``bench/profiles/``; ``--profile FILE.yaml`` takes one of your own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.data.splits import VALIDATION_MODES
from bench.errors import UsageError
from bench.registry import TASKS
from bench.tasks.imported import Import
from bench.tasks.runner import parse_runner_spec

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"  # the YAML files
_KEYS = {"description", "runners", "domains", "shots", "seeds", "validation", "test_limit"}
_KEYS |= {"settings", "task", "imports"}
_IMPORT_KEYS = {"file", "runner", "domain", "shots", "seed", "validation", "sha256"}


@dataclass(frozen=True)
class Profile:
    """A grid and the runner settings it changes."""

    name: str
    description: str
    runners: tuple[str, ...]  # names, or ``name@key=value,...`` variants
    domains: tuple[str, ...]
    shots: tuple[int, ...]
    seeds: tuple[int, ...]
    validation: str = "full"
    test_limit: int = 0  # 0: the whole test split
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # runner -> changes
    task: str = "like"  # a name in bench.registry.TASKS (next-item: no shots, no validation)
    imports: tuple[Import, ...] = ()  # outside runners' score files (``bench check`` verifies)

    def runner_settings(self, spec: str) -> dict[str, Any]:
        """The settings this profile changes for a runner entry: its runner's, then its own."""
        name, changes = parse_runner_spec(spec)
        return dict(self.settings.get(name, {})) | changes


def _whole(values: Any, key: str, minimum: int) -> tuple[int, ...]:
    """``values`` as whole numbers >= ``minimum``; ``1.7``, ``"2"``, ``true``, ``-5``: errors."""
    if not isinstance(values, list | tuple):
        raise ValueError(f"{key} must be a list, not {values!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{key} must be whole numbers >= {minimum}, not {value!r}")
    return tuple(values)


def _import(profile: Path, entry: Any) -> Import:
    """A profile's ``imports`` entry; its file is relative to the profile's folder."""
    required = _IMPORT_KEYS - {"validation"}
    if not isinstance(entry, dict) or set(entry) - _IMPORT_KEYS or not required <= set(entry):
        raise ValueError(f"an imports entry takes the keys {sorted(_IMPORT_KEYS)}, got {entry!r}")
    shots, seed = _whole([entry["shots"]], "shots", 1)[0], _whole([entry["seed"]], "seed", 0)[0]
    return Import(
        profile.parent / str(entry["file"]),
        str(entry["runner"]),
        str(entry["domain"]),
        shots,
        seed,
        str(entry.get("validation", "full")),
        str(entry["sha256"]),
    )


def profile_names() -> list[str]:
    """Profiles shipped with the suite."""
    return sorted(path.stem for path in PROFILES_DIR.glob("*.yaml"))


def load_profile(name: str) -> Profile:
    """A shipped profile by name, or a profile file by path."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else PROFILES_DIR / f"{name}.yaml"
    if not path.exists():
        raise UsageError(
            f"unknown profile {name!r}: use one of {', '.join(profile_names())} or a .yaml file"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise UsageError(f"profile {path}: {problem}{line}: fix the file") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise UsageError(f"profile {path} cannot be read ({reason}): give a YAML file") from None
    if not isinstance(data, dict) or set(data) - _KEYS or not {"runners", "domains"} <= set(data):
        raise UsageError(
            f"profile {path}: expected keys {sorted(_KEYS)} (runners and domains required), "
            f"got {sorted(data) if isinstance(data, dict) else type(data).__name__}"
        )
    task = str(data.get("task", "like"))
    try:
        found = TASKS.load(task)
    except UsageError as error:
        raise UsageError(f"profile {path}: {error}") from None
    foreign = sorted({"shots", "validation"} & set(data) - set(found.axes))
    foreign += ["imports"] if "imports" in data and task != "like" else []
    if foreign:
        raise UsageError(f"profile {path}: a {task} profile has no {' or '.join(foreign)}")
    runners, domains = found.runners, found.domains
    try:
        profile = Profile(
            name=path.stem,
            description=str(data.get("description", "")),
            runners=tuple(str(r) for r in data["runners"]),
            domains=tuple(domains.check(d) for d in data["domains"]),
            shots=_whole(data.get("shots", (16, 64, 256)), "shots", 1),
            seeds=_whole(data.get("seeds", (0, 1, 2, 3, 4)), "seeds", 0),
            validation=str(data.get("validation", "full")),
            test_limit=_whole([data.get("test_limit", 0)], "test_limit", 0)[0],
            settings={runners.check(r): dict(v) for r, v in (data.get("settings") or {}).items()},
            task=task,
            imports=tuple(_import(path, entry) for entry in data.get("imports") or ()),
        )
        for spec in profile.runners:
            runners.check(parse_runner_spec(spec)[0])
    except (TypeError, ValueError) as error:
        raise UsageError(f"profile {path}: {error}: fix the file") from None
    if profile.validation not in VALIDATION_MODES:
        raise UsageError(f"profile {path}: validation must be one of {VALIDATION_MODES}")
    return profile
