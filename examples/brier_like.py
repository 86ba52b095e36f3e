"""An example task from outside the package: the like/dislike task scored by Brier score.

Same domains, runners, few-shot manifests and test samples as the shipped ``like`` task,
its records in their own folder (``brier/``) with the Brier score (mean squared error of
P(like)) recomputed from the per-sample scores when read. Use it as ``--task
brier_like:BRIER`` (this folder on ``PYTHONPATH``), ``bench.register_task("brier", BRIER)``
or an entry point in group ``tallrec_bench.tasks``.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar

from bench.tasks import base
from bench.tasks.like import Cell, LikeTask


class BrierCell(Cell):
    """A like/dislike cell whose record goes to ``brier/``."""

    task: ClassVar[str] = "brier"

    def record_path(self, results_dir: Path) -> Path:
        """Under the task's folder, laid out as the like task's."""
        return super().record_path(results_dir / BRIER.folder)

    def run(self, results_dir: Path, force: bool = False) -> tuple[Any, bool]:
        """The one run skeleton, with this task."""
        return base.run_cell(BRIER, self, results_dir, force)


class BrierTask(LikeTask):
    """The like task's cells and records, its headline metric the Brier score."""

    name = "brier"
    folder = "brier"

    def make_cells(self, **arguments: Any) -> list[BrierCell]:
        """The like task's cells, as :class:`BrierCell`."""
        return [
            BrierCell(**{f.name: getattr(cell, f.name) for f in fields(cell)})
            for cell in super().make_cells(**arguments)
        ]

    def record_path(self, record: Any, results_dir: Path) -> Path:
        """Where a record belongs: the like task's place, under ``brier/``."""
        return super().record_path(record, results_dir / self.folder)

    def metrics(self, record: Any) -> dict[str, float]:
        """Brier score (lower is better), then the like task's AUC and log loss."""
        scores = [(p.score - p.label) ** 2 for p in record.predictions]
        return {"brier": sum(scores) / len(scores)} | super().metrics(record)


BRIER = BrierTask()
