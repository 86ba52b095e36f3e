"""LLM rows against the paper's baselines: every pair at shared seeds, as a table.

The methods (cluster bootstrap, DeLong, Holm) are in :mod:`bench.report.stats`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bench.registry import PAPER_BASELINES
from bench.report.formats import tabular
from bench.report.stats import (
    ALPHA,
    RESAMPLES,
    Units,
    delong_test,
    holm,
    paired_bootstrap,
    units_of,
)
from bench.store.records import RunRecord


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

    A row is an LLM runner (a record with a prompt template) or an imported method, with
    its settings and test subset; it is paired with the paper's baselines at their default
    settings on the same test subset. ``users_of(domain)`` maps the domain's test sample
    ids to user ids. Returns the comparisons and one line per LLM cell left out, with the reason.
    """
    groups: dict[tuple[RowKey, str, int], list[RunRecord]] = defaultdict(list)
    llm_rows = set()
    for r in records:
        if r.tested_on != r.domain:
            continue
        key = (r.runner, r.variant, r.test_limit)
        groups[key, r.domain, r.n_shots].append(r)
        if "template" in r.config or "imported" in r.config:
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


def comparison_table(groups: list[list[Comparison]], fmt: str = "markdown") -> str:
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
    return tabular(rows, headers, fmt)


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


def stats_block(records: list[RunRecord], fmt: str = "markdown") -> str:
    """The ``--stats`` block: each LLM row against the paper's baselines, by test unit."""
    from bench.data.datastore import load_domain
    from bench.tasks.base import loaded_domain

    def users_of(name: str) -> dict[str, str]:
        domain, _ = loaded_domain(name, load_domain)
        return {s.sample_id: s.user_id for s in domain.samples("test")}

    groups, skipped = llm_comparisons(records, users_of)
    notes = "".join(f"\n- not compared: {line}" for line in skipped)
    if not groups:
        return "No LLM row shares a column, test subset and seed with a paper baseline." + notes
    return (
        "LLM rows against the paper's baselines, paired on the same test samples and seeds "
        "(cluster bootstrap and DeLong):\n\n"
        + comparison_notes(groups)
        + notes
        + "\n\n"
        + comparison_table(groups, fmt)
    )
