"""The like/dislike task (TALLRec): a cell is runner x domain x shots x seed.

Its runner fits on a few-shot manifest's samples and scores the test split with P(like);
the record keeps every test sample's score, and its AUC is recomputed when it is read.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.config import cache_dir
from bench.data.datastore import load_domain
from bench.data.domain import Domain
from bench.data.splits import (
    PAPER_SEEDS,
    PAPER_SHOTS,
    FewShotManifest,
    make_fewshot,
    manifest_path,
    read_manifest,
    test_subset,
    write_manifest,
)
from bench.errors import BenchError, DataError
from bench.files import refuse_links
from bench.metrics import log_loss, roc_auc
from bench.registry import DOMAINS, PAPER_DOMAINS, RUNNERS
from bench.store.records import Prediction, RunRecord, read_record, run_key, runner_folder
from bench.tasks import base
from bench.tasks.base import loaded_domain, variant_label

log = logging.getLogger(__name__)

__all__ = ["LIKE", "Cell", "loaded_domain", "manifest_for", "run_cell"]


@dataclass(frozen=True)
class Cell:
    """One run of the grid."""

    task: ClassVar[str] = "like"
    runner: str
    domain: str
    n_shots: int
    seed: int
    validation: str = "full"
    test_domain: str = ""  # cross-domain: train on ``domain``, test on this one
    test_limit: int = 0  # score a fixed subset of this many test samples (0: all)
    settings: tuple[tuple[str, Any], ...] = ()  # runner settings changed from its defaults
    profile: str = ""  # the profile that made this cell ('' for a cell given by hand)

    @property
    def variant(self) -> str:
        """A readable, file-name-safe label of the changed settings ('' for none)."""
        return variant_label(self.settings)

    def record_path(self, results_dir: Path) -> Path:
        """Where this cell's record lives."""
        return like_path(
            results_dir,
            runner_folder(self.runner, self.variant),
            f"{self.domain}-to-{self.test_domain}" if self.cross_domain else self.domain,
            self.n_shots,
            self.seed,
            self.validation,
            self.test_limit,
        )

    @property
    def cross_domain(self) -> bool:
        """Whether the test split comes from another domain than the training samples."""
        return bool(self.test_domain) and self.test_domain != self.domain

    @property
    def label(self) -> str:
        """The cell in one short line (progress output)."""
        return f"{self.runner:12} {self.domain:6} k={self.n_shots:<4} seed={self.seed}"

    def shared_group(self) -> tuple[Any, ...] | None:
        """Cells of one group give the same scores; None: this cell is computed on its own.

        A group's runner does not read the train samples and its cells differ only in shots
        or validation: the grid runs one first and the others take its scores.
        """
        if base.runner_class(RUNNERS, self.runner, self.settings).reads_train():
            return None
        return (self.runner, self.settings, self.domain, self.seed, self.test_domain,
                self.test_limit)  # fmt: skip

    def run(self, results_dir: Path, force: bool = False) -> tuple[RunRecord, bool]:
        """:func:`run_cell` on this cell (the grid's executors call this)."""
        return run_cell(self, results_dir, force)


def like_path(
    results_dir: Path,
    runner_label: str,
    domains: str,
    n_shots: int,
    seed: int,
    validation: str,
    test_limit: int,
) -> Path:
    """``<runner label>/<domain or domain-to-test domain>/k<shots>-seed<seed>-...json``."""
    stem = f"k{n_shots}-seed{seed}-valid-{validation}" + (
        f"-test{test_limit}" if test_limit else ""
    )
    return results_dir / runner_label / domains / f"{stem}.json"


def manifest_for(domain: Domain, data_sha256: str, cell: Cell) -> FewShotManifest:
    """The manifest of ``cell``, kept in the cache for users to read.

    The draw is cheap and exact, so it is made every time: a cached file that is missing,
    damaged or differs from the draw is (re)written, never trusted.
    """
    path = manifest_path(domain.name, cell.n_shots, cell.seed, cell.validation)
    manifest = make_fewshot(domain, data_sha256, cell.n_shots, cell.seed, cell.validation)
    try:
        if read_manifest(path, data_sha256) == manifest:
            return manifest
        log.warning("cached manifest %s differs from the draw: rewritten", path)
    except DataError as error:
        if path.exists() or path.is_symlink():
            log.warning("rewriting the cached manifest: %s", error)
    refuse_links(cache_dir(), path)
    write_manifest(manifest, path)
    return manifest


class LikeTask:
    """The like/dislike task's part of :func:`bench.tasks.base.run_cell`."""

    name = "like"
    folder = ""  # records in the results folder itself (their place since 0.1)
    axes = ("shots", "validation", "test_domain")
    default_profile = "quick"
    default_domains = PAPER_DOMAINS
    default_seeds = PAPER_SEEDS
    domains = DOMAINS
    runners = RUNNERS

    load_domain = staticmethod(load_domain)  # the built domain and its data hash

    def make_cells(
        self,
        variants: base.Variants,
        domains: list[str],
        seeds: list[int],
        test_limit: int,
        profile: Any,
        axes: dict[str, Any],
    ) -> list[Cell]:
        """Domains x shots x seeds x runner variants, with the profile's or given axes."""
        test_domain = self.domains.check(axes["test_domain"]) if "test_domain" in axes else ""
        return [
            Cell(
                runner,
                domain,
                k,
                seed,
                axes.get("validation") or (profile.validation if profile else "full"),
                test_domain,
                test_limit,
                settings,
                profile.name if profile else "",
            )
            for domain in domains
            for k in axes.get("shots") or (profile.shots if profile else PAPER_SHOTS)
            for seed in seeds
            for runner, settings in variants
        ]

    def prepare(self, cell: Cell, domain: Domain, data_sha256: str) -> FewShotManifest:
        """The cell's few-shot manifest."""
        return manifest_for(domain, data_sha256, cell)

    def key_parts(
        self, cell: Cell, runner: Any, manifest: FewShotManifest, data_sha256: str
    ) -> dict[str, Any]:
        """Runner, config, manifest, code version; test domain and subset when set."""
        return (
            {
                "runner": cell.runner,
                "config": runner.config(),
                "manifest_sha256": manifest.sha256,
                "code_version": runner.code_version,
            }
            | ({"test_domain": cell.test_domain} if cell.cross_domain else {})
            | ({"test_limit": cell.test_limit} if cell.test_limit else {})
        )

    def answer(
        self,
        cell: Cell,
        runner: Any,
        domain: Domain,
        manifest: FewShotManifest,
        context: dict[str, Any],
    ) -> RunRecord:
        """Fit on the manifest, score the (subset of the) test split, check the scores.

        A runner that does not read the train samples takes the scores of an intact record
        of the same computation at another shot count, when there is one beside this cell's.
        """
        started = time.perf_counter()
        test_domain = domain
        if cell.cross_domain:
            test_domain, _ = loaded_domain(cell.test_domain, load_domain)
        test = test_subset(test_domain, cell.test_limit)  # a bad limit fails before fitting
        shared = None
        if not runner.reads_train():
            parts = self.key_parts(cell, runner, manifest, context["data_sha256"])
            del parts["manifest_sha256"]
            shared = run_key(parts | {"data_sha256": context["data_sha256"], "reads": "test"})
            source = shared_source(context["path"], shared, test)
            if source is not None:
                return self._record(cell, runner, manifest, context, source, started)
        training = runner.fit(domain, manifest, context["workdir"])
        fitted = time.perf_counter()
        if cell.cross_domain:
            runner.use_domain(test_domain)
        scores = [float(score) for score in runner.score(test)]
        notes = runner.scoring_notes()
        if notes is not None:
            training = training | {"scoring": notes}
        if shared is not None:
            training = training | {"shared_key": shared}
        torch = sys.modules.get("torch")  # imported by the runner, if it uses torch
        if torch is not None and torch.cuda.is_available():
            training = training | {"peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20)}
        scored = time.perf_counter()
        if len(scores) != len(test) or not all(0.0 <= score <= 1.0 for score in scores):
            raise BenchError(
                f"runner {cell.runner} returned {len(scores)} scores for {len(test)} samples, "
                "or scores outside [0, 1]: a bug in the runner"
            )
        labels = [sample.label for sample in test]
        return RunRecord(
            **base.record_fields(cell, runner, context),
            n_shots=cell.n_shots,
            validation=cell.validation,
            manifest_sha256=manifest.sha256,
            training=training,
            auc=roc_auc(labels, scores),
            log_loss=log_loss(labels, scores),
            wall_s={"fit": round(fitted - started, 3), "score": round(scored - fitted, 3)},
            predictions=tuple(
                Prediction(s.sample_id, s.label, score)
                for s, score in zip(test, scores, strict=True)
            ),
            test_domain=test_domain.name,
        )

    def _record(
        self,
        cell: Cell,
        runner: Any,
        manifest: FewShotManifest,
        context: dict[str, Any],
        source: tuple[Path, RunRecord],
        started: float,
    ) -> RunRecord:
        """The cell's record with the scores of ``source``'s record (see ``answer``)."""
        path, record = source
        origin = {"record": path.name, "run_key": record.run_key}
        log.info("scores from %s: its runner does not read the train samples", path.name,
                 extra={"cell_only": True})  # fmt: skip
        return RunRecord(
            **base.record_fields(cell, runner, context),
            n_shots=cell.n_shots,
            validation=cell.validation,
            manifest_sha256=manifest.sha256,
            training=record.training | {"scores_from": origin},
            auc=record.auc,
            log_loss=record.log_loss,
            wall_s={"fit": round(time.perf_counter() - started, 3), "score": 0.0},
            predictions=record.predictions,
            test_domain=record.test_domain,
        )

    def figures(self, records: list[RunRecord]) -> dict[str, float]:
        """CI's figures: {runner label/domain/k<shots>/seed<seed>: AUC}."""
        return {f"{r.runner_label}/{r.domain}/k{r.n_shots}/seed{r.seed}": r.auc for r in records}

    def read(self, path: Path, domain: Domain | None = None) -> RunRecord:
        """A record, its AUC recomputed from its scores."""
        return read_record(path)

    def record_path(self, record: RunRecord, results_dir: Path) -> Path:
        """Where the cell that made ``record`` keeps it."""
        cross = record.tested_on != record.domain
        return like_path(
            results_dir,
            record.runner_label,
            f"{record.domain}-to-{record.tested_on}" if cross else record.domain,
            record.n_shots,
            record.seed,
            record.validation,
            record.test_limit,
        )

    def metrics(self, record: RunRecord) -> dict[str, float]:
        """AUC and log loss."""
        return {"auc": record.auc, "log_loss": record.log_loss}

    def column(self, record: RunRecord) -> str:
        """``movie k16`` (``movie->book k16`` across domains)."""
        cross = f"->{record.tested_on}" if record.tested_on != record.domain else ""
        return f"{record.domain}{cross} k{record.n_shots}"

    def from_json(self, data: dict[str, Any]) -> RunRecord:
        """A record from its JSON."""
        return RunRecord.from_json(data)


LIKE = LikeTask()


def shared_source(path: Path, shared_key: str, test: list[Any]) -> tuple[Path, RunRecord] | None:
    """An intact record beside ``path`` that computed ``shared_key`` on these test samples."""
    ids = [sample.sample_id for sample in test]
    for other in sorted(path.parent.glob("k*.json")):
        if other == path or other.is_symlink():
            continue
        try:
            record = read_record(other)
        except DataError:
            continue
        if (
            record.training.get("shared_key") == shared_key
            and "scores_from" not in record.training
            and [p.sample_id for p in record.predictions] == ids
        ):
            return other, record
    return None


def run_cell(cell: Cell, results_dir: Path, force: bool = False) -> tuple[RunRecord, bool]:
    """Run ``cell`` unless an intact record with the same run key exists (see ``base``)."""
    return base.run_cell(LIKE, cell, results_dir, force)
