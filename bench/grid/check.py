"""CI's guard on the suite's numbers: re-run a profile and compare with its reference.

``reports/reference/<profile>.json`` holds the figures of every cell of a profile, made by
this suite (``python -m bench check --update [--profile P]``) and committed with that
command: the AUC of each like/dislike cell (profile ``ci``), the HitRatio@1 and MRR of
each next-item cell in ``rank`` mode (profile ``ci-next``). A figure that moves by more
than the tolerance, or a cell that is missing or failed, fails the check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from bench.errors import BenchError, DataError
from bench.files import atomic_write_text, shipped_folder
from bench.grid.cells import profile_cells
from bench.grid.local import run_grid
from bench.grid.profiles import load_profile
from bench.registry import TASKS
from bench.store.records import REPO, RunRecord, environment
from bench.tasks.imported import import_scores
from bench.tasks.like import LIKE

REFERENCES = shipped_folder("reference", REPO / "reports" / "reference")
TOLERANCE = 0.005


def reference_path(profile_name: str) -> Path:
    """The committed reference of a profile: ``reports/reference/<profile>.json``."""
    return REFERENCES / f"{Path(profile_name).stem}.json"


def auc_by_cell(records: list[RunRecord]) -> dict[str, float]:
    """{cell id: AUC} of like/dislike ``records`` (see ``LikeTask.figures``)."""
    return LIKE.figures(records)


@dataclass(frozen=True)
class CheckResult:
    """Both values of every cell, and the lines that fail."""

    table: str
    failures: list[str]
    measured: dict[str, float]


def measure(
    results_dir: Path, profile_name: str = "ci", quiet: bool = False
) -> tuple[dict[str, float], list[str]]:
    """Run the profile's grid into ``results_dir``: ({cell id: figure}, [failed cell lines])."""
    profile = load_profile(profile_name)
    summary = run_grid(profile_cells(profile), results_dir, quiet=quiet)
    failed = [f"{cell.record_path(results_dir)}: {message}" for cell, message in summary.failed]
    records = list(summary.records)
    for spec in profile.imports:  # nothing to rerun: the file's hash and metrics are checked
        try:
            records.append(import_scores(spec, results_dir, profile=profile.name)[0])
        except BenchError as error:
            failed.append(f"{spec.file}: {error}")
    return TASKS.load(profile.task).figures(records), failed


def read_reference(path: Path) -> dict:
    """The reference file's content."""
    try:
        reference = json.loads(path.read_text(encoding="utf-8"))
        reference["cells"] = {k: float(v) for k, v in reference["cells"].items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DataError(
            f"AUC reference {path} is unreadable ({error}): restore it from git or "
            "write it with `python -m bench check --update`"
        ) from None
    return reference


def compare(
    measured: dict[str, float], reference: dict[str, float], tolerance: float
) -> CheckResult:
    """Every cell's reference and measured AUC; failures beyond ``tolerance``."""
    rows, failures = [], []
    for key in sorted(set(measured) | set(reference)):
        expected, got = reference.get(key), measured.get(key)
        if expected is None or got is None:
            status = "not in reference" if expected is None else "missing"
            failures.append(f"{key}: {status}")
            rows.append([key, expected, got, "", status])
            continue
        moved = got - expected
        status = "ok" if abs(moved) <= tolerance else f"moved by more than {tolerance}"
        if status != "ok":
            failures.append(f"{key}: reference {expected:.6f}, measured {got:.6f}")
        rows.append([key, f"{expected:.6f}", f"{got:.6f}", f"{moved:+.6f}", status])
    headers = ["cell", "reference", "measured", "difference", "status"]
    return CheckResult(tabulate(rows, headers=headers, disable_numparse=True), failures, measured)


def write_reference(
    path: Path, measured: dict[str, float], command: str, tolerance: float, profile: str = "ci"
) -> None:
    """Write a new reference (atomically)."""
    content = {
        "command": command,
        "profile": profile,
        "tolerance": tolerance,
        "environment": environment(),
        "cells": dict(sorted(measured.items())),
    }
    atomic_write_text(path, json.dumps(content, indent=1) + "\n")
