"""`bench run` and `bench compare` as real processes; records that can be trusted."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.data.datastore import load_domain
from bench.data.splits import manifest_path, read_manifest, write_manifest
from bench.errors import BenchError, DataError
from bench.store.records import read_record
from bench.tasks.like import Cell, manifest_for, run_cell


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", "-q", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )


def test_run_writes_records_that_recompute_and_compare_reads_them(env, tmp_path: Path) -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    results = tmp_path / "runs"
    args = ["run", "--runner", "like-rate", "logreg", "--domain", "movie", "book"]
    args += ["--shots", "16", "--seed", "0", "--results-dir", str(results)]
    first = bench(*args)
    assert first.returncode == 0, first.stderr
    assert "4 cells: 4 computed, 0 reused" in first.stdout
    path = results / "logreg" / "book" / "k16-seed0-valid-full.json"
    record = read_record(path)
    labels = [p.label for p in record.predictions]
    assert record.auc == pytest.approx(
        sklearn_metrics.roc_auc_score(labels, [p.score for p in record.predictions])
    )
    domain, _ = load_domain("book")
    assert [p.sample_id for p in record.predictions] == [
        s.sample_id for s in domain.samples("test")
    ]
    assert record.environment["packages"]["recbole"] == "1.2.1"

    path.write_text(path.read_text()[:2000])  # a record cut short by a crash
    second = bench(*args)
    assert "4 cells: 1 computed, 3 reused" in second.stdout
    assert read_record(path).auc == record.auc

    table = bench("compare", "--results-dir", str(results), "--format", "markdown", "--with-paper")
    assert table.returncode == 0, table.stderr
    like_rate_row = next(line for line in table.stdout.splitlines() if "like-rate" in line)
    assert like_rate_row.count("| – ") == 4  # 64 and 256 shots of each domain: not run
    assert "(not in the paper)" in table.stdout

    adapter = results / "logreg" / "book" / "k16-seed0-valid-full.work" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')  # what tallrec leaves there
    out = tmp_path / "report.md"
    scores = tmp_path / "scores.csv.gz"
    bench(
        "compare",
        "--results-dir",
        str(results),
        "--format",
        "markdown",
        "--out",
        str(out),
        "--scores-out",
        str(scores),
    )
    report = out.read_text()
    assert "Runs made by `python -m bench -q run --runner like-rate logreg" in report
    assert "from 4 runs in" in report
    rows = gzip.decompress(scores.read_bytes()).decode().splitlines()
    assert len(rows) == 1 + 2 * (1000 + 2427)


def test_damaged_record_is_an_error_never_a_result(env, tmp_path: Path) -> None:
    record, computed = run_cell(Cell("like-rate", "movie", 16, 0), tmp_path)
    assert computed
    path = Cell("like-rate", "movie", 16, 0).record_path(tmp_path)
    data = json.loads(path.read_text())
    data["auc"] = 0.99
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="AUC does not match its scores"):
        read_record(path)
    again, computed = run_cell(Cell("like-rate", "movie", 16, 0), tmp_path)
    assert computed and again.auc == record.auc


def test_unknown_runner_is_named(env) -> None:
    result = bench("run", "--runner", "sasrek", "--domain", "movie", "--shots", "16", "--seed", "0")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: unknown runner 'sasrek'. Did you mean 'sasrec'?")
    )


def test_unknown_domain_is_named(env) -> None:
    result = bench("run", "--runner", "like-rate", "--domain", "movies", "--shots", "16")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: unknown domain 'movies'. Did you mean 'movie'? Available: book, book-bx, movie"
    )


def test_cached_manifest_from_other_data_is_drawn_again(own_cache: Path, tmp_path: Path) -> None:
    """The cache keeps each manifest for users to read; the run draws it again and checks."""
    domain, data_sha = load_domain("movie")
    cell = Cell("like-rate", "movie", 16, 0)
    manifest = manifest_for(domain, data_sha, cell)
    stale = dataclasses.replace(manifest, data_sha256="0" * 64)
    write_manifest(stale, manifest_path("movie", 16, 0))
    record, computed = run_cell(cell, tmp_path)
    assert computed and record.manifest_sha256 == manifest.sha256
    assert read_manifest(manifest_path("movie", 16, 0), data_sha) == manifest


def test_missing_text_encoder_is_named(env, tmp_path: Path, monkeypatch) -> None:
    from bench.data.splits import make_fewshot
    from bench.registry import RUNNERS
    from bench.tasks.runner import with_settings

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runner_class = with_settings(RUNNERS.load("gru-bert"), text_encoder=str(tmp_path / "no-model"))
    domain, data_sha = load_domain("movie")
    with pytest.raises(BenchError, match="text encoder .*no-model.* could not be loaded"):
        runner_class(seed=0).fit(domain, make_fewshot(domain, data_sha, 16, 0), tmp_path)


def test_paired_statistics_and_plot_on_real_records(env, tmp_path: Path) -> None:
    from bench.report.compare import collect
    from bench.report.comparisons import compare_runs
    from bench.report.plot import plot_auc

    results = tmp_path / "runs"
    args = ["run", "--runner", "like-rate", "logreg", "--domain", "movie", "--shots", "16"]
    assert bench(*args, "--seed", "0", "1", "--results-dir", str(results)).returncode == 0
    records, _ = collect(results)
    like_rate = [r for r in records if r.runner == "like-rate"]
    logreg = [r for r in records if r.runner == "logreg"]
    domain, _ = load_domain("movie")
    users = {s.sample_id: s.user_id for s in domain.samples("test")}
    seeds, units, result, delong = compare_runs(like_rate, logreg, users, resamples=200)
    assert seeds == (0, 1) and units.describe() == "resampled by user, 16 units"
    assert result["ci_a"][0] < result["auc_a"] < result["ci_a"][1]
    assert result["ci_b"][0] < result["auc_b"] < result["ci_b"][1]
    low, high = result["ci_difference"]
    assert low < result["auc_a"] - result["auc_b"] < high and 0.0 <= result["p_value"] <= 1.0
    assert delong["auc_a"] == pytest.approx(result["auc_a"])
    same = compare_runs(logreg, logreg, users, resamples=200)
    assert same[2]["ci_difference"] == (0.0, 0.0) and same[2]["p_value"] == 1.0
    assert same[3]["p_value"] == 1.0
    plot_auc(records, tmp_path / "auc.png")
    assert (tmp_path / "auc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
