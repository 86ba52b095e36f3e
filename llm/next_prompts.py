r"""LLaRA's next-item prompts, text-only or hybrid, and their tokenisation with item slots.

Templates: LLaRA's three per domain (``prompt/artist.txt``, ``prompt/movie.txt``), with one
fix: their text says "10" candidates while 20 are shown; it says 20 here. A sample's template
is picked from its id (sha256), so every run and runner shows a sample the same prompt.

Hybrid prompts follow each title with :data:`PLACEHOLDER`; :func:`encode` turns each one
into a slot whose input embedding the LLaRA runner replaces with the projected item vector.
Text-only prompts show titles only (LLaRA's text-only prompts keep a learned ``[PH]`` token
after each title; here they carry no extra token). The answer is `` <title>\\n``; the
template's trailing space moves into the answer so titles tokenise as they do in text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError

PLACEHOLDER = "[ItemEmb]"
HISTORY = "[HistoryHere]"
CANDIDATES = "[CansHere]"
TERMINATOR = "\n"

TEMPLATES: dict[str, tuple[str, ...]] = {
    "lastfm": (
        "This user has listened to [HistoryHere] in the previous. Please predict the next "
        "music artist this user will listen to. The artist name candidates are [CansHere]. "
        "Choose only one artist from the candidates. The answer is",
        "This user has listened to [HistoryHere] in the previous. Given the following 20 "
        "music artist names, [CansHere], recommend one artist for this user to listen to "
        "next. The artist name you recommend is",
        "The listening history of this user is [HistoryHere]. Recommend the next music "
        "artist for this user to listen to from the following artist name set, [CansHere]. "
        "The recommendation should contain one artist's name only. The recommendation is",
    ),
    "movielens-next": (
        "This user has watched [HistoryHere] in the previous. Please predict the next movie "
        "this user will watch. Choose the answer from the following 20 movie titles: "
        "[CansHere]. Answer:",
        "This user has watched [HistoryHere] in the previous. Given the following 20 movie "
        "titles: [CansHere], recommend one movie for this user to watch next. The movie "
        "title you recommend is:",
        "The visit history of this user is: [HistoryHere]. Recommend a next movie for this "
        "user to watch from the following movie title set: [CansHere]. The recommendation "
        "should contain one movie title only. Recommendation:",
    ),
}


def template_for(domain: str, sample_id: str) -> str:
    """The template a sample is shown: fixed by its id."""
    if domain not in TEMPLATES:
        raise BenchError(f"no next-item prompt templates for domain {domain!r}")
    choices = TEMPLATES[domain]
    return choices[int(hashlib.sha256(sample_id.encode()).hexdigest(), 16) % len(choices)]


def render(template: str, history: Sequence[str], candidates: Sequence[str], hybrid: bool) -> str:
    """The prompt text; in hybrid mode each title is followed by the placeholder."""
    if HISTORY not in template or CANDIDATES not in template:
        raise BenchError(f"template lacks {HISTORY} or {CANDIDATES}: {template[:60]!r}…")

    def listing(titles: Sequence[str]) -> str:
        return ", ".join(f"{t} {PLACEHOLDER}" if hybrid else t for t in titles)

    return template.replace(HISTORY, listing(history)).replace(CANDIDATES, listing(candidates))


def answer_text(title: str) -> str:
    """What the model should write for ``title``."""
    return f" {title}{TERMINATOR}"


@dataclass(frozen=True)
class Encoded:
    """Token ids of a prompt and the positions of its item slots (in placeholder order)."""

    input_ids: tuple[int, ...]
    slots: tuple[int, ...]


def encode(tokenizer: Any, text: str, slot_id: int, expected_slots: int = 0) -> Encoded:
    """Tokenise ``text``, each placeholder becoming one slot token (``slot_id``).

    ``expected_slots``: the number of item vectors the caller will put into the slots; a
    prompt whose placeholder count differs is an error.
    """
    parts = text.split(PLACEHOLDER)
    if len(parts) - 1 != expected_slots:
        raise BenchError(
            f"prompt has {len(parts) - 1} {PLACEHOLDER} placeholders for {expected_slots} "
            "item vectors: a hybrid prompt needs one placeholder after every item title"
        )
    ids: list[int] = list(tokenizer(parts[0], add_special_tokens=True).input_ids)
    slots = []
    for part in parts[1:]:
        slots.append(len(ids))
        ids.append(slot_id)
        ids.extend(tokenizer(part, add_special_tokens=False).input_ids)
    return Encoded(tuple(ids), tuple(slots))
