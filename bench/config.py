"""Where the suite reads raw data and keeps its cache, from the environment.

- ``BENCH_DATA_DIR``: raw files that cannot be rebuilt (TALLRec's released JSONs, ...).
  Default: ``<BENCH_CACHE>/raw``, where downloads go.
- ``BENCH_CACHE``: built datasets and few-shot manifests. Default: ``$XDG_CACHE_HOME/tallrec-bench``
  (``~/.cache/tallrec-bench``).
- ``BENCH_OFFLINE=1``: never try to download a missing raw file.
- ``BENCH_MIRROR``: a base URL that replaces ``https://raw.githubusercontent.com`` for downloads.
- ``BENCH_THREADS``: torch threads of a run (default: every CPU; the Ray executor sets it).
"""

from __future__ import annotations

import os
from pathlib import Path

GITHUB_RAW = "https://raw.githubusercontent.com"


def cache_dir() -> Path:
    """Root of the cache (built datasets, manifests)."""
    if explicit := os.environ.get("BENCH_CACHE"):
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser().resolve() / "tallrec-bench"


def data_dir() -> Path:
    """Folder that holds the raw data files."""
    if explicit := os.environ.get("BENCH_DATA_DIR"):
        return Path(explicit).expanduser().resolve()
    return cache_dir() / "raw"


def threads() -> int:
    """Torch threads for a run: ``BENCH_THREADS``, else every CPU."""
    return int(os.environ.get("BENCH_THREADS", "0")) or os.cpu_count() or 1


def offline() -> bool:
    """True when downloads are disabled."""
    return os.environ.get("BENCH_OFFLINE", "").lower() in {"1", "true", "yes"}


def download_url(url: str) -> str:
    """``url`` with the GitHub raw host replaced by ``BENCH_MIRROR`` when set."""
    mirror = os.environ.get("BENCH_MIRROR")
    if mirror and url.startswith(GITHUB_RAW):
        return mirror.rstrip("/") + url[len(GITHUB_RAW) :]
    return url
