"""Bad input: one clear line, exit status 2, and nothing in the cache replaced or half-written."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.data import cards
from bench.data.book import read_records
from bench.data.datastore import build_domain, domain_dir, load_domain, read_verified
from bench.errors import DataError
from bench.files import atomic_directory

BOOK_FILES = ("tallrec/book/valid.json", "tallrec/book/test.json")


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", "-q", *args], capture_output=True, text=True, env=env
    )


def cli_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> dict[str, str]:
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    import os

    return dict(os.environ)


def test_missing_files_are_named_with_where_to_put_them(monkeypatch, tmp_path: Path) -> None:
    env = cli_env(
        monkeypatch,
        BENCH_DATA_DIR=str(tmp_path / "empty"),
        BENCH_CACHE=str(tmp_path / "cache"),
        BENCH_OFFLINE="1",
    )
    result = run_cli("data", "build", "--domain", "book", env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "error: missing data files tallrec/book/valid.json, tallrec/book/test.json"
    )
    assert str(tmp_path / "empty") in line and "BENCH_DATA_DIR" in line
    assert "https://raw.githubusercontent.com/SAI990323/TALLRec/main/data/book/test.json" in line
    assert not (tmp_path / "cache" / "datasets" / "book").exists()


def test_truncated_source_fails_its_checksum_and_keeps_the_cache(
    own_cache: Path, data_dir: Path, tmp_path: Path, monkeypatch, snapshot
) -> None:
    broken = tmp_path / "data"
    for name in BOOK_FILES:
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / name, broken / name)
    content = (broken / BOOK_FILES[1]).read_bytes()
    (broken / BOOK_FILES[1]).write_bytes(content[: len(content) // 2])
    before = snapshot(own_cache)
    env = cli_env(monkeypatch, BENCH_DATA_DIR=str(broken))
    result = run_cli("data", "build", "--domain", "book", "--force", env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert f"checksum mismatch for {broken / BOOK_FILES[1]}" in line
    assert "delete it and fetch it again" in line
    assert snapshot(own_cache) == before


def test_damaged_cache_is_detected_and_rebuilt(own_cache: Path, caplog) -> None:
    train = domain_dir("movie") / "train.jsonl"
    good = train.read_bytes()
    train.write_bytes(good[:-500])
    with pytest.raises(DataError, match=r"train.jsonl is missing or fails its checksum.*--force"):
        read_verified("movie")
    _, data_sha = load_domain("movie")  # reported, then rebuilt: never read as data
    assert "rebuilding movie" in caplog.text and "fails its checksum" in caplog.text
    assert train.read_bytes() == good
    (domain_dir("movie") / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="manifest.json is damaged"):
        read_verified("movie")
    assert load_domain("movie")[1] == data_sha


def test_build_that_differs_from_the_card_replaces_nothing(
    own_cache: Path, tmp_path: Path, monkeypatch, snapshot
) -> None:
    cards_copy = tmp_path / "cards"
    shutil.copytree(cards.CARDS_DIR, cards_copy)
    card = cards_copy / "movie.yaml"
    text = card.read_text()
    expected = cards.load_card("movie").outputs["test.jsonl"]
    card.write_text(text.replace(f"test.jsonl: {expected}", "test.jsonl: " + "a" * 64))
    monkeypatch.setattr(cards, "CARDS_DIR", cards_copy)
    before = snapshot(own_cache)
    with pytest.raises(DataError, match="built movie/test.jsonl has sha256 6860b5cdded1"):
        build_domain("movie", force=True)
    assert snapshot(own_cache) == before


def test_unknown_domain_suggests_the_closest(monkeypatch, env) -> None:
    import os

    result = run_cli("data", "build", "--domain", "books", env=dict(os.environ))
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: unknown domain 'books'. Did you mean 'book'? Available: book, book-bx, movie"
    )


def test_malformed_release_file_names_file_and_record(tmp_path: Path) -> None:
    bad_json = tmp_path / "test.json"
    bad_json.write_text('[{"instruction": "x"')
    with pytest.raises(DataError, match=f"{bad_json} is not valid JSON"):
        read_records(bad_json)
    bad_json.write_text('[{"instruction": "x", "input": "y", "output": "Maybe."}]')
    with pytest.raises(DataError, match=r"test.json record 0: output 'Maybe.' is not Yes./No."):
        read_records(bad_json)


def test_failed_directory_write_leaves_the_old_one(tmp_path: Path) -> None:
    final = tmp_path / "built"
    final.mkdir()
    (final / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(final) as staging:
        (staging / "a.txt").write_text("new, half")
        raise RuntimeError("crash while writing")
    assert [p.name for p in tmp_path.iterdir()] == ["built"]
    assert (final / "a.txt").read_text() == "old"
    with atomic_directory(final) as staging:
        (staging / "a.txt").write_text("new")
    assert (final / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["built"]


@pytest.fixture
def mirror(tmp_path: Path, data_dir: Path) -> Iterator[tuple[Path, str]]:
    """(folder, URL) of an HTTP server on loopback laid out like raw.githubusercontent.com."""
    root = tmp_path / "mirror"
    for name in BOOK_FILES:
        target = root / "SAI990323/TALLRec/main/data" / name.removeprefix("tallrec/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / name, target)
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_missing_files_are_downloaded_and_verified(
    mirror, tmp_path: Path, monkeypatch, env
) -> None:
    _, expected_sha = load_domain("book")
    _, url = mirror
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "raw"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_MIRROR", url)
    monkeypatch.delenv("BENCH_OFFLINE")
    assert load_domain("book")[1] == expected_sha
    assert sorted(p.name for p in (tmp_path / "raw/tallrec/book").iterdir()) == [
        "test.json",
        "valid.json",
    ]


def test_download_with_wrong_bytes_writes_nothing(mirror, tmp_path: Path, monkeypatch) -> None:
    root, url = mirror
    served = root / "SAI990323/TALLRec/main/data/book/test.json"
    served.write_bytes(served.read_bytes()[:1000])
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "raw"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_MIRROR", url)
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    with pytest.raises(DataError, match="book/test.json has sha256 .* the source changed"):
        build_domain("book")
    assert not (tmp_path / "raw/tallrec/book/test.json").exists()
    assert not (tmp_path / "cache/datasets/book").exists()
