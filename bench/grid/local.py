"""Run a grid of cells: resumable, one lock per cell, failures recorded, one summary.

A finished cell (an intact record with the same run key) is skipped, so an interrupted grid
resumes where it stopped. Records are written atomically; a lock file per cell (``flock``,
released by the kernel when a process dies, even by SIGKILL) keeps two ``bench run``
processes on one results folder from running the same cell twice: a process that finds a
cell locked, or finds that a cache entry the cell needs is being made by another process
(an item table's encoding, a model's conversion), moves on and comes back to it at the end,
with the other cells of its shared group. A failing cell writes
``<cell>.error.json`` (its error and traceback) and the grid goes on unless ``fail_fast``;
each cell's log goes to ``<cell>.log`` beside its record.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.config import keep_freed_memory
from bench.errors import BenchError, UsageError
from bench.files import (
    Busy,
    atomic_write_text,
    exclusive,
    impatient,
    open_unlinked,
    refuse_links,
)
from bench.grid.progress import GridProgress, shared_groups
from bench.store.records import RunRecord
from bench.tasks.like import Cell

if TYPE_CHECKING:
    from bench.tasks.next_item import NextItemCell, NextItemRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How one cell went: its record (None when it failed or was locked elsewhere)."""

    cell: Cell | NextItemCell
    record: RunRecord | NextItemRecord | None = None
    computed: bool = False
    error: str | None = None
    seconds: float = 0.0  # wall time of the attempt, lock and record included
    usage: bool = False  # it failed on bad input (a setting, a limit), not while computing

    def line(self) -> str:
        """One line for the progress output."""
        if self.error is not None:
            return f"{self.cell.label}  FAILED {self.error}"
        state = "computed" if self.computed else "reused"
        return f"{self.cell.label}  {self.record.headline}  {state}  {self.seconds:.1f}s"


@dataclass
class GridSummary:
    """What a grid run did."""

    computed: list[Cell | NextItemCell] = field(default_factory=list)
    reused: list[Cell | NextItemCell] = field(default_factory=list)
    failed: list[tuple[Cell | NextItemCell, str]] = field(default_factory=list)
    records: list[RunRecord | NextItemRecord] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)  # every cell's, in finishing order
    run_seconds: float = 0.0  # fit + test scoring of the computed cells (their records)
    overhead_seconds: float = 0.0  # everything else spent on computed cells: key, lock, record

    @property
    def overhead_fraction(self) -> float:
        """Grid overhead relative to the computed cells' own run time."""
        return self.overhead_seconds / self.run_seconds if self.run_seconds else 0.0

    def add(self, outcome: Outcome) -> None:
        """Count one cell's outcome."""
        self.outcomes.append(outcome)
        if outcome.error is not None:
            self.failed.append((outcome.cell, outcome.error))
            return
        self.records.append(outcome.record)
        if not outcome.computed:
            self.reused.append(outcome.cell)
            return
        self.computed.append(outcome.cell)
        run = outcome.record.run_seconds
        self.run_seconds += run
        self.overhead_seconds += outcome.seconds - run


def cell_lock(record_path: Path, wait: bool) -> AbstractContextManager[bool]:
    """Hold the cell's lock (True), or False when another process holds it."""
    return exclusive(record_path.with_suffix(".lock"), wait)


@contextmanager
def cell_log(record_path: Path) -> Iterator[None]:
    """Send this process's log records to ``<cell>.log`` while the cell runs."""
    log_path = record_path.with_suffix(".log")
    stream = os.fdopen(
        open_unlinked(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "a", encoding="utf-8"
    )
    handler = _CellLogHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        stream.close()


class _CellLogHandler(logging.StreamHandler):
    """A cell's log file: a line it cannot write (a full disk) is dropped, not a traceback."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        pass


def error_path(record_path: Path) -> Path:
    """Where a failed cell's error goes."""
    return record_path.with_suffix(".error.json")


def execute_cell(
    cell: Cell | NextItemCell, results_dir: Path, force: bool, wait: bool
) -> Outcome | None:
    """Run one cell under its lock; None when another process holds it and ``wait`` is off.

    Any failure is written to ``<cell>.error.json`` and returned, never raised.
    """
    keep_freed_memory()  # in every process that runs cells: this one, workers, Ray tasks
    path = cell.record_path(results_dir)
    started = time.perf_counter()
    for own in (path, path.with_suffix(".work")):  # the record, its work folder, their parents
        refuse_links(results_dir, own)
    with cell_lock(path, wait) as held:
        if not held:
            return None
        try:
            with cell_log(path), nullcontext() if wait else impatient():
                try:
                    record, computed = cell.run(results_dir, force=force)
                except Busy as busy:  # it needs what another process is making: others first
                    log.info("put off: %s; the cell comes back at the end", busy)
                    return None
        except Exception as error:  # any failure is recorded and the grid goes on
            message = (
                str(error) if isinstance(error, BenchError) else f"{type(error).__name__}: {error}"
            )
            failure = {"cell": cell.__dict__, "error": message, "traceback": traceback.format_exc()}
            try:
                text = json.dumps(failure, indent=1, default=str) + "\n"
                atomic_write_text(error_path(path), text)
            except OSError as write_error:  # a full disk: the message still reaches the user
                message += f" (and {error_path(path).name} not written: {write_error.strerror})"
            seconds = time.perf_counter() - started
            return Outcome(
                cell, error=message, seconds=seconds, usage=isinstance(error, UsageError)
            )
        error_path(path).unlink(missing_ok=True)
    return Outcome(cell, record, computed, seconds=time.perf_counter() - started)


def run_grid(
    cells: Sequence[Cell | NextItemCell],
    results_dir: Path,
    force: bool = False,
    fail_fast: bool = False,
    quiet: bool = False,
    jobs: int = 1,
) -> GridSummary:
    """Run every cell (see the module docstring); locked cells come last.

    The progress bar is weighted by each cell's expected cost (``bench.grid.progress``).
    ``jobs`` > 1 runs cells in that many worker processes (each cell with its fixed
    ``BENCH_THREADS``, as in one process), the longest expected cells first; the cell locks
    are the same, so several ``bench run`` and ``--jobs`` compose.
    """
    summary = GridSummary()
    groups = {cell: cell.shared_group() for cell in cells}
    progress = GridProgress(cells, results_dir, quiet, force, groups=groups)
    deferred: list[Cell | NextItemCell] = []

    def count(outcome: Outcome) -> bool:
        """Record one outcome; True when the grid should stop (``fail_fast``)."""
        summary.add(outcome)
        progress.finished(outcome.cell)
        if not quiet:
            progress.write(outcome.line())
        return outcome.error is not None and fail_fast

    try:
        if min(jobs, len(cells)) > 1:
            ordered = sorted(cells, key=progress.costs.__getitem__, reverse=True)
            _run_in_workers(ordered, groups, results_dir, force, jobs, count, deferred)
            return summary
        for wait, batch in ((False, list(cells)), (True, deferred)):
            put_off = set()  # shared groups whose first cell was put off: the others follow it
            for cell in batch:
                if groups[cell] in put_off:
                    deferred.append(cell)
                    continue
                outcome = execute_cell(cell, results_dir, force, wait)
                if outcome is None:
                    deferred.append(cell)
                    put_off.add(groups[cell] or cell)
                elif count(outcome):
                    return summary
    finally:
        progress.close()
    return summary


def _die_with_parent() -> None:
    """A worker's initializer: the kernel kills it when the ``bench run`` process dies.

    Otherwise a killed run's workers would go on with their cells unseen (Linux; elsewhere
    they end at their next task, as the pool's pipe is gone).
    """
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_in_workers(
    cells: Sequence[Cell | NextItemCell],
    groups: dict[Cell | NextItemCell, tuple | None],
    results_dir: Path,
    force: bool,
    jobs: int,
    count: Callable[[Outcome], bool],
    deferred: list[Cell | NextItemCell],
) -> None:
    """``jobs`` spawned worker processes run the cells in order; put-off ones come last.

    Of a shared group, the first cell runs first and the others once it has finished, so
    they take its scores instead of computing them again side by side; when the first is
    put off (locked, or waiting for a cache entry), the others are put off with it.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")  # no fork of a process with torch threads
    with ProcessPoolExecutor(jobs, context, _die_with_parent) as pool:
        for block, patient in ((cells, False), (deferred, True)):
            members = shared_groups({cell: groups[cell] for cell in block})
            held = {group: in_group[1:] for group, in_group in members.items()}
            waiting = {cell for followers in held.values() for cell in followers}
            pending = {}
            queue = [cell for cell in block if cell not in waiting]
            while queue or pending:
                for cell in queue:
                    pending[pool.submit(execute_cell, cell, results_dir, force, patient)] = cell
                queue = []
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    cell = pending.pop(future)
                    outcome = future.result()
                    followers = held.pop(groups[cell], [])
                    if outcome is None:  # put off: its group's other cells come back with it
                        deferred += [cell, *followers]
                        continue
                    queue += followers
                    if count(outcome):
                        for other in pending:
                            other.cancel()
                        return
