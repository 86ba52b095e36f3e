"""Next-item metrics: which candidate an answer names, HitRatio@1, ValidRatio, bootstrap CIs.

Matching rules for a generated answer:
- ``llara``: LLaRA's ``calculate_hr1``: the answer's first line, lower-cased and stripped;
  every candidate title (lower-cased, stripped) that is a substring of it is named; the answer
  is valid when exactly one candidate is named.
- ``exact``: the first line, without surrounding whitespace, a final period and then
  surrounding quotes, must equal one candidate title (case-insensitive).

In ``rank`` mode the answer is the highest-scored candidate, so ValidRatio is 1; on tied top
scores it is the first listed of them (``rank_choice``), so a tie is a hit only when the target
is listed first among the tied candidates. HitRatio@1 is reported over all samples (LLaRA's
README) and over valid answers only (what LLaRA's code logs as ``hr``).

Model selection (validation, and ``bench check``'s MRR figure) uses the mean reciprocal rank
of the target among the candidates, ties counted as the mean rank among the tied candidates
(``mean_reciprocal_rank``; before 0.6.0 they counted in the model's favour).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RULES = ("llara", "exact")


def named_candidates(answer: str, titles: Sequence[str], rule: str = "llara") -> list[int]:
    """Indices of the candidates that ``answer`` names under ``rule``."""
    lines = answer.strip().split("\n")
    first = lines[0] if lines else ""
    if rule == "llara":
        text = first.strip().lower()
        return [i for i, title in enumerate(titles) if title.strip().lower() in text]
    if rule == "exact":
        text = first.strip().removesuffix(".").strip().strip("\"'").strip().lower()
        return [i for i, title in enumerate(titles) if title.strip().lower() == text]
    raise ValueError(f"unknown matching rule {rule!r}: use one of {RULES}")


def choice_of(answer: str, titles: Sequence[str], rule: str = "llara") -> int | None:
    """The candidate index an answer picks, or None when it names none or several."""
    named = named_candidates(answer, titles, rule)
    return named[0] if len(named) == 1 else None


FAILURES = ("none", "history", "several")  # why a generated answer is not one candidate


def failure_of(answer: str, titles: Sequence[str], history: Sequence[str]) -> str | None:
    """Why ``answer`` picks no candidate under LLaRA's rule (None: it picks one).

    ``several``: it names more than one candidate (a list, or a title inside another);
    ``history``: it names none but copies an item of the user's history; ``none``: neither.
    """
    named = named_candidates(answer, titles, "llara")
    if len(named) == 1:
        return None
    if named:
        return "several"
    copied = named_candidates(answer, history, "llara")
    return "history" if copied else "none"


@dataclass(frozen=True)
class NextItemMetrics:
    """HitRatio@1 over all samples and over valid answers, and ValidRatio."""

    n: int
    valid_ratio: float
    hit_ratio: float  # correct / all samples (LLaRA's README)
    hit_ratio_valid: float  # correct / valid answers (LLaRA's code)


def metrics_of(choices: Sequence[int | None], targets: Sequence[int]) -> NextItemMetrics:
    """Metrics from each sample's chosen candidate index (None: invalid) and target index."""
    n = len(choices)
    valid = sum(choice is not None for choice in choices)
    correct = sum(c == t for c, t in zip(choices, targets, strict=True) if c is not None)
    return NextItemMetrics(
        n=n,
        valid_ratio=valid / n if n else 0.0,
        hit_ratio=correct / n if n else 0.0,
        hit_ratio_valid=correct / valid if valid else 0.0,
    )


def target_rank(scores: Sequence[float], target: int) -> float:
    """The target's rank among the candidates (1 = best), ties as the mean rank among them.

    ``1 + above + tied / 2``, with ``above`` the number of candidates scored strictly above
    the target and ``tied`` the number of other candidates scored equal to it: the mean of
    the ranks ``1 + above`` .. ``1 + above + tied`` that the tied group occupies.
    """
    row = np.asarray(scores, dtype=float)
    value = row[target]
    above = int(np.count_nonzero(row > value))
    tied = int(np.count_nonzero(row == value)) - 1  # the target itself is not counted
    return 1 + above + tied / 2


def mean_reciprocal_rank(scores: Sequence[Sequence[float]], targets: Sequence[int]) -> float:
    """Mean of 1 / rank of the target among the candidates: model selection.

    Ties count as the mean rank among the tied candidates (``target_rank``): a constant
    scorer over 20 candidates has rank 10.5 on every sample, MRR 1 / 10.5, not 1.0 (before
    0.6.0 ties counted in the model's favour, rank 1 + number scored strictly above).
    """
    ranks = [target_rank(row, t) for row, t in zip(scores, targets, strict=True)]
    return float(np.mean([1.0 / r for r in ranks])) if ranks else 0.0


def rank_choice(scores: Sequence[float]) -> int:
    """The highest-scored candidate; on tied top scores the first listed of them (argmax).

    So in ``rank`` mode a tie at the top counts as a hit only when the target is the first
    listed of the tied candidates: a constant scorer picks candidate 0 on every sample and
    its HitRatio@1 is the share of samples whose target is listed first. This rule is kept
    as it is so that recorded ``rank`` metrics stay recomputable.
    """
    return int(np.argmax(np.asarray(scores)))


def bootstrap_interval(
    hits: Sequence[int], seed: int = 0, resamples: int = 10_000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of 0/1 ``hits`` (samples resampled)."""
    values = np.asarray(hits, dtype=float)
    if values.size == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
