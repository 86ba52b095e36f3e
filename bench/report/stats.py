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
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats
from scipy.stats import rankdata
from tabulate import tabulate

from bench.registry import PAPER_BASELINES
from bench.store.records import RunRecord

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


@dataclass(frozen=True)
class Comparison:
    """One LLM row against one baseline in one column, on the same samples and seeds."""

    column: str
    row: str
    baseline: str
    seeds: tuple[int, ...]
    units: Units
    bootstrap: dict
    delong: dict


def _matrix(records: Mapping[int, RunRecord], seeds: Sequence[int], ids: list[str]) -> np.ndarray:
    rows = []
    for seed in seeds:
        scores = {p.sample_id: p.score for p in records[seed].predictions}
        rows.append([scores[i] for i in ids])
    return np.array(rows)


def compare_runs(
    first: Sequence[RunRecord],
    second: Sequence[RunRecord],
    users: Mapping[str, str],
    resamples: int = RESAMPLES,
) -> tuple[tuple[int, ...], Units, dict, dict]:
    """Bootstrap and DeLong of two rows' records over the seeds both have.

    Raises ValueError when they share no seed or did not score the same samples.
    """
    by_seed_a = {r.seed: r for r in first}
    by_seed_b = {r.seed: r for r in second}
    seeds = tuple(sorted(set(by_seed_a) & set(by_seed_b)))
    if not seeds:
        raise ValueError("no seed in common")
    reference = by_seed_a[seeds[0]].predictions
    ids = [p.sample_id for p in reference]
    for record in [*by_seed_a.values(), *by_seed_b.values()]:
        if sorted(p.sample_id for p in record.predictions) != sorted(ids):
            raise ValueError(f"{record.runner} seed {record.seed} scored other samples")
    labels = np.array([p.label for p in reference])
    units = units_of(ids, users)
    a, b = _matrix(by_seed_a, seeds, ids), _matrix(by_seed_b, seeds, ids)
    return (
        seeds,
        units,
        paired_bootstrap(labels, a, b, units, resamples),
        delong_test(labels, a, b, units),
    )


RowKey = tuple[str, str, int]  # runner, variant, test_limit


def _row_name(key: RowKey) -> str:
    runner, variant, test_limit = key
    return (
        runner + (f"@{variant}" if variant else "") + (f" [n={test_limit}]" if test_limit else "")
    )


def llm_comparisons(
    records: Sequence[RunRecord],
    users_of: Callable[[str], Mapping[str, str]],
    resamples: int = RESAMPLES,
) -> tuple[list[list[Comparison]], list[str]]:
    """Per LLM row and column: its comparison with every paper baseline at shared seeds.

    A row is an LLM runner (a record with a prompt template) with its settings and test
    subset; it is paired with the paper's baselines at their default settings on the same
    test subset. ``users_of(domain)`` maps the domain's test sample ids to user ids.
    Returns the comparisons and one line per LLM cell left out, with the reason.
    """
    groups: dict[tuple[RowKey, str, int], list[RunRecord]] = defaultdict(list)
    llm_rows = set()
    for r in records:
        if r.tested_on != r.domain:
            continue
        key = (r.runner, r.variant, r.test_limit)
        groups[key, r.domain, r.n_shots].append(r)
        if "template" in r.config:
            llm_rows.add(key)
    found, skipped = [], []
    for (key, domain, shots), llm in sorted(groups.items()):
        if key not in llm_rows:
            continue
        pairs, reasons = [], []
        for name in PAPER_BASELINES:
            baseline = groups.get(((name, "", key[2]), domain, shots))
            if not baseline:
                continue
            try:
                seeds, units, boot, delong = compare_runs(
                    llm, baseline, users_of(domain), resamples
                )
            except ValueError as error:
                reasons.append(f"{name}: {error}")
                continue
            pairs.append(
                Comparison(f"{domain} {shots}", _row_name(key), name, seeds, units, boot, delong)
            )
        if pairs:
            found.append(pairs)
        else:
            why = "; ".join(reasons) or "no paper baseline on the same test subset"
            skipped.append(f"{_row_name(key)}, {domain} {shots}: {why}")
    return found, skipped


def comparison_table(groups: list[list[Comparison]], fmt: str = "github") -> str:
    """Each LLM row against the strongest baseline at the same seeds ('' when none).

    "strongest" is the baseline with the highest mean AUC over the seeds it shares with the
    LLM row; "beats" counts the baselines the row exceeds with p < 0.05 by both methods
    after Holm's correction over the row's comparisons in that column.
    """
    rows = []
    for pairs in groups:
        best = max(pairs, key=lambda c: c.bootstrap["auc_b"])
        boot, delong = best.bootstrap, best.delong
        low, high = boot["ci_difference"]
        adjusted = holm([max(c.bootstrap["p_value"], c.delong["p_value"]) for c in pairs])
        beats = sum(
            c.bootstrap["auc_a"] > c.bootstrap["auc_b"] and p < ALPHA
            for c, p in zip(pairs, adjusted, strict=True)
        )
        rows.append(
            [
                best.column,
                f"{best.row} {_pct(boot['auc_a'])} {_ci(boot['ci_a'])}",
                f"{best.baseline} {_pct(boot['auc_b'])} {_ci(boot['ci_b'])}",
                f"{100 * (boot['auc_a'] - boot['auc_b']):+.2f} [{100 * low:+.2f}, "
                f"{100 * high:+.2f}]",
                _p(boot["p_value"]),
                _p(delong["p_value"]),
                f"{beats} of {len(pairs)}",
                ",".join(map(str, best.seeds)),
                f"{best.units.kind} x {best.units.count}",
            ]
        )
    if not rows:
        return ""
    headers = ["column", "LLM row [95% CI]", "strongest baseline at these seeds [95% CI]"]
    headers += ["difference [95% CI]", "p bootstrap", "p DeLong", "beats", "seeds", "unit"]
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN counts as 1), in the order given."""
    values = [1.0 if math.isnan(p) else p for p in p_values]
    order = sorted(range(len(values)), key=values.__getitem__)
    adjusted, running = [1.0] * len(values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(values) - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def comparison_notes(groups: list[list[Comparison]], resamples: int = RESAMPLES) -> str:
    """How the comparisons were made, with each domain's resampling unit."""
    units = sorted(
        {
            (c.column.split()[0], c.units.describe(), c.delong["method"])
            for pairs in groups
            for c in pairs
        }
    )
    lines = [f"{domain}: {unit}; {method}" for domain, unit, method in units]
    lines.append(
        f"Bootstrap: {resamples} paired resamples of units (seed 0), percentile intervals. "
        "Several seeds: mean AUC over the seeds both rows have; intervals and p-values are "
        "the test set's sampling variance only. 'beats': baselines the row exceeds with "
        "p < 0.05 by both methods after Holm's correction over the baselines of its column. "
        "n/a: the test is undefined there (one unit, one sample of a class, zero variance)."
    )
    return "\n".join(f"- {line}" for line in lines)


def _p(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _ci(interval: tuple[float, float]) -> str:
    return f"[{100 * interval[0]:.2f}, {100 * interval[1]:.2f}]"
