"""The book domain, parsed back from TALLRec's released book files.

BookCrossing's raw files cannot be fetched here. TALLRec released ``data/book/train.json``,
``valid.json`` and ``test.json``; the shared data holds the last two, and ``train.json``
(over 4 MiB) is used when the user puts it into ``BENCH_DATA_DIR`` (datasets/book.yaml).
With it (its git blob checked), the splits are the paper's: train pool = the released
``train.json``, validation = the whole ``valid.json``, test = ``test.json``. Without it,
the pool is reconstructed and differs from the paper's: the released ``valid.json`` users
are split, seeded, into a validation set (``valid_size`` of the card) and a train pool
(the other 1,427); test is the same. Each prompt is one user. A history lists liked books,
then disliked ones: the prompt does not keep how they interleaved (TALLRec shuffled each
user's books anyway).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.cards import Card
from bench.data.domain import Domain
from bench.data.schema import Interaction, Item, Sample, Split
from bench.data.tallrec_format import NO, YES, instruction, parse_book_input
from bench.errors import DataError
from bench.files import sha256_bytes

TEST_FILE = "tallrec/book/test.json"
VALID_FILE = "tallrec/book/valid.json"
TRAIN_FILE = "tallrec/book/train.json"  # optional: only when the user put it there
RELEASED_POOL = "tallrec-train.json"  # the manifest's "pool" for each kind of build
RECONSTRUCTED_POOL = "reconstructed from valid.json"


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

    def samples(rows: list[tuple], split: Split) -> tuple[Sample, ...]:
        return tuple(Sample(sid, "book", split, f"user-{sid}", *rest) for sid, *rest in rows)

    if TRAIN_FILE in files:  # the paper's splits; the card's outputs pins cannot cover them
        train = parse_file(files[TRAIN_FILE], "train", items)
        splits = {
            "train": samples(train, "train"),
            "valid": samples(released_valid, "valid"),
            "test": samples(test, "test"),
        }
        items = dict(sorted(items.items()))
        return Domain("book", splits, items, {"pool": RELEASED_POOL}, pinned=False)
    order = np.random.default_rng(card.split_seed).permutation(len(released_valid))
    valid_rows = set(order[: card.valid_size].tolist())
    splits = {
        "train": samples([r for i, r in enumerate(released_valid) if i not in valid_rows], "train"),
        "valid": samples([r for i, r in enumerate(released_valid) if i in valid_rows], "valid"),
        "test": samples(test, "test"),
    }
    return Domain("book", splits, dict(sorted(items.items())), {"pool": RECONSTRUCTED_POOL})


def pool_description(manifest: dict[str, Any]) -> str:
    """Which train pool a book build used, in words, from its ``manifest.json``.

    Builds made before the manifest recorded ``pool`` are reconstructions.
    """
    if manifest.get("domain") != "book":
        raise ValueError(f"pool_description takes a book manifest, not {manifest.get('domain')}")
    counts = manifest["counts"]
    n_train, n_valid = counts["train"]["samples"], counts["valid"]["samples"]
    pool = manifest.get("pool", RECONSTRUCTED_POOL)
    if pool == RELEASED_POOL:
        return (
            f"train pool: TALLRec's released book train.json ({n_train:,} samples), as in the paper"
        )
    if pool == RECONSTRUCTED_POOL:
        return (
            f"train pool: reconstructed, {n_train:,} of the {n_train + n_valid:,} samples of "
            f"TALLRec's book valid.json (the other {n_valid:,} are the validation split); "
            "not the paper's pool (built without TALLRec's book train.json)"
        )
    raise ValueError(f"unknown book pool {pool!r} in the manifest")
