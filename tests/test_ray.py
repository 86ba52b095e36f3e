"""The Ray executor on a local Ray instance started by the test (2 CPUs), real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from bench.grid.check import auc_by_cell
from bench.report.compare import collect

pytestmark = pytest.mark.slow  # starts a Ray cluster: about a minute
RAY = Path(sys.executable).parent / "ray"
GRID = {"runners": ["like-rate", "logreg"], "domains": ["movie", "book"], "shots": [16, 64]}
GRID |= {"seeds": [0]}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """``ray start --head --num-cpus 2`` on loopback; stopped afterwards."""
    pytest.importorskip("ray")
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    start = [str(RAY), "start", "--head", "--num-cpus", "2", "--port", str(port)]
    start += ["--node-ip-address", "127.0.0.1", "--temp-dir", temp, "--include-dashboard=false"]
    started = subprocess.run(start, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr[-2000:]
    yield f"127.0.0.1:{port}"
    subprocess.run([str(RAY), "stop", "--force"], capture_output=True)


def _auc(results: Path) -> dict[str, float]:
    records, problems = collect(results)
    assert not problems
    return auc_by_cell(records)


def test_ray_executor_gives_the_local_records_and_resumes(env, ray_cluster, tmp_path):
    profile = tmp_path / "tiny.yaml"
    profile.write_text(yaml.safe_dump(GRID))
    common = [sys.executable, "-m", "bench", "-q", "run", "--all", "--profile", str(profile)]
    local = subprocess.run(
        [*common, "--results-dir", str(tmp_path / "local")], capture_output=True, text=True
    )
    assert local.returncode == 0, local.stderr
    distributed = [*common, "--results-dir", str(tmp_path / "ray")]
    distributed += ["--executor", "ray", "--address", ray_cluster]
    first = subprocess.run(distributed, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "8 cells: 8 computed, 0 reused, 0 failed" in first.stdout
    assert _auc(tmp_path / "ray") == _auc(tmp_path / "local")
    again = subprocess.run(distributed, capture_output=True, text=True)
    assert "8 cells: 0 computed, 8 reused" in again.stdout, again.stderr[-3000:]


def test_ray_executor_runs_next_item_cells_as_the_local_one(
    env, ray_cluster, next_item_profile, tmp_path
):
    profile = next_item_profile()
    runners = yaml.safe_load(profile.read_text())["runners"]
    common = [sys.executable, "-m", "bench", "-q", "run", "--all", "--profile", str(profile)]
    one_thread = os.environ | {"BENCH_THREADS": "1"}  # as each Ray task (1 CPU) runs
    local = subprocess.run(
        [*common, "--results-dir", str(tmp_path / "local")],
        capture_output=True,
        text=True,
        env=one_thread,
    )
    assert local.returncode == 0, local.stderr[-3000:]
    distributed = [*common, "--results-dir", str(tmp_path / "ray")]
    distributed += ["--executor", "ray", "--address", ray_cluster]
    first = subprocess.run(distributed, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "2 cells: 2 computed, 0 reused, 0 failed" in first.stdout
    for runner in runners:
        records = [
            json.loads(
                (tmp_path / where / "next-item" / runner / "lastfm" / "seed0.json").read_text()
            )
            for where in ("local", "ray")
        ]
        assert records[0]["predictions"] == records[1]["predictions"]
        assert records[0]["run_key"] == records[1]["run_key"]
