"""An external next-item runner: rank the 20 candidates by how often they occur in training.

Not part of the suite: it shows the next-item runner protocol (``bench.tasks.runner``).

    python -m bench run --task next-item --runner popular_next:PopularNext --domain lastfm
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar


class PopularNext:
    """Popularity: a candidate's count among the train split's histories and targets."""

    name: ClassVar[str] = "popular-next"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.counts: Counter[str] = Counter()

    def config(self) -> dict[str, Any]:
        """No settings."""
        return {"counts": "train histories and targets"}

    def fit(self, domain: Any, data_sha256: str, workdir: Path) -> dict[str, Any]:
        """Count every item of the train split."""
        for sample in domain.samples("train"):
            self.counts.update(sample.history)
            self.counts[sample.target] += 1
        return {"items_counted": len(self.counts)}

    def rank(self, samples: Sequence[Any]) -> list[list[float]]:
        """Each candidate's count (ties broken by the suite: the first listed wins)."""
        return [[float(self.counts[item]) for item in s.candidates] for s in samples]
