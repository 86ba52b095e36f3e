"""An external like/dislike domain: MovieLens-100K's 2,000 most recent windows, split 8:1:1.

Not part of the suite: it shows what a user writes to add her own data set. TALLRec's
movie protocol (``bench.data.movie``) on a smaller slice: the same windows of 10 ratings,
the last 2,000 of them instead of 10,000. The card beside this file names the input files
(read from the ``recbole`` wheel and checked by sha256). Register it from Python
(``bench.register_domain("movie-recent", build)``) or by an entry point of your package:

    [project.entry-points."tallrec_bench.domains"]
    movie-recent = "movie_recent:build"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.data.domain import Domain
from bench.data.movie import INTER_FILE, ITEM_FILE, all_windows, read_items, read_ratings
from bench.data.schema import Sample

N_SAMPLES = 2_000


def build(card: Any, files: dict[str, Path]) -> Domain:
    """The domain from the verified files the card names."""
    items = read_items(files[ITEM_FILE], card.title_corrections)
    windows = all_windows(read_ratings(files[INTER_FILE]))[-N_SAMPLES:]
    cut = {"train": (0, 1600), "valid": (1600, 1800), "test": (1800, 2000)}
    splits = {
        split: tuple(
            Sample(f"movie-recent-{i:04d}", "movie-recent", split, user, history, target, label)
            for i, (user, history, target, label) in enumerate(windows[start:stop], start)
        )
        for split, (start, stop) in cut.items()
    }
    return Domain("movie-recent", splits, items)


build.card = Path(__file__).with_suffix(".yaml")  # type: ignore[attr-defined]
