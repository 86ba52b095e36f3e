"""A cache of LLM scores and answers, keyed on everything they depend on.

An entry's key is the sha256 of (scorer version, model weights sha256, adapter sha256 or
none, tokenizer sha256, scoring mode, dtype, device kind, request). The model's identity is
part of every key, not of the file's name (lm-evaluation-harness keys its sqlite cache by
the request only, so a swapped model can serve stale scores): scores of two models or two
adapters can never meet. Like/dislike runners keep P(Yes) per prompt (table ``scores``);
next-item runners keep each sample's candidate log-likelihoods and generated answer (table
``answers``, canonical JSON), with the projector and item vectors of hybrid prompts in the
adapter's hash and the request holding prompt, candidates and item ids. Entries live in
one SQLite file, ``<BENCH_CACHE>/scores/scores.sqlite3`` (data only: nothing in it is
executed or unpickled); each row carries a checksum of its key and value and is recomputed
when the checksum, or the value's range, is wrong. ``BENCH_SCORE_CACHE=0`` (set by
``--no-cache`` and by ``bench check``) bypasses it, so CI still runs the scorer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench import config
from bench.files import canonical_json, refuse_links, sha256_bytes

if TYPE_CHECKING:
    from llm.models import ModelInfo

log = logging.getLogger(__name__)
SCORER_VERSION = 1  # raise when the scorer's arithmetic changes
_TABLES = {"scores": "score REAL", "answers": "answer TEXT"}  # P(Yes); next-item JSON


def enabled() -> bool:
    """False when ``BENCH_SCORE_CACHE=0`` (``--no-cache``, ``bench check``)."""
    return os.environ.get("BENCH_SCORE_CACHE", "1") != "0"


def tokenizer_sha256(tokenizer: Any) -> str:
    """sha256 of a tokenizer's vocabulary, special tokens and class."""
    vocabulary = sorted(tokenizer.get_vocab().items())
    special = sorted(map(str, tokenizer.all_special_tokens))
    return sha256_bytes(canonical_json([type(tokenizer).__name__, vocabulary, special]).encode())


@dataclass(frozen=True)
class ScoreIdentity:
    """Everything besides the prompt that decides a score."""

    model_sha256: str
    adapter_sha256: str | None
    tokenizer_sha256: str
    mode: str
    dtype: str
    device: str  # the kind: cpu or cuda

    def key(self) -> str:
        """The identity's part of every entry key."""
        return sha256_bytes(canonical_json([SCORER_VERSION, *vars(self).values()]).encode())


def cache_for(
    info: ModelInfo, tokenizer: Any, mode: str, adapter_sha256: str | None
) -> ScoreCache | None:
    """A cache for ``info``'s model with ``adapter_sha256`` (None: no adapter) in ``mode``.

    None when the cache is off, or the model has no single weights file to hash.
    """
    if not enabled() or info.source_sha256 is None:
        return None
    identity = ScoreIdentity(
        model_sha256=info.source_sha256,
        adapter_sha256=adapter_sha256,
        tokenizer_sha256=tokenizer_sha256(tokenizer),
        mode=mode,
        dtype=info.dtype,
        device=info.device.split(":")[0],
    )
    return ScoreCache(identity)


def _p_yes(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value) and 0 <= value <= 1


def _json_text(value: Any) -> bool:
    try:
        return isinstance(value, str) and json.loads(value) is not None
    except ValueError:
        return False


@dataclass
class ScoreCache:
    """Scores of one model identity; counts what it served and what it computed."""

    identity: ScoreIdentity
    hits: int = 0
    computed: int = 0

    def _entry_keys(self, prompts: Sequence[str]) -> list[str]:
        base = self.identity.key()
        return [sha256_bytes(f"{base}\0{prompt}".encode()) for prompt in prompts]

    @staticmethod
    def _checksum(key: str, value: float | str) -> str:
        return sha256_bytes(f"{key}\0{value!r}".encode())[:16]

    @staticmethod
    @contextlib.contextmanager
    def _connect() -> Iterator[sqlite3.Connection]:
        """One transaction on the cache file (concurrent processes wait for each other)."""
        path = config.cache_dir() / "scores" / "scores.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        refuse_links(config.cache_dir(), path)
        with contextlib.closing(sqlite3.connect(path, timeout=120)) as connection:
            with connection:
                for table, column in _TABLES.items():
                    connection.execute(
                        f"CREATE TABLE IF NOT EXISTS {table} "
                        f"(key TEXT PRIMARY KEY, {column}, checksum TEXT)"
                    )
                yield connection

    def scores(
        self, prompts: Sequence[str], compute: Callable[[list[str]], list[float]]
    ) -> list[float]:
        """Each prompt's P(Yes): from the cache when present and intact, else ``compute``d."""
        return self._served("scores", prompts, lambda todo: list(map(float, compute(todo))), _p_yes)

    def answers(self, requests: Sequence[str], compute: Callable[[list[str]], list[Any]]) -> list:
        """Each request's answer (any JSON value): from the cache when intact, else computed."""
        texts = self._served(
            "answers", requests, lambda todo: list(map(canonical_json, compute(todo))), _json_text
        )
        return [json.loads(text) for text in texts]

    def _served(
        self,
        table: str,
        requests: Sequence[str],
        compute: Callable[[list[str]], list[Any]],
        intact: Callable[[Any], bool],
    ) -> list[Any]:
        keys = self._entry_keys(requests)
        found: dict[str, Any] = {}
        with self._connect() as connection:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT * FROM {table} WHERE key IN ({marks})"
                for key, value, checksum in connection.execute(query, chunk).fetchall():
                    if intact(value) and checksum == self._checksum(key, value):
                        found[key] = value
                    else:
                        log.warning("score cache: entry %s… is damaged; recomputing it", key[:12])
        missing = [index for index, key in enumerate(keys) if key not in found]
        if missing:
            values = compute([requests[index] for index in missing])
            fresh = {keys[index]: value for index, value in zip(missing, values, strict=True)}
            with self._connect() as connection:
                connection.executemany(
                    f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)",
                    [(key, value, self._checksum(key, value)) for key, value in fresh.items()],
                )
            found |= fresh
        self.hits += len(keys) - len(missing)
        self.computed += len(missing)
        return [found[key] for key in keys]

    def notes(self) -> dict[str, int]:
        """What the record says: scores served by the cache and scores computed."""
        return {"from_cache": self.hits, "computed": self.computed}
