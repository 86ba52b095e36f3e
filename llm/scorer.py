"""P(Yes) for TALLRec prompts: one forward pass per prompt, only the answer position's logits.

Modes:
- ``two-token`` (default): softmax over the logits of the "Yes" and "No" answer tokens.
- ``tallrec-compat``: TALLRec's computation (softmax over the whole vocabulary, then a
  softmax over the two resulting probabilities), to match its published numbers.

The answer tokens are found from the tokenizer: the first token that ``prompt + "Yes."``
adds to ``prompt`` (so a tokenizer where a leading space or newline changes the token is
handled); LLaMA's 8241/3782 are one case of this. Prompts are run in length-sorted batches,
left-padded, with matching attention masks and position ids, so a score does not depend on
the batch size or on the order of the prompts.

Shared prefixes (``prefixes="one"``, the default): the tokens every prompt of a ``score``
call starts with (the template's header and instruction, in-context demonstrations) are run
once and their key/value cache reused by every batch. With ``prefixes="tree"`` the prompts
of a ``score`` call form a trie of token prefixes: the prefix shared by every prompt and,
below it, one shared by a group of prompts (a
user's history, which all of that user's test prompts repeat) is run once when it is at
least :data:`MIN_SHARED_PREFIX` tokens longer than its parent; its key/value cache is
reused by every batch below it. Batches then hold ``[prefix][padding][prompt's own
tokens]``, the padding masked out and positions continuing from the prefix, so the numbers
are those of the full prompts (to float rounding). ``"none"`` runs every prompt whole.
The trie runs 14% fewer tokens on movie's 200 quick prompts but in smaller batches (a
group's own), which on 2 CPU cores made it 4% slower than one shared prefix
(``reports/scorer-benchmark.json``); so it is not the default.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from bench import config as bench_config
from bench.errors import BenchError
from llm.score_cache import ScoreCache

MODES = ("two-token", "tallrec-compat")
PREFIXES = ("tree", "one", "none")
MIN_SHARED_PREFIX = 8  # tokens; below this the cache costs more than it saves
PROGRESS_EVERY_S = 10.0  # a progress line at most this often while scoring
log = logging.getLogger(__name__)


def answer_token_ids(
    tokenizer: Any, prompt: str, answers: tuple[str, str] = ("Yes.", "No.")
) -> tuple[int, int]:
    """Token ids of the first token of each answer right after ``prompt``."""
    base = tokenizer(prompt, add_special_tokens=True).input_ids
    ids = []
    for answer in answers:
        full = tokenizer(prompt + answer, add_special_tokens=True).input_ids
        if full[: len(base)] != base or len(full) == len(base):
            raise BenchError(
                f"tokenizer merges the answer {answer!r} into the prompt: cannot find its "
                "first token; use a template that ends with a newline"
            )
        ids.append(full[len(base)])
    if ids[0] == ids[1]:
        raise BenchError(
            f"tokenizer gives {answers} the same first token {ids[0]}: cannot tell the answers "
            "apart; use a model whose tokenizer splits them"
        )
    return ids[0], ids[1]


def shared_prefix_length(encoded: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix common to all ``encoded`` (each keeps >= 1 token)."""
    first = encoded[0]
    length = min(len(ids) for ids in encoded) - 1
    for ids in encoded[1:]:
        for position in range(length):
            if ids[position] != first[position]:
                length = position
                break
    return max(length, 0)


@dataclass
class PrefixNode:
    """Prompts that share ``encoded[:depth]``: groups sharing more below, the rest scored here."""

    depth: int  # tokens every prompt below shares (the length of this node's cache)
    children: list[PrefixNode] = field(default_factory=list)
    leaves: list[int] = field(default_factory=list)  # prompts scored against this node's cache

    def prompts(self) -> Iterator[int]:
        """Every prompt at or below this node."""
        yield from self.leaves
        for child in self.children:
            yield from child.prompts()

    def tokens_run(self, encoded: Sequence[Sequence[int]], parent: int = 0) -> int:
        """Tokens the model runs for this subtree: each shared prefix once, each own part."""
        own = sum(len(encoded[i]) - self.depth for i in self.leaves)
        below = sum(child.tokens_run(encoded, self.depth) for child in self.children)
        return self.depth - parent + own + below


def prefix_tree(
    encoded: Sequence[Sequence[int]],
    members: Sequence[int] | None = None,
    depth: int = 0,
    min_shared: int = MIN_SHARED_PREFIX,
) -> PrefixNode:
    """The trie of ``encoded[members]`` (all sharing ``encoded[:depth]``), compressed.

    A node wherever a group of prompts shares at least ``min_shared`` tokens more than its
    parent; every prompt keeps at least one own token.
    """
    node = PrefixNode(depth)
    groups = [list(range(len(encoded)) if members is None else members)]
    while groups:
        group = groups.pop()
        if len(group) < 2:
            node.leaves += group
            continue
        shared = shared_prefix_length([encoded[i] for i in group])
        if shared - depth >= min_shared:
            node.children.append(prefix_tree(encoded, group, shared, min_shared))
            continue
        by_next: dict[int, list[int]] = defaultdict(list)  # split where the group diverges
        for i in group:
            if len(encoded[i]) > shared + 1:
                by_next[encoded[i][shared]].append(i)
            else:  # its next token is its last (own) one
                node.leaves.append(i)
        groups += by_next.values()
    node.leaves.sort()
    return node


class YesNoScorer:
    """Scores prompts with a causal LM; see the module docstring."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        probe_prompt: str,
        mode: str = "two-token",
        batch_size: int = 8,
        prefixes: str = "one",
    ) -> None:
        if mode not in MODES:
            raise BenchError(f"unknown scoring mode {mode!r}: use one of {MODES}")
        if prefixes not in PREFIXES:
            raise BenchError(f"unknown prefix sharing {prefixes!r}: use one of {PREFIXES}")
        self.model, self.tokenizer, self.mode, self.batch_size = model, tokenizer, mode, batch_size
        self.prefixes = prefixes
        self.cache: ScoreCache | None = None  # set by a runner once its weights are final
        self.yes_id, self.no_id = answer_token_ids(tokenizer, probe_prompt)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else tokenizer.eos_token_id
        self.max_length = getattr(model.config, "max_position_embeddings", None)

    def encode(self, prompts: Sequence[str]) -> list[list[int]]:
        """Token ids of each prompt; a prompt that does not fit the context is an error."""
        encoded = [self.tokenizer(p, add_special_tokens=True).input_ids for p in prompts]
        for index, ids in enumerate(encoded):
            if self.max_length and len(ids) >= self.max_length:
                raise BenchError(
                    f"prompt {index} has {len(ids)} tokens, the model's context is "
                    f"{self.max_length}: shorten the history or use a longer-context model"
                )
        return encoded

    def score(self, prompts: Sequence[str]) -> list[float]:
        """P(Yes) for each prompt, in order (through ``self.cache`` when one is set)."""
        if self.cache is not None:
            return self.cache.scores(prompts, self.compute)
        return self.compute(prompts)

    def plan(self, encoded: Sequence[Sequence[int]]) -> PrefixNode:
        """Which prefixes are run once (see the module docstring)."""
        if self.prefixes == "tree":
            return prefix_tree(encoded)
        root = PrefixNode(0, leaves=list(range(len(encoded))))
        shared = shared_prefix_length(encoded) if self.prefixes == "one" else 0
        if shared >= MIN_SHARED_PREFIX:
            root = PrefixNode(0, children=[PrefixNode(shared, leaves=root.leaves)])
        return root

    def compute(self, prompts: Sequence[str]) -> list[float]:
        """P(Yes) for each prompt, in order, from the model."""
        if not prompts:
            return []
        encoded = self.encode(prompts)
        scores: list[float] = [0.0] * len(encoded)
        progress = _Progress(len(encoded))
        self._run(self.plan(encoded), None, encoded, scores, progress)
        return scores

    def _run(
        self,
        node: PrefixNode,
        cache: Any,
        encoded: Sequence[Sequence[int]],
        scores: list[float],
        progress: _Progress,
    ) -> None:
        """Score the prompts below ``node`` against ``cache`` (``node.depth`` tokens)."""
        for child in node.children:
            first = next(child.prompts())
            child_cache = self._extend(cache, encoded[first][node.depth : child.depth], node.depth)
            self._run(child, child_cache, encoded, scores, progress)
        suffixes = {i: encoded[i][node.depth :] for i in node.leaves}
        order = sorted(node.leaves, key=lambda i: len(suffixes[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            values = self._score_batch([suffixes[i] for i in batch], node.depth, cache)
            for index, value in zip(batch, values, strict=True):
                scores[index] = value
            progress.advance(len(batch))

    @torch.no_grad()
    def _extend(self, cache: Any, tokens: Sequence[int], depth: int) -> Any:
        """The key/value cache of ``depth`` tokens (``cache``) followed by ``tokens``."""
        ids = torch.tensor([list(tokens)], device=self.model.device)
        extra = {"cache": copy.deepcopy(cache)} if cache is not None else {}
        positions = torch.arange(depth, depth + len(tokens), device=self.model.device)[None]
        output = self.model(
            input_ids=ids, position_ids=positions, use_cache=True, logits_to_keep=1, **extra
        )
        return output.cache

    @torch.no_grad()
    def _score_batch(self, batch: list[list[int]], shared: int, prefix_cache: Any) -> list[float]:
        width = max(len(ids) for ids in batch)
        device = self.model.device
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), shared + width), dtype=torch.long)
        attention[:, :shared] = 1
        for row, ids in enumerate(batch):  # left padding: the answer position is the last one
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, shared + width - len(ids) :] = 1
        positions = (attention.cumsum(dim=1) - 1).clamp(min=0)[:, shared:]
        extra = {}
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(batch))
            extra = {"cache": cache, "use_cache": True}
        logits = (
            self.model(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                position_ids=positions.to(device),
                logits_to_keep=1,
                **extra,
            )
            .logits[:, -1, :]
            .float()
        )  # (batch, vocab)
        return yes_probabilities(logits, self.yes_id, self.no_id, self.mode)


class _Progress:
    """A log line at most every :data:`PROGRESS_EVERY_S` while prompts are scored."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.started = self.last = time.monotonic()

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S or (
            self.done == self.total and now - self.started >= 1
        ):
            rate = self.done / (now - self.started)
            log.info("scored %d/%d prompts (%.1f/s, %.0f s to go)",
                     self.done, self.total, rate, (self.total - self.done) / rate)  # fmt: skip
            self.last = now


def yes_probabilities(logits: torch.Tensor, yes_id: int, no_id: int, mode: str) -> list[float]:
    """P(Yes) from answer-position logits (batch, vocab) in the given scoring mode."""
    if mode == "two-token":
        return torch.softmax(logits[:, [yes_id, no_id]], dim=-1)[:, 0].tolist()
    probabilities = torch.softmax(logits, dim=-1)[:, [no_id, yes_id]]
    return torch.softmax(probabilities, dim=-1)[:, 1].tolist()


def torch_threads(default: int = 1) -> int:
    """Threads for torch, set once here for all LLM code: ``BENCH_THREADS`` or ``default``.

    ``default``: 1 in a cell (``bench.config.threads``); benchmarks pass every CPU.
    """
    threads = bench_config.threads(default)
    torch.set_num_threads(threads)
    return threads
