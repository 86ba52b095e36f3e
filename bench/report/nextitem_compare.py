"""``bench compare --task next-item``: ValidRatio and HitRatio@1 beside LLaRA's numbers.

Columns per domain: ValidRatio and HitRatio@1 (over all test samples, LLaRA's README
definition) of the generated answers under LLaRA's matching rule, HitRatio@1 under the exact
title rule, and HitRatio@1 in ``rank`` mode (the top-scored candidate; ValidRatio 1) with its
95% bootstrap interval. Several seeds of a cell are averaged: mean ± sample std over seeds
(ddof=1), n shown; the table says so in a line below it.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.report.collect import collect
from bench.report.compare import command_lines, environment_lines, grid_lines
from bench.report.formats import tabular
from bench.store.records import runner_folder
from bench.tasks.base import loaded_domain, variant_label
from bench.tasks.next_item import NEXT_ITEM, TASK, NextItemRecord

log = logging.getLogger(__name__)
DOMAIN_LABELS = {"movielens-next": "MovieLens", "lastfm": "LastFM"}
# LLaRA's README (July 2024): (ValidRatio, HitRatio@1) per dataset; Steam is not built here.
PUBLISHED = {
    "LLaRA (SASRec)": {
        "MovieLens": (0.9789, 0.4526),
        "Steam": (0.9958, 0.5051),
        "LastFM": (0.9754, 0.5246),
    },
    "LLaRA (GRU4Rec)": {
        "MovieLens": (0.9684, 0.4000),
        "Steam": (0.9840, 0.4916),
        "LastFM": (0.9672, 0.4918),
    },
    "LLaRA (Caser)": {
        "MovieLens": (0.9684, 0.4211),
        "Steam": (0.9519, 0.4621),
        "LastFM": (0.9754, 0.4836),
    },
}
RUNNER_ORDER = (
    "gru4rec",
    "caser",
    "sasrec",
    "icl",
    "tallrec-next",
    "tallrec-next-cpu",
    "llara",
    "llara-cpu",
)


def collect_next_item(results_dir: Path) -> tuple[list[NextItemRecord], list[str]]:
    """Every trusted next-item record under ``results_dir`` and a line per problem."""
    return collect(NEXT_ITEM, results_dir)


STD_NOTE = (
    "Cells with several seeds: mean ± sample std over seeds (ddof=1), n seeds; with one seed "
    "the rank-mode HR@1 shows its [95% bootstrap CI]."
)


FAIL_NOTE = (
    "fail none / hist / several: shares of the generated answers (LLaRA's matching rule, all "
    "seeds pooled) that name no candidate, that name none but copy an item of the user's "
    "history, and that name several candidates; 1 - ValidRatio is their sum."
)


def _cell(values: list[float], ci: list[float] | None = None) -> str:
    """Mean, with several seeds ``±`` their sample std (ddof=1) and n; one seed: its CI."""
    text = f"{np.mean(values):.4f}"
    if len(values) > 1:
        text += f" ±{np.std(values, ddof=1):.4f} (n={len(values)})"
    elif ci is not None:
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    return text


def _failure_rates(records: list[NextItemRecord]) -> str:
    """Shares of generated answers failing each way (``FAIL_NOTE``), pooled over ``records``."""
    from bench.nextitem_metrics import FAILURES, failure_of

    counts = dict.fromkeys(FAILURES, 0)
    total = 0
    samples: dict[str, dict] = {}  # domain -> its test samples by id, built once
    for record in records:
        try:
            domain, _ = loaded_domain(record.domain, NEXT_ITEM.load_domain)
        except BenchError as error:
            log.warning("failure rates of %s not shown: %s", record.runner_label, error)
            return "—"
        if record.domain not in samples:
            samples[record.domain] = {s.sample_id: s for s in domain.samples("test")}
        for prediction in record.predictions:
            sample = samples[record.domain][prediction.sample_id]
            titles = [domain.titles[c] for c in sample.candidates]
            history = [domain.titles[i] for i in sample.history if i in domain.titles]
            failure = failure_of(prediction.answer, titles, history)
            total += 1
            if failure is not None:
                counts[failure] += 1
    return " / ".join(f"{counts[name] / total:.3f}" for name in FAILURES) if total else "—"


def _row_label(runner_label: str, test_limit: int) -> str:
    return runner_label + (f" (test {test_limit})" if test_limit else "")


def failed_next_item_cells(results_dir: Path) -> frozenset[tuple[str, str, str]]:
    """(runner, row label, domain) of every next-item cell that left an error file."""
    cells = set()
    for path in (results_dir / TASK).rglob("*.error.json"):
        try:
            cell = json.loads(path.read_text(encoding="utf-8"))["cell"]
            settings = tuple(tuple(pair) for pair in cell.get("settings", ()))
            label = runner_folder(cell["runner"], variant_label(settings))
            cells.add(
                (cell["runner"], _row_label(label, int(cell.get("test_limit", 0))), cell["domain"])
            )
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return frozenset(cells)


def next_item_table(
    records: list[NextItemRecord],
    fmt: str = "text",
    failed: frozenset[tuple[str, str, str]] = frozenset(),
    notes: bool = True,
) -> str:
    """The comparison table in one of ``FORMATS``; ``failed`` cells say so."""
    domains = [
        d
        for d in DOMAIN_LABELS
        if any(r.domain == d for r in records) or any(f[2] == d for f in failed)
    ]
    groups: dict[tuple[str, str], dict[str, list[NextItemRecord]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for record in records:
        groups[(record.runner, _row_label(record.runner_label, record.test_limit))][
            record.domain
        ].append(record)
    for runner, label, _ in failed:
        groups[(runner, label)]  # a row even when every cell of it failed
    order = {name: i for i, name in enumerate(RUNNER_ORDER)}
    headers = ["runner"]
    for domain in domains:
        name = DOMAIN_LABELS[domain]
        headers += [
            f"{name} Valid",
            f"{name} HR@1",
            f"{name} HR@1 exact",
            f"{name} HR@1 rank [95% CI]",
            f"{name} fail none / hist / several",
        ]
    rows = []
    for runner, label in sorted(groups, key=lambda key: (order.get(key[0], 99), key[1])):
        row = [label]
        for domain in domains:
            cell = groups[(runner, label)].get(domain, [])
            missing = "failed" if (runner, label, domain) in failed else "not run"
            generated = [r for r in cell if "generate-llara" in r.metrics]
            if generated:
                row += [
                    _cell([r.metrics["generate-llara"]["valid_ratio"] for r in generated]),
                    _cell([r.metrics["generate-llara"]["hit_ratio"] for r in generated]),
                    _cell([r.metrics["generate-exact"]["hit_ratio"] for r in generated]),
                ]
            else:
                row += ["—", "—", "—"] if cell else [missing] * 3
            ranked = [r.metrics["rank"] for r in cell]
            ci = ranked[0]["hit_ratio_ci95"] if len(ranked) == 1 else None
            row.append(_cell([m["hit_ratio"] for m in ranked], ci) if ranked else missing)
            row.append(_failure_rates(generated) if generated else "—" if cell else missing)
        rows.append(row)
    for name, values in PUBLISHED.items():
        row = [f"{name}, published"]
        for domain in domains:
            valid, hit = values[DOMAIN_LABELS[domain]]
            row += [f"{valid:.4f}", f"{hit:.4f}", "", "", ""]
        rows.append(row)
    table = tabular(rows, headers, fmt)
    if not notes:
        return table
    steam = ", ".join(
        f"{n}: {v['Steam'][0]:.4f} / {v['Steam'][1]:.4f}" for n, v in PUBLISHED.items()
    )
    return (
        table
        + f"\n\n{STD_NOTE}"
        + f"\n\n{FAIL_NOTE}"
        + f"\n\nLLaRA published on Steam (not built here: no train split was released): {steam}."
    )


def next_item_provenance(records: list[NextItemRecord], results_dir: Path, command: str) -> str:
    """Markdown lines saying where the next-item table's numbers come from."""
    wall = {part: sum(r.wall_s[part] for r in records) for part in ("fit", "rank", "generate")}
    lines = [
        f"Produced by `{command}` from {len(records)} next-item run records in `{results_dir}`.",
        "Summed over the records: "
        + ", ".join(f"{part} {seconds:.0f} s" for part, seconds in wall.items())
        + ".",
        *grid_lines(results_dir, "next-item"),
        *command_lines(records),
        *environment_lines(records),
        "Per-sample candidate scores and answers: in the run records only (`next-item/` under "
        "the results folder); no score file is shipped.",
    ]
    return "\n".join(f"- {line}" for line in lines)
