"""Hashing and crash-safe writes: a file is either the old one or the complete new one."""

from __future__ import annotations

import contextvars
import hashlib
import importlib.resources
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.errors import BenchError


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_bytes(data: bytes) -> str:
    """``git hash-object`` of ``data``: hex sha1 of ``"blob <size>" + NUL + data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def git_blob_file(path: Path) -> str:
    """``git hash-object`` of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_folder(name: str, checkout: Path) -> Path:
    """A data folder of the package: ``bench/<name>`` in an installed wheel, else ``checkout``.

    The dataset cards and CI references live at the top of a checkout (``datasets/``,
    ``reports/reference/``) and are packed into the wheel under ``bench/`` (pyproject).
    """
    inside = Path(str(importlib.resources.files("bench"))) / name
    return inside if inside.is_dir() else checkout


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the form that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from others
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def open_unlinked(path: Path, flags: int) -> int:
    """``os.open`` that refuses a symbolic link (a planted one would write elsewhere)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o666)
    except OSError as error:
        if path.is_symlink():
            raise BenchError(f"{path} is a symbolic link: remove it and rerun") from None
        raise BenchError(f"cannot open {path} ({error.strerror}): fix its folder") from None


@contextmanager
def exclusive(lock_path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold ``lock_path``'s ``flock`` (yield True); without ``wait``, False if it is held.

    A cell's lock, and a shared cache entry that one process builds while the others
    (``--jobs`` workers, other runs) wait, then read it. The kernel releases it when the
    holder dies, even by SIGKILL.
    """
    import fcntl

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_unlinked(lock_path, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


class Busy(Exception):  # noqa: N818 (a state, not an error: the grid comes back to the cell)
    """Another process is making a shared cache entry that this cell needs; it comes later."""

    def __init__(self, lock_path: Path) -> None:
        super().__init__(f"{lock_path.with_suffix('')} is being made by another process")


_patient = contextvars.ContextVar("patient", default=True)


@contextmanager
def impatient() -> Iterator[None]:
    """Within it, :func:`shared_entry` raises :class:`Busy` instead of waiting.

    A grid runs each cell's first attempt so: a worker whose cell needs an item table that
    another worker is encoding (or a model it is converting) runs other cells meanwhile
    and comes back to it, instead of leaving its core idle.
    """
    token = _patient.set(False)
    try:
        yield
    finally:
        _patient.reset(token)


@contextmanager
def shared_entry(lock_path: Path) -> Iterator[None]:
    """Hold a shared cache entry's lock while checking or making the entry.

    One process makes it while the others wait and then read it, or raise :class:`Busy`
    within :func:`impatient`.
    """
    with exclusive(lock_path, wait=_patient.get()) as held:
        if not held:
            raise Busy(lock_path)
        yield


def refuse_links(root: Path, path: Path) -> None:
    """Refuse ``path`` when a folder or file below ``root`` on the way to it is a link.

    ``root`` (a results folder or the cache, as the user named it) may itself be or contain
    links; what the suite makes under it is never one, so a planted link is refused instead
    of being written through.
    """
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise BenchError(f"{path} is outside {root}: refusing to write there") from None
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise BenchError(f"{current} is a symbolic link: remove it and rerun")


def append_line(path: Path, line: str) -> None:
    """Append one line to ``path`` under an exclusive lock, in one write; never via a link.

    Concurrent writers (several ``bench run`` on one folder) each add their line whole.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = open_unlinked(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.write(descriptor, (line.rstrip("\n") + "\n").encode("utf-8"))
        os.fsync(descriptor)
    except OSError as error:  # name the file (os.write's error does not)
        raise OSError(error.errno, error.strerror, str(path)) from None
    finally:
        os.close(descriptor)  # releases the lock


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``final`` only if the block succeeds.

    On success the old ``final`` (if any) is swapped out and removed; on any error the
    temporary directory is removed and ``final`` is untouched.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    staging.chmod(0o777 & ~_umask())
    try:
        yield staging
        for child in staging.iterdir():
            with open(child, "rb") as stream:
                os.fsync(stream.fileno())
        retired = None
        if final.exists():
            retired = Path(
                tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent)
            )
            os.replace(final, retired / final.name)
        os.replace(staging, final)
        _fsync_dir(final.parent)
        if retired is not None:
            shutil.rmtree(retired)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
