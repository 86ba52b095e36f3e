"""The book-bx domain: raw BookCrossing CSVs by TALLRec's ``preprocess_book.py``, seeded.

Only for users who have ``BX-Book-Ratings.csv`` and ``BX-Books.csv`` (put them in
``$BENCH_DATA_DIR/bookcrossing/``); they cannot be fetched here, so this domain is opt-in
and not part of ``--domain all``. Protocol: ratings inner-joined with books on ISBN (books
file read skipping malformed lines, as TALLRec did); users in order of first appearance,
kept when they have more than 3 ratings; a rating above 5 is a like; users shuffled with
``random.Random(split_seed)`` (TALLRec's shuffle was unseeded) and cut 8:1:1; each user's
books shuffled after ``random.seed(42)`` as TALLRec does; the last book is the target and up
to 10 of the others are the history.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from bench.data.cards import Card
from bench.data.domain import Domain
from bench.data.schema import Interaction, Item, Sample, Split
from bench.errors import DataError

RATINGS_FILE = "bookcrossing/BX-Book-Ratings.csv"
BOOKS_FILE = "bookcrossing/BX-Books.csv"
MIN_RATINGS = 4  # TALLRec keeps users with more than 3 ratings
LIKE_THRESHOLD = 5  # a rating above this is a like
HISTORY_LENGTH = 10
ITEM_SHUFFLE_SEED = 42  # TALLRec's random.seed(42) before shuffling each user's books


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            path, sep=";", encoding="latin-1", dtype=str, keep_default_na=False, on_bad_lines="skip"
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"{path} is not a BookCrossing CSV ({error}): fetch it again") from None
    missing = set(columns) - set(frame.columns)
    if missing:
        raise DataError(f"{path} lacks columns {sorted(missing)}: is it the BookCrossing dump?")
    return frame[columns]


def build(card: Card, files: dict[str, Path]) -> Domain:
    """Build book-bx from the raw CSVs."""
    if card.split_seed is None:
        raise DataError("datasets/book-bx.yaml must set split_seed")
    ratings = _read_csv(files[RATINGS_FILE], ["User-ID", "ISBN", "Book-Rating"])
    books = _read_csv(files[BOOKS_FILE], ["ISBN", "Book-Title", "Book-Author"])
    books = books.drop_duplicates("ISBN")
    merged = ratings.merge(books, on="ISBN", how="inner")
    try:
        likes = (merged["Book-Rating"].astype(float) > LIKE_THRESHOLD).astype(int).tolist()
    except ValueError as error:
        raise DataError(f"{files[RATINGS_FILE]}: non-numeric Book-Rating ({error})") from None
    by_user: dict[str, list[tuple[str, int]]] = {}
    for user, isbn, like in zip(merged["User-ID"], merged["ISBN"], likes, strict=True):
        by_user.setdefault(user, []).append((f"isbn-{isbn}", like))
    items = {
        f"isbn-{isbn}": Item(f"isbn-{isbn}", title, author)
        for isbn, title, author in zip(
            books["ISBN"], books["Book-Title"], books["Book-Author"], strict=True
        )
    }
    users = [user for user, rated in by_user.items() if len(rated) >= MIN_RATINGS]
    random.Random(card.split_seed).shuffle(users)
    cut_train, cut_valid = int(len(users) * 0.8), int(len(users) * 0.9)
    groups: dict[Split, list[str]] = {
        "train": users[:cut_train],
        "valid": users[cut_train:cut_valid],
        "test": users[cut_valid:],
    }
    splits = {}
    for split, members in groups.items():
        samples = []
        for user in members:
            rated = list(by_user[user])
            random.Random(ITEM_SHUFFLE_SEED).shuffle(rated)
            history = tuple(Interaction(item, like) for item, like in rated[:-1][:HISTORY_LENGTH])
            target, label = rated[-1]
            samples.append(Sample(f"bx-{user}", "book-bx", split, user, history, target, label))
        splits[split] = tuple(samples)
    used = {
        item_id
        for samples in splits.values()
        for sample in samples
        for item_id in (sample.target_item, *(entry.item_id for entry in sample.history))
    }
    return Domain("book-bx", splits, {item_id: items[item_id] for item_id in sorted(used)})
