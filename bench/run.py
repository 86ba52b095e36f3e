"""Run one cell (runner x domain x shots x seed): fit, score the test split, write a record."""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass
from pathlib import Path

from bench.config import cache_dir
from bench.datastore import load_domain
from bench.domain import Domain
from bench.errors import BenchError, DataError
from bench.metrics import log_loss, roc_auc
from bench.records import Prediction, RunRecord, environment, read_record, run_key, write_record
from bench.registry import RUNNERS
from bench.runner import Runner
from bench.splits import FewShotManifest, make_fewshot, manifest_path, read_manifest, write_manifest

log = logging.getLogger(__name__)
_LOADED: dict[tuple[Path, str], tuple[Domain, str]] = {}  # loaded by this process


def loaded_domain(name: str) -> tuple[Domain, str]:
    """``load_domain`` once per process and cache: a grid reads a domain once, not per cell."""
    key = (cache_dir(), name)
    if key not in _LOADED:
        _LOADED[key] = load_domain(name)
    return _LOADED[key]


@dataclass(frozen=True)
class Cell:
    """One run of the grid."""

    runner: str
    domain: str
    n_shots: int
    seed: int
    validation: str = "full"

    def record_path(self, results_dir: Path) -> Path:
        """Where this cell's record lives."""
        stem = f"k{self.n_shots}-seed{self.seed}-valid-{self.validation}"
        return results_dir / self.runner / self.domain / f"{stem}.json"


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
    test = domain.samples("test")
    scores = [float(score) for score in runner.score(test)]
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
    )
    write_record(record, path)
    return record, True
