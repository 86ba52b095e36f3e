"""Scores made outside the suite, written as a file ``bench import-scores`` reads.

Stands for another framework's output: one line per test sample, ``sample_id,score``
(P(like) in [0, 1]). The method here is deliberately simple (the like rate of the last
three history items, smoothed); what matters is the file. Run it after ``bench data build``:

    python examples/external_scores.py --domain movie --test-limit 100 --out my-scores.csv
    python -m bench import-scores my-scores.csv --runner recent-3 --domain movie --shots 16 --seed 0

``--test-limit N`` scores the fixed subset of N test samples that ``bench run --test-limit N``
scores (0: the whole test split); the ids must be exactly those of one of them.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from bench.data.datastore import load_domain
from bench.data.splits import test_subset


def main() -> None:
    """Write the scores file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="movie")
    parser.add_argument("--test-limit", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    domain, _ = load_domain(args.domain)
    with args.out.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["sample_id", "score"])
        for sample in test_subset(domain, args.test_limit):
            recent = [item.label for item in sample.history[-3:]]
            writer.writerow([sample.sample_id, (sum(recent) + 1) / (len(recent) + 2)])
    print(args.out)


if __name__ == "__main__":
    main()
