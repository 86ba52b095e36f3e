"""AUC against shots, one panel per domain, mean +- std over seeds as error bars."""

from __future__ import annotations

import io
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from bench.errors import UsageError
from bench.files import atomic_write_bytes
from bench.report.compare import DOMAIN_ORDER, row_key, row_label
from bench.report.paper import PAPER_NAMES, SHOTS
from bench.store.records import RunRecord


def plot_auc(records: Sequence[RunRecord], path: Path) -> str:
    """Write the figure to ``path`` (PNG), atomically; returns a line on what it left out.

    One line per row of the AUC table (runner, its settings and test subset); cross-domain
    runs are left out. Nothing is written when no run can be drawn (UsageError).
    """
    try:
        png, note = auc_figure(records)
    except UsageError as error:
        raise UsageError(f"no plot written to {path}: {error}") from None
    atomic_write_bytes(path, png)
    return note


def auc_figure(records: Sequence[RunRecord]) -> tuple[bytes, str]:
    """The figure as PNG bytes, and a line on what it left out (see :func:`plot_auc`)."""
    aucs: dict[tuple[tuple[str, str], str, int], list[float]] = defaultdict(list)
    for r in records:
        if r.tested_on == r.domain:
            aucs[row_key(r), r.domain, r.n_shots].append(100 * r.auc)
    if not aucs:
        raise UsageError("no same-domain runs to draw")
    skipped = len(records) - sum(len(v) for v in aucs.values())
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    order = {name: position for position, name in enumerate(PAPER_NAMES)}
    runners = sorted({row for row, _, _ in aucs}, key=lambda r: (order.get(r[0], len(order)), r))
    colours = plt.get_cmap("tab20").colors
    figure, axes = plt.subplots(1, len(DOMAIN_ORDER), figsize=(11, 4.2), sharey=True)
    for axis, domain in zip(axes, DOMAIN_ORDER, strict=True):
        for index, runner in enumerate(runners):
            points = [(k, aucs[runner, domain, k]) for k in SHOTS if aucs.get((runner, domain, k))]
            if not points:
                continue
            shots = [k for k, _ in points]
            means = [statistics.fmean(v) for _, v in points]
            errors = [statistics.stdev(v) if len(v) > 1 else 0.0 for _, v in points]
            style = "-" if runner[0] in PAPER_NAMES else ":"
            label = row_label(*runner)
            axis.errorbar(
                shots,
                means,
                yerr=errors,
                fmt=style + "o",
                capsize=3,
                label=label,
                color=colours[index % len(colours)],
            )
        axis.set_xscale("log", base=2)
        axis.set_xticks(list(SHOTS), [str(k) for k in SHOTS])
        axis.set_title(domain)
        axis.set_xlabel("few-shot training samples")
        axis.axhline(50, color="grey", linewidth=0.5)
    axes[0].set_ylabel("test AUC x 100 (mean ± std over seeds)")
    legend = {}  # every runner once, from whichever panel has it
    for axis in axes:
        legend |= dict(zip(*reversed(axis.get_legend_handles_labels()), strict=True))
    axes[-1].legend(
        legend.values(), legend.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1)
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue(), f"{skipped} cross-domain runs not drawn" if skipped else ""
