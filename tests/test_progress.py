"""The grid's progress bar: weighted by expected cost, ETA from a fake clock (no timing)."""

from __future__ import annotations

import pytest

from bench.grid.progress import (
    REUSED_SECONDS,
    SHARED_SECONDS,
    GridProgress,
    default_seconds,
    eta_seconds,
    format_eta,
)
from bench.store.records import read_record
from bench.tasks.like import Cell, run_cell


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_arithmetic():
    assert eta_seconds(0.0, 100.0, 5.0) is None
    assert eta_seconds(25.0, 100.0, 50.0) == pytest.approx(150.0)  # 25 s of cost took 50 s
    assert eta_seconds(100.0, 100.0, 80.0) == 0.0
    assert (format_eta(None), format_eta(65.4), format_eta(3725)) == (
        "ETA ?", "ETA 1:05", "ETA 1:02:05",
    )  # fmt: skip


def test_cells_are_weighed_by_their_recorded_cost(env, tmp_path):
    done = Cell("gru4rec", "movie", 16, 0, test_limit=100)
    run_cell(done, tmp_path)
    recorded = max(read_record(done.record_path(tmp_path)).run_seconds, REUSED_SECONDS)
    sibling = Cell("gru4rec", "movie", 64, 0, test_limit=100)  # not run: its sibling's cost
    llm = Cell("tallrec-cpu", "movie", 16, 0)  # nothing recorded: the per-runner estimate
    clock = FakeClock()
    progress = GridProgress([done, sibling, llm], tmp_path, quiet=True, clock=clock)
    assert progress.costs == {
        done: REUSED_SECONDS,
        sibling: pytest.approx(recorded),
        llm: default_seconds("tallrec-cpu"),
    }
    assert progress.eta() is None
    progress.finished(done)
    clock.now += 0.05
    progress.finished(sibling)
    clock.now += 2.0
    # 2.05 s for the first two cells' expected cost: the tallrec cell's 200 s scaled alike
    assert progress.eta() == pytest.approx(2.05 * 200.0 / (REUSED_SECONDS + recorded))
    assert progress.cells_done == 2 and "2/3 cells" in progress.bar.postfix
    forced = GridProgress([done], tmp_path, quiet=True, force=True, clock=clock)
    assert forced.costs[done] == pytest.approx(recorded)  # --force recomputes it
    progress.close()


def test_cells_sharing_a_computation_cost_it_once(env, tmp_path):
    """Zero-shot ICL reads no train sample: of its shot counts only the first computes."""
    icl = [Cell("icl", "movie", k, 0, test_limit=24) for k in (16, 64, 256)]
    four_shot = [Cell("icl-4shot", "movie", k, 0, test_limit=24) for k in (16, 64)]
    cells = icl + four_shot
    groups = {cell: cell.shared_group() for cell in cells}
    assert groups[icl[0]] == groups[icl[1]] == groups[icl[2]] is not None
    assert groups[four_shot[0]] is None and groups[four_shot[1]] is None  # it reads demos
    progress = GridProgress(cells, tmp_path, quiet=True, groups=groups)
    assert progress.costs[icl[0]] == default_seconds("icl") == progress.costs[four_shot[1]]
    assert progress.costs[icl[1]] == progress.costs[icl[2]] == SHARED_SECONDS
    progress.close()
