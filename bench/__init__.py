"""tallrec-bench: a benchmark suite for LLM-based recommendation (TALLRec, LLaRA)."""

__version__ = "0.6.0"

from typing import Any


def register_runner(name: str, runner: Any, task: str = "like") -> None:
    """Add a runner class (or a ``module:Class`` string) under ``name`` for this process.

    ``task`` is ``like``, ``next-item`` or a registered task's name. For other processes
    (Ray workers) use a ``module:Class`` name or an entry point instead.
    """
    from bench.registry import TASKS

    TASKS.load(task).runners.register(name, runner)


def register_task(name: str, task: Any) -> None:
    """Add a task (an object meeting ``bench.tasks.base.Task``) for this process.

    Its cells, records, ``bench check`` figures and table then work as the shipped tasks'.
    For other processes use a ``module:attribute`` name or an entry point (group
    ``tallrec_bench.tasks``).
    """
    from bench.registry import TASKS

    TASKS.register(name, task)  # a task that does not meet the protocol fails here


def register_domain(name: str, build: Any) -> None:
    """Add a like/dislike domain for this process: ``build(card, files) -> Domain``.

    ``build.card`` is the path of its dataset card (``name:`` must be ``name``); the card's
    ``files`` are resolved and checked as for the shipped domains. For other processes use
    an entry point (group ``tallrec_bench.domains``).
    """
    from bench.registry import DOMAINS

    DOMAINS.register(name, build)


def evaluate(*args: Any, **kwargs: Any) -> Any:
    """Run a grid and return its results as a DataFrame: see :func:`bench.api.evaluate`."""
    from bench.api import evaluate as run

    return run(*args, **kwargs)


def compare(*args: Any, **kwargs: Any) -> Any:
    """A comparison table as a DataFrame and as text: see :func:`bench.api.compare`."""
    from bench.api import compare as table

    return table(*args, **kwargs)
