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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from bench.errors import BenchError

MODES = ("two-token", "tallrec-compat")


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
        raise BenchError(f"tokenizer gives {answers} the same first token {ids[0]}: cannot score")
    return ids[0], ids[1]


class YesNoScorer:
    """Scores prompts with a causal LM; see the module docstring."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        probe_prompt: str,
        mode: str = "two-token",
        batch_size: int = 8,
    ) -> None:
        if mode not in MODES:
            raise BenchError(f"unknown scoring mode {mode!r}: use one of {MODES}")
        self.model, self.tokenizer, self.mode, self.batch_size = model, tokenizer, mode, batch_size
        self.yes_id, self.no_id = answer_token_ids(tokenizer, probe_prompt)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else tokenizer.eos_token_id
        self.max_length = getattr(model.config, "max_position_embeddings", None)

    def score(self, prompts: Sequence[str]) -> list[float]:
        """P(Yes) for each prompt, in order."""
        encoded = [self.tokenizer(p, add_special_tokens=True).input_ids for p in prompts]
        for index, ids in enumerate(encoded):
            if self.max_length and len(ids) >= self.max_length:
                raise BenchError(
                    f"prompt {index} has {len(ids)} tokens, the model's context is "
                    f"{self.max_length}: shorten the history or use a longer-context model"
                )
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        scores: list[float] = [0.0] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            for index, value in zip(
                batch, self._score_batch([encoded[i] for i in batch]), strict=True
            ):
                scores[index] = value
        return scores

    @torch.no_grad()
    def _score_batch(self, batch: list[list[int]]) -> list[float]:
        width = max(len(ids) for ids in batch)
        device = self.model.device
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):  # left padding: the answer position is the last one
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
        logits = (
            self.model(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                position_ids=positions.to(device),
                logits_to_keep=1,
            )
            .logits[:, -1, :]
            .float()
        )  # (batch, vocab)
        if self.mode == "two-token":
            pair = logits[:, [self.yes_id, self.no_id]]
            return torch.softmax(pair, dim=-1)[:, 0].tolist()
        probabilities = torch.softmax(logits, dim=-1)[:, [self.no_id, self.yes_id]]
        return torch.softmax(probabilities, dim=-1)[:, 1].tolist()
