"""Records made before the 0.6.0 layout move are read, and re-made identically, by today's code.

The fixture folder holds three records written at commit ea40e5c (before bench/ was split
into data/, store/, tasks/, grid/, report/): two like/dislike cells and one next-item cell.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.data.nextitem import load_next_item_domain
from bench.store.records import read_record
from bench.tasks.like import Cell, run_cell
from bench.tasks.next_item import NextItemCell, read_next_item_record, run_next_item_cell

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "records-before-layout"
VOLATILE = {"wall_s", "peak_rss_mb", "environment", "command"}


ORIGINAL_FOLDER = "/tmp/oldrec"  # where the fixture records were made (paths inside them)


def _to_rounding(value: object) -> object:
    """The value with every float replaced by ``pytest.approx`` of it (nested lists and dicts)."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-6, abs=1e-6)
    if isinstance(value, dict):
        return {k: _to_rounding(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_rounding(v) for v in value]
    return value


def same_but_volatile(old: Path, new: Path, results: Path) -> None:
    """Equal records, but for timings, environment, command and the results folder's path.

    On another CPU model than the one that made the fixture, BLAS and float32 kernels round the
    last bits differently (reports/cpu-kernels.md; scikit-learn's fit on AMD EPYC moves the
    logreg intercept by 1e-14): floats are then compared to float32 rounding (1e-6), every other
    field (ids, labels, counts, paths, settings) still exactly.
    """
    before = json.loads(old.read_text().replace(ORIGINAL_FOLDER, "<results>"))
    after = json.loads(new.read_text().replace(str(results), "<results>"))
    other_cpu = before["environment"]["machine"] != after["environment"]["machine"]
    before, after = ({k: v for k, v in r.items() if k not in VOLATILE} for r in (before, after))
    if other_cpu:
        before = _to_rounding(before)
    assert before == after


def test_like_records_from_before_are_read_and_remade_identically(env, tmp_path: Path) -> None:
    for runner in ("like-rate", "logreg"):
        cell = Cell(runner, "movie", 16, 0, test_limit=60)
        old = FIXTURE / cell.record_path(FIXTURE).relative_to(FIXTURE)
        assert old.is_file()  # same record path
        kept = read_record(old)
        remade, computed = run_cell(cell, tmp_path)
        assert computed and remade.run_key == kept.run_key
        same_but_volatile(old, cell.record_path(tmp_path), tmp_path)


def test_next_item_record_from_before_is_read_and_remade_identically(
    env, tmp_path: Path, monkeypatch
) -> None:
    settings = (("max_epochs", 1), ("train_limit", 2000))
    cell = NextItemCell("sasrec", "lastfm", 0, settings, test_limit=20)
    old = cell.record_path(FIXTURE)
    domain, _ = load_next_item_domain("lastfm")
    kept = read_next_item_record(old, domain)
    # made with every CPU's threads (2), the default before 0.7.0; a cell's now is 1
    monkeypatch.setenv("BENCH_THREADS", str(kept.training["threads"]))
    remade, computed = run_next_item_cell(cell, tmp_path)
    assert computed and remade.run_key == kept.run_key
    same_but_volatile(old, cell.record_path(tmp_path), tmp_path)
