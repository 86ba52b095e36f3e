"""Run a grid's cells as Ray tasks: same keys, records, resume and locks as the local executor.

Every task runs ``execute_cell`` (lock, run, record or error file) on a worker; the results
folder and the data cache must therefore be on a file system every node sees. Each task
asks for ``cpus_per_task`` CPUs and sets ``BENCH_THREADS`` to match, so torch does not
oversubscribe a node. The ``BENCH_*`` variables of the driver are passed to the workers.

    pip install "ray>=2.40"                    # after the suite (RecBole pins ray<=2.6.3)
    ray start --head --num-cpus 8              # or an existing cluster
    python -m bench run --all --executor ray --address HOST:6379
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bench.errors import UsageError
from bench.grid.local import GridSummary, Outcome, execute_cell
from bench.grid.progress import GridProgress
from bench.tasks.like import Cell

MINIMUM_RAY = (2, 40)


def _task(cell: Cell, results_dir: str, force: bool) -> Outcome:
    return execute_cell(cell, Path(results_dir), force, wait=True)


def run_grid_ray(
    cells: Sequence[Cell],
    results_dir: Path,
    force: bool = False,
    fail_fast: bool = False,
    quiet: bool = False,
    address: str | None = None,
    cpus_per_task: int = 1,
) -> GridSummary:
    """Run ``cells`` on a Ray cluster (``address``) or on a local Ray instance."""
    try:
        import ray
    except ImportError:
        ray = None
    found = getattr(ray, "__version__", "none")
    if ray is None or tuple(int(part) for part in found.split(".")[:2]) < MINIMUM_RAY:
        raise UsageError(
            f"the ray executor needs Ray >= 2.40, found {found} (RecBole pins ray<=2.6.3): "
            "pip install 'ray>=2.40'"
        )
    environment = {k: v for k, v in os.environ.items() if k.startswith("BENCH_")}
    environment["BENCH_THREADS"] = str(cpus_per_task)
    ray.init(
        address=address,
        runtime_env={"env_vars": environment},
        include_dashboard=False,
        log_to_driver=not quiet,
        logging_level="WARNING",
    )
    try:
        task = ray.remote(num_cpus=cpus_per_task)(_task)
        pending = [task.remote(cell, str(results_dir.resolve()), force) for cell in cells]
        summary = GridSummary()
        progress = GridProgress(cells, results_dir, quiet, force, desc="grid (ray)")
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            outcome: Outcome = ray.get(done[0])
            summary.add(outcome)
            progress.finished(outcome.cell)
            if not quiet:
                progress.write(outcome.line())
            if outcome.error is not None and fail_fast:
                for ref in pending:
                    ray.cancel(ref)
                break
        progress.close()
        return summary
    finally:
        ray.shutdown()
