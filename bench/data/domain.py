"""A built domain: its samples by split and its item table, as the builders return them."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.data.schema import SPLITS, Item, Sample, Split


@dataclass(frozen=True)
class Domain:
    """All samples of one domain, by split, with the items they name.

    ``provenance``: facts about how this build was made that the card cannot state (such
    as which train pool it used), recorded in the manifest. ``pinned`` is False when the
    build read an optional file, so the card's ``outputs`` pins do not apply to it.
    """

    name: str
    splits: dict[Split, tuple[Sample, ...]]
    items: dict[str, Item]
    provenance: dict[str, str] = field(default_factory=dict)
    pinned: bool = True

    def __post_init__(self) -> None:
        missing = set(SPLITS) - set(self.splits)
        if missing:
            raise ValueError(f"domain {self.name} lacks splits {sorted(missing)}")
        ids = [sample.sample_id for split in SPLITS for sample in self.splits[split]]
        if len(ids) != len(set(ids)):
            raise ValueError(f"domain {self.name} has duplicate sample ids")

    def samples(self, split: Split) -> tuple[Sample, ...]:
        """The samples of ``split`` in their canonical order."""
        return self.splits[split]

    def by_id(self) -> dict[str, Sample]:
        """Every sample keyed by ``sample_id``."""
        return {sample.sample_id: sample for split in SPLITS for sample in self.splits[split]}
