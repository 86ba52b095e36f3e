"""RecBole's GRU4Rec, Caser and SASRec trained on the like/dislike label of the target.

RecBole's own losses (CE over all items, BPR) treat every target as a positive, so a
disliked target would be learned as a like. Each model here is the RecBole class with one
change: the loss is binary cross-entropy on the target's label, with the logit
``sequence representation . target item embedding`` (RecBole's own ``predict``).
Optional, in the same loss: the DROS term, and the history labels as input.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines.compat import import_sequential_models
from bench.errors import BenchError

_models = import_sequential_models()


class LabelAwareEmbedding(nn.Embedding):
    """An item embedding that adds a like/dislike embedding to history look-ups.

    RecBole's models look the history up as a 2-D (batch, length) tensor and targets as
    1-D, so the label embedding is added to 2-D look-ups only, from ``history_labels``
    set by the model just before its forward pass.
    """

    def __init__(self, base: nn.Embedding, n_label_tokens: int) -> None:
        super().__init__(base.num_embeddings, base.embedding_dim, padding_idx=base.padding_idx)
        self.weight = base.weight
        self.label_embedding = nn.Embedding(n_label_tokens, base.embedding_dim, padding_idx=0)
        nn.init.normal_(self.label_embedding.weight, std=base.weight.detach().std().item())
        self.history_labels: torch.Tensor | None = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Item embeddings, plus label embeddings for (batch, length) history look-ups."""
        embedded = super().forward(ids)
        if ids.dim() == 2 and self.history_labels is not None:
            embedded = embedded + self.label_embedding(self.history_labels)
        return embedded


class BinaryLabelMixin:
    """Loss and scoring on the target's label; put first in the bases of a RecBole model.

    Config keys (besides the RecBole model's own): ``LABEL_FIELD``; ``dros_alpha`` (0 turns
    DROS off), ``dros_beta``, ``dros_target`` ("positive": y is one-hot at the target, as
    in the DROS code and TALLRec's DROS baseline; "label": y at the target is its label);
    ``label_aware`` (feed the history's like/dislike labels).
    """

    item_embedding: nn.Embedding
    ITEM_ID: str
    ITEM_SEQ: str
    ITEM_SEQ_LEN: str

    def __init__(self, config: Any, dataset: Any) -> None:
        super().__init__(config, dataset)  # the RecBole model's own __init__
        self.label_field = config["LABEL_FIELD"]
        self.dros_alpha = float(config["dros_alpha"] if config["dros_alpha"] is not None else 0.0)
        self.dros_beta = float(config["dros_beta"] if config["dros_beta"] is not None else 1.0)
        self.dros_target = config["dros_target"] or "positive"
        if self.dros_target not in ("positive", "label"):
            raise BenchError(f"dros_target must be 'positive' or 'label', not {self.dros_target!r}")
        # DROS weights; set from the training targets by ``set_popularity``.
        self.register_buffer("propensity", torch.ones(dataset.item_num))
        self.label_aware = bool(config["label_aware"])
        if self.label_aware:
            self.item_embedding = LabelAwareEmbedding(
                self.item_embedding, dataset.num("history_label")
            )

    def set_popularity(self, target_counts: torch.Tensor, exponent: float) -> None:
        """DROS weights ``ps_j = ((n_j + 1) / sum(n + 1)) ** exponent`` from target counts."""
        smoothed = target_counts.double() + 1
        self.propensity = (smoothed / smoothed.sum()).pow(exponent).float()

    def sequence_output(self, interaction: Any) -> torch.Tensor:
        """The RecBole model's sequence representation, shape (batch, embedding)."""
        raise NotImplementedError

    def _sequence(self, interaction: Any) -> torch.Tensor:
        if self.label_aware:
            self.item_embedding.history_labels = interaction["history_label"]
        try:
            return self.sequence_output(interaction)
        finally:
            if self.label_aware:
                self.item_embedding.history_labels = None

    def predict(self, interaction: Any) -> torch.Tensor:
        """Logit of "like" for each row's target item."""
        sequence = self._sequence(interaction)
        return (sequence * self.item_embedding(interaction[self.ITEM_ID])).sum(dim=-1)

    def calculate_loss(self, interaction: Any) -> torch.Tensor:
        """BCE on the target label, plus ``dros_alpha`` x the DROS term when set."""
        sequence = self._sequence(interaction)
        target = interaction[self.ITEM_ID]
        labels = interaction[self.label_field].float()
        logits = (sequence * self.item_embedding(target)).sum(dim=-1)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        if self.dros_alpha:
            loss = loss + self.dros_alpha * self.dros_loss(sequence, target, labels).mean()
        return loss

    def dros_loss(
        self, sequence: torch.Tensor, target: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """``log sum_j exp(ps_j (s_j - y_j)^2 / beta)`` over the catalogue (no padding item)."""
        scores = sequence @ self.item_embedding.weight.T  # (batch, items)
        wanted = torch.zeros_like(scores)
        at_target = torch.ones_like(labels) if self.dros_target == "positive" else labels
        wanted.scatter_(1, target.unsqueeze(1), at_target.unsqueeze(1))
        inner = self.propensity * (scores - wanted).pow(2) / self.dros_beta
        return torch.logsumexp(inner[:, 1:], dim=1)


class GRU4RecBinary(BinaryLabelMixin, _models.GRU4Rec):
    """RecBole GRU4Rec with the binary label loss."""

    def sequence_output(self, interaction: Any) -> torch.Tensor:
        """GRU4Rec's last hidden state, projected to the embedding size."""
        return self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])


def gelu(x: torch.Tensor) -> torch.Tensor:
    """RecBole's GELU ``x * 0.5 * (1.0 + erf(x / sqrt(2)))``, in place when no gradient is needed.

    Scoring (validation every epoch, then the test split) runs the same operations in the
    same order, so the result is the same to the last bit, with two temporaries instead of
    four: on a batch of 1,000 histories its allocations cost more than its arithmetic.
    """
    if x.requires_grad:
        return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    erf = torch.erf_(x / math.sqrt(2.0)).add_(1.0)  # 1.0 + e == e + 1.0 in IEEE arithmetic
    return torch.mul(x, 0.5).mul_(erf)


class SASRecBinary(BinaryLabelMixin, _models.SASRec):
    """RecBole SASRec with the binary label loss."""

    def __init__(self, config: Any, dataset: Any) -> None:
        super().__init__(config, dataset)
        if config["hidden_act"] == "gelu":
            for layer in self.trm_encoder.layer:
                layer.feed_forward.intermediate_act_fn = gelu

    def sequence_output(self, interaction: Any) -> torch.Tensor:
        """SASRec's output at the last real position."""
        return self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])


class CaserBinary(BinaryLabelMixin, _models.Caser):
    """RecBole Caser with the binary label loss (its RegLoss term is not used)."""

    def sequence_output(self, interaction: Any) -> torch.Tensor:
        """Caser's convolutional sequence representation."""
        return self.forward(interaction[self.USER_ID], interaction[self.ITEM_SEQ])


MODEL_CLASSES = {"GRU4Rec": GRU4RecBinary, "SASRec": SASRecBinary, "Caser": CaserBinary}
