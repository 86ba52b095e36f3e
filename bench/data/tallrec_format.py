"""TALLRec's instruction records (``instruction``/``input``/``output``): render and parse.

The text layout follows TALLRec's ``preprocess_movie.py`` and the released book files
(whose target is wrapped in one more pair of quotes than its history items).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from bench.data.domain import Domain
from bench.data.schema import SPLITS, Item, Sample
from bench.errors import DataError
from bench.files import atomic_write_text

YES, NO = "Yes.", "No."
_PREFERENCE = "User Preference: "
_UNPREFERENCE = "\nUser Unpreference: "
_QUESTION = "\nWhether the user will like the target {noun} "
_BOOK_ITEM = re.compile(r'"(?P<title>.*?)" ?written by ?(?P<author>.*?)(?:, (?=")|\Z)', re.DOTALL)

NOUNS = {"movie": "movie", "book": "book", "book-bx": "book"}


def instruction(noun: str) -> str:
    """The instruction line for items called ``noun``."""
    return (
        "Given the user's preference and unpreference, identify whether the user will like "
        f'the target {noun} by answering "Yes." or "No.".'
    )


def item_text(item: Item) -> str:
    """How an item appears in a history list: ``"Title"`` or ``"Title" written by Author``."""
    if item.author is None:
        return f'"{item.title}"'
    return f'"{item.title}" written by {item.author}'


def target_text(item: Item) -> str:
    """How the target appears: books carry an extra pair of quotes in the released files."""
    return item_text(item) if item.author is None else f'"{item_text(item)}"'


def render_input(likes: Sequence[Item], dislikes: Sequence[Item], target: Item, noun: str) -> str:
    """The ``input`` field of one instruction record."""
    liked = ", ".join(item_text(item) for item in likes)
    disliked = ", ".join(item_text(item) for item in dislikes)
    question = _QUESTION.format(noun=noun)
    return f"{_PREFERENCE}{liked}{_UNPREFERENCE}{disliked}{question}{target_text(target)}?"


def to_record(sample: Sample, items: Mapping[str, Item]) -> dict[str, str]:
    """One TALLRec instruction record for ``sample``."""
    noun = NOUNS[sample.domain]
    likes = [items[item_id] for item_id in sample.liked_items]
    dislikes = [items[item_id] for item_id in sample.disliked_items]
    return {
        "instruction": instruction(noun),
        "input": render_input(likes, dislikes, items[sample.target_item], noun),
        "output": YES if sample.label == 1 else NO,
    }


def dumps(records: Iterable[dict[str, str]]) -> str:
    """Serialise records exactly as TALLRec's ``json.dump(records, f, indent=4)``."""
    return json.dumps(list(records), indent=4)


def parse_book_list(text: str, where: str) -> list[tuple[str, str]]:
    """Split ``"T1" written by A1, "T2" written by A2`` into (title, author) pairs."""
    if text == "":
        return []
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _BOOK_ITEM.match(text, position)
        if match is None:
            snippet = text[position : position + 60]
            raise DataError(f"{where}: cannot parse book list at {snippet!r}")
        pairs.append((match["title"], match["author"]))
        position = match.end()
    return pairs


def parse_book_input(text: str, where: str) -> tuple[list, list, tuple[str, str]]:
    """Parse a released book ``input`` into (likes, dislikes, target) as (title, author) pairs.

    Accepts the released target form ``""T" written by A"`` and the one TALLRec's script
    writes (``"T"written byA``); ``where`` names the record in errors.
    """
    question = _QUESTION.format(noun="book")
    if not text.startswith(_PREFERENCE) or not text.endswith("?"):
        raise DataError(f"{where}: not a TALLRec book prompt: {text[:60]!r}")
    body = text[len(_PREFERENCE) : -1]
    liked, sep1, rest = body.partition(_UNPREFERENCE)
    disliked, sep2, target = rest.partition(question)
    if not sep1 or not sep2 or _UNPREFERENCE in rest or question in target:
        raise DataError(f"{where}: prompt sections missing or repeated: {text[:60]!r}")
    if target.startswith('""') and target.endswith('"'):
        target = target[1:-1]
    target_pairs = parse_book_list(target, where)
    if len(target_pairs) != 1:
        raise DataError(f"{where}: target must name one book, found {len(target_pairs)}")
    return parse_book_list(liked, where), parse_book_list(disliked, where), target_pairs[0]


def write_tallrec_files(domain: Domain, out_dir: Path) -> list[Path]:
    """Write ``out_dir/<domain>/{train,valid,test}.json`` in TALLRec's format, atomically."""
    written = []
    for split in SPLITS:
        records = [to_record(sample, domain.items) for sample in domain.samples(split)]
        path = out_dir / domain.name / f"{split}.json"
        atomic_write_text(path, dumps(records))
        written.append(path)
    return written
