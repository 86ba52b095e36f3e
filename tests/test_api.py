"""The Python API: bench.evaluate and bench.compare on real data, through the real grid."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

import bench
from bench.errors import UsageError
from bench.store.records import read_record

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_evaluate_runs_resumes_and_returns_one_row_per_cell(env, tmp_path: Path) -> None:
    grid = dict(runners=["like-rate", "logreg"], domains=["movie"], shots=[16], seeds=[0, 1])
    first = bench.evaluate(**grid, results_dir=tmp_path)
    assert list(first.status) == ["computed"] * 4
    assert set(zip(first.runner, first.seed, strict=True)) == {
        ("like-rate", 0),
        ("logreg", 0),
        ("like-rate", 1),
        ("logreg", 1),
    }
    row = first[(first.runner == "logreg") & (first.seed == 1)].iloc[0]
    record = read_record(Path(row.path))
    labels = [p.label for p in record.predictions]
    assert row.auc == pytest.approx(roc_auc_score(labels, [p.score for p in record.predictions]))
    again = bench.evaluate(**grid, results_dir=tmp_path)
    assert list(again.status) == ["reused"] * 4 and list(again.auc) == list(first.auc)

    table = bench.compare(results_dir=tmp_path)
    logreg = table.frame.set_index("runner").loc["logreg", "Movie 16"]
    mean = first[first.runner == "logreg"].auc.mean()
    assert logreg.startswith(f"{100 * mean:.2f} ± ")
    assert "(not in the paper)" not in set(table.frame.runner)
    assert "logreg" in table.text and "Movie 16" in table.text


def test_evaluate_next_item_with_a_user_runner(env, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    results = bench.evaluate(
        task="next-item",
        runners=["popular_next:PopularNext"],
        domains=["lastfm"],
        test_limit=40,
        results_dir=tmp_path,
    )
    row = results.iloc[0]
    assert row.status == "computed" and row["rank/n"] == 40
    assert 0.0 <= row["rank/hit_ratio"] <= 1.0
    shown = bench.compare(results_dir=tmp_path, task="next-item").frame
    assert shown.runner.iloc[0] == "popular_next:PopularNext (test 40)"


def test_evaluate_refuses_what_the_cli_refuses(env, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="give --runner NAME... or --all"):
        bench.evaluate(results_dir=tmp_path)
    with pytest.raises(UsageError, match="unknown runner 'sasrek'"):
        bench.evaluate(runners=["sasrek"], results_dir=tmp_path)
    with pytest.raises(UsageError, match="has no --shots"):
        bench.evaluate(task="next-item", runners=["sasrec"], shots=[16], results_dir=tmp_path)
