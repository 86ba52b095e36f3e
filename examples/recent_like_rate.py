"""An external like/dislike runner: the like-rate of the last ``window`` history items.

Not part of the suite: it shows what a user writes to put her own method into the table.
Run it without installing anything, from this folder or with it on ``PYTHONPATH``:

    python -m bench run --runner recent_like_rate:RecentLikeRate --domain movie --shots 16
    python -m bench run --runner recent_like_rate:RecentLikeRate --set window=3 ...

or register it from Python (``bench.register_runner("recent-like-rate", RecentLikeRate)``),
or declare it as an entry point of your package (``tallrec_bench.runners``, see README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class Settings:
    """What ``--set`` may change."""

    window: int = 5  # how many of the most recent history items count


class RecentLikeRate:
    """No training: P(like) = (likes + 1) / (n + 2) over the last ``window`` items."""

    name: ClassVar[str] = "recent-like-rate"
    settings: ClassVar[Settings] = Settings()
    code_version: ClassVar[int] = 1

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def config(self) -> dict[str, Any]:
        """Every setting that can change the scores (part of the run key)."""
        return asdict(self.settings)

    def fit(self, domain: Any, manifest: Any, workdir: Path) -> dict[str, Any]:
        """Nothing to fit: the few-shot samples are not read."""
        return {"trained": False}

    def score(self, samples: Sequence[Any]) -> list[float]:
        """P(like) of each sample."""
        scores = []
        for sample in samples:
            recent = sample.history[-self.settings.window :]
            scores.append((sum(item.label for item in recent) + 1) / (len(recent) + 2))
        return scores
