"""The interface every runner implements, baselines and LLM runners alike."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from bench.domain import Domain
from bench.schema import Sample
from bench.splits import FewShotManifest


class Runner(Protocol):
    """Fit on the samples a few-shot manifest names, then score samples.

    ``fit`` may use only the manifest's train and validation samples (and the domain's item
    table); it returns what the run record should keep about training (best epoch, ...).
    ``score`` returns P(like) in [0, 1] for each sample, in order.
    """

    name: str

    def config(self) -> dict[str, Any]:
        """Every setting that can change the result: part of the run key."""
        ...

    def fit(self, domain: Domain, manifest: FewShotManifest, workdir: Path) -> dict[str, Any]:
        """Train (or prepare) on the manifest's samples; ``workdir`` is this run's folder."""
        ...

    def score(self, samples: Sequence[Sample]) -> list[float]:
        """P(like) for each sample, in order."""
        ...
