"""Metrics on per-sample scores."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from bench.errors import BenchError


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve: P(score of a random like > score of a random dislike).

    Ties count one half (Mann-Whitney U with mid-ranks), as scikit-learn's roc_auc_score.
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise BenchError(f"AUC needs one score per label, got {s.shape} scores, {y.shape} labels")
    if not np.isfinite(s).all():
        raise BenchError("AUC got a NaN or infinite score: the runner diverged")
    n_pos = int((y == 1).sum())
    n_neg = int((y == 0).sum())
    if n_pos == 0 or n_neg == 0 or n_pos + n_neg != len(y):
        raise BenchError(f"AUC needs 0/1 labels of both kinds, got {n_pos} likes, {n_neg} dislikes")
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(labels: Sequence[int], scores: Sequence[float], eps: float = 1e-7) -> float:
    """Mean binary cross-entropy of probabilities ``scores`` (clipped to [eps, 1 - eps])."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(scores, dtype=np.float64), eps, 1 - eps)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def selection_score(labels: Sequence[int], probabilities: Sequence[float]) -> float:
    """Validation AUC; minus the log loss when the validation labels are all alike."""
    if len(set(labels)) == 2:
        return roc_auc(labels, probabilities)
    return -log_loss(labels, probabilities)
