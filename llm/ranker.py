r"""Next-item answers from a causal LM: candidate log-likelihoods (``rank``) and greedy text.

``rank``: the prompt runs once; its key/value cache is copied to the 20 candidates, whose
answers `` <title>\\n`` run together in one right-padded batch, positions continuing after
the prompt. A candidate's score is the summed log-probability of its answer tokens, so it
does not depend on the other candidates or their order (20 candidates cost one prompt
forward plus one batch of short answers, not 20 full forwards).

``generate``: greedy decoding from the prompt's cache until a newline, EOS or
``max_new_tokens`` (LLaRA's protocol: the first line of the answer is matched).

Prompts may carry item slots (hybrid prompts): their input embeddings are replaced by the
given vectors before the forward pass (:func:`embed_with_slots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from llm.next_prompts import Encoded


def embed_with_slots(
    model: Any,
    input_ids: torch.Tensor,
    slots: Sequence[Sequence[int]] = (),
    vectors: Sequence[torch.Tensor] = (),
) -> torch.Tensor:
    """Input embeddings of ``input_ids`` (batch, length), row r's ``slots`` set to its vectors.

    Differentiable in the vectors (the projector trains through it).
    """
    embeddings = model.get_input_embeddings()(input_ids)
    if not any(len(s) for s in slots):
        return embeddings
    rows = torch.cat([torch.full((len(s),), r, dtype=torch.long) for r, s in enumerate(slots)])
    columns = torch.cat([torch.tensor(list(s), dtype=torch.long) for s in slots])
    values = torch.cat(list(vectors)).to(embeddings.dtype)
    mask = torch.zeros(embeddings.shape[:2], dtype=torch.bool, device=embeddings.device)
    mask[rows, columns] = True
    replaced = torch.zeros_like(embeddings)
    replaced = replaced.index_put((rows.to(mask.device), columns.to(mask.device)), values)
    return torch.where(mask.unsqueeze(-1), replaced, embeddings)


class CandidateRanker:
    """Scores candidate answers and generates answers for (possibly hybrid) prompts."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else tokenizer.eos_token_id

    def answer_ids(self, answers: Sequence[str]) -> list[list[int]]:
        """Token ids of each answer as it follows a prompt."""
        return [self.tokenizer(a, add_special_tokens=False).input_ids for a in answers]

    @torch.no_grad()
    def _prompt(self, encoded: Encoded, vectors: torch.Tensor | None) -> tuple[Any, torch.Tensor]:
        device = self.model.device
        ids = torch.tensor([encoded.input_ids], device=device)
        slot_vectors = [vectors.to(device)] if vectors is not None else []
        embeddings = embed_with_slots(self.model, ids, [encoded.slots], slot_vectors)
        out = self.model(inputs_embeds=embeddings, use_cache=True, logits_to_keep=1)
        return out.cache, out.logits[0, -1].float()

    @torch.no_grad()
    def rank(
        self, encoded: Encoded, answers: Sequence[str], vectors: torch.Tensor | None = None
    ) -> list[float]:
        """Summed log-probability of each answer after the prompt."""
        cache, last_logits = self._prompt(encoded, vectors)
        first = torch.log_softmax(last_logits, dim=-1)
        tokens = self.answer_ids(answers)
        width = max(len(t) for t in tokens)
        length = len(encoded.input_ids)
        ids = torch.full((len(tokens), width), self.pad_id, dtype=torch.long)
        mask = torch.ones((len(tokens), length + width), dtype=torch.long)
        for row, answer in enumerate(tokens):  # right padding: answers start right after
            ids[row, : len(answer)] = torch.tensor(answer)
            mask[row, length + len(answer) :] = 0
        positions = torch.arange(length, length + width).expand(len(tokens), -1)
        cache.batch_repeat_interleave(len(tokens))
        device = self.model.device
        logits = self.model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            cache=cache,
            use_cache=True,
        ).logits.float()
        following = torch.log_softmax(logits, dim=-1)  # row r, position j predicts token j+1
        scores = []
        for row, answer in enumerate(tokens):
            total = first[answer[0]]
            if len(answer) > 1:
                picked = following[row, torch.arange(len(answer) - 1), torch.tensor(answer[1:])]
                total = total + picked.sum()
            scores.append(float(total))
        return scores

    @torch.no_grad()
    def generate(
        self, encoded: Encoded, vectors: torch.Tensor | None = None, max_new_tokens: int = 32
    ) -> str:
        """Greedy answer text, up to the first newline."""
        cache, logits = self._prompt(encoded, vectors)
        device = self.model.device
        position = len(encoded.input_ids)
        produced: list[int] = []
        for _ in range(max_new_tokens):
            token = int(logits.argmax())
            if token == self.tokenizer.eos_token_id:
                break
            produced.append(token)
            if "\n" in self.tokenizer.decode(produced):
                break
            out = self.model(
                input_ids=torch.tensor([[token]], device=device),
                position_ids=torch.tensor([[position]], device=device),
                cache=cache,
                use_cache=True,
            )
            cache, logits, position = out.cache, out.logits[0, -1].float(), position + 1
        return self.tokenizer.decode(produced)
