"""The movie domain is TALLRec's, byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.data import cards
from bench.data.cards import load_card
from bench.data.datastore import build_domain, load_domain, read_verified
from bench.data.movie import ITEM_FILE, TRAIN_FILE, read_items
from bench.data.sources import package_file
from bench.data.tallrec_format import write_tallrec_files
from bench.errors import DataError
from bench.files import git_blob_bytes, sha256_bytes


def test_export_is_byte_identical_to_released_files(env, data_dir: Path, tmp_path: Path) -> None:
    domain, _ = load_domain("movie")
    write_tallrec_files(domain, tmp_path)
    for split in ("valid", "test"):
        ours = (tmp_path / "movie" / f"{split}.json").read_bytes()
        assert ours == (data_dir / "tallrec" / "movie" / f"{split}.json").read_bytes(), split
    # TALLRec's released data/movie/train.json has this git blob (`git hash-object`)
    train = (tmp_path / "movie" / "train.json").read_bytes()
    assert git_blob_bytes(train) == "2bbe93bffecd30423606a6d8e78d22c9a6c5f64f"
    assert load_card("movie").file(TRAIN_FILE).git_blob == git_blob_bytes(train)
    assert load_card("movie").file(TRAIN_FILE).sha256 == sha256_bytes(train)


def test_build_checks_the_released_train_json_when_present(
    env, tmp_path: Path, monkeypatch
) -> None:
    domain, _ = load_domain("movie")
    write_tallrec_files(domain, tmp_path / "export")
    train = (tmp_path / "export" / "movie" / "train.json").read_bytes()
    (tmp_path / "data" / "tallrec" / "movie").mkdir(parents=True)
    (tmp_path / "data" / TRAIN_FILE).write_bytes(train)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    build_domain("movie")  # the card's outputs pins still hold
    manifest = read_verified("movie")[0]
    assert manifest["files"] == load_card("movie").outputs
    assert manifest["optional"][TRAIN_FILE]["git_blob"] == git_blob_bytes(train)
    # A file that passes the card's pins but is not our export is refused.
    altered = train.replace(b'"output": "Yes."', b'"output": "No."', 1)
    (tmp_path / "data" / TRAIN_FILE).write_bytes(altered)
    copy = tmp_path / "cards"
    shutil.copytree(cards.CARDS_DIR, copy)
    text = (copy / "movie.yaml").read_text()
    for old, new in (
        (git_blob_bytes(train), git_blob_bytes(altered)),
        (sha256_bytes(train), sha256_bytes(altered)),
    ):
        text = text.replace(old, new)
    (copy / "movie.yaml").write_text(text)
    monkeypatch.setattr(cards, "CARDS_DIR", copy)
    with pytest.raises(DataError, match="does not export to the bytes of .*train.json"):
        build_domain("movie")
    assert read_verified("movie")[0] == manifest  # nothing in the cache was replaced


def test_sizes_and_like_counts_match_the_card(env) -> None:
    domain, _ = load_domain("movie")
    sizes = load_card("movie").prose["sizes"]
    for split in ("train", "valid", "test"):
        samples = domain.samples(split)
        assert len(samples) == sizes[split]["samples"]
        assert sum(sample.label for sample in samples) == sizes[split]["likes"]
    assert len(domain.items) == sizes["items"]


def test_windows_follow_the_protocol(env) -> None:
    domain, _ = load_domain("movie")
    samples = [s for split in ("train", "valid", "test") for s in domain.samples(split)]
    assert [s.sample_id for s in samples] == [f"movie-{i:05d}" for i in range(10_000)]
    assert all(len(s.history) == 10 for s in samples)
    # Consecutive windows of one user slide by one rating: the old target joins the history.
    for previous, current in zip(samples, samples[1:], strict=False):
        if previous.user_id == current.user_id:
            assert current.history[:-1] == previous.history[1:]
            assert (current.history[-1].item_id, current.history[-1].label) == (
                previous.target_item,
                previous.label,
            )
    # 8:1:1 in list order, not by time or user: a user may span two splits.
    train_users = {s.user_id for s in domain.samples("train")}
    assert train_users & {s.user_id for s in domain.samples("valid")}


def test_title_corrections_restore_raw_movielens_titles(data_dir: Path) -> None:
    raw = {}
    for line in (data_dir / "llara" / "movielens" / "u.item").read_text("latin-1").splitlines():
        item_id, title, *_ = line.split("|")
        raw[item_id] = title
    corrections = load_card("movie").title_corrections
    items = read_items(package_file("recbole", ITEM_FILE), corrections)
    assert {item_id: item.title for item_id, item in items.items()} == raw
    uncorrected = read_items(package_file("recbole", ITEM_FILE), {})
    differing = {i for i, item in uncorrected.items() if item.title != raw[i]}
    assert differing == set(corrections)  # the card lists exactly the differing titles
