"""One task model: what each task provides, and the one run skeleton every cell goes through.

A task (``bench.tasks.like.LIKE``, ``bench.tasks.next_item.NEXT_ITEM``) says how its domains
load, what else a cell reads (the like task's few-shot manifest), what goes into a run key,
how its runner answers the test samples and becomes a record, and how a record is read back
and verified. :func:`run_cell` does the steps they share, once: provenance, the runner class
with its settings and optional methods, the cached domain, the run key, reuse of an intact
record with that key, the task's answer, and an atomic write.
"""

from __future__ import annotations

import json
import logging
import resource
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bench.config import cache_dir
from bench.errors import BenchError, DataError
from bench.files import atomic_write_text, sha256_bytes
from bench.registry import Registry
from bench.store.records import environment, invocation, record_text, run_key
from bench.tasks.runner import CHECKPOINT, with_settings

log = logging.getLogger(__name__)
_LOADED: dict[tuple[Path, Callable, str], tuple[Any, str]] = {}  # loaded by this process
D = TypeVar("D")
Variants = list[tuple[str, tuple[tuple[str, Any], ...]]]  # (runner, its changed settings)


def loaded_domain(name: str, loader: Callable[[str], tuple[D, str]]) -> tuple[D, str]:
    """``loader(name)`` once per process and cache: a grid reads a domain once, not per cell."""
    key = (cache_dir(), loader, name)
    if key not in _LOADED:
        _LOADED[key] = loader(name)
    return _LOADED[key]


def variant_label(settings: tuple[tuple[str, Any], ...]) -> str:
    """A readable, file-name-safe label of changed runner settings ('' for none)."""
    import re

    raw = ",".join(f"{key}={value}" for key, value in settings)
    text = re.sub(r"[^A-Za-z0-9._=,-]+", "_", raw)
    if text != raw:  # characters replaced: a hash of the original keeps labels apart
        return f"{text[:60]}~{sha256_bytes(raw.encode())[:12]}"
    return text if len(text) <= 80 else f"{text[:60]}~{sha256_bytes(text.encode())[:12]}"


class OptionalRunnerMethods:
    """The optional part of both runner protocols, with the behaviour of a runner without it.

    :func:`runner_class` puts it under every runner class, so the run code calls these
    methods instead of looking for them.
    """

    name: str
    code_version: int = 1  # part of the run key: raise it when the code changes results

    @classmethod
    def reads_train(cls) -> bool:
        """Like/dislike: whether ``fit`` reads the manifest's train samples.

        A runner that does not (zero-shot prompting, a rule) scores the same at every shot
        count: cells that differ only in shots then share one computation, each still with
        its own record that names the record its scores come from.
        """
        return True

    def use_domain(self, domain: Any) -> None:
        """Like/dislike: score another domain's test split (cross-domain runs)."""
        raise BenchError(
            f"runner {self.name} cannot test on another domain (it knows only its own item "
            "ids): drop --test-domain or use an LLM runner"
        )

    def scoring_notes(self) -> dict[str, Any] | None:
        """What the record should keep about scoring, such as score-cache hits (None: nothing)."""
        return None

    def generate(self, samples: Any) -> list[str] | None:
        """Next-item: one free-text answer per sample (None: the runner only ranks)."""
        return None


def runner_class(registry: Registry, name: str, settings: tuple[tuple[str, Any], ...]) -> type:
    """The registered class with its optional methods' defaults and changed ``settings``."""
    found = registry.load(name)
    complete = type(found.__name__, (found, OptionalRunnerMethods), {})
    return with_settings(complete, **dict(settings)) if settings else complete


class Cell(Protocol):
    """What the skeleton needs of a cell (``tasks.like.Cell``, ``tasks.next_item.NextItemCell``)."""

    runner: str
    domain: str
    seed: int
    settings: tuple[tuple[str, Any], ...]

    def record_path(self, results_dir: Path) -> Path:
        """Where the cell's record lives."""
        ...

    def shared_group(self) -> tuple[Any, ...] | None:
        """Cells with one group share one computation (the grid runs one of them first)."""
        ...


class Task(Protocol):
    """What a task provides to :func:`run_cell`, the grid, the store and the comparator.

    Records of every task live at ``<results>/<folder>/<runner label>/<domain>/<cell>.json``
    (the like task's ``folder`` is ``''``: its records sit in the results folder itself, as
    since 0.1). A plugin's task registers in ``bench.registry.TASKS`` (entry point group
    ``tallrec_bench.tasks``, :func:`bench.register_task`, or ``module:attribute``).
    """

    name: str  # a profile's ``task:``, ``--task``
    folder: str  # its records' folder in a results folder ('' for the results folder)
    axes: tuple[str, ...]  # grid axes beyond runner x domain x seed: shots, validation...
    default_profile: str  # what ``bench run --all --task NAME`` runs
    default_domains: tuple[str, ...]  # domains without ``--domain`` and without a profile
    default_seeds: tuple[int, ...]
    domains: Registry
    runners: Registry

    def make_cells(
        self,
        variants: Variants,
        domains: list[str],
        seeds: list[int],
        test_limit: int,
        profile: Any,
        axes: dict[str, Any],
    ) -> list:
        """The cells of checked runner variants x domains x seeds x the task's ``axes``."""
        ...

    def load_domain(self, name: str) -> tuple[Any, str]:
        """The built domain and its data hash."""
        ...

    def prepare(self, cell: Any, domain: Any, data_sha256: str) -> Any:
        """What else the cell reads (a few-shot manifest), or None."""
        ...

    def key_parts(self, cell: Any, runner: Any, inputs: Any, data_sha256: str) -> dict:
        """What can change the result, hashed into the run key."""
        ...

    def answer(
        self, cell: Any, runner: Any, domain: Any, inputs: Any, context: dict[str, Any]
    ) -> Any:
        """Fit, answer the test samples, check them; the record (``context``: key, paths)."""
        ...

    def read(self, path: Path, domain: Any = None) -> Any:
        """A record from disk, its metrics recomputed: DataError when damaged.

        ``domain``: the record's, or None to load it when the task needs it to verify.
        """
        ...

    def record_path(self, record: Any, results_dir: Path) -> Path:
        """Where the cell that made ``record`` keeps it (a record elsewhere is not trusted)."""
        ...

    def metrics(self, record: Any) -> dict[str, float]:
        """A record's figures by name, headline first (API rows, generic tables)."""
        ...

    def column(self, record: Any) -> str:
        """A record's column in a comparison table (``movie k16``, ``lastfm``)."""
        ...

    def figures(self, records: list) -> dict[str, float]:
        """The figures ``bench check`` guards, keyed by runner label (variant included)."""
        ...

    def from_json(self, data: dict[str, Any]) -> Any:
        """A record from its JSON."""
        ...


def record_fields(cell: Any, runner: Any, context: dict[str, Any]) -> dict[str, Any]:
    """The fields every task's record takes from its cell, runner and run (``RecordBase``)."""
    return {
        "run_key": context["key"],
        "runner": cell.runner,
        "domain": cell.domain,
        "seed": cell.seed,
        "data_sha256": context["data_sha256"],
        "config": runner.config(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "environment": context["environment"],
        "variant": cell.variant,
        "test_limit": cell.test_limit,
        "profile": cell.profile,
        "command": invocation(),
    }


def legacy_key(parts: dict[str, Any], record: Any) -> str | None:
    """The run key ``record`` has if a profile made it before 0.7.0 (None if no profile).

    The profile's name was part of the key then; such a record is the same run, reused as is.
    """
    return run_key(parts | {"profile": record.profile}) if record.profile else None


def run_cell(task: Task, cell: Cell, results_dir: Path, force: bool = False) -> tuple[Any, bool]:
    """Run ``cell`` unless an intact record with the same run key exists.

    Returns the record (as a later read gives it) and whether it was computed now.
    """
    provenance = environment()  # cached: taken before the first cell runs
    task.domains.check(cell.domain)
    runner_type = runner_class(task.runners, cell.runner, cell.settings)
    domain, data_sha256 = loaded_domain(cell.domain, task.load_domain)
    inputs = task.prepare(cell, domain, data_sha256)
    runner = runner_type(seed=cell.seed)
    parts = task.key_parts(cell, runner, inputs, data_sha256)
    key = run_key(parts)
    path = cell.record_path(results_dir)
    if path.exists() and not force:
        try:
            existing = task.read(path, domain)
            if existing.run_key in (key, legacy_key(parts, existing)):
                return existing, False
            log.info("%s: configuration changed, rerunning", path)
        except DataError as error:
            log.warning("%s; recomputing", error)
    context = {
        "key": key,
        "data_sha256": data_sha256,
        "environment": provenance,
        "path": path,
        "workdir": path.with_suffix(".work"),
    }
    log.info("computing %s (run key %s…)", cell.label.strip(), key[:12], extra={"cell_only": True})
    record = task.answer(cell, runner, domain, inputs, context)
    text = record_text(record.to_json())
    atomic_write_text(path, text)
    log.info("%s written", path.name, extra={"cell_only": True})
    shutil.rmtree(context["workdir"] / CHECKPOINT, ignore_errors=True)  # resumable state
    return task.from_json(json.loads(text)), True
