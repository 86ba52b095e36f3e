"""Paired AUC statistics that resample the test set's independent units.

A like/dislike test split is a set of samples grouped by user. On book every user has one
test sample, so samples are the independent units; on movie 1,000 overlapping windows come
from 16 users, so the users are (resampling windows as if independent overstates
significance about tenfold). Every function here takes each sample's unit and reports
which unit it used.

Two methods, both paired (the two runners scored the same samples):

- a cluster bootstrap: units are drawn with replacement, a drawn unit brings all its samples;
  percentile intervals, and a two-sided p-value from the resampled differences on the far
  side of 0, ``2 (1 + count) / (1 + resamples)`` (the interval-inversion convention, with
  the Monte Carlo +1 so that it is never 0; its own Monte Carlo error is about 0.005 at
  p = 0.05 with 2,000 resamples);
- DeLong's test for two correlated AUCs, with the structural components of Sun & Xu (2014)
  computed from mid-ranks in O(n log n); with units that repeat, the components are summed
  per unit (Obuchowski 1997, clustered ROC data) and the p-value is read from Student's t
  with (units - 1) degrees of freedom, because with 16 units the normal approximation is
  rough.

With several seeds, a run's AUC is the mean over the seeds both runners have; both methods
then describe the test set's sampling variance of that mean (the seed spread is reported
separately, beside the table).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats
from scipy.stats import rankdata

RESAMPLES = 2000
ALPHA = 0.05


@dataclass(frozen=True)
class Units:
    """Each test sample's independent unit, as integer codes, and what the unit is."""

    codes: np.ndarray  # (samples,) int: the unit of each sample, 0..count-1
    kind: str  # "user" or "sample"

    @property
    def count(self) -> int:
        """Number of distinct units."""
        return int(self.codes.max()) + 1 if self.codes.size else 0

    @property
    def clustered(self) -> bool:
        """Whether some unit holds several samples."""
        return self.count < self.codes.size

    def describe(self) -> str:
        """E.g. 'resampled by user, 16 units'."""
        return f"resampled by {self.kind}, {self.count} units"


def units_of(sample_ids: Sequence[str], users: Mapping[str, str]) -> Units:
    """The unit of each sample: its user when users repeat among ``sample_ids``, else itself."""
    owners = [users[sample_id] for sample_id in sample_ids]
    codes = {owner: code for code, owner in enumerate(dict.fromkeys(owners))}
    if len(codes) == len(owners):
        return Units(np.arange(len(owners)), "sample")
    return Units(np.array([codes[owner] for owner in owners]), "user")


def weighted_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC of one scorer under each row of sample ``weights`` (resamples x samples).

    Ties count one half. A weight of k is a sample drawn k times.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores, positive = scores[order], labels[order].astype(bool)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    w = weights[:, order]
    pos = np.add.reduceat(np.where(positive, w, 0.0), starts, axis=1)  # per tie group
    neg = np.add.reduceat(np.where(positive, 0.0, w), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negatives scored lower than the group
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)


def _resample_weights(units: Units, resamples: int, seed: int) -> np.ndarray:
    """Sample weights of ``resamples`` cluster-bootstrap draws (resamples x samples)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, units.count, size=(resamples, units.count))
    counts = np.zeros((resamples, units.count))
    np.add.at(counts, (np.arange(resamples)[:, None], draws), 1.0)
    return counts[:, units.codes]


def paired_bootstrap(
    labels: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    units: Units,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict[str, float | tuple[float, float]]:
    """Cluster bootstrap of two runners' mean AUCs over seeds (``a``, ``b``: seeds x samples).

    Returns each AUC and its 95% interval, the difference's interval and two-sided p-value.
    """
    if units.count < 2:
        raise ValueError("a bootstrap needs at least 2 test units")
    weights = _resample_weights(units, resamples, seed)
    auc_a = np.mean([weighted_auc(labels, row, weights) for row in a], axis=0)
    auc_b = np.mean([weighted_auc(labels, row, weights) for row in b], axis=0)
    keep = np.isfinite(auc_a) & np.isfinite(auc_b)  # draws with both classes
    auc_a, auc_b = auc_a[keep], auc_b[keep]
    if not auc_a.size:
        raise ValueError("no bootstrap draw holds both classes")
    difference = auc_a - auc_b
    beyond = min((difference <= 0).sum(), (difference >= 0).sum())
    full = np.ones((1, labels.size))
    point_a = float(np.mean([weighted_auc(labels, row, full)[0] for row in a]))
    point_b = float(np.mean([weighted_auc(labels, row, full)[0] for row in b]))
    return {
        "auc_a": point_a,
        "auc_b": point_b,
        "ci_a": _interval(auc_a),
        "ci_b": _interval(auc_b),
        "ci_difference": _interval(difference),
        "p_value": min(1.0, 2 * (1 + beyond) / (1 + difference.size)),
    }


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def structural_components(labels: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray]:
    """AUC and each sample's DeLong structural component (Sun & Xu's mid-rank form).

    A positive's component is the share of negatives it outscores (ties one half), a
    negative's the share of positives that outscore it; both average to the AUC.
    """
    positive = labels.astype(bool)
    m, n = int(positive.sum()), int((~positive).sum())
    all_ranks = rankdata(scores)
    components = np.empty(scores.size)
    components[positive] = (all_ranks[positive] - rankdata(scores[positive])) / n
    components[~positive] = 1.0 - (all_ranks[~positive] - rankdata(scores[~positive])) / m
    return float(components[positive].mean()), components


def delong_test(
    labels: np.ndarray, a: np.ndarray, b: np.ndarray, units: Units
) -> dict[str, float | str]:
    """DeLong's test of AUC(a) = AUC(b) on the same samples (``a``, ``b``: seeds x samples).

    Unclustered units: the classic DeLong variance and a normal p-value. Clustered units:
    Obuchowski's per-unit sums and a t p-value with (units - 1) degrees of freedom. The
    p-value is NaN where the test is undefined: fewer than two units, fewer than two samples
    of a class, or a zero variance of a non-zero difference (e.g. a perfect scorer).
    """
    positive = labels.astype(bool)
    m, n = int(positive.sum()), int((~positive).sum())
    parts = []
    for rows in (a, b):
        fitted = [structural_components(labels, row) for row in rows]
        parts.append((np.mean([auc for auc, _ in fitted]), np.mean([v for _, v in fitted], 0)))
    (auc_a, v_a), (auc_b, v_b) = parts
    difference = auc_a - auc_b
    if units.count < 2 or min(m, n) < 2:
        return _undefined(
            auc_a, auc_b, "DeLong: undefined with fewer than 2 units or samples of a class"
        )
    if not units.clustered:
        delta = v_a - v_b
        variance = delta[positive].var(ddof=1) / m + delta[~positive].var(ddof=1) / n
        distribution, method = scipy_stats.norm, "DeLong"
    else:
        count = units.count

        def influence(v: np.ndarray, auc: float) -> np.ndarray:
            # per unit: (sum of its positives' V10 - m_i AUC) / m + the same for negatives
            centred = np.where(positive, (v - auc) / m, (v - auc) / n)
            return np.bincount(units.codes, weights=centred, minlength=count)

        delta = influence(v_a, auc_a) - influence(v_b, auc_b)
        variance = count / (count - 1) * float(np.sum(delta**2))
        distribution = scipy_stats.t(df=count - 1)
        method = f"clustered DeLong (Obuchowski), t with {count - 1} df"
    if variance <= 0:
        p_value = 1.0 if difference == 0 else math.nan
    else:
        p_value = float(2 * distribution.sf(abs(difference) / math.sqrt(variance)))
    return {
        "auc_a": float(auc_a),
        "auc_b": float(auc_b),
        "se_difference": math.sqrt(max(variance, 0.0)),
        "p_value": p_value,
        "method": method,
    }


def _undefined(auc_a: float, auc_b: float, method: str) -> dict[str, float | str]:
    return {
        "auc_a": float(auc_a),
        "auc_b": float(auc_b),
        "se_difference": math.nan,
        "p_value": math.nan,
        "method": method,
    }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN counts as 1), in the order given."""
    values = [1.0 if math.isnan(p) else p for p in p_values]
    order = sorted(range(len(values)), key=values.__getitem__)
    adjusted, running = [1.0] * len(values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(values) - rank) * values[index]))
        adjusted[index] = running
    return adjusted
