"""The shared few-shot splitter: TALLRec's draw, deterministic, never touching held-out data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.data.datastore import load_domain
from bench.data.splits import (
    PAPER_SEEDS,
    PAPER_SHOTS,
    FewShotManifest,
    draw_indices,
    make_fewshot,
    read_manifest,
    write_manifest,
)
from bench.errors import DataError, UsageError


@pytest.mark.parametrize("pool", [8000, 1427])
def test_draw_equals_hugging_face_shuffle_select(pool: int) -> None:
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({"position": list(range(pool))})
    for seed in PAPER_SEEDS:
        for shots in PAPER_SHOTS:
            expected = table.shuffle(seed=seed).select(range(shots))["position"]
            assert draw_indices(pool, shots, seed) == list(expected), (pool, seed, shots)


def test_manifests_are_deterministic_and_seed_dependent(env) -> None:
    domain, data_sha = load_domain("movie")
    first = make_fewshot(domain, data_sha, 64, 3)
    assert first == make_fewshot(*load_domain("movie"), 64, 3)
    assert first.sha256 == make_fewshot(domain, data_sha, 64, 3).sha256
    assert first.train_ids != make_fewshot(domain, data_sha, 64, 4).train_ids
    assert len(set(first.train_ids)) == 64


def test_manifest_bytes_are_the_same_on_every_machine(env) -> None:
    # Pinned when the suite was written: the data are pinned by the cards' output hashes,
    # so a change here means numpy changed its permutation or the manifest format changed.
    movie, book = load_domain("movie"), load_domain("book")
    assert make_fewshot(*movie, 16, 0).sha256[:12] == "b177237d4042"
    assert make_fewshot(*book, 256, 4).sha256[:12] == "04ba32751ef9"


@pytest.mark.parametrize("name", ["movie", "book"])
def test_no_manifest_holds_a_validation_or_test_sample(env, name: str) -> None:
    domain, data_sha = load_domain(name)
    held_out = {s.sample_id for split in ("valid", "test") for s in domain.samples(split)}
    pool = {s.sample_id for s in domain.samples("train")}
    for shots in PAPER_SHOTS:
        for seed in PAPER_SEEDS:
            for validation in ("full", "k-shot"):
                manifest = make_fewshot(domain, data_sha, shots, seed, validation)
                assert set(manifest.train_ids) <= pool
                assert not set(manifest.train_ids) & held_out
                train, valid = manifest.samples(domain)
                assert all(s.split == "train" for s in train)
                assert all(s.split == "valid" for s in valid)
                expected = shots if validation == "k-shot" else len(domain.samples("valid"))
                assert len(valid) == expected


def test_manifest_round_trips_and_refuses_other_data(env, tmp_path: Path) -> None:
    domain, data_sha = load_domain("book")
    manifest = make_fewshot(domain, data_sha, 16, 1)
    path = tmp_path / "m.json"
    write_manifest(manifest, path)
    assert read_manifest(path, data_sha) == manifest
    assert isinstance(read_manifest(path), FewShotManifest)
    with pytest.raises(DataError, match="was drawn from data"):
        read_manifest(path, "0" * 64)
    path.write_text(path.read_text()[:100])
    with pytest.raises(DataError, match="m.json is damaged"):
        read_manifest(path)


def test_more_shots_than_the_pool_is_refused(env) -> None:
    domain, data_sha = load_domain("book")
    with pytest.raises(UsageError, match="cannot draw 1428 samples from a pool of 1427"):
        make_fewshot(domain, data_sha, 1428, 0)


def test_split_cli_writes_manifests_and_reuses_them(env, tmp_path: Path) -> None:
    base = [sys.executable, "-m", "bench", "-q", "split", "--domain", "movie"]
    command = [*base, "--shots", "16", "--seeds", "0", "1", "--out", str(tmp_path)]
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    written = sorted((tmp_path / "movie").iterdir())
    assert [p.name for p in written] == ["k16-seed0-valid-full.json", "k16-seed1-valid-full.json"]
    before = [p.read_bytes() for p in written]
    second = subprocess.run(command, capture_output=True, text=True, check=True)
    assert second.stdout == first.stdout
    assert [p.read_bytes() for p in written] == before
    too_many = [*base, "--shots", "9000", "--out", str(tmp_path)]
    failed = subprocess.run(too_many, capture_output=True, text=True)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        "error: cannot draw 9000 samples from a pool of 8000: choose 1 <= shots <= 8000"
    ]
