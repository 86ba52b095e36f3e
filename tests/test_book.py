"""The book domain parses TALLRec's released prompts back without loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.book import book_item_id
from bench.datastore import load_domain
from bench.errors import DataError
from bench.schema import Item
from bench.tallrec_format import parse_book_input, render_input, to_record, write_tallrec_files

QUESTION = "\nWhether the user will like the target book "


def _released(data_dir: Path, split: str) -> list[dict[str, str]]:
    return json.loads((data_dir / "tallrec" / "book" / f"{split}.json").read_text())


def test_every_released_prompt_round_trips(data_dir: Path) -> None:
    count = 0
    for split in ("valid", "test"):
        for index, record in enumerate(_released(data_dir, split)):
            likes, dislikes, target = parse_book_input(record["input"], f"{split}:{index}")
            as_items = [[Item("x", t, a) for t, a in pairs] for pairs in (likes, dislikes)]
            rendered = render_input(*as_items, Item("x", *target), "book")
            assert rendered == record["input"], f"{split} record {index}"
            assert 1 <= len(likes) + len(dislikes) <= 10
            count += 1
    assert count == 4854


def test_target_with_extra_quotes_and_tallrec_script_form_parse_the_same() -> None:
    head = 'User Preference: "A" written by B\nUser Unpreference: ' + QUESTION
    released = head + '""T, "X"" written by Au, Thor"?'
    script = head + '"T, "X""written byAu, Thor?'
    expected = ([("A", "B")], [], ('T, "X"', "Au, Thor"))
    assert parse_book_input(released, "r") == expected
    assert parse_book_input(script, "s") == expected


@pytest.mark.parametrize(
    "text",
    [
        "User Preference: " + QUESTION + '""T" written by A"?',
        'User Preference: "A" by B\nUser Unpreference: ' + QUESTION + '""T" written by A"?',
        "User Preference: \nUser Unpreference: "
        + QUESTION
        + '""T" written by A", "U" written by B"?',
    ],
    ids=["no-unpreference-section", "not-written-by", "two-targets"],
)
def test_bad_prompt_names_the_record(text: str) -> None:
    with pytest.raises(DataError, match="test.json record 7"):
        parse_book_input(text, "test.json record 7")


def test_test_export_is_byte_identical_and_valid_users_are_partitioned(
    env, data_dir: Path, tmp_path: Path
) -> None:
    domain, _ = load_domain("book")
    write_tallrec_files(domain, tmp_path)
    released_test = (data_dir / "tallrec" / "book" / "test.json").read_bytes()
    assert (tmp_path / "book" / "test.json").read_bytes() == released_test
    # train pool + validation = the released valid file, each record unchanged
    released_valid = _released(data_dir, "valid")
    rebuilt = {}
    for split in ("train", "valid"):
        for sample in domain.samples(split):
            rebuilt[int(sample.sample_id.rsplit("-", 1)[1])] = to_record(sample, domain.items)
    assert [rebuilt[i] for i in range(len(released_valid))] == released_valid
    assert (len(domain.samples("train")), len(domain.samples("valid"))) == (1427, 1000)


def test_splits_are_user_disjoint_and_items_shared(env) -> None:
    domain, _ = load_domain("book")
    users = {split: {s.user_id for s in domain.samples(split)} for split in domain.splits}
    assert not users["train"] & users["valid"]
    assert not users["train"] & users["test"]
    assert not users["valid"] & users["test"]
    assert sum(len(u) for u in users.values()) == 4854
    # A book keeps one id across files, so sequential models see repeated items.
    test_items = {s.target_item for s in domain.samples("test")}
    train_items = {e.item_id for s in domain.samples("train") for e in s.history}
    assert test_items & train_items


def test_item_ids_are_stable_hashes_of_title_and_author(env) -> None:
    domain, _ = load_domain("book")
    for item in list(domain.items.values())[:50]:
        assert item.item_id == book_item_id(item.title, item.author)
    assert book_item_id("T", "A") != book_item_id("T", "B")
