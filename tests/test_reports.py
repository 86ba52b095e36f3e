"""Reports that can be trusted: rebuilt from their shipped files, runs counted once, provenance."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.store.records import read_record
from bench.store.scores import read_scores

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / "reports"


def bench(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", "-q", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=cwd,
    )


def body(markdown: str) -> str:
    """A report without its provenance lines (they name the command and output path)."""
    return "\n".join(line for line in markdown.splitlines() if not line.startswith("- Produced"))


def test_table1_cells_rebuild_from_the_shipped_score_files(env, tmp_path: Path) -> None:
    out = tmp_path / "table1.md"
    scores = ["reports/baselines-paper-scores.csv.gz", "reports/llm-paper-scores.csv.gz"]
    result = bench(
        "compare", "--scores", *scores, "--with-paper", "--format", "markdown", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    committed = (REPORTS / "table1.md").read_text()
    table = body(out.read_text()).split("| runner", 1)[1].split("\n\n", 1)[0]
    assert table in committed  # every cell of the committed table, exactly
    assert "| TALLRec (CPU) [1]      | 59.19          |" in committed
    assert "| ↳ paper (ours - paper) | 67.24 (-8.05)  |" in committed
    assert "- [1] model smollm2-135m-instruct" in committed


@pytest.mark.slow
def test_table1_rebuilds_exactly_with_its_statistics(env, tmp_path: Path) -> None:
    committed = (REPORTS / "table1.md").read_text()
    command = committed.splitlines()[0].split("`")[1].split()
    assert command[:4] == ["python", "-m", "bench", "compare"]
    out = tmp_path / "reports" / "table1.md"
    out.parent.mkdir()
    for name in ("baselines-paper-scores.csv.gz", "llm-paper-scores.csv.gz"):
        shutil.copy(REPORTS / name, out.parent / name)
    args = [a.replace("reports/", f"{out.parent}/") for a in command[4:]]
    result = bench("compare", *args)
    assert result.returncode == 0, result.stderr
    assert body(out.read_text()) == body(committed)


def test_runs_are_counted_once_and_records_carry_their_command(env, tmp_path: Path) -> None:
    results = tmp_path / "runs"
    args = ["run", "--runner", "like-rate", "logreg", "--domain", "movie", "--shots", "16"]
    assert bench(*args, "--seed", "0", "1", "--results-dir", str(results)).returncode == 0
    record = read_record(results / "logreg" / "movie" / "k16-seed0-valid-full.json")
    assert record.command.startswith("python -m bench -q run --runner like-rate logreg")
    shutil.copytree(results / "logreg", results / "copy" / "logreg")  # the same runs twice
    table = bench("compare", "--results-dir", str(results), "--format", "markdown")
    assert table.returncode == 0, table.stderr
    logreg = next(line for line in table.stdout.splitlines() if line.startswith("| logreg"))
    assert "(n=2)" in logreg and "(n=4)" not in logreg
    warnings = table.stderr.splitlines()
    assert len(warnings) == 2 and all("holds the record of another cell" in w for w in warnings)
    assert all("copy/logreg/movie/" in w and "runs/logreg/movie/" in w for w in warnings)


def test_score_files_carry_provenance_and_rebuild_the_report(env, tmp_path: Path) -> None:
    results = tmp_path / "runs"
    args = ["run", "--runner", "like-rate", "logreg", "--domain", "book", "--shots", "16"]
    assert (
        bench(*args, "--seed", "0", "--test-limit", "300", "--results-dir", str(results)).returncode
        == 0
    )
    out, scores = tmp_path / "report" / "r.md", tmp_path / "report" / "r-scores.csv.gz"
    out.parent.mkdir()
    made = bench(
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
    assert made.returncode == 0, made.stderr
    report = out.read_text()
    assert "`r-scores.csv.gz`, shipped with this report" in report
    assert "2 runs made by `python -m bench -q run --runner like-rate logreg" in report
    assert "Packages (every version any run used): numpy" in report
    runs = {r.runner: r for r in read_scores(scores)}
    original = read_record(results / "logreg" / "book" / "k16-seed0-valid-full-test300.json")
    assert runs["logreg"].run_key == original.run_key and runs["logreg"].auc == original.auc
    assert runs["logreg"].command == original.command and runs["logreg"].test_limit == 300
    assert runs["logreg"].environment["git_commit"] == original.environment["git_commit"]
    again = tmp_path / "report" / "again.md"
    rebuilt = bench("compare", "--scores", str(scores), "--format", "markdown", "--out", str(again))
    assert rebuilt.returncode == 0, rebuilt.stderr
    tables = [text.read_text().split("\n\n", 1)[1] for text in (out, again)]
    assert tables[0] == tables[1]
    unshipped = bench(
        "compare",
        "--results-dir",
        str(results),
        "--format",
        "markdown",
        "--out",
        str(tmp_path / "x.md"),
    )
    assert unshipped.returncode == 0
    assert "no score file is shipped" in (tmp_path / "x.md").read_text()


def test_stats_and_plot_on_a_test_subset_and_no_empty_figure(env, tmp_path: Path) -> None:
    results = tmp_path / "runs"
    args = ["run", "--runner", "like-rate", "--domain", "movie", "--shots", "16", "--seed", "0"]
    assert bench(*args, "--test-limit", "100", "--results-dir", str(results)).returncode == 0
    plot = tmp_path / "auc.png"
    result = bench("compare", "--results-dir", str(results), "--stats", "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a test-limit run is drawn
    assert "No LLM row shares a column, test subset and seed with a paper baseline" in result.stdout
    cross = tmp_path / "cross"
    record = next(results.rglob("*.json"))
    text = record.read_text().replace('"test_domain": "movie"', '"test_domain": "book"')
    (cross / "like-rate" / "movie-to-book").mkdir(parents=True)  # its cell's place
    (cross / "like-rate" / "movie-to-book" / record.name).write_text(text)
    empty = bench("compare", "--results-dir", str(cross), "--plot", str(tmp_path / "none.png"))
    assert empty.returncode == 2 and "no plot written" in empty.stderr
    assert not (tmp_path / "none.png").exists()
