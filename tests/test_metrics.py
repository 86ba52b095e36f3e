"""AUC and log loss against hand-computed cases and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.errors import BenchError
from bench.metrics import log_loss, roc_auc


def test_auc_by_hand() -> None:
    # likes 0.9, 0.4; dislikes 0.1, 0.4: pairs 1 + 1 + 1 + 0.5 (tie) = 3.5 of 4
    assert roc_auc([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.4]) == 0.875
    assert roc_auc([1, 0], [0.2, 0.7]) == 0.0
    assert roc_auc([1, 1, 0], [0.5, 0.5, 0.5]) == 0.5


def test_auc_equals_scikit_learn() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500), 2)  # many ties
    assert roc_auc(labels, scores) == pytest.approx(sklearn_metrics.roc_auc_score(labels, scores))


def test_auc_refuses_what_it_cannot_rank() -> None:
    with pytest.raises(BenchError, match="both kinds"):
        roc_auc([1, 1], [0.1, 0.2])
    with pytest.raises(BenchError, match="NaN"):
        roc_auc([1, 0], [float("nan"), 0.2])
    with pytest.raises(BenchError, match="one score per label"):
        roc_auc([1, 0, 1], [0.1, 0.2])


def test_log_loss_by_hand() -> None:
    assert log_loss([1, 0], [0.8, 0.3]) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
