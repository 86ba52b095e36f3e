"""The epoch loop both RecBole protocols share: mini-batches of the model's own loss, early stop.

Each epoch shuffles the training interactions (a generator seeded once), takes Adam-style
steps on ``model.calculate_loss`` over batches, then asks ``validate(epoch)`` for a score
(higher is better); the best epoch's weights are kept in memory (never pickled) and
restored at the end; training stops after ``patience`` epochs without a better score or at
``max_epochs``. The like/dislike baselines validate by AUC, the next-item ones by MRR.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from bench.errors import BenchError

log = logging.getLogger(__name__)


class EpochSettings(Protocol):
    """What the loop reads from a runner's settings."""

    batch_size: int
    max_epochs: int
    patience: int


@dataclass(frozen=True)
class EarlyStopped:
    """How training ended: the restored epoch, its score, every epoch's score (rounded)."""

    best_epoch: int
    best_score: float
    history: list[float]


def train_with_early_stopping(
    model: Any,
    train: Any,
    optimizer: torch.optim.Optimizer,
    settings: EpochSettings,
    seed: int,
    validate: Callable[[int], float],
    diverged: Callable[[str, int], BenchError],
) -> EarlyStopped:
    """Train ``model`` on the interactions ``train``; see the module docstring."""
    batch_size = settings.batch_size
    generator = torch.Generator().manual_seed(seed)
    best_score, best_epoch, best_state, history = -np.inf, -1, None, []
    for epoch in range(settings.max_epochs):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), batch_size):
            loss = model.calculate_loss(train[order[start : start + batch_size]])
            if not torch.isfinite(loss):
                raise diverged(f"loss became {loss.item()}", epoch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        score = validate(epoch)
        history.append(round(score, 5))
        log.info("epoch %d: validation score %.5f", epoch, score, extra={"cell_only": True})
        if score > best_score:
            best_score, best_epoch = score, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= settings.patience:
            break
    model.load_state_dict(best_state)
    return EarlyStopped(best_epoch, best_score, history)
