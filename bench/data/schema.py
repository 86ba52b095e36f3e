"""The canonical records every runner reads: items, samples, splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Split = Literal["train", "valid", "test"]
SPLITS: tuple[Split, ...] = ("train", "valid", "test")


@dataclass(frozen=True, slots=True)
class Interaction:
    """One history entry: an item and whether the user liked it (1) or not (0)."""

    item_id: str
    label: int

    def __post_init__(self) -> None:
        if self.label not in (0, 1):
            raise ValueError(f"history label must be 0 or 1, got {self.label!r}")


@dataclass(frozen=True, slots=True)
class Item:
    """An entry of a domain's item table; ``author`` is set for books only."""

    item_id: str
    title: str
    author: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain dict for a JSONL line."""
        record: dict[str, Any] = {"item_id": self.item_id, "title": self.title}
        if self.author is not None:
            record["author"] = self.author
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Item:
        """Inverse of :meth:`to_json`."""
        return cls(record["item_id"], record["title"], record.get("author"))


@dataclass(frozen=True, slots=True)
class Sample:
    """One "will this user like the target item?" question with its answer.

    ``history`` is ordered oldest first where the source has an order (see the dataset
    card for domains where it has not); ``label`` is 1 when the user liked the target.
    """

    sample_id: str
    domain: str
    split: Split
    user_id: str
    history: tuple[Interaction, ...]
    target_item: str
    label: int

    def __post_init__(self) -> None:
        if self.label not in (0, 1):
            raise ValueError(f"{self.sample_id}: label must be 0 or 1, got {self.label!r}")
        if self.split not in SPLITS:
            raise ValueError(f"{self.sample_id}: split must be one of {SPLITS}, got {self.split!r}")
        if not isinstance(self.history, tuple):
            raise TypeError(f"{self.sample_id}: history must be a tuple")

    @property
    def liked_items(self) -> tuple[str, ...]:
        """History items the user liked, in history order."""
        return tuple(entry.item_id for entry in self.history if entry.label == 1)

    @property
    def disliked_items(self) -> tuple[str, ...]:
        """History items the user did not like, in history order."""
        return tuple(entry.item_id for entry in self.history if entry.label == 0)

    def to_json(self) -> dict[str, Any]:
        """Plain dict for a JSONL line; history as ``[[item_id, label], ...]``."""
        return {
            "sample_id": self.sample_id,
            "domain": self.domain,
            "split": self.split,
            "user_id": self.user_id,
            "history": [[entry.item_id, entry.label] for entry in self.history],
            "target_item": self.target_item,
            "label": self.label,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Sample:
        """Inverse of :meth:`to_json`."""
        return cls(
            sample_id=record["sample_id"],
            domain=record["domain"],
            split=record["split"],
            user_id=record["user_id"],
            history=tuple(Interaction(item, label) for item, label in record["history"]),
            target_item=record["target_item"],
            label=record["label"],
        )
