"""Built domains in the cache: build once, verify on every load.

Layout: ``<BENCH_CACHE>/datasets/<domain>/{items,train,valid,test}.jsonl`` and
``manifest.json`` (sha256 of every file, the source checksums, counts, ``data_sha256``, the
optional sources present with their size and mtime, and the builder's ``provenance`` keys
such as book's ``pool``). A build is pinned by the card's ``outputs``, or, when it read an
optional file (``pinned_by: inputs``), by the card's checksums of every file it read.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bench import config
from bench.data.cards import Card, load_card
from bench.data.domain import Domain
from bench.data.schema import SPLITS, Item, Sample
from bench.data.sources import optional_stamps, resolve_files, resolve_optional
from bench.errors import DataError
from bench.files import atomic_directory, canonical_json, refuse_links, sha256_bytes
from bench.registry import DOMAINS, NEXT_ITEM_DOMAINS

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def domain_dir(domain: str) -> Path:
    """Cache folder of a built domain."""
    return config.cache_dir() / "datasets" / domain


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
    """JSON lines, one canonical (sorted-key) object per line."""
    return "".join(canonical_json(record) + "\n" for record in records).encode("utf-8")


def serialise(domain: Domain) -> dict[str, bytes]:
    """The cache files of ``domain``, name -> content."""
    files = {"items.jsonl": jsonl_bytes([item.to_json() for item in domain.items.values()])}
    for split in SPLITS:
        files[f"{split}.jsonl"] = jsonl_bytes(
            [sample.to_json() for sample in domain.samples(split)]
        )
    return files


def _counts(domain: Domain) -> dict[str, Any]:
    return {
        split: {
            "samples": len(domain.samples(split)),
            "likes": sum(sample.label for sample in domain.samples(split)),
        }
        for split in SPLITS
    } | {"items": len(domain.items)}


def _builder(name: str) -> Any:
    """The build function of a like/dislike or next-item domain."""
    if name in NEXT_ITEM_DOMAINS.names():
        return NEXT_ITEM_DOMAINS.load(name)
    return DOMAINS.load(name)


def data_sha256(file_hashes: dict[str, str]) -> str:
    """One hash for a whole built domain: sha256 of its sorted file hashes."""
    return sha256_bytes(canonical_json(file_hashes).encode("utf-8"))


def build_domain(name: str, force: bool = False) -> Path:
    """Build ``name`` into the cache (skipped when a verified build exists, unless ``force``)."""
    if name not in NEXT_ITEM_DOMAINS.names():
        DOMAINS.check(name)
    target = domain_dir(name)
    card = load_card(name)
    if not force and (target / MANIFEST).exists():
        try:
            _check_current(card, read_verified(name)[0])
            log.info("%s already built in %s", name, target)
            return target
        except DataError as error:
            log.warning("rebuilding %s: %s", name, error)
    inputs = [entry for entry in card.files if entry.role == "input"]
    resolved = resolve_files(inputs)
    stamps = optional_stamps(card.files)  # before hashing: a later change shows as a new stamp
    optional = resolve_optional(card.files)
    paths = {key: path for key, (path, _) in (resolved | optional).items()}
    domain = _builder(name)(card, paths)
    files = serialise(domain) if isinstance(domain, Domain) else domain.files()
    hashes = {file_name: sha256_bytes(content) for file_name, content in files.items()}
    pinned = not isinstance(domain, Domain) or domain.pinned
    for file_name, expected in card.outputs.items() if pinned else ():
        if hashes.get(file_name) != expected:
            raise DataError(
                f"built {name}/{file_name} has sha256 {hashes.get(file_name, 'none')[:12]}…, "
                f"datasets/{name}.yaml expects {expected[:12]}…: the builder or its inputs "
                "changed; nothing in the cache was replaced"
            )
    manifest = {
        "domain": name,
        "format_version": FORMAT_VERSION,
        "sources": {key: sha256 for key, (_, sha256) in resolved.items()},
        "files": hashes,
        "data_sha256": data_sha256(hashes),
        "counts": _counts(domain) if isinstance(domain, Domain) else domain.counts(),
        "pinned_by": "outputs" if pinned else "inputs",
        "optional": {
            key: {
                "sha256": sha256,
                "git_blob": card.file(key).git_blob,
                "size": stamps[key][0],
                "mtime_ns": stamps[key][1],
            }
            for key, (_, sha256) in optional.items()
        },
    }
    if isinstance(domain, Domain):
        assert not set(domain.provenance) & set(manifest), "provenance shadows a manifest key"
        manifest |= domain.provenance
    refuse_links(config.cache_dir(), target)
    with atomic_directory(target) as staging:
        for file_name, content in files.items():
            (staging / file_name).write_bytes(content)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log.info("built %s into %s", name, target)
    return target


def _check_current(card: Card, manifest: dict[str, Any]) -> None:
    """Refuse a build made before its card's pins changed or an optional file came or went.

    Optional files are compared by size and mtime only (no hashing on every load); a
    changed one is verified again by the rebuild.
    """
    fix = f"run `python -m bench data build --domain {card.name} --force`"
    if manifest.get("pinned_by", "outputs") == "outputs":
        stale = bool(card.outputs) and manifest["files"] != card.outputs
    else:
        sources = manifest.get("sources", {})
        stale = any(
            sources.get(entry.path) != entry.sha256
            for entry in card.files
            if entry.role == "input" and entry.sha256 is not None
        )
    if stale:
        raise DataError(f"the cached {card.name} build predates datasets/{card.name}.yaml: {fix}")
    listed = {entry.path: entry for entry in card.files if entry.role == "optional"}

    def stamp(key: str, value: dict[str, Any]) -> tuple[bool, int, int]:
        entry = listed.get(key)
        pins = (
            entry is not None
            and value["git_blob"] == entry.git_blob
            and entry.sha256 in (None, value["sha256"])
        )
        return pins, value["size"], value["mtime_ns"]

    try:
        recorded = {key: stamp(key, value) for key, value in manifest.get("optional", {}).items()}
    except (KeyError, TypeError, AttributeError) as error:
        raise DataError(f"the cached {card.name} manifest is damaged ({error!r}): {fix}") from None
    current = {key: (True, *stat) for key, stat in optional_stamps(card.files).items()}
    changed = sorted(
        k for k in recorded.keys() | current.keys() if recorded.get(k) != current.get(k)
    )
    if changed:
        raise DataError(
            f"optional file {', '.join(changed)} of {card.name} appeared, went or changed "
            f"since the cached build: {fix}"
        )


def read_verified(name: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest of a built domain and its files, each checked against the manifest."""
    folder = domain_dir(name)
    path = folder / MANIFEST
    fix = f"run `python -m bench data build --domain {name} --force`"
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
        hashes = manifest["files"]
        recorded = manifest["data_sha256"]
        if not all(isinstance(value, str) and "/" not in key for key, value in hashes.items()):
            raise TypeError("files must map file names to sha256 strings")
        if not isinstance(manifest.get("sources", {}), dict):
            raise TypeError("sources must map files to sha256 strings")
    except FileNotFoundError:
        raise DataError(f"{name} is not built ({path} missing): {fix}") from None
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as error:
        raise DataError(f"{path} is damaged ({error!r}): {fix}") from None
    if manifest.get("format_version") != FORMAT_VERSION or data_sha256(hashes) != recorded:
        raise DataError(f"{path} is stale or inconsistent: {fix}")
    contents = {}
    for file_name, expected in hashes.items():
        file_path = folder / file_name
        try:
            content = file_path.read_bytes()
        except OSError:  # missing, a folder, unreadable: rebuilt like a damaged file
            content = b""
        if sha256_bytes(content) != expected:
            raise DataError(f"cached {file_path} is missing or fails its checksum: {fix}")
        contents[file_name] = content
    return manifest, contents


def verified_build(name: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Manifest and files of a verified build; a missing, damaged or stale one is rebuilt."""
    try:
        manifest, contents = read_verified(name)
        _check_current(load_card(name), manifest)
    except DataError as error:
        if (domain_dir(name) / MANIFEST).exists():
            log.warning("rebuilding %s: %s", name, error)
        build_domain(name, force=True)
        manifest, contents = read_verified(name)
    return manifest, contents


def load_domain(name: str) -> tuple[Domain, str]:
    """The built domain and its ``data_sha256``; a missing, damaged or stale build is rebuilt."""
    DOMAINS.check(name)
    manifest, contents = verified_build(name)

    def records(file_name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in contents[file_name].decode("utf-8").splitlines()]

    items = {record["item_id"]: Item.from_json(record) for record in records("items.jsonl")}
    splits = {
        split: tuple(Sample.from_json(record) for record in records(f"{split}.jsonl"))
        for split in SPLITS
    }
    return Domain(name, splits, items), manifest["data_sha256"]
