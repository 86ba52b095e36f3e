"""Find the raw files named by a dataset card, download them when allowed, verify them.

Optional files (role ``optional``) are used only when present in ``BENCH_DATA_DIR``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from bench import config
from bench.data.cards import SourceFile
from bench.errors import DataError
from bench.files import atomic_write_bytes, git_blob_file, sha256_bytes, sha256_file

log = logging.getLogger(__name__)
DOWNLOAD_TIMEOUT_S = 30


def package_file(package: str, path: str) -> Path:
    """A file shipped inside an installed distribution, located without importing it."""
    try:
        distribution = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            f"package {package!r} is not installed but holds {path}: "
            f"run `pip install -e .` (it installs {package})"
        ) from None
    return Path(str(distribution.locate_file(path)))


def _download(entry: SourceFile, target: Path) -> bool:
    """Fetch ``entry`` into ``target``; False when it cannot be reached."""
    if entry.url is None or config.offline():
        return False
    url = config.download_url(entry.url)
    log.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as error:
        log.warning("could not download %s: %s", url, error)
        return False
    got = sha256_bytes(data)
    if entry.sha256 is not None and got != entry.sha256:
        raise DataError(
            f"download {url} has sha256 {got[:12]}…, expected {entry.sha256[:12]}…: "
            f"the source changed; nothing was written to {target}"
        )
    atomic_write_bytes(target, data)
    return True


def _verify(entry: SourceFile, path: Path) -> str:
    """The sha256 of ``path``, after checking it against the card's sha256 and git blob."""
    where = f"fetch it again from {entry.url}" if entry.url else "reinstall its package"
    if entry.git_blob is not None and (blob := git_blob_file(path)) != entry.git_blob:
        raise DataError(
            f"git blob mismatch for {path} (expected {entry.git_blob}, got {blob}, as "
            f"`git hash-object` prints it): the file is truncated or altered; delete it and {where}"
        )
    got = sha256_file(path)
    if entry.sha256 is None and entry.git_blob is None:
        log.warning("%s has no known checksum; using it unverified (sha256 %s)", path, got)
    elif entry.sha256 is not None and got != entry.sha256:
        raise DataError(
            f"checksum mismatch for {path} (expected {entry.sha256[:12]}…, got {got[:12]}…): "
            f"the file is truncated or altered; delete it and {where}"
        )
    return got


def optional_stamps(entries: Iterable[SourceFile]) -> dict[str, tuple[int, int]]:
    """``(size, mtime_ns)`` of each optional file present in the data folder (no hashing)."""
    stamps = {}
    for entry in entries:
        if entry.role == "optional":
            try:
                stat = (config.data_dir() / entry.path).stat()
            except FileNotFoundError:
                continue
            stamps[entry.path] = (stat.st_size, stat.st_mtime_ns)
    return stamps


def resolve_optional(entries: Iterable[SourceFile]) -> dict[str, tuple[Path, str]]:
    """Map each optional file present in the data folder to its path and sha256, verified.

    Absent ones are left out: they are never downloaded and never required.
    """
    resolved = {}
    for entry in entries:
        path = config.data_dir() / entry.path
        if entry.role == "optional" and path.exists():
            resolved[entry.path] = (path, _verify(entry, path))
    return resolved


def resolve_files(entries: Iterable[SourceFile]) -> dict[str, tuple[Path, str]]:
    """Map each entry's ``path`` to a verified local file and its sha256.

    Missing files in the data folder are downloaded when a URL is known and downloads
    are allowed; all files still missing are named in one error.
    """
    resolved: dict[str, tuple[Path, str]] = {}
    missing: list[SourceFile] = []
    for entry in entries:
        if entry.package is not None:
            path = package_file(entry.package, entry.path)
        else:
            path = config.data_dir() / entry.path
        if not path.exists() and (entry.package is not None or not _download(entry, path)):
            missing.append(entry)
            continue
        resolved[entry.path] = (path, _verify(entry, path))
    if missing:
        names = ", ".join(entry.path for entry in missing)
        urls = " ".join(entry.url for entry in missing if entry.url)
        raise DataError(
            f"missing data files {names} in {config.data_dir()}: "
            f"put them there (public copies: {urls or 'see the dataset card'}) "
            f"or set BENCH_DATA_DIR to a folder that holds them"
        )
    return resolved
