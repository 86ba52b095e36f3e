"""The movie domain: MovieLens-100K (from the recbole wheel) by TALLRec's protocol.

Protocol of TALLRec's ``preprocess_movie.py``: rating > 3 is a like; users in order of
first appearance in the ratings file; each user's ratings sorted by timestamp (stable);
every window of 10 history items followed by the next one is a sample; the last 10,000
samples of the whole list are kept and cut 8:1:1 in list order (not a temporal split).
When TALLRec's released ``train.json`` is in ``BENCH_DATA_DIR`` (optional), the build checks
that our train split exports to exactly its bytes.
"""

from __future__ import annotations

from pathlib import Path

from bench.data.cards import Card
from bench.data.domain import Domain
from bench.data.schema import Interaction, Item, Sample, Split
from bench.data.tallrec_format import dumps, to_record
from bench.errors import DataError

HISTORY_LENGTH = 10
N_SAMPLES = 10_000
LIKE_THRESHOLD = 3  # a rating above this is a like
INTER_FILE = "recbole/dataset_example/ml-100k/ml-100k.inter"
ITEM_FILE = "recbole/dataset_example/ml-100k/ml-100k.item"
TRAIN_FILE = "tallrec/movie/train.json"  # optional reference: checked when present


def _rows(path: Path, header: str) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != header:
        raise DataError(f"{path}: expected RecBole header {header!r}: reinstall recbole==1.2.1")
    rows = [line.split("\t") for line in lines[1:]]
    width = header.count("\t") + 1
    for number, row in enumerate(rows, start=2):
        if len(row) != width:
            raise DataError(f"{path}:{number}: expected {width} fields, got {len(row)}")
    return rows


def read_items(path: Path, corrections: dict[str, str]) -> dict[str, Item]:
    """Item table with MovieLens' raw titles, "Title (Year)".

    RecBole's copy splits the year off; ``corrections`` (from the dataset card) restores
    the few titles where RecBole's copy differs from MovieLens' ``u.item``.
    """
    header = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"
    items = {}
    for item_id, title, year, _genres in _rows(path, header):
        full_title = corrections.get(item_id, f"{title} ({year})")
        items[item_id] = Item(item_id, full_title)
    return items


def read_ratings(path: Path) -> dict[str, list[tuple[str, int, int]]]:
    """Per user, in order of first appearance: (item_id, like, timestamp) sorted by time."""
    header = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    by_user: dict[str, list[tuple[str, int, int]]] = {}
    for user_id, item_id, rating, timestamp in _rows(path, header):
        like = int(float(rating) > LIKE_THRESHOLD)
        by_user.setdefault(user_id, []).append((item_id, like, int(float(timestamp))))
    for ratings in by_user.values():
        ratings.sort(key=lambda rating: rating[2])  # stable: ties keep file order
    return by_user


Window = tuple[str, tuple[Interaction, ...], str, int]  # user, history, target, label


def all_windows(by_user: dict[str, list[tuple[str, int, int]]]) -> list[Window]:
    """Every window of ``HISTORY_LENGTH`` ratings and the next one, users in file order."""
    windows = []
    for user_id, ratings in by_user.items():
        for end in range(HISTORY_LENGTH, len(ratings)):
            history = tuple(
                Interaction(item, like) for item, like, _ in ratings[end - HISTORY_LENGTH : end]
            )
            target, label, _ = ratings[end]
            windows.append((user_id, history, target, label))
    return windows


def build(card: Card, files: dict[str, Path]) -> Domain:
    """Build the movie domain from the verified source files."""
    items = read_items(files[ITEM_FILE], card.title_corrections)
    windows = all_windows(read_ratings(files[INTER_FILE]))[-N_SAMPLES:]
    bounds: dict[Split, tuple[int, int]] = {
        "train": (0, int(len(windows) * 0.8)),
        "valid": (int(len(windows) * 0.8), int(len(windows) * 0.9)),
        "test": (int(len(windows) * 0.9), len(windows)),
    }
    splits = {
        split: tuple(
            Sample(f"movie-{index:05d}", "movie", split, user, history, target, label)
            for index, (user, history, target, label) in enumerate(windows[start:stop], start)
        )
        for split, (start, stop) in bounds.items()
    }
    domain = Domain("movie", splits, items)
    if TRAIN_FILE in files:
        exported = dumps(to_record(sample, items) for sample in splits["train"]).encode()
        if exported != files[TRAIN_FILE].read_bytes():
            raise DataError(
                f"our movie train split does not export to the bytes of {files[TRAIN_FILE]} "
                "(TALLRec's train.json): the builder changed; report this bug"
            )
    return domain
