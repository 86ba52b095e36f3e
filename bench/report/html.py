"""``bench report``: one self-contained HTML file of a set of like/dislike records.

The file needs no network and runs no script: inline CSS, the AUC figure as an inline PNG,
histograms and training curves as inline SVG. Sections: the paper-layout table (each
cell's seeds and 95% CI on hover and in the seed table), the significance block, the
figure, provenance, and one section per runner row with its settings, training curve,
score histogram by label and the test samples it ranks worst.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path

from bench.errors import BenchError, UsageError
from bench.report.compare import pool_notes, provenance, seed_range_table
from bench.report.comparisons import stats_block
from bench.report.formats import to_html
from bench.report.table import AucTable, Row, auc_table_data
from bench.store.records import RunRecord

WORST = 5  # test samples shown per label in a runner's worst-ranked list
BINS = 20

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 78em;
       padding: 0 1em; color: #1d1d1f; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { padding: .25em .6em; border-bottom: 1px solid #e4e4e4; text-align: right;
         white-space: nowrap; }
th[scope=row], thead th:first-child { text-align: left; }
td.best { font-weight: 700; } td.missing { color: #999; }
td.item { text-align: left; white-space: normal; }
tr.paper td, tr.paper th { color: #666; font-size: .9em; }
ul.notes, .small { color: #555; font-size: .9em; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .85em; }
section.runner { margin-top: 1.5em; } .plots { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; } figcaption { font-size: .85em; color: #555; }
code { background: #f2f2f2; padding: 0 .2em; }
.scroll { overflow-x: auto; } img { max-width: 100%; }
"""


def _paragraphs(text: str) -> str:
    """Plain text blocks (lines starting "- " become a list); HTML tables kept as they are."""
    out = []
    for block in text.split("\n\n"):
        if block.lstrip().startswith("<"):
            out.append(f'<div class="scroll">{block}</div>')
            continue
        lines = block.splitlines()
        items = [line[2:] for line in lines if line.startswith("- ")]
        head = [line for line in lines if not line.startswith("- ")]
        out += [f"<p>{_inline(line)}</p>" for line in head]
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
    return "\n".join(out)


def _inline(text: str) -> str:
    """Escaped text with `code` spans."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def svg_histogram(positives: Sequence[float], negatives: Sequence[float]) -> str:
    """Scores of liked and disliked test samples in ``BINS`` bins, lowest to highest score."""
    width, height, pad = 320, 150, 24
    low, high = min(*positives, *negatives), max(*positives, *negatives)
    span = (high - low) or 1.0

    def counts(values: Sequence[float]) -> list[int]:
        bins = [0] * BINS
        for value in values:
            bins[min(int((value - low) / span * BINS), BINS - 1)] += 1
        return bins

    liked, disliked = counts(positives), counts(negatives)
    top = max(max(liked), max(disliked), 1)
    bar = (width - 2 * pad) / BINS
    shapes = []
    for index, (a, b) in enumerate(zip(liked, disliked, strict=True)):
        for offset, count, colour in ((0, b, "#d9534f"), (bar / 2, a, "#2a7ab9")):
            h = (height - 2 * pad) * count / top
            x = pad + index * bar + offset
            shapes.append(
                f'<rect x="{x:.1f}" y="{height - pad - h:.1f}" width="{bar / 2:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{count}</title></rect>'
            )
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#888"/>'
        f'<text x="{pad}" y="{height - 6}" font-size="10">{low:.3f}</text>'
        f'<text x="{width - pad - 24}" y="{height - 6}" font-size="10">{high:.3f}</text>'
        f'<text x="{width / 2 - 20}" y="{height - 6}" font-size="10">P(like)</text>'
        f'<text x="{pad}" y="12" font-size="10" fill="#2a7ab9">liked ({len(positives)})</text>'
        f'<text x="{pad + 90}" y="12" font-size="10" fill="#d9534f">'
        f"disliked ({len(negatives)})</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="histogram" width="{width}" '
        f'height="{height}" role="img">{"".join(shapes)}{axis}</svg>'
    )


def svg_curve(values: Sequence[float]) -> str:
    """A training loss by step as a polyline."""
    width, height, pad = 320, 150, 24
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    points = " ".join(
        f"{pad + i * step:.1f},{height - pad - (height - 2 * pad) * (v - low) / span:.1f}"
        for i, v in enumerate(values)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="curve" width="{width}" '
        f'height="{height}" role="img"><polyline points="{points}" fill="none" '
        f'stroke="#2a7ab9" stroke-width="1.5"/>'
        f'<text x="{pad}" y="12" font-size="10">loss {high:.3f} (max) to {low:.3f} (min)</text>'
        f'<text x="{pad}" y="{height - 6}" font-size="10">step 1</text>'
        f'<text x="{width - pad - 40}" y="{height - 6}" font-size="10">step {len(values)}'
        "</text></svg>"
    )


def _target_titles(records: Sequence[RunRecord]) -> dict[str, str]:
    """The target item's title of every test sample of the records' domains."""
    from bench.data.datastore import load_domain
    from bench.tasks.base import loaded_domain

    titles = {}
    for name in sorted({r.tested_on for r in records}):
        try:
            domain, _ = loaded_domain(name, load_domain)
        except BenchError:  # a plugin domain that is not installed here: ids only
            continue
        for sample in domain.samples("test"):
            item = domain.items.get(sample.target_item)
            titles[sample.sample_id] = item.title if item else sample.target_item
    return titles


def _runner_section(row: Row, records: Sequence[RunRecord], titles: dict[str, str]) -> str:
    """A row's settings, and per domain its training curve, histogram and worst samples."""
    anchor = html.escape(f"{row.runner_label}-{row.test_limit}", quote=True)
    parts = [f'<section class="runner" id="{anchor}"><h3>{html.escape(row.label)}</h3>']
    if row.note:
        parts.append(f'<p class="small">{html.escape(row.note)}</p>')
    config = records[0].config
    parts.append(
        "<details><summary>settings (the run key's config)</summary>"
        f"<pre>{html.escape(json.dumps(config, indent=1, sort_keys=True))}</pre></details>"
    )
    for domain in sorted({r.domain for r in records}):
        mine = [r for r in records if r.domain == domain]
        shown = max(mine, key=lambda r: (r.n_shots, -r.seed))  # most shots, lowest seed
        title = f"{domain}, {shown.n_shots} shots, seed {shown.seed} (AUC {100 * shown.auc:.2f})"
        positives = [p.score for p in shown.predictions if p.label == 1]
        negatives = [p.score for p in shown.predictions if p.label == 0]
        figures = [f"<figure>{svg_histogram(positives, negatives)}<figcaption>test scores by "
                   f"label: {html.escape(title)}</figcaption></figure>"]  # fmt: skip
        curve = shown.training.get("loss_by_step")
        if isinstance(curve, list) and len(curve) > 1:
            figures.append(
                f"<figure>{svg_curve([float(v) for v in curve])}<figcaption>training loss by "
                f"step: {html.escape(title)}</figcaption></figure>"
            )
        worst = sorted(shown.predictions, key=lambda p: p.score if p.label else -p.score)
        liked = [p for p in worst if p.label == 1][:WORST]
        disliked = [p for p in worst if p.label == 0][:WORST]
        rows = "".join(
            f"<tr><th scope='row'>{html.escape(p.sample_id)}</th>"
            f"<td class='item'>{html.escape(titles.get(p.sample_id, ''))}</td><td>{p.label}</td>"
            f"<td>{p.score:.4f}</td></tr>"
            for p in liked + disliked
        )
        parts.append(
            f'<div class="plots">{"".join(figures)}<figure><table class="worst"><thead><tr>'
            "<th>sample</th><th>item</th><th>label</th><th>P(like)</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><figcaption>ranked worst: the liked samples "
            "scored lowest, the disliked scored highest</figcaption></figure></div>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _data_lines(records: Sequence[RunRecord]) -> list[str]:
    """One line per domain: the data and manifest hashes the records used."""
    lines = []
    for domain in sorted({r.domain for r in records}):
        mine = [r for r in records if r.domain == domain]
        data = sorted({r.data_sha256[:12] for r in mine})
        manifests = len({r.manifest_sha256 for r in mine})
        lines.append(f"- {domain}: data sha256 {', '.join(data)}; {manifests} few-shot manifests")
    return lines


def report_html(
    records: list[RunRecord],
    source: str,
    command: str,
    failed: frozenset[tuple[str, str, int]] = frozenset(),
    grid_dir: Path | None = None,
) -> str:
    """The whole report as one HTML document."""
    if not records:
        raise UsageError(f"no run records in {source}: run `python -m bench run` first")
    from bench.report.plot import auc_figure

    table: AucTable = auc_table_data(records, failed)
    figure, figure_note = auc_figure(records)
    by_row: dict[tuple, list[RunRecord]] = {}
    for record in records:
        if record.tested_on == record.domain:
            by_row.setdefault((record.runner, record.variant, record.test_limit), []).append(record)
    titles = _target_titles(records)
    sections = "\n".join(
        _runner_section(row, by_row[row.runner, row.variant, row.test_limit], titles)
        for row in table.rows
    )
    ranges = seed_range_table(records, "html")
    notes = "".join(f"<p class='small'>{html.escape(n)}</p>" for n in pool_notes(records))
    png = base64.b64encode(figure).decode("ascii")
    body = f"""<h1>tallrec-bench report</h1>
<p class="small">{len(records)} runs from {_inline(source)}; made by <code>{html.escape(command)}
</code>.</p>
<h2 id="table">AUC x 100 in the paper's layout</h2>
{to_html(table, with_paper=True)}
{notes}
<h2 id="seeds">Spread over seeds</h2>
{_paragraphs(ranges) if ranges else "<p>No cell has several seeds.</p>"}
<h2 id="significance">Significance against the paper's baselines</h2>
{_paragraphs(stats_block(records, "html"))}
<h2 id="figure">AUC against shots</h2>
<figure><img alt="AUC against shots, one panel per domain" src="data:image/png;base64,{png}">
<figcaption>{html.escape(figure_note or "every same-domain run drawn")}</figcaption></figure>
<h2 id="provenance">Provenance</h2>
{_paragraphs(provenance(records, source, command, grid_dir=grid_dir))}
{_paragraphs(chr(10).join(_data_lines(records)))}
<h2 id="runners">Runners</h2>
{sections}"""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tallrec-bench report</title><style>{CSS}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )
