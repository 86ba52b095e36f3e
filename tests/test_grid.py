"""`bench run --all` and `bench check` as real processes: resume, kill, concurrency, CI guard."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bench.grid.check import auc_by_cell
from bench.report.compare import collect
from bench.store.records import read_record

# A small real grid: two cheap runners, both domains, 2 shot counts, 2 seeds (16 cells).
GRID = {
    "description": "test grid",
    "runners": ["like-rate", "logreg"],
    "domains": ["movie", "book"],
    "shots": [16, 64],
    "seeds": [0, 1],
}


def bench(*args: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", "-q", *args], capture_output=True, text=True, **popen
    )


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(GRID))
    return path


def _written(results: Path) -> int:
    return len(list(results.rglob("k*.json"))) if results.exists() else 0


def _table(results: Path) -> str:
    out = bench("compare", "--results-dir", str(results), "--format", "csv")
    assert out.returncode == 0, out.stderr
    return out.stdout


def _records(results: Path) -> dict[str, float]:
    records, problems = collect(results)
    assert not problems
    return auc_by_cell(records)


def test_grid_killed_at_several_points_resumes_to_the_same_table(env, profile, tmp_path):
    clean = tmp_path / "clean"
    first = bench("run", "--all", "--profile", str(profile), "--results-dir", str(clean))
    assert first.returncode == 0, first.stderr
    assert "16 cells: 16 computed, 0 reused, 0 failed" in first.stdout
    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "bench", "-q", "run", "--all", "--profile", str(profile)]
    kills = []
    for new_cells in (1, 2, 3):  # SIGKILL once a few more cells are written: mid-grid
        before = _written(killed)
        process = subprocess.Popen([*args, "--results-dir", str(killed)])
        while process.poll() is None and _written(killed) < before + new_cells:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills.append(_written(killed))
    done_before = kills[-1]
    assert 0 < kills[0] < kills[1] < kills[2] < 16  # each run was killed with work left
    last = bench("run", "--all", "--profile", str(profile), "--results-dir", str(killed))
    assert last.returncode == 0, last.stderr
    assert f"{16 - done_before} computed, {done_before} reused" in last.stdout
    assert len(list(killed.rglob("k*.json"))) == 16
    assert _records(killed) == _records(clean)
    assert _table(killed) == _table(clean)


def test_truncated_record_is_recomputed(env, profile, tmp_path):
    results = tmp_path / "runs"
    bench("run", "--all", "--profile", str(profile), "--results-dir", str(results))
    path = results / "logreg" / "book" / "k64-seed1-valid-full.json"
    auc = read_record(path).auc
    path.write_text(path.read_text()[:500])
    again = bench("run", "--all", "--profile", str(profile), "--results-dir", str(results))
    assert "1 computed, 15 reused" in again.stdout
    assert read_record(path).auc == auc


def test_two_processes_on_one_folder_run_each_cell_once(env, profile, tmp_path):
    results = tmp_path / "runs"
    args = [sys.executable, "-m", "bench", "-q", "run", "--all", "--profile", str(profile)]
    args += ["--results-dir", str(results)]
    processes = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate()[0] for p in processes]
    assert all(p.returncode == 0 for p in processes)
    computed = [int(re.search(r"(\d+) computed", out).group(1)) for out in outputs]
    assert sum(computed) == 16, outputs  # every cell computed exactly once, by one of them
    assert len(_records(results)) == 16


def test_a_failing_cell_is_recorded_and_the_grid_goes_on(env, tmp_path):
    results = tmp_path / "runs"
    out = bench(
        "run",
        "--runner",
        "like-rate",
        "--domain",
        "movie",
        "--shots",
        "16",
        "--seed",
        "0",
        "--test-domain",
        "book",
        "--results-dir",
        str(results),
    )
    assert out.returncode == 1
    assert "1 failed" in out.stdout and "cannot test on another domain" in out.stderr
    error = json.loads(next(results.rglob("*.error.json")).read_text())
    assert "cannot test on another domain" in error["error"]
    assert not list(results.rglob("k*-full.json"))


def test_check_fails_when_a_reference_auc_is_perturbed(env, profile, tmp_path):
    reference = tmp_path / "reference.json"
    results = tmp_path / "runs"
    common = ["--profile", str(profile), "--reference", str(reference)]
    made = bench("check", "--update", *common, "--results-dir", str(results))
    assert made.returncode == 0, made.stderr
    content = json.loads(reference.read_text())
    assert len(content["cells"]) == 16 and content["tolerance"] == 0.005
    passed = bench("check", *common, "--results-dir", str(results))
    assert passed.returncode == 0 and "tiny check passed: 16 figures" in passed.stdout
    content["cells"]["logreg/movie/k64/seed1"] += 0.01
    reference.write_text(json.dumps(content))
    failed = bench("check", *common, "--results-dir", str(results))
    assert failed.returncode == 1
    measured = content["cells"]["logreg/movie/k64/seed1"] - 0.01
    assert f"logreg/movie/k64/seed1: reference {measured + 0.01:.6f}, measured {measured:.6f}" in (
        failed.stderr
    )
    tolerant = bench("check", *common, "--results-dir", str(results), "--tolerance", "0.02")
    assert tolerant.returncode == 0


def test_the_committed_reference_covers_the_ci_profile(env):
    from bench.grid.cells import profile_cells
    from bench.grid.check import read_reference, reference_path
    from bench.grid.profiles import load_profile

    cells = profile_cells(load_profile("ci"))
    names = {f"{c.runner}/{c.domain}/k{c.n_shots}/seed{c.seed}" for c in cells}
    assert set(read_reference(reference_path("ci"))["cells"]) == names
    next_cells = profile_cells(load_profile("ci-next"))
    names = {
        f"{c.runner_label}/{c.domain}/seed{c.seed}/{figure}"
        for c in next_cells
        for figure in ("hit_ratio", "mrr")
    }
    reference = read_reference(reference_path("ci-next"))
    assert set(reference["cells"]) == names and reference["profile"] == "ci-next"


def test_jobs_give_the_same_records_as_one_process_and_compose(env, tmp_path, monkeypatch):
    """--jobs 2 equals one process, cell by cell (a cell's threads are fixed: 1); two such
    runs at once on one folder still compute every cell once (the cell locks)."""
    grid = ["--runner", "logreg", "gru4rec", "--domain", "movie", "--shots", "16", "64"]
    grid += ["--seed", "0", "--test-limit", "100"]
    monkeypatch.delenv("BENCH_THREADS", raising=False)
    one = bench("run", *grid, "--jobs", "1", "--results-dir", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    both = tmp_path / "both"
    command = [sys.executable, "-m", "bench", "-q", "run", *grid, "--jobs", "2"]
    runs = [
        subprocess.Popen([*command, "--results-dir", str(both)], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    assert [run.wait() for run in runs] == [0, 0]
    lines = [json.loads(line) for line in (both / "grids.jsonl").read_text().splitlines()]
    assert sum(line["computed"] for line in lines) == 4 and {line["jobs"] for line in lines} == {2}
    for record in (tmp_path / "one").rglob("k*.json"):
        single, parallel = (
            read_record(record),
            read_record(both / record.relative_to(tmp_path / "one")),
        )
        assert parallel.predictions == single.predictions and parallel.auc == single.auc
        assert parallel.training.get("threads", 1) == single.training.get("threads", 1) == 1


def test_jobs_default_to_the_cpus_over_a_cells_threads(env, tmp_path, monkeypatch):
    from bench.config import cpus

    monkeypatch.delenv("BENCH_THREADS", raising=False)
    grid = ["--runner", "like-rate", "--domain", "movie", "--shots", "16", "64", "--seed", "0"]
    ran = bench("run", *grid, "--results-dir", str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    (line,) = [json.loads(text) for text in (tmp_path / "grids.jsonl").read_text().splitlines()]
    assert line["jobs"] == cpus() and line["computed"] == 2


def test_a_killed_jobs_run_leaves_no_worker_behind(env, tmp_path):
    """SIGKILL of ``bench run --jobs 2`` ends its workers too (they would go on writing)."""
    grid = ["--runner", "gru4rec", "sasrec", "--domain", "movie", "book", "--shots", "16", "64"]
    command = [sys.executable, "-m", "bench", "-q", "run", *grid, "--seed", "0", "1", "--jobs", "2"]
    process = subprocess.Popen([*command, "--results-dir", str(tmp_path)])
    children: set[int] = set()
    while process.poll() is None and not list(tmp_path.rglob("k*.json")):
        for task in Path(f"/proc/{process.pid}/task").glob("*/children"):
            children |= {int(pid) for pid in task.read_text().split()}
        time.sleep(0.05)
    assert process.poll() is None and len(children) >= 2  # killed mid-grid, workers running
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.1)
    alive = [pid for pid in children if Path(f"/proc/{pid}/status").exists()]
    zombies = [p for p in alive if "zombie" in Path(f"/proc/{p}/status").read_text()]
    assert alive == zombies  # gone (or a zombie awaiting its reaper)
