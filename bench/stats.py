"""Paired bootstrap on per-sample scores: confidence intervals and TALLRec vs the best baseline.

Both runs of a comparison scored the same test samples (same ids), so one resample of test
positions is applied to both: the difference's interval accounts for their correlation.
With several seeds, each resample's AUC is the mean over the seeds both rows have.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata
from tabulate import tabulate

from bench.records import RunRecord
from bench.registry import PAPER_BASELINES

LLM_ROWS = ("tallrec", "tallrec-cpu")
RESAMPLES = 1000


def _auc_rows(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUC of each row of ``scores`` (resamples x samples) against the matching ``labels``."""
    ranks = np.apply_along_axis(rankdata, 1, scores)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    return ((ranks * labels).sum(axis=1) - positives * (positives + 1) / 2) / (
        positives * negatives
    )


def paired_bootstrap(
    first: Sequence[RunRecord], second: Sequence[RunRecord], resamples: int = RESAMPLES
) -> dict[str, float]:
    """Mean AUCs, their 95% intervals, the difference's interval and a two-sided p-value."""
    by_seed_a = {r.seed: r for r in first}
    by_seed_b = {r.seed: r for r in second}
    seeds = sorted(set(by_seed_a) & set(by_seed_b))
    if not seeds:
        raise ValueError("no seed in common")
    ids = [p.sample_id for p in by_seed_a[seeds[0]].predictions]
    labels = np.array([p.label for p in by_seed_a[seeds[0]].predictions])

    def matrix(records: dict[int, RunRecord]) -> np.ndarray:
        rows = []
        for seed in seeds:
            scores = {p.sample_id: p.score for p in records[seed].predictions}
            rows.append([scores[i] for i in ids])
        return np.array(rows)

    a, b = matrix(by_seed_a), matrix(by_seed_b)
    draws = np.random.default_rng(0).integers(0, len(ids), size=(resamples, len(ids)))
    boot_labels = labels[draws]
    keep = (boot_labels.sum(axis=1) > 0) & (boot_labels.sum(axis=1) < len(ids))
    draws, boot_labels = draws[keep], boot_labels[keep]
    auc_a = np.mean([_auc_rows(boot_labels, row[draws]) for row in a], axis=0)
    auc_b = np.mean([_auc_rows(boot_labels, row[draws]) for row in b], axis=0)
    difference = auc_a - auc_b
    p_value = min(1.0, 2 * min((difference <= 0).mean(), (difference >= 0).mean()))
    return {
        "seeds": len(seeds),
        "auc_a": float(np.mean([r.auc for r in (by_seed_a[s] for s in seeds)])),
        "auc_b": float(np.mean([r.auc for r in (by_seed_b[s] for s in seeds)])),
        "ci_a": tuple(np.percentile(auc_a, [2.5, 97.5]).tolist()),
        "ci_b": tuple(np.percentile(auc_b, [2.5, 97.5]).tolist()),
        "ci_difference": tuple(np.percentile(difference, [2.5, 97.5]).tolist()),
        "p_value": float(p_value),
    }


def tallrec_vs_best_baseline(records: Sequence[RunRecord], fmt: str = "github") -> str:
    """Per column: the TALLRec row against the best of the paper's baselines ('' if none)."""
    groups: dict[tuple[str, str, int], list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.standard:
            groups[r.runner, r.domain, r.n_shots].append(r)
    rows = []
    for (runner, domain, shots), llm in sorted(groups.items()):
        if runner not in LLM_ROWS:
            continue
        baselines = {
            name: groups[name, domain, shots]
            for name in PAPER_BASELINES
            if groups.get((name, domain, shots))
        }
        if not baselines:
            continue
        best = max(baselines, key=lambda n: statistics.fmean(r.auc for r in baselines[n]))
        result = paired_bootstrap(llm, baselines[best])
        low, high = result["ci_difference"]
        rows.append(
            [
                f"{domain} {shots}",
                f"{runner} {100 * result['auc_a']:.2f} [{100 * result['ci_a'][0]:.2f}, "
                f"{100 * result['ci_a'][1]:.2f}]",
                f"{best} {100 * result['auc_b']:.2f} [{100 * result['ci_b'][0]:.2f}, "
                f"{100 * result['ci_b'][1]:.2f}]",
                f"{100 * (result['auc_a'] - result['auc_b']):+.2f} [{100 * low:+.2f}, "
                f"{100 * high:+.2f}]",
                f"{result['p_value']:.3f}",
                result["seeds"],
            ]
        )
    if not rows:
        return ""
    headers = ["column", "TALLRec [95% CI]", "best baseline [95% CI]", "difference [95% CI]"]
    headers += ["p (paired bootstrap)", "seeds"]
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)
