"""Name -> ``"module:attribute"`` registries, imported only when used.

Keeping entries as strings means ``bench list`` or ``bench compare`` never import torch,
RecBole or transformers.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from bench.errors import UsageError


class Registry:
    """A named set of lazily imported objects."""

    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def check(self, name: str) -> str:
        """Return ``name`` if registered, else raise a UsageError that suggests one."""
        if name in self._entries:
            return name
        close = difflib.get_close_matches(name, self._entries, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        available = ", ".join(self.names()) or "none"
        raise UsageError(f"unknown {self.kind} {name!r}.{hint} Available: {available}")

    def load(self, name: str) -> Any:
        """Import and return the object registered as ``name``."""
        module_name, _, attribute = self._entries[self.check(name)].partition(":")
        return getattr(importlib.import_module(module_name), attribute)


DOMAINS = Registry(
    "domain",
    {
        "movie": "bench.data.movie:build",
        "book": "bench.data.book:build",
        "book-bx": "bench.data.bookcrossing:build",
    },
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
)
