"""Shared fixtures: the real data folder, a session cache with both domains built."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--run-slow"):
        skip = pytest.mark.skip(reason="slow: run with --run-slow")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if gpu_items and not _has_cuda():
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _real_data_dir() -> Path:
    explicit = os.environ.get("BENCH_DATA_DIR")
    return Path(explicit).resolve() if explicit else SHARED_DATA


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder with TALLRec's released files (skips the test when it is absent)."""
    path = _real_data_dir()
    if not (path / "tallrec" / "movie" / "test.json").exists():
        pytest.skip(
            f"TALLRec's released files are not in {path}: set BENCH_DATA_DIR=../shared/data "
            "(or download them, see datasets/*.yaml)"
        )
    return path


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A cache with movie and book built once per test session (treat as read-only)."""
    from bench.data.datastore import build_domain

    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE", str(cache))
        patch.setenv("BENCH_DATA_DIR", str(data_dir))
        build_domain("movie")
        build_domain("book")
    return cache


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, session_cache: Path, data_dir: Path) -> Path:
    """Point the suite at the session cache and the real data, offline."""
    monkeypatch.setenv("BENCH_CACHE", str(session_cache))
    monkeypatch.setenv("BENCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.setenv("BENCH_SCORE_CACHE", "0")  # tests of the scorer run it; see test_score_cache
    return session_cache


@pytest.fixture
def own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, session_cache: Path, data_dir: Path):
    """A private copy of the built cache, for tests that damage it."""
    cache = tmp_path / "cache"
    shutil.copytree(session_cache, cache)
    monkeypatch.setenv("BENCH_CACHE", str(cache))
    monkeypatch.setenv("BENCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.setenv("BENCH_SCORE_CACHE", "0")
    return cache


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def snapshot():
    """``snapshot(folder)``: every file under it with its bytes, to prove nothing changed."""
    return _snapshot


@pytest.fixture
def tiny_llama():
    """A randomly initialised 2-layer LLaMA-architecture model (for bad-input tests only)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=1000,
    )
    return LlamaForCausalLM(config)


# A small real next-item grid: two RecBole baselines, one epoch on 2,000 fixed LastFM samples.
TINY_NEXT_ITEM_GRID = {
    "task": "next-item",
    "runners": ["gru4rec@max_epochs=1,train_limit=2000", "caser@max_epochs=1,train_limit=2000"],
    "domains": ["lastfm"],
    "seeds": [0],
}


@pytest.fixture
def next_item_profile(tmp_path: Path):
    """``next_item_profile(**changes)``: the tiny next-item grid (changed) as a profile file."""
    import yaml

    def write(**changes) -> Path:
        path = tmp_path / "tiny-next.yaml"
        path.write_text(yaml.safe_dump(TINY_NEXT_ITEM_GRID | changes))
        return path

    return write
