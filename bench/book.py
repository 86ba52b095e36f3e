"""The book domain, parsed back from TALLRec's released book files.

BookCrossing's raw files cannot be fetched here and TALLRec's book ``train.json`` was never
released, so: test = the released ``test.json``; the released ``valid.json`` users are
split, seeded, into a validation set (``valid_size`` of the card) and a train pool.
Each prompt is one user. A history lists liked books, then disliked ones: the prompt does
not keep how they interleaved (TALLRec shuffled each user's books anyway).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.cards import Card
from bench.domain import Domain
from bench.errors import DataError
from bench.files import sha256_bytes
from bench.schema import Interaction, Item, Sample, Split
from bench.tallrec_format import NO, YES, instruction, parse_book_input

TEST_FILE = "tallrec/book/test.json"
VALID_FILE = "tallrec/book/valid.json"


def book_item_id(title: str, author: str) -> str:
    """Stable id of a (title, author) pair, independent of which files are read."""
    return "bk-" + sha256_bytes(f"{title}\x1f{author}".encode())[:12]


def read_records(path: Path) -> list[dict[str, str]]:
    """The instruction records of a released TALLRec file, checked field by field."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not valid JSON ({error}): fetch it again") from None
    if not isinstance(records, list):
        raise DataError(f"{path} must hold a JSON list of records: fetch it again")
    for index, record in enumerate(records):
        if not isinstance(record, dict) or set(record) != {"instruction", "input", "output"}:
            raise DataError(f"{path} record {index}: expected instruction/input/output")
        if record["output"] not in (YES, NO):
            raise DataError(f"{path} record {index}: output {record['output']!r} is not Yes./No.")
    return records


def parse_file(path: Path, name: str, items: dict[str, Item]) -> list[tuple]:
    """Parse every record of ``path``; adds the books it names to ``items``."""
    parsed = []
    for index, record in enumerate(read_records(path)):
        where = f"{path} record {index}"
        if record["instruction"] != instruction("book"):
            raise DataError(f"{where}: unexpected instruction {record['instruction'][:60]!r}")
        likes, dislikes, target = parse_book_input(record["input"], where)
        ids = []
        for title, author in [*likes, *dislikes, target]:
            item_id = book_item_id(title, author)
            known = items.setdefault(item_id, Item(item_id, title, author))
            if (known.title, known.author) != (title, author):
                raise DataError(f"{where}: item id collision for {title!r}: report this bug")
            ids.append(item_id)
        history = tuple(Interaction(item_id, 1) for item_id in ids[: len(likes)]) + tuple(
            Interaction(item_id, 0) for item_id in ids[len(likes) : -1]
        )
        label = int(record["output"] == YES)
        parsed.append((f"book-{name}-{index:04d}", history, ids[-1], label))
    return parsed


def build(card: Card, files: dict[str, Path]) -> Domain:
    """Build the book domain from the verified released files."""
    if card.split_seed is None or card.valid_size is None:
        raise DataError("datasets/book.yaml must set split_seed and valid_size")
    items: dict[str, Item] = {}
    test = parse_file(files[TEST_FILE], "test", items)
    released_valid = parse_file(files[VALID_FILE], "valid", items)
    order = np.random.default_rng(card.split_seed).permutation(len(released_valid))
    valid_rows = set(order[: card.valid_size].tolist())

    def samples(rows: list[tuple], split: Split) -> tuple[Sample, ...]:
        return tuple(Sample(sid, "book", split, f"user-{sid}", *rest) for sid, *rest in rows)

    splits = {
        "train": samples([r for i, r in enumerate(released_valid) if i not in valid_rows], "train"),
        "valid": samples([r for i, r in enumerate(released_valid) if i in valid_rows], "valid"),
        "test": samples(test, "test"),
    }
    return Domain("book", splits, dict(sorted(items.items())))
