"""The shared few-shot splitter: every runner trains on the samples a manifest names.

The draw reproduces TALLRec's ``finetune_rec.py``: ``Dataset.shuffle(seed=seed)
.select(range(k))`` of the train file, which is the first k positions of
``numpy.random.default_rng(seed).permutation(n)`` (checked against the ``datasets``
library in tests/test_splits.py). A runner never samples by itself.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from bench import config
from bench.data.domain import Domain
from bench.data.schema import Sample
from bench.errors import DataError, UsageError
from bench.files import atomic_write_text, canonical_json, sha256_bytes

T = TypeVar("T")
VALIDATION_MODES = ("full", "k-shot")
SAMPLER = "numpy.random.default_rng(seed).permutation(n)[:k]"
PAPER_SHOTS = (16, 64, 256)
PAPER_SEEDS = (0, 1, 2, 3, 4)


def draw_indices(n: int, k: int, seed: int) -> list[int]:
    """Positions of the k samples drawn from a pool of n, as Hugging Face's shuffle does."""
    if not 0 < k <= n:
        raise UsageError(f"cannot draw {k} samples from a pool of {n}: choose 1 <= shots <= {n}")
    return np.random.default_rng(seed).permutation(n)[:k].tolist()


def fixed_subset(items: Sequence[T], size: int, seed: int) -> list[T]:
    """``size`` of ``items`` drawn with ``seed``, in their original order (all when fewer)."""
    if not size or size >= len(items):
        return list(items)
    keep = sorted(np.random.default_rng(seed).permutation(len(items))[:size].tolist())
    return [items[i] for i in keep]


def test_subset(domain: Any, limit: int) -> list[Any]:
    """The test samples a run scores: the fixed subset of ``limit`` (0: the whole split).

    A limit above the split's size is refused rather than labelled with a count that was
    not scored.
    """
    test = domain.samples("test")
    if limit > len(test):
        raise UsageError(
            f"test limit {limit} exceeds {domain.name}'s {len(test)} test samples: "
            f"use at most {len(test)}, or 0 for the whole split"
        )
    return fixed_subset(test, limit, seed=0)


@dataclass(frozen=True)
class FewShotManifest:
    """Which samples a run trains and validates on, tied to one exact build of the data."""

    domain: str
    n_shots: int
    seed: int
    validation: str
    train_ids: tuple[str, ...]
    valid_ids: tuple[str, ...]
    data_sha256: str
    sampler: str = SAMPLER

    def to_json(self) -> dict[str, Any]:
        """Plain dict, ids as lists."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return data | {"train_ids": list(self.train_ids), "valid_ids": list(self.valid_ids)}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> FewShotManifest:
        """Inverse of :meth:`to_json`."""
        return cls(
            **record
            | {"train_ids": tuple(record["train_ids"]), "valid_ids": tuple(record["valid_ids"])}
        )

    @functools.cached_property
    def sha256(self) -> str:
        """Content hash: part of every run key that uses this manifest (computed once)."""
        return sha256_bytes(canonical_json(self.to_json()).encode("utf-8"))

    def samples(self, domain: Domain) -> tuple[list[Sample], list[Sample]]:
        """The (train, valid) samples this manifest names, in manifest order."""
        if domain.name != self.domain:
            raise UsageError(f"manifest is for domain {self.domain!r}, not {domain.name!r}")
        by_id = domain.by_id()
        return [by_id[i] for i in self.train_ids], [by_id[i] for i in self.valid_ids]


def make_fewshot(
    domain: Domain, data_sha256: str, n_shots: int, seed: int, validation: str = "full"
) -> FewShotManifest:
    """Draw ``n_shots`` training samples from the train pool of ``domain``.

    ``validation="full"`` keeps the whole validation split (the paper's protocol);
    ``"k-shot"`` draws ``n_shots`` validation samples with the same seed.
    """
    if validation not in VALIDATION_MODES:
        raise UsageError(f"unknown validation mode {validation!r}: use one of {VALIDATION_MODES}")
    pool, valid = domain.samples("train"), domain.samples("valid")
    train_ids = [pool[i].sample_id for i in draw_indices(len(pool), n_shots, seed)]
    if validation == "k-shot":
        valid = [valid[i] for i in draw_indices(len(valid), n_shots, seed)]
    valid_ids = [sample.sample_id for sample in valid]
    held_out = set(valid_ids) | {sample.sample_id for sample in domain.samples("test")}
    if held_out & set(train_ids):
        raise AssertionError(f"{domain.name}: few-shot draw overlaps validation or test samples")
    return FewShotManifest(
        domain.name, n_shots, seed, validation, tuple(train_ids), tuple(valid_ids), data_sha256
    )


def manifest_path(domain: str, n_shots: int, seed: int, validation: str = "full") -> Path:
    """Default cache location of a manifest."""
    name = f"k{n_shots}-seed{seed}-valid-{validation}.json"
    return config.cache_dir() / "manifests" / domain / name


def write_manifest(manifest: FewShotManifest, path: Path) -> None:
    """Write ``manifest`` atomically as indented JSON."""
    atomic_write_text(path, json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n")


def read_manifest(path: Path, data_sha256: str | None = None) -> FewShotManifest:
    """Read a manifest; with ``data_sha256``, refuse one drawn from other data."""
    try:
        manifest = FewShotManifest.from_json(json.loads(path.read_bytes().decode("utf-8")))
    except FileNotFoundError:
        raise DataError(
            f"manifest {path} not found: create it with `python -m bench split`"
        ) from None
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as error:
        raise DataError(f"manifest {path} is damaged ({error}): recreate it with --force") from None
    if data_sha256 is not None and manifest.data_sha256 != data_sha256:
        raise DataError(
            f"manifest {path} was drawn from data {manifest.data_sha256[:12]}…, the built "
            f"{manifest.domain} data is {data_sha256[:12]}…: recreate it with `python -m bench "
            "split --force`"
        )
    return manifest
