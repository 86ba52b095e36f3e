"""A grid's progress weighted by what each cell is expected to cost, with an honest ETA.

Cells take from 0.05 s (a reused record) to 20 minutes (a TALLRec cell on a CPU), so a bar
that counts cells says nothing. Each cell is weighed by its expected seconds: a cell whose
record exists costs almost nothing; otherwise the mean ``run_seconds`` of up to three
earlier records of the same runner label and domain in the results folder; otherwise a
per-runner estimate (:data:`DEFAULT_SECONDS`, measured on 2 CPU cores). The ETA is the
elapsed time scaled by the expected cost still to come over the cost done. A cell that
takes its scores from another cell of its shared group (``Cell.shared_group``) costs
:data:`SHARED_SECONDS`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

REUSED_SECONDS = 0.05
SHARED_SECONDS = 0.5  # a cell whose scores come from another cell's record
# Seconds per cell on this project's 2-core machine (quick profile, 200 test samples);
# the first matching prefix of the runner label wins.
DEFAULT_SECONDS = (
    ("tallrec", 200.0),
    ("llara", 300.0),
    ("icl", 60.0),
    ("gru-bert", 10.0),
    ("dros-bert", 10.0),
    ("like-rate", 0.3),
    ("logreg", 0.5),
)
OTHER_SECONDS = 3.0  # a RecBole baseline or a runner of the user's own


def default_seconds(runner: str) -> float:
    """The per-runner estimate of a cell's seconds."""
    return next((s for p, s in DEFAULT_SECONDS if runner.startswith(p)), OTHER_SECONDS)


def _recorded_seconds(path: Path) -> float | None:
    try:
        wall = json.loads(path.read_bytes())["wall_s"]
        return float(sum(wall.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def expected_seconds(
    cell: Any, results_dir: Path, force: bool = False, folders: dict[Path, float] | None = None
) -> float:
    """What ``cell`` is expected to cost (see the module docstring).

    ``folders`` keeps each record folder's mean, so a grid reads a folder's records once.
    """
    path = cell.record_path(results_dir)
    if path.is_file() and not force:
        return REUSED_SECONDS
    folders = {} if folders is None else folders
    if path.parent not in folders:
        earlier = sorted(path.parent.glob("*.json"))[:3] if path.parent.is_dir() else []
        seconds = [s for s in map(_recorded_seconds, earlier) if s is not None]
        folders[path.parent] = sum(seconds) / len(seconds) if seconds else -1.0
    mean = folders[path.parent]
    if mean < 0:
        return default_seconds(cell.runner)
    return max(mean, REUSED_SECONDS)  # timings round to 0.0 s


def shared_groups(groups: dict[Any, Any]) -> dict[Any, list[Any]]:
    """The cells of each shared group (``{cell: group or None}``), in their order."""
    members: dict[Any, list[Any]] = {}
    for cell, group in groups.items():
        if group is not None:
            members.setdefault(group, []).append(cell)
    return members


def eta_seconds(done: float, total: float, elapsed: float) -> float | None:
    """Seconds still to go when ``done`` of ``total`` expected cost took ``elapsed``."""
    if done <= 0:
        return None
    return elapsed * max(total - done, 0.0) / done


def format_eta(seconds: float | None) -> str:
    """``ETA 1:02:03``, ``ETA 4:05`` or ``ETA ?``."""
    if seconds is None:
        return "ETA ?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}:{minutes:02d}:{secs:02d}" if hours else f"ETA {minutes}:{secs:02d}"


class GridProgress:
    """A tqdm bar over expected seconds; ``finished(cell)`` advances it by that cell's cost."""

    def __init__(
        self,
        cells: Sequence[Any],
        results_dir: Path,
        quiet: bool,
        force: bool = False,
        clock: Callable[[], float] = time.monotonic,
        desc: str = "grid",
        groups: dict[Any, Any] | None = None,
    ) -> None:
        folders: dict[Path, float] = {}
        self.costs = {cell: expected_seconds(cell, results_dir, force, folders) for cell in cells}
        for members in shared_groups(groups or {}).values():  # the first computes
            for cell in members[1:]:
                self.costs[cell] = min(self.costs[cell], SHARED_SECONDS)
        self.total = sum(self.costs.values())
        self.done, self.cells_done, self.cells = 0.0, 0, len(cells)
        self.clock, self.started = clock, clock()
        self.bar = tqdm(
            total=round(self.total, 2),
            desc=desc,
            unit="s",
            disable=quiet,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed{postfix}",
        )
        self._consoles: list[tuple[logging.StreamHandler, Any]] = []
        if not quiet:  # log lines go above the bar instead of being glued onto it
            for handler in logging.getLogger().handlers:
                if type(handler) is logging.StreamHandler:
                    self._consoles.append((handler, handler.setStream(_AboveBar(self.bar))))
        self._show()

    def eta(self) -> float | None:
        """Seconds still to go, from the cost done so far."""
        return eta_seconds(self.done, self.total, self.clock() - self.started)

    def _show(self) -> None:
        self.bar.set_postfix_str(
            f"{self.cells_done}/{self.cells} cells, {format_eta(self.eta())}", refresh=True
        )

    def finished(self, cell: Any) -> None:
        """Count ``cell`` as done."""
        cost = self.costs.get(cell, OTHER_SECONDS)
        self.done += cost
        self.cells_done += 1
        self.bar.update(round(cost, 2))
        self._show()

    def write(self, line: str) -> None:
        """Print ``line`` above the bar."""
        self.bar.write(line)

    def close(self) -> None:
        """Close the bar (and give the console log handlers their streams back)."""
        self.bar.close()
        for handler, stream in self._consoles:
            handler.setStream(stream)


class _AboveBar:
    """A stream for log handlers that prints each line above the progress bar."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar

    def write(self, text: str) -> None:
        if text.rstrip("\n"):
            self.bar.write(text.rstrip("\n"), file=sys.stderr)

    def flush(self) -> None:
        sys.stderr.flush()
