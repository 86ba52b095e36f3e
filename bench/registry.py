"""Name -> ``"module:attribute"`` registries, imported only when used.

Keeping entries as strings means ``bench list`` or ``bench compare`` never import torch,
RecBole or transformers.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
from typing import Any

from bench.errors import UsageError


class Registry:
    """A named set of lazily imported objects, open to plugins.

    Three ways in, all ending here: a ``module:attribute`` spec wherever a name is accepted
    (imported from the current folder or ``PYTHONPATH``; the spec itself is the name, so
    every process, Ray workers included, finds it again), the Python entry points of
    ``group`` (installed packages), and :meth:`register` from Python. ``required`` names the
    attributes an object must have (a runner protocol's methods): a class without them is
    refused with one line naming what it lacks.
    """

    def __init__(
        self,
        kind: str,
        entries: dict[str, str],
        group: str | None = None,
        required: tuple[str, ...] = (),
        protocol: str = "",
        specs: bool = True,
    ) -> None:
        self.kind = kind
        self.group = group
        self.specs = specs and group is not None  # module:attribute names accepted
        self.required = required
        self.protocol = protocol
        self._entries: dict[str, Any] = dict(entries)  # name -> "module:attr" or the object
        self._discovered = group is None

    def _discover(self) -> None:
        """Add the entry points of ``group`` once (built-in names win)."""
        if self._discovered:
            return
        self._discovered = True
        for point in importlib.metadata.entry_points(group=self.group):
            self._entries.setdefault(point.name, point.value)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._discover()
        return sorted(self._entries)

    def register(self, name: str, target: Any) -> None:
        """Add ``name`` -> ``target`` (an object, checked now, or a ``module:attribute``)."""
        self._discover()
        if name in self._entries and self._entries[name] != target:
            raise UsageError(f"{self.kind} {name!r} is already registered: choose another name")
        if not isinstance(target, str):
            self._verify(name, target)
        self._entries[name] = target

    def check(self, name: str) -> str:
        """Return ``name`` if registered (or an importable spec), else a UsageError with hints."""
        self._discover()
        if name in self._entries:
            return name
        if ":" in name and self.specs:
            self._import(name)
            self._entries[name] = name
            return name
        close = difflib.get_close_matches(name, self._entries, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        available = ", ".join(self.names()) or "none"
        spec = " (or give module:Class)" if self.specs else ""
        raise UsageError(f"unknown {self.kind} {name!r}.{hint} Available: {available}{spec}")

    def _import(self, spec: str) -> Any:
        module_name, _, attribute = spec.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except ImportError as error:
            raise UsageError(
                f"{self.kind} {spec!r}: cannot import {module_name} ({error}): put it on "
                "PYTHONPATH or in the current folder"
            ) from None
        except AttributeError:
            raise UsageError(f"{self.kind} {spec!r}: {module_name} has no {attribute}") from None

    def load(self, name: str) -> Any:
        """Import and return the object registered as ``name``, checked against ``required``."""
        target = self._entries[self.check(name)]
        found = self._import(target) if isinstance(target, str) else target
        self._verify(name, found)
        return found

    def _verify(self, name: str, found: Any) -> None:
        """A UsageError naming what ``found`` lacks of ``required``."""
        missing = [attribute for attribute in self.required if not hasattr(found, attribute)]
        if missing:
            raise UsageError(
                f"{self.kind} {name!r} does not meet {self.protocol or 'its protocol'}: "
                f"it lacks {', '.join(missing)}"
            )


# Domains from plugins come by entry point or register_domain (a builder with a ``card``
# attribute: the path of its dataset card), not as module:attribute names: a domain's name
# names its cache folder and must match its card.
DOMAINS = Registry(
    "domain",
    {
        "movie": "bench.data.movie:build",
        "book": "bench.data.book:build",
        "book-bx": "bench.data.bookcrossing:build",
    },
    group="tallrec_bench.domains",
    specs=False,
)
# The next-item task's domains (LLaRA); built and cached like the like/dislike ones.
NEXT_ITEM_DOMAINS = Registry(
    "next-item domain",
    {
        "lastfm": "bench.data.nextitem:build_lastfm",
        "movielens-next": "bench.data.nextitem:build_movielens_next",
    },
)
# What ``--domain all`` means: the paper's domains, buildable from public files.
# ``book-bx`` needs BookCrossing's raw CSVs, which only some users have.
PAPER_DOMAINS = ("movie", "book")

RUNNERS = Registry(
    "runner",
    {
        "gru4rec": "baselines.sequential:GRU4Rec",
        "caser": "baselines.sequential:Caser",
        "sasrec": "baselines.sequential:SASRec",
        "dros": "baselines.sequential:DROS",
        "gru-bert": "baselines.sequential:GRUBert",
        "dros-bert": "baselines.sequential:DROSBert",
        "gru4rec-label": "baselines.sequential:GRU4RecLabel",
        "sasrec-label": "baselines.sequential:SASRecLabel",
        "like-rate": "baselines.sanity:LikeRate",
        "logreg": "baselines.sanity:LogReg",
        "icl": "llm.icl:ICL",
        "icl-4shot": "llm.icl:ICL4Shot",
        "icl-api": "llm.icl:EndpointICL",
        "tallrec": "llm.tallrec:TallRec",
        "tallrec-cpu": "llm.tallrec:TallRecCPU",
    },
    group="tallrec_bench.runners",
    required=("name", "config", "fit", "score"),
    protocol="the like/dislike runner protocol (bench.tasks.runner.Runner)",
)
# The six sequential baselines of the paper's Table 1, in its row order.
PAPER_BASELINES = ("gru4rec", "caser", "sasrec", "dros", "gru-bert", "dros-bert")

# Runners of the next-item task (LLaRA): their own interface (fit on a next-item domain,
# rank the 20 candidates, optionally generate an answer), so a registry of their own.
NEXT_ITEM_RUNNERS = Registry(
    "next-item runner",
    {
        "gru4rec": "baselines.next_item:GRU4RecNext",
        "caser": "baselines.next_item:CaserNext",
        "sasrec": "baselines.next_item:SASRecNext",
        "icl": "llm.llara:ICLNext",
        "tallrec-next": "llm.llara:TallRecNext",
        "tallrec-next-cpu": "llm.llara:TallRecNextCPU",
        "llara": "llm.llara:LLaRA",
        "llara-cpu": "llm.llara:LLaRACPU",
    },
    group="tallrec_bench.next_item_runners",
    required=("name", "config", "fit", "rank"),
    protocol="the next-item runner protocol (bench.tasks.runner.NextItemRunner)",
)

# Tasks: what a cell, a record and a table of each task are (bench.tasks.base.Task). A
# plugin's task comes by entry point, bench.register_task or a module:attribute name.
TASKS = Registry(
    "task",
    {"like": "bench.tasks.like:LIKE", "next-item": "bench.tasks.next_item:NEXT_ITEM"},
    group="tallrec_bench.tasks",
    required=(
        "name",
        "folder",
        "axes",
        "domains",
        "runners",
        "make_cells",
        "load_domain",
        "prepare",
        "key_parts",
        "answer",
        "read",
        "record_path",
        "metrics",
        "column",
        "figures",
        "from_json",
    ),
    protocol="the task protocol (bench.tasks.base.Task)",
)
