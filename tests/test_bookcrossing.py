"""book-bx: TALLRec's book protocol on raw BookCrossing CSVs (opt-in domain).

The real dump cannot be fetched here, so these tests write a few rows in its exact format
(';'-separated, quoted, latin-1, with a malformed line as the real BX-Books.csv has).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.data.datastore import build_domain, load_domain
from bench.data.tallrec_format import to_record
from bench.errors import DataError

BOOKS_HEADER = '"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher"\n'
RATINGS_HEADER = '"User-ID";"ISBN";"Book-Rating"\n'


def write_dump(folder: Path, n_users: int = 20) -> dict[str, list[tuple[str, int]]]:
    """A BookCrossing-format dump; returns each user's (ISBN, rating) in file order."""
    folder.mkdir(parents=True, exist_ok=True)
    books = [BOOKS_HEADER]
    for number in range(30):
        books.append(f'"{number:010d}";"Title {number}; Ã©";"Author {number % 7}";"1999";"P"\n')
    books.append('"bad";"line";"with";"too";"many";"fields";"here"\n')
    (folder / "BX-Books.csv").write_bytes("".join(books).encode("latin-1"))
    rng = random.Random(7)
    ratings, rows = {}, [RATINGS_HEADER]
    for user in range(n_users):
        count = 2 + user % 14  # some users have 3 or fewer ratings and are dropped
        rated = [(f"{rng.randrange(30):010d}", rng.randrange(11)) for _ in range(count)]
        rated.append(("9999999999", 8))  # ISBN not in the books file: dropped by the join
        ratings[str(1000 + user)] = rated[:-1]
        rows += [f'"{1000 + user}";"{isbn}";"{rating}"\n' for isbn, rating in rated]
    (folder / "BX-Book-Ratings.csv").write_bytes("".join(rows).encode("latin-1"))
    return ratings


@pytest.fixture
def bx_env(tmp_path: Path, monkeypatch) -> dict[str, list[tuple[str, int]]]:
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    return write_dump(tmp_path / "data" / "bookcrossing")


def test_protocol_on_a_dump(bx_env) -> None:
    domain, _ = load_domain("book-bx")
    kept = {user: rated for user, rated in bx_env.items() if len(rated) > 3}
    samples = [s for split in ("train", "valid", "test") for s in domain.samples(split)]
    assert sorted(s.user_id for s in samples) == sorted(kept)
    sizes = [len(domain.samples(split)) for split in ("train", "valid", "test")]
    assert sizes == [
        int(len(kept) * 0.8),
        int(len(kept) * 0.9) - int(len(kept) * 0.8),
        len(kept) - int(len(kept) * 0.9),
    ]
    for sample in samples:
        rated = list(kept[sample.user_id])
        random.seed(42)  # TALLRec: random.seed(42); random.shuffle(...)
        random.shuffle(rated)
        assert (sample.target_item, sample.label) == (f"isbn-{rated[-1][0]}", int(rated[-1][1] > 5))
        expected = [(f"isbn-{isbn}", int(r > 5)) for isbn, r in rated[:-1][:10]]
        assert [(e.item_id, e.label) for e in sample.history] == expected
    record = to_record(samples[0], domain.items)
    assert "written by Author" in record["input"] and "Ã©" in record["input"]


def test_same_seed_same_build(bx_env, tmp_path: Path, monkeypatch) -> None:
    first = load_domain("book-bx")[1]
    build_domain("book-bx", force=True)
    assert load_domain("book-bx")[1] == first


def test_missing_dump_names_the_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    with pytest.raises(DataError, match=r"missing data files bookcrossing/BX-Book-Ratings.csv"):
        build_domain("book-bx")


def test_wrong_columns_are_named(bx_env, tmp_path: Path) -> None:
    (tmp_path / "data/bookcrossing/BX-Book-Ratings.csv").write_text('"a";"b"\n"1";"2"\n')
    with pytest.raises(DataError, match=r"BX-Book-Ratings.csv lacks columns"):
        build_domain("book-bx")
