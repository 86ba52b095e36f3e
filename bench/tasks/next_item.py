"""Run one next-item cell (runner x domain x seed): fit, answer the test samples, record.

A record keeps, per test sample, the target's position among the 20 candidates, every
candidate's score (``rank``) and the generated answer (when the runner generates), so any
metric can be recomputed from it; its metrics are recomputed and checked when it is read.
Records live in ``<results>/next-item/<runner>[@variant]/<domain>/seed<S>[-test<N>].json``
and are reused when their run key matches; cells run through the like/dislike task's grid
(``bench.grid.local``: per-cell lock and log, error files, local or Ray executor).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.data.nextitem import NextItemDomain, NextItemSample, load_next_item_domain
from bench.data.splits import test_subset
from bench.errors import BenchError, DataError
from bench.nextitem_metrics import (
    RULES,
    bootstrap_interval,
    choice_of,
    mean_reciprocal_rank,
    metrics_of,
    rank_choice,
)
from bench.registry import NEXT_ITEM_DOMAINS, NEXT_ITEM_RUNNERS
from bench.store.records import RecordBase, runner_folder
from bench.tasks import base
from bench.tasks.base import variant_label

log = logging.getLogger(__name__)
TASK = "next-item"


@dataclass(frozen=True)
class NextItemPrediction:
    """One test sample: where the target is, every candidate's score, the generated answer."""

    sample_id: str
    target_index: int
    scores: tuple[float, ...]
    answer: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple(self.scores))  # a JSON list when read


@dataclass(frozen=True, kw_only=True)
class NextItemRecord(RecordBase):
    """A next-item run: its metrics per mode, recomputed from the predictions when read."""

    prediction: ClassVar[type] = NextItemPrediction
    task: str
    metrics: dict[str, dict[str, Any]]

    @property
    def headline(self) -> str:
        """The record's main figure, for progress lines."""
        return f"HR@1 {self.metrics['rank']['hit_ratio']:.4f} (rank)"


def evaluate(
    predictions: Sequence[NextItemPrediction], samples: Sequence[NextItemSample], titles: dict
) -> dict[str, dict[str, Any]]:
    """Metrics per mode: ``rank``, and ``generate-llara`` / ``generate-exact`` when answered."""
    targets = [p.target_index for p in predictions]
    modes = {"rank": [rank_choice(p.scores) for p in predictions]}
    if any(p.answer for p in predictions):
        for rule in RULES:
            modes[f"generate-{rule}"] = [
                choice_of(p.answer, [titles[c] for c in s.candidates], rule)
                for p, s in zip(predictions, samples, strict=True)
            ]
    out = {}
    for mode, choices in modes.items():
        hits = [int(c == t) for c, t in zip(choices, targets, strict=True)]
        low, high = bootstrap_interval(hits)
        out[mode] = asdict(metrics_of(choices, targets)) | {
            "hit_ratio_ci95": [round(low, 4), round(high, 4)]
        }
    return out


@dataclass(frozen=True)
class NextItemCell:
    """One next-item run."""

    task: ClassVar[str] = TASK
    runner: str
    domain: str
    seed: int = 0
    settings: tuple[tuple[str, Any], ...] = ()
    test_limit: int = 0
    profile: str = ""

    @property
    def variant(self) -> str:
        """File-name-safe label of the changed settings ('' for none)."""
        return variant_label(self.settings)

    @property
    def runner_label(self) -> str:
        """``runner`` or ``runner@variant``: the record's folder."""
        return runner_folder(self.runner, self.variant)

    def record_path(self, results_dir: Path) -> Path:
        """Where this cell's record lives."""
        return next_item_path(
            results_dir, self.runner_label, self.domain, self.seed, self.test_limit
        )

    @property
    def label(self) -> str:
        """The cell in one short line (progress output)."""
        return f"{self.runner_label:16} {self.domain:14} seed={self.seed}"

    def shared_group(self) -> None:
        """Next-item cells have no shot axis: each is computed on its own."""
        return None

    def run(self, results_dir: Path, force: bool = False) -> tuple[NextItemRecord, bool]:
        """:func:`run_next_item_cell` on this cell (the grid's executors call this)."""
        return run_next_item_cell(self, results_dir, force)


def next_item_path(
    results_dir: Path, runner_label: str, domain: str, seed: int, test_limit: int
) -> Path:
    """``next-item/<runner label>/<domain>/seed<seed>[-test<n>].json``."""
    stem = f"seed{seed}" + (f"-test{test_limit}" if test_limit else "")
    return results_dir / TASK / runner_label / domain / f"{stem}.json"


def read_next_item_record(path: Path, domain: NextItemDomain | None = None) -> NextItemRecord:
    """Read a record; damaged, or with metrics its predictions do not give: an error.

    Without ``domain``, the one its folder names is loaded (cached per process).
    """
    if domain is None:
        if path.parent.name not in NEXT_ITEM_DOMAINS.names():
            raise DataError(f"run record {path}: no next-item domain {path.parent.name!r}")
        domain = base.loaded_domain(path.parent.name, load_next_item_domain)[0]
    try:
        record = NextItemRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, KeyError, UnicodeDecodeError) as error:
        raise DataError(f"run record {path} is damaged ({error}): delete it and rerun") from None
    by_id = {s.sample_id: s for s in domain.samples("test")}
    try:
        samples = [by_id[p.sample_id] for p in record.predictions]
    except KeyError as error:
        raise DataError(f"run record {path} names unknown sample {error}: rerun") from None
    if evaluate(record.predictions, samples, domain.titles) != record.metrics:
        raise DataError(f"run record {path}: metrics do not match its predictions: rerun")
    return record


class NextItemTask:
    """The next-item task's part of :func:`bench.tasks.base.run_cell`."""

    name = TASK
    folder = TASK
    axes = ()
    default_profile = "next-item-cpu"
    default_seeds = (0,)
    domains = NEXT_ITEM_DOMAINS
    runners = NEXT_ITEM_RUNNERS
    load_domain = staticmethod(load_next_item_domain)  # the built domain and its data hash

    @property
    def default_domains(self) -> tuple[str, ...]:
        """Every registered next-item domain."""
        return tuple(self.domains.names())

    def make_cells(
        self,
        variants: base.Variants,
        domains: list[str],
        seeds: list[int],
        test_limit: int,
        profile: Any,
        axes: dict[str, Any],
    ) -> list[NextItemCell]:
        """Domains x seeds x runner variants."""
        name = profile.name if profile else ""
        return [
            NextItemCell(runner, domain, seed, settings, test_limit, name)
            for domain in domains
            for seed in seeds
            for runner, settings in variants
        ]

    def prepare(self, cell: NextItemCell, domain: NextItemDomain, data_sha256: str) -> None:
        """Nothing beyond the domain: a next-item runner trains on the whole train split."""
        return None

    def key_parts(
        self, cell: NextItemCell, runner: Any, inputs: None, data_sha256: str
    ) -> dict[str, Any]:
        """Task, runner, config, data, code version; test subset when set."""
        return {
            "task": TASK,
            "runner": cell.runner,
            "config": runner.config(),
            "data_sha256": data_sha256,
            "code_version": runner.code_version,
        } | ({"test_limit": cell.test_limit} if cell.test_limit else {})

    def answer(
        self,
        cell: NextItemCell,
        runner: Any,
        domain: NextItemDomain,
        inputs: None,
        context: dict[str, Any],
    ) -> NextItemRecord:
        """Fit, rank every test sample's candidates, generate answers when the runner does."""
        started = time.perf_counter()
        test = test_subset(domain, cell.test_limit)  # a bad limit fails before fitting
        training = runner.fit(domain, context["data_sha256"], context["workdir"])
        fitted = time.perf_counter()
        scores = runner.rank(test)
        ranked = time.perf_counter()
        answers = runner.generate(test)
        answers = [""] * len(test) if answers is None else answers
        generated = time.perf_counter()
        notes = runner.scoring_notes()
        if notes is not None:
            training = training | {"scoring": notes}
        if len(scores) != len(test) or any(
            len(row) != len(s.candidates) for row, s in zip(scores, test, strict=True)
        ):
            raise BenchError(f"runner {cell.runner} returned the wrong number of scores: a bug")
        predictions = tuple(
            NextItemPrediction(s.sample_id, s.target_index, tuple(map(float, row)), answer)
            for s, row, answer in zip(test, scores, answers, strict=True)
        )
        return NextItemRecord(
            **base.record_fields(cell, runner, context),
            task=TASK,
            training=training,
            metrics=evaluate(predictions, test, domain.titles),
            wall_s={
                "fit": round(fitted - started, 3),
                "rank": round(ranked - fitted, 3),
                "generate": round(generated - ranked, 3),
            },
            predictions=predictions,
        )

    def figures(self, records: list[NextItemRecord]) -> dict[str, float]:
        """CI's figures: HitRatio@1 and MRR over the 20 candidates in ``rank`` mode."""
        out = {}
        for record in records:
            key = f"{record.runner_label}/{record.domain}/seed{record.seed}"
            out[f"{key}/hit_ratio"] = record.metrics["rank"]["hit_ratio"]
            out[f"{key}/mrr"] = mean_reciprocal_rank(
                [p.scores for p in record.predictions], [p.target_index for p in record.predictions]
            )
        return out

    read = staticmethod(read_next_item_record)  # a record, its metrics recomputed

    def record_path(self, record: NextItemRecord, results_dir: Path) -> Path:
        """Where the cell that made ``record`` keeps it."""
        return next_item_path(
            results_dir, record.runner_label, record.domain, record.seed, record.test_limit
        )

    def metrics(self, record: NextItemRecord) -> dict[str, float]:
        """``<mode>/<metric>`` (``rank/hit_ratio`` first) of every numeric metric."""
        found = {
            f"{mode}/{name}": value
            for mode, values in record.metrics.items()
            for name, value in values.items()
            if isinstance(value, int | float)
        }
        return {"rank/hit_ratio": found.pop("rank/hit_ratio")} | found

    def column(self, record: NextItemRecord) -> str:
        """The domain."""
        return record.domain

    def from_json(self, data: dict[str, Any]) -> NextItemRecord:
        """A record from its JSON."""
        return NextItemRecord.from_json(data)


NEXT_ITEM = NextItemTask()


def run_next_item_cell(
    cell: NextItemCell, results_dir: Path, force: bool = False
) -> tuple[NextItemRecord, bool]:
    """Run ``cell`` unless an intact record with the same run key exists (see ``base``)."""
    return base.run_cell(NEXT_ITEM, cell, results_dir, force)
