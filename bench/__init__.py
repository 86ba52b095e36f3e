"""tallrec-bench: a benchmark suite for LLM-based recommendation (TALLRec, LLaRA)."""

__version__ = "0.6.0"

from typing import Any


def register_runner(name: str, runner: Any, task: str = "like") -> None:
    """Add a runner class (or a ``module:Class`` string) under ``name`` for this process.

    ``task`` is ``like`` or ``next-item``. For other processes (Ray workers) use a
    ``module:Class`` name or an entry point instead.
    """
    from bench.errors import UsageError
    from bench.registry import NEXT_ITEM_RUNNERS, RUNNERS

    registries = {"like": RUNNERS, "next-item": NEXT_ITEM_RUNNERS}
    if task not in registries:
        raise UsageError(f"unknown task {task!r}: use like or next-item")
    registries[task].register(name, runner)


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
