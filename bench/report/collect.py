"""One collector for every task's records, from one store layout.

A task's records live at ``<results>/<task folder>/<runner label>/<domain>/<cell>.json``
(the like task's folder is the results folder itself). Each is read by its task (metrics
recomputed) and trusted only where the cell that made it keeps it: a copied, renamed or
moved record, a symbolic link, or a folder named like a record is listed as a problem and
left out, never counted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.errors import DataError, UsageError
from bench.registry import TASKS

Found = list[tuple[str, Any]]  # (where, record)


def record_files(task: Any, results_dir: Path) -> list[Path]:
    """Candidate records: every ``*.json`` under the task's folder.

    Left out: error files, hidden names, cell work folders and other tasks' folders.
    Symbolic links are listed (to be refused), never followed.
    """
    root = results_dir / task.folder if task.folder else results_dir
    others = set() if task.folder else _task_folders() - {""}
    found = []
    for folder, subfolders, files in os.walk(root):  # does not descend into linked folders
        here = Path(folder)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not name.startswith(".")
            and not name.endswith(".work")
            and not (here == root and name in others)
        )
        names = [*files, *(name for name in subfolders if name.endswith(".json"))]
        found += [
            here / name
            for name in sorted(names)
            if name.endswith(".json")
            and not name.startswith(".")
            and not name.endswith(".error.json")
        ]
    return sorted(found)


def _task_folders() -> set[str]:
    """The record folders of every task that loads."""
    folders = set()
    for name in TASKS.names():
        try:
            folders.add(TASKS.load(name).folder)
        except UsageError:  # a broken plugin task: ``bench list`` says why
            continue
    return folders


def read_records(task: Any, results_dir: Path) -> tuple[Found, list[str]]:
    """Every intact record of ``task`` at its own cell's path, and a line per problem."""
    found, problems = [], []
    root = results_dir / task.folder
    if task.folder and root.is_symlink():  # os.walk would enter it
        return [], [f"{root} is a symbolic link: not read (replace it with the folder)"]
    for path in record_files(task, results_dir):
        if path.is_symlink():  # os.walk enters no linked folder: only a file can be one
            problems.append(f"{path} is a symbolic link: not read (replace it with the file)")
            continue
        if not path.is_file():
            problems.append(f"{path} is not a file: not read (move it away)")
            continue
        try:
            record = task.read(path)
        except DataError as error:
            problems.append(str(error))
            continue
        expected = task.record_path(record, results_dir)
        if expected != path:
            problems.append(
                f"{path} holds the record of another cell (its place is {expected}): "
                "not counted; move it there or delete it"
            )
            continue
        found.append((str(path), record))
    return found, problems


def by_run_key(found: Found) -> tuple[list, list[str]]:
    """The first record of each run key, and a warning naming each repeat."""
    kept: dict[str, str] = {}
    records, warnings = [], []
    for where, record in found:
        if record.run_key in kept:
            warnings.append(f"{where} repeats the run key of {kept[record.run_key]}: counted once")
            continue
        kept[record.run_key] = where
        records.append(record)
    return records, warnings


def collect(
    task: Any,
    results_dir: Path,
    deduplicate: Callable[[Found], tuple[list, list[str]]] = by_run_key,
) -> tuple[list, list[str]]:
    """Every trusted record of ``task`` under ``results_dir``, each run once, and problems."""
    found, problems = read_records(task, results_dir)
    records, duplicates = deduplicate(found)
    return records, problems + duplicates
