"""The score cache (issue 16): real prompts, the real default model, real processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench.data.datastore import load_domain
from bench.data.splits import make_fewshot
from llm.icl import ICL
from llm.score_cache import ScoreCache

pytestmark = pytest.mark.slow  # the real default model
REPO = Path(__file__).resolve().parent.parent


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", "-q", *args], capture_output=True, text=True, cwd=REPO
    )


def test_a_prompt_scored_once_is_served_to_any_results_folder(own_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_SCORE_CACHE", "1")
    cell = ["--runner", "icl", "--domain", "movie", "--seed", "0", "--test-limit", "24"]
    records = []
    for folder, extra in (("a", []), ("b", []), ("c", ["--no-cache"])):
        ran = bench("run", *cell, "--shots", "16", *extra, "--results-dir", str(tmp_path / folder))
        assert ran.returncode == 0, ran.stderr
        path = tmp_path / folder / "icl" / "movie" / "k16-seed0-valid-full-test24.json"
        records.append(json.loads(path.read_text()))
    first, second, uncached = records
    assert first["training"]["scoring"]["score_cache"] == {"from_cache": 0, "computed": 24}
    assert second["training"]["scoring"]["score_cache"] == {"from_cache": 24, "computed": 0}
    assert first["predictions"] == second["predictions"] and first["auc"] == second["auc"]
    assert "scoring" not in uncached["training"]  # --no-cache: the scorer ran, nothing was kept
    assert uncached["predictions"] == first["predictions"]


def test_zero_shot_icl_is_computed_once_per_domain_and_subset(env, tmp_path):
    """It reads no train sample: of its shot counts one cell computes (also with --no-cache
    and --jobs), the others take its scores and name the record they come from."""
    cell = ["--runner", "icl", "--domain", "movie", "--seed", "0", "--test-limit", "24"]
    results = tmp_path / "runs"
    ran = bench("run", *cell, "--shots", "16", "64", "256", "--jobs", "2", "--no-cache",
                "--results-dir", str(results))  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    folder = results / "icl" / "movie"
    records = {
        k: json.loads((folder / f"k{k}-seed0-valid-full-test24.json").read_text())
        for k in (16, 64, 256)
    }
    sources = [r for r in records.values() if "scores_from" not in r["training"]]
    assert len(sources) == 1  # one computation
    (source,) = sources
    for record in records.values():
        assert record["predictions"] == source["predictions"] and record["auc"] == source["auc"]
        assert record["training"]["shared_key"] == source["training"]["shared_key"]
        if record is not source:
            origin = record["training"]["scores_from"]
            assert origin["run_key"] == source["run_key"] != record["run_key"]
            assert json.loads((folder / origin["record"]).read_text()) == source
            assert record["wall_s"]["score"] == 0.0


@pytest.fixture
def cached_icl(own_cache, monkeypatch):
    """Zero-shot ICL on movie with the score cache on (in a private cache)."""
    monkeypatch.setenv("BENCH_SCORE_CACHE", "1")
    domain, data_sha = load_domain("movie")
    runner = ICL(seed=0)
    runner.fit(domain, make_fewshot(domain, data_sha, 16, 0), None)
    return runner, domain.samples("test")


def test_another_model_or_adapter_never_gets_a_hit(cached_icl):
    from dataclasses import replace

    runner, test = cached_icl
    prompts = runner.prompts(test[:6])
    cache = runner.scorer.cache
    assert cache is not None and cache.identity.adapter_sha256 is None
    scores = runner.scorer.score(prompts)
    assert cache.notes() == {"from_cache": 0, "computed": 6}
    assert runner.scorer.score(prompts) == scores and cache.hits == 6
    calls: list[int] = []

    def compute(batch: list[str]) -> list[float]:
        calls.append(len(batch))
        return runner.scorer.compute(batch)

    for other in (
        replace(cache.identity, adapter_sha256="a" * 64),  # an adapter on the same model
        replace(cache.identity, model_sha256="b" * 64),  # another model
        replace(cache.identity, dtype="bfloat16"),
    ):
        swapped = ScoreCache(other)
        assert swapped.scores(prompts, compute) == pytest.approx(scores, abs=1e-6)
        assert swapped.hits == 0
    assert calls == [6, 6, 6]


def test_a_damaged_entry_is_recomputed(cached_icl, own_cache):
    runner, test = cached_icl
    prompts = runner.prompts(test[:3])
    scores = runner.scorer.score(prompts)
    with sqlite3.connect(own_cache / "scores" / "scores.sqlite3") as connection:
        connection.execute("UPDATE scores SET score = 0.999")  # altered, checksum kept
    fresh = ScoreCache(runner.scorer.cache.identity)
    assert fresh.scores(prompts, runner.scorer.compute) == scores
    assert fresh.notes() == {"from_cache": 0, "computed": 3}


def test_next_item_rankings_and_answers_are_kept_per_projector(own_cache, monkeypatch, tmp_path):
    """Hybrid prompts (LLaRA's): the projector, here untrained and drawn from the seed, is
    part of the identity; text-only prompts are served whatever the seed."""
    from bench.tasks.next_item import NextItemCell, run_next_item_cell

    monkeypatch.setenv("BENCH_SCORE_CACHE", "1")

    def run(seed: int, folder: str, *settings: tuple[str, object]) -> dict:
        cell = NextItemCell("icl", "lastfm", seed, (("max_new_tokens", 4), *settings), 3)
        record, computed = run_next_item_cell(cell, tmp_path / folder)
        assert computed
        return record

    def served(record, hits: int) -> bool:
        counts = {"from_cache": hits, "computed": 3 - hits}
        return record.training["scoring"]["score_cache"] == {"rank": counts, "generate": counts}

    hybrid = ("hybrid", True)
    first, again, other = run(0, "a", hybrid), run(0, "b", hybrid), run(1, "c", hybrid)
    assert served(first, 0) and served(again, 3) and served(other, 0)
    assert again.predictions == first.predictions and again.metrics == first.metrics
    assert other.predictions != first.predictions  # another projector: other slot vectors
    text_only = run(0, "d"), run(1, "e")
    assert served(text_only[0], 0) and served(text_only[1], 3)
    assert text_only[1].predictions == text_only[0].predictions
