"""The book domain parses TALLRec's released prompts back without loss."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.data import cards
from bench.data.book import (
    RECONSTRUCTED_POOL,
    RELEASED_POOL,
    TRAIN_FILE,
    book_item_id,
    pool_description,
)
from bench.data.datastore import build_domain, load_domain, read_verified
from bench.data.schema import Item
from bench.data.tallrec_format import parse_book_input, render_input, to_record, write_tallrec_files
from bench.errors import DataError
from bench.files import git_blob_bytes

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


RELEASED_BLOB = "ca3b6b7b028a679ffac30eda342f1697b54d4156"  # TALLRec's data/book/train.json


@pytest.fixture
def train_dir(tmp_path: Path, data_dir: Path, monkeypatch) -> tuple[Path, list[dict[str, str]]]:
    """A data folder with the real valid/test files and a 5-record train.json, offline."""
    folder = tmp_path / "data"
    (folder / "tallrec" / "book").mkdir(parents=True)
    for split in ("valid", "test"):
        name = f"tallrec/book/{split}.json"
        (folder / name).symlink_to(data_dir / name)
    records = _released(data_dir, "valid")[:5]
    (folder / TRAIN_FILE).write_text(json.dumps(records, indent=4))
    monkeypatch.setenv("BENCH_DATA_DIR", str(folder))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    return folder, records


def _card_pinning(blob: str, tmp_path: Path, monkeypatch) -> None:
    """Use a copy of the cards whose book train.json entry has git blob ``blob``."""
    copy = tmp_path / "cards"
    shutil.copytree(cards.CARDS_DIR, copy)
    text = (copy / "book.yaml").read_text()
    assert text.count(RELEASED_BLOB) == 2  # the note and the file entry
    (copy / "book.yaml").write_text(text.replace(RELEASED_BLOB, blob))
    monkeypatch.setattr(cards, "CARDS_DIR", copy)


def test_released_train_json_gives_the_papers_splits_and_its_absence_the_reconstruction(
    train_dir, tmp_path: Path, monkeypatch, caplog
) -> None:
    folder, records = train_dir
    _card_pinning(git_blob_bytes((folder / TRAIN_FILE).read_bytes()), tmp_path, monkeypatch)
    domain, _ = load_domain("book")
    train = domain.samples("train")
    assert [s.sample_id for s in train] == [f"book-train-{i:04d}" for i in range(5)]
    assert train[0].user_id == "user-book-train-0000"
    assert [to_record(s, domain.items) for s in train] == records
    valid = domain.samples("valid")
    assert [s.sample_id for s in valid] == [f"book-valid-{i:04d}" for i in range(2427)]
    assert (sum(s.label for s in valid), len(domain.samples("test"))) == (1011, 2427)
    manifest = read_verified("book")[0]
    assert (manifest["pool"], manifest["pinned_by"]) == (RELEASED_POOL, "inputs")
    assert manifest["optional"][TRAIN_FILE]["size"] == (folder / TRAIN_FILE).stat().st_size
    assert pool_description(manifest).startswith("train pool: TALLRec's released book train")
    assert "(5 samples)" in pool_description(manifest)
    caplog.set_level(logging.INFO, logger="bench.data.datastore")
    build_domain("book")  # unchanged file: the cached build is current
    assert "already built" in caplog.text and "rebuilding" not in caplog.text

    (folder / TRAIN_FILE).unlink()  # gone: rebuilt as the reconstruction, pinned by the card
    domain, _ = load_domain("book")
    assert "tallrec/book/train.json of book appeared, went or changed" in caplog.text
    manifest = read_verified("book")[0]
    assert manifest["files"] == cards.load_card("book").outputs
    assert (manifest["pool"], manifest["pinned_by"], manifest["optional"]) == (
        RECONSTRUCTED_POOL,
        "outputs",
        {},
    )
    assert len(domain.samples("train")) == 1427
    assert "1,427 of the 2,427" in pool_description(manifest)

    (folder / TRAIN_FILE).write_text(json.dumps(records, indent=4))  # back: rebuilt from it
    assert len(load_domain("book")[0].samples("train")) == 5


def test_train_json_with_another_blob_is_refused_in_one_line(train_dir, tmp_path: Path) -> None:
    folder, _ = train_dir
    got = git_blob_bytes((folder / TRAIN_FILE).read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "bench", "-q", "data", "build", "--domain", "book"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: git blob mismatch for {folder / TRAIN_FILE} ")
    assert f"(expected {RELEASED_BLOB}, got {got}," in line
    assert "delete it and fetch it again from https://raw.githubusercontent.com/" in line
    assert not (tmp_path / "cache" / "datasets" / "book").exists()


def test_without_train_json_the_build_is_the_pinned_reconstruction(env) -> None:
    manifest = read_verified("book")[0]
    assert manifest["files"] == cards.load_card("book").outputs
    assert (manifest["pool"], manifest["optional"]) == (RECONSTRUCTED_POOL, {})
    assert pool_description(manifest).startswith(
        "train pool: reconstructed, 1,427 of the 2,427 samples of TALLRec's book valid.json "
        "(the other 1,000 are the validation split)"
    )
    with pytest.raises(ValueError, match="book manifest"):
        pool_description(read_verified("movie")[0])
