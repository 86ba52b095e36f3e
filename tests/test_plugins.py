"""A user's own runners in the suite's grid, table and CI check: three ways in, one registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.store.records import read_record

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
LIKE = "recent_like_rate:RecentLikeRate"
NEXT = "popular_next:PopularNext"


def bench_cli(
    *args: str, path: Path | str = EXAMPLES, cwd: Path = REPO
) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(path), str(REPO)]))
    return subprocess.run(
        [sys.executable, "-m", "bench", "-q", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


def table_row(text: str, label: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(label + " "))


def test_module_class_runners_join_the_grid_and_the_table(env, tmp_path: Path) -> None:
    results = tmp_path / "runs"
    cell = ["--domain", "movie", "--shots", "16", "--seed", "0", "--results-dir", str(results)]
    first = bench_cli("run", "--runner", LIKE, "like-rate", *cell)
    assert first.returncode == 0, first.stderr
    assert bench_cli("run", "--runner", LIKE, "--set", "window=3", *cell).returncode == 0
    table = bench_cli("compare", "--results-dir", str(results))
    assert table.returncode == 0, table.stderr
    assert table_row(table.stdout, LIKE).split()[1] == "73.15"  # real scores, recomputed
    assert table_row(table.stdout, f"{LIKE} [1]").split()[2] == "71.50"
    assert "[1] settings window=3" in table.stdout  # the variant, in the row's footnote
    assert table_row(table.stdout, "like-rate").split()[1] == "72.60"

    next_item = ["--domain", "lastfm", "--test-limit", "30", "--results-dir", str(results)]
    refused = bench_cli("run", "--task", "next-item", "--runner", NEXT, *next_item, "--set", "k=1")
    assert refused.returncode == 2
    assert "runner popular-next has no settings: drop --set k" in refused.stderr
    ranked = bench_cli("run", "--task", "next-item", "--runner", NEXT, *next_item)
    assert ranked.returncode == 0, ranked.stderr
    shown = bench_cli("compare", "--task", "next-item", "--results-dir", str(results))
    assert shown.returncode == 0, shown.stderr
    assert NEXT in shown.stdout


def test_an_entry_point_adds_runners_to_every_process(env, tmp_path: Path) -> None:
    plugin = tmp_path / "site"
    info = plugin / "my_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[tallrec_bench.runners]\nrecent-like-rate = {LIKE}\n\n"
        f"[tallrec_bench.next_item_runners]\npopular-next = {NEXT}\n"
    )
    path = os.pathsep.join([str(plugin), str(EXAMPLES)])
    listed = bench_cli("list", path=path)
    assert "recent-like-rate" in listed.stdout and "popular-next" in listed.stdout
    results = tmp_path / "runs"
    run = bench_cli(
        "run",
        "--runner",
        "recent-like-rate",
        "--domain",
        "book",
        "--shots",
        "16",
        "--results-dir",
        str(results),
        path=path,
    )
    assert run.returncode == 0, run.stderr
    assert (results / "recent-like-rate" / "book" / "k16-seed0-valid-full.json").is_file()
    typo = bench_cli("run", "--runner", "recent-like-rat", "--domain", "book", path=path)
    assert typo.returncode == 2
    assert "Did you mean 'recent-like-rate'?" in typo.stderr


def test_register_runner_from_python(env, tmp_path: Path, monkeypatch) -> None:
    import bench
    from bench.registry import RUNNERS
    from bench.store.records import read_record
    from bench.tasks.like import Cell, run_cell

    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(RUNNERS, "_entries", dict(RUNNERS._entries))  # this test's only
    from recent_like_rate import RecentLikeRate

    bench.register_runner("mine", RecentLikeRate)
    record, computed = run_cell(Cell("mine", "movie", 16, 0), tmp_path)
    assert computed and round(100 * record.auc, 2) == 73.15
    assert read_record(Cell("mine", "movie", 16, 0).record_path(tmp_path)).auc == record.auc
    with pytest.raises(bench.errors.UsageError, match="already registered"):
        bench.register_runner("mine", object)


def test_a_class_that_misses_its_protocol_gets_one_line(env, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(
        "class NoScore:\n    name = 'no-score'\n    def config(self): return {}\n"
        "    def fit(self, *a): return {}\n"
    )
    result = bench_cli(
        "run", "--runner", "broken:NoScore", "--domain", "movie", "--shots", "16", path=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: runner 'broken:NoScore' does not meet the like/dislike runner protocol "
        "(bench.tasks.runner.Runner): it lacks score"
    )
    missing = bench_cli("run", "--runner", "nowhere:Thing", "--domain", "movie", path=tmp_path)
    assert missing.returncode == 2 and "cannot import nowhere" in missing.stderr


def test_bench_check_guards_a_profile_with_a_plugin(env, tmp_path: Path) -> None:
    profile = tmp_path / "mine.yaml"
    profile.write_text(
        "description: a user's runner beside a shipped one\n"
        f"runners: ['{LIKE}', like-rate]\ndomains: [movie]\nshots: [16]\nseeds: [0]\n"
        "validation: full\ntest_limit: 100\n"
    )
    reference = tmp_path / "mine.json"
    made = bench_cli("check", "--profile", str(profile), "--reference", str(reference), "--update")
    assert made.returncode == 0, made.stderr
    checked = bench_cli("check", "--profile", str(profile), "--reference", str(reference))
    assert checked.returncode == 0, checked.stderr
    assert "mine check passed: 2 figures" in checked.stdout


def test_a_failed_next_item_cell_is_shown_as_failed(env, tmp_path: Path) -> None:
    (tmp_path / "broken_next.py").write_text(
        "class Broken:\n    name = 'broken'\n    def __init__(self, seed): pass\n"
        "    def config(self): return {}\n"
        "    def fit(self, *a): raise RuntimeError('no GPU here')\n"
        "    def rank(self, samples): return []\n"
    )
    path = os.pathsep.join([str(tmp_path), str(EXAMPLES)])
    results = tmp_path / "runs"
    args = ["run", "--task", "next-item", "--domain", "lastfm", "--test-limit", "10"]
    args += ["--results-dir", str(results), "--runner", NEXT, "broken_next:Broken"]
    ran = bench_cli(*args, path=path)
    assert ran.returncode == 1 and "no GPU here" in ran.stderr
    shown = bench_cli("compare", "--task", "next-item", "--results-dir", str(results), path=path)
    assert shown.returncode == 0, shown.stderr
    broken = table_row(shown.stdout, "broken_next:Broken (test 10)")
    assert broken.split()[-4:] == ["failed"] * 4


def test_a_users_domain_joins_by_register_domain_and_by_entry_point(env, tmp_path, monkeypatch):
    import bench
    from bench.registry import DOMAINS

    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(DOMAINS, "_entries", dict(DOMAINS._entries))  # this test's only
    from movie_recent import build

    bench.register_domain("movie-recent", build)
    results = bench.evaluate(
        runners=["like-rate", "gru4rec"],
        domains=["movie-recent"],
        shots=[16],
        seeds=[0],
        results_dir=tmp_path / "py",
    )
    assert list(results.status) == ["computed", "computed"]
    record = read_record(Path(results.path[0]))
    assert len(record.predictions) == 200 and record.predictions[0].sample_id == "movie-recent-1800"
    table = bench.compare(results_dir=tmp_path / "py").frame.set_index("runner")
    assert table.loc["like-rate", "Movie-recent 16"] == f"{100 * record.auc:.2f} *"

    plugin = tmp_path / "site" / "my_domain-0.1.dist-info"
    plugin.mkdir(parents=True)
    (plugin / "METADATA").write_text("Metadata-Version: 2.1\nName: my-domain\nVersion: 0.1\n")
    (plugin / "entry_points.txt").write_text(
        "[tallrec_bench.domains]\nmovie-recent = movie_recent:build\n"
    )
    path = os.pathsep.join([str(tmp_path / "site"), str(EXAMPLES)])
    assert "movie-recent" in bench_cli("list", path=path).stdout
    ran = bench_cli(
        "run",
        "--runner",
        "like-rate",
        "--domain",
        "movie-recent",
        "--shots",
        "16",
        "--seed",
        "0",
        "--results-dir",
        str(tmp_path / "cli"),
        path=path,
    )
    assert ran.returncode == 0, ran.stderr
    again = read_record(
        tmp_path / "cli" / "like-rate" / "movie-recent" / "k16-seed0-valid-full.json"
    )
    assert again.run_key == record.run_key  # the same cell, whichever way the domain came in
    spec = bench_cli("run", "--runner", "like-rate", "--domain", "movie_recent:build", path=path)
    assert spec.returncode == 2 and "unknown domain 'movie_recent:build'" in spec.stderr


def test_a_users_task_joins_by_module_attribute_and_register_task(env, tmp_path, monkeypatch):
    import bench
    from bench.errors import UsageError

    results = tmp_path / "runs"
    cell = ["--runner", "like-rate", "--domain", "movie", "--shots", "16", "--seed", "0"]
    cell += ["--test-limit", "100", "--results-dir", str(results)]
    ran = bench_cli("run", "--task", "brier_like:BRIER", *cell)
    assert ran.returncode == 0, ran.stderr
    path = results / "brier" / "like-rate" / "movie" / "k16-seed0-valid-full-test100.json"
    record = read_record(path)
    brier = sum((p.score - p.label) ** 2 for p in record.predictions) / 100
    table = bench_cli("compare", "--task", "brier_like:BRIER", "--results-dir", str(results))
    assert table.returncode == 0 and not table.stderr, table.stderr
    assert f"{brier:.4f}" in table_row(table.stdout, "like-rate").split("auc")[0]
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from brier_like import BRIER

    bench.register_task("brier", BRIER)
    rows = bench.evaluate(
        task="brier",
        runners=["like-rate"],
        domains=["movie"],
        shots=[16],
        seeds=[0],
        test_limit=100,
        results_dir=results,
    )
    assert rows.loc[0, "status"] == "reused" and rows.loc[0, "brier"] == pytest.approx(brier)
    assert list(bench.compare(results, task="brier").frame["metric"]) == [
        "brier",
        "auc",
        "log_loss",
    ]
    with pytest.raises(UsageError, match="does not meet the task protocol.*lacks"):
        bench.register_task("broken", object())
