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

Shared prefix: the tokens every prompt of a ``score`` call starts with (the template's
header and instruction, and in-context demonstrations) are run once; their key/value cache
is reused by every batch. Batches then hold ``[prefix][padding][prompt's own tokens]``, the
padding masked out and positions continuing from the prefix, so the numbers are those of
the full prompts (to float rounding).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any

import torch

from bench import config as bench_config
from bench.errors import BenchError
from llm.score_cache import ScoreCache

MODES = ("two-token", "tallrec-compat")
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


class YesNoScorer:
    """Scores prompts with a causal LM; see the module docstring."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        probe_prompt: str,
        mode: str = "two-token",
        batch_size: int = 8,
        reuse_prefix: bool = True,
    ) -> None:
        if mode not in MODES:
            raise BenchError(f"unknown scoring mode {mode!r}: use one of {MODES}")
        self.model, self.tokenizer, self.mode, self.batch_size = model, tokenizer, mode, batch_size
        self.reuse_prefix = reuse_prefix
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

    def compute(self, prompts: Sequence[str]) -> list[float]:
        """P(Yes) for each prompt, in order, from the model."""
        if not prompts:
            return []
        encoded = self.encode(prompts)
        shared = shared_prefix_length(encoded) if self.reuse_prefix else 0
        prefix_cache = None
        if shared >= MIN_SHARED_PREFIX:
            prefix_cache = self._prefix_cache(encoded[0][:shared])
        else:
            shared = 0
        suffixes = [ids[shared:] for ids in encoded]
        order = sorted(range(len(suffixes)), key=lambda i: len(suffixes[i]))
        scores: list[float] = [0.0] * len(suffixes)
        started = last = time.monotonic()
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            values = self._score_batch([suffixes[i] for i in batch], shared, prefix_cache)
            for index, value in zip(batch, values, strict=True):
                scores[index] = value
            done, now = start + len(batch), time.monotonic()
            if now - last >= PROGRESS_EVERY_S or (done == len(order) and now - started >= 1):
                rate = done / (now - started)
                log.info("scored %d/%d prompts (%.1f/s, %.0f s to go)",
                         done, len(order), rate, (len(order) - done) / rate)  # fmt: skip
                last = now
        return scores

    @torch.no_grad()
    def _prefix_cache(self, prefix: list[int]) -> Any:
        ids = torch.tensor([prefix], device=self.model.device)
        return self.model(input_ids=ids, use_cache=True, logits_to_keep=1).cache

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


def yes_probabilities(logits: torch.Tensor, yes_id: int, no_id: int, mode: str) -> list[float]:
    """P(Yes) from answer-position logits (batch, vocab) in the given scoring mode."""
    if mode == "two-token":
        return torch.softmax(logits[:, [yes_id, no_id]], dim=-1)[:, 0].tolist()
    probabilities = torch.softmax(logits, dim=-1)[:, [no_id, yes_id]]
    return torch.softmax(probabilities, dim=-1)[:, 1].tolist()


def torch_threads() -> int:
    """Threads for torch: ``BENCH_THREADS`` or every CPU; set once here for all LLM code."""
    threads = bench_config.threads()
    torch.set_num_threads(threads)
    return threads
