"""Run one cell (runner x domain x shots x seed): fit, score the test split, write a record."""

from __future__ import annotations

import logging
import re
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from bench.config import cache_dir
from bench.data.datastore import load_domain
from bench.data.domain import Domain
from bench.data.splits import (
    FewShotManifest,
    fixed_subset,
    make_fewshot,
    manifest_path,
    read_manifest,
    write_manifest,
)
from bench.errors import BenchError, DataError
from bench.files import sha256_bytes
from bench.metrics import log_loss, roc_auc
from bench.registry import RUNNERS
from bench.store.records import (
    Prediction,
    RunRecord,
    environment,
    invocation,
    read_record,
    run_key,
    write_record,
)
from bench.tasks.runner import Runner, with_settings

log = logging.getLogger(__name__)
_LOADED: dict[tuple[Path, Callable, str], tuple[Any, str]] = {}  # loaded by this process
D = TypeVar("D")


def loaded_domain(name: str, loader: Callable[[str], tuple[D, str]] = load_domain) -> tuple[D, str]:
    """``loader(name)`` once per process and cache: a grid reads a domain once, not per cell."""
    key = (cache_dir(), loader, name)
    if key not in _LOADED:
        _LOADED[key] = loader(name)
    return _LOADED[key]


def variant_label(settings: tuple[tuple[str, Any], ...]) -> str:
    """A readable, file-name-safe label of changed runner settings ('' for none)."""
    text = ",".join(f"{key}={value}" for key, value in settings)
    text = re.sub(r"[^A-Za-z0-9._=,-]+", "_", text)
    return text if len(text) <= 80 else f"{text[:60]}~{sha256_bytes(text.encode())[:12]}"


def runner_folder(runner: str, variant: str) -> str:
    """A record's runner folder: ``runner``, or ``runner@variant`` for changed settings."""
    return f"{runner}@{variant}" if variant else runner


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
        stem = f"k{self.n_shots}-seed{self.seed}-valid-{self.validation}"
        stem += f"-test{self.test_limit}" if self.test_limit else ""
        runner = runner_folder(self.runner, self.variant)
        domain = f"{self.domain}-to-{self.test_domain}" if self.cross_domain else self.domain
        return results_dir / runner / domain / f"{stem}.json"

    @property
    def cross_domain(self) -> bool:
        """Whether the test split comes from another domain than the training samples."""
        return bool(self.test_domain) and self.test_domain != self.domain

    @property
    def label(self) -> str:
        """The cell in one short line (progress output)."""
        return f"{self.runner:12} {self.domain:6} k={self.n_shots:<4} seed={self.seed}"

    def run(self, results_dir: Path, force: bool = False) -> tuple[RunRecord, bool]:
        """:func:`run_cell` on this cell (the grid's executors call this)."""
        return run_cell(self, results_dir, force)


def manifest_for(domain: Domain, data_sha256: str, cell: Cell) -> FewShotManifest:
    """The cached manifest of ``cell`` (drawn and written on first use)."""
    path = manifest_path(domain.name, cell.n_shots, cell.seed, cell.validation)
    if path.exists():
        return read_manifest(path, data_sha256)
    manifest = make_fewshot(domain, data_sha256, cell.n_shots, cell.seed, cell.validation)
    write_manifest(manifest, path)
    return manifest


def run_cell(cell: Cell, results_dir: Path, force: bool = False) -> tuple[RunRecord, bool]:
    """Run ``cell`` unless an intact record with the same run key exists.

    Returns the record and whether it was computed now.
    """
    provenance = environment()  # cached: taken before the first cell runs
    runner_class = RUNNERS.load(cell.runner)
    if cell.settings:
        runner_class = with_settings(runner_class, **dict(cell.settings))
    domain, data_sha256 = loaded_domain(cell.domain)
    manifest = manifest_for(domain, data_sha256, cell)
    runner: Runner = runner_class(seed=cell.seed)
    key = run_key(
        {
            "runner": cell.runner,
            "config": runner.config(),
            "manifest_sha256": manifest.sha256,
            "code_version": getattr(runner_class, "code_version", 1),
        }
        | ({"test_domain": cell.test_domain} if cell.cross_domain else {})
        | ({"test_limit": cell.test_limit} if cell.test_limit else {})
        | ({"profile": cell.profile} if cell.profile else {})
    )
    path = cell.record_path(results_dir)
    if path.exists() and not force:
        try:
            existing = read_record(path)
            if existing.run_key == key:
                return existing, False
            log.info("%s: configuration changed, rerunning", path)
        except DataError as error:
            log.warning("%s; recomputing", error)
    workdir = path.with_suffix(".work")
    started = time.perf_counter()
    training = runner.fit(domain, manifest, workdir)
    fitted = time.perf_counter()
    test_domain = domain
    if cell.cross_domain:
        if not hasattr(runner, "use_domain"):
            raise BenchError(
                f"runner {cell.runner} cannot test on another domain (it knows only "
                f"{cell.domain}'s item ids): drop --test-domain or use an LLM runner"
            )
        test_domain, _ = loaded_domain(cell.test_domain)
        runner.use_domain(test_domain)
    test = fixed_subset(test_domain.samples("test"), cell.test_limit, seed=0)
    scores = [float(score) for score in runner.score(test)]
    if hasattr(runner, "scoring_notes"):
        training = training | {"scoring": runner.scoring_notes()}
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
    record = RunRecord(
        run_key=key,
        runner=cell.runner,
        domain=cell.domain,
        n_shots=cell.n_shots,
        seed=cell.seed,
        validation=cell.validation,
        manifest_sha256=manifest.sha256,
        data_sha256=data_sha256,
        config=runner.config(),
        training=training,
        auc=roc_auc(labels, scores),
        log_loss=log_loss(labels, scores),
        wall_s={"fit": round(fitted - started, 3), "score": round(scored - fitted, 3)},
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        environment=provenance,
        predictions=tuple(
            Prediction(s.sample_id, s.label, score) for s, score in zip(test, scores, strict=True)
        ),
        test_domain=test_domain.name,
        variant=cell.variant,
        test_limit=cell.test_limit,
        profile=cell.profile,
        command=invocation(),
    )
    write_record(record, path)
    return record, True
