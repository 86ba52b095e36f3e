"""Dataset cards (``datasets/<domain>.yaml``): provenance, checksums and protocol facts.

The prose fields are for readers; the fields below are what the code relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.errors import DataError
from bench.files import shipped_folder

CARDS_DIR = shipped_folder("datasets", Path(__file__).resolve().parents[2] / "datasets")

_PROSE_KEYS = {"title", "summary", "licence", "protocol", "sizes", "deviations", "notes"}
_DATA_KEYS = {"name", "files", "outputs", "title_corrections", "split_seed", "valid_size"}
_FILE_KEYS = {"path", "sha256", "git_blob", "role", "package", "url"}
ROLES = ("input", "reference", "optional")


@dataclass(frozen=True)
class SourceFile:
    """A raw file a domain is built from (``input``) or checked against (``reference``).

    ``optional``: a file in ``BENCH_DATA_DIR`` used only when the user put it there; never
    downloaded, never required (``url`` then only says where to get it). ``path`` is
    relative to ``BENCH_DATA_DIR`` or, when ``package`` is set, to the installed
    distribution of that name (such as the ``recbole`` wheel). ``sha256`` is None only for
    user-supplied files whose checksum is not known to the project; ``git_blob`` is the
    file's ``git hash-object`` (how a file published in a git repository is pinned).
    """

    path: str
    sha256: str | None
    role: str = "input"
    package: str | None = None
    url: str | None = None
    git_blob: str | None = None


@dataclass(frozen=True)
class Card:
    """What the code reads from a dataset card."""

    name: str
    files: tuple[SourceFile, ...]
    outputs: dict[str, str] = field(default_factory=dict)
    title_corrections: dict[str, str] = field(default_factory=dict)
    split_seed: int | None = None
    valid_size: int | None = None
    prose: dict[str, Any] = field(default_factory=dict)

    def file(self, path: str) -> SourceFile:
        """The source entry for ``path``."""
        for entry in self.files:
            if entry.path == path:
                return entry
        raise KeyError(f"{path} is not listed in datasets/{self.name}.yaml")


def _is_hex(value: object, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and set(value) <= set("0123456789abcdef")


def _is_sha256(value: object) -> bool:
    return _is_hex(value, 64)


def _bad_file_entry(entry: dict[str, Any]) -> bool:
    digest, blob, role = entry.get("sha256"), entry.get("git_blob"), entry.get("role", "input")
    return (
        bool(set(entry) - _FILE_KEYS)
        or "path" not in entry
        or not (digest is None or _is_sha256(digest))
        or not (blob is None or _is_hex(blob, 40))
        or role not in ROLES
        or (role == "optional" and ("package" in entry or (digest is None and blob is None)))
    )


def card_path(domain: str) -> Path:
    """``datasets/<domain>.yaml``, or for a plugin domain its builder's ``card`` path."""
    shipped = CARDS_DIR / f"{domain}.yaml"
    if shipped.exists():
        return shipped
    from bench.registry import DOMAINS

    if domain in DOMAINS.names():
        card = getattr(DOMAINS.load(domain), "card", None)
        if card is not None:
            return Path(card)
    return shipped


def load_card(domain: str, cards_dir: Path | None = None) -> Card:
    """Parse and validate the card of ``domain`` (in ``cards_dir`` when given)."""
    path = cards_dir / f"{domain}.yaml" if cards_dir else card_path(domain)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"dataset card {path} is missing: restore it from git") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        reason = f"line {mark.line + 1}: {error.problem}" if mark else str(error).splitlines()[0]
        raise DataError(f"dataset card {path} is not valid YAML ({reason}): fix it") from None
    if not isinstance(raw, dict):
        raise DataError(f"dataset card {path} must be a mapping: restore it from git")
    unknown = set(raw) - _PROSE_KEYS - _DATA_KEYS
    if unknown:
        raise DataError(f"dataset card {path} has unknown keys {sorted(unknown)}: remove them")
    if raw.get("name") != domain:
        raise DataError(f"dataset card {path} names {raw.get('name')!r}, expected {domain!r}")
    files = []
    for entry in raw.get("files", []):
        if not isinstance(entry, dict) or _bad_file_entry(entry):
            raise DataError(
                f"dataset card {path}: bad file entry {entry!r}: needs path, sha256 "
                f"(optional files: sha256 or git_blob, no package), role one of {ROLES}"
            )
        files.append(SourceFile(**entry))
    for file_name, digest in (raw.get("outputs") or {}).items():
        if not _is_sha256(digest):
            raise DataError(f"dataset card {path}: outputs.{file_name} is not a sha256 hex string")
    return Card(
        name=domain,
        files=tuple(files),
        outputs=dict(raw.get("outputs") or {}),
        title_corrections={str(k): v for k, v in (raw.get("title_corrections") or {}).items()},
        split_seed=raw.get("split_seed"),
        valid_size=raw.get("valid_size"),
        prose={key: raw[key] for key in _PROSE_KEYS if key in raw},
    )
