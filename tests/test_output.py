"""What a reader gets: a table that fits a terminal, CSV and JSON that read back, imported
scores in every view, and an HTML report rendered by a real browser."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from bench.report.formats import CSV_COLUMNS, SCHEMA, SCHEMA_VERSION
from bench.report.paper import PAPER_AUC
from bench.store.scores import read_scores

REPO = Path(__file__).resolve().parent.parent
QUICK = REPO / "reports" / "compute-warm-scores.csv.gz"  # the quick profile at 0.8.0, 60 runs
EXAMPLE = REPO / "examples" / "external_scores.py"


def bench(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ) | env,
        cwd=cwd,
    )


def test_paper_profile_table_fits_120_columns(env) -> None:
    scores = [
        str(REPO / "reports" / f)
        for f in ("baselines-paper-scores.csv.gz", "llm-paper-scores.csv.gz")
    ]
    result = bench("compare", "--scores", *scores, "--with-paper", COLUMNS="120")
    assert result.returncode == 0, result.stderr
    assert max(map(len, result.stdout.splitlines())) <= 120
    assert "49.92 ± 2.30" in result.stdout and "[47.06, 52.78]" not in result.stdout
    wide = bench("compare", "--scores", *scores, COLUMNS="250")  # room for the CIs
    assert "49.92 ± 2.30 [47.06, 52.78]" in wide.stdout  # GRU4Rec movie 16: t interval
    assert "95% Student t interval" in wide.stdout


def test_quick_table_fits_120_columns_with_its_settings_in_footnotes(env) -> None:
    for columns in ("120", "80"):  # 80: as narrow as it gets; it still prints, complete
        result = bench("compare", "--scores", str(QUICK), "--with-paper", COLUMNS=columns)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        if columns == "120":
            assert max(map(len, lines)) <= 120, max(lines, key=len)
    assert any(line.startswith("TALLRec (CPU) [3] ") for line in lines)
    assert any("[3] model smollm2-135m-instruct; settings eval_every=2" in line for line in lines)
    assert "↳ paper (ours - paper)" in result.stdout and "(n=1)" not in result.stdout
    assert "± 0.00" not in result.stdout  # one seed: its value, no spread


def test_csv_and_json_read_back_to_the_records(env) -> None:
    pd = pytest.importorskip("pandas")
    records = read_scores(QUICK)
    auc = {(r.runner, r.domain, r.n_shots): 100 * r.auc for r in records}
    text = bench("compare", "--scores", str(QUICK), "--format", "csv")
    assert text.returncode == 0, text.stderr
    rows = list(csv.reader(io.StringIO(text.stdout, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 1 + len(records)
    assert all(len(row) == len(CSV_COLUMNS) for row in rows)
    frame = pd.read_csv(io.StringIO(text.stdout), float_precision="round_trip")
    assert frame.shape == (len(records), len(CSV_COLUMNS))
    for row in frame.itertuples():
        assert row.mean == auc[row.runner, row.domain, row.shots]  # repr: bit-exact
        assert row.n == 1 and row.status == "ok"
    label = frame.set_index(["runner", "domain", "shots"]).loc[("tallrec-cpu", "movie", 16)]
    assert label.runner_label == "tallrec-cpu@eval_every=2,max_steps=4,valid_subset=32"

    data = json.loads(bench("compare", "--scores", str(QUICK), "--format", "json").stdout)
    assert (data["schema"], data["version"], data["metric"]) == (SCHEMA, SCHEMA_VERSION, "auc_x100")
    cells = [(row, cell) for row in data["rows"] for cell in row["cells"]]
    assert len(cells) == len(records)
    for row, cell in cells:
        key = row["runner"], cell["domain"], cell["shots"]
        assert cell["mean"] == auc[key] and cell["by_seed"] == {"0": auc[key]}
        assert cell["std"] is None and cell["ci95"] is None and cell["n"] == 1
        paper = None if row["variant"] else PAPER_AUC.get(key[0], {}).get(key[1:])
        assert cell["paper"] == paper
    assert [row["label"] for row in data["rows"]][:2] == ["GRU4Rec [1]", "Caser [1]"]

    latex = bench("compare", "--scores", str(QUICK), "--format", "latex").stdout
    assert latex.count("\\toprule") == latex.count("\\bottomrule") == 1
    assert "\\textbf{73.73}" in latex  # the best mean of its column, bold
    assert bench("compare", "--scores", str(QUICK), "--format", "json", "--stats").returncode == 2


def _outside_scores(path: Path, rows: list[tuple[str, object]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["sample_id", "score"])
        writer.writerows(rows)
    return path


def test_imported_scores_join_table_stats_report_and_check(env, tmp_path: Path, snapshot) -> None:
    results = tmp_path / "runs"
    cell = ["--domain", "movie", "--shots", "16", "--seed", "0"]
    ran = bench("-q", "run", "--runner", "gru4rec", *cell, "--test-limit", "100",
                "--results-dir", str(results))  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    scores = tmp_path / "my-scores.csv"
    made = subprocess.run(
        [sys.executable, str(EXAMPLE), "--domain", "movie", "--test-limit", "100", "--out",
         str(scores)], capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    imported = bench("import-scores", str(scores), "--runner", "recent-3", *cell,
                     "--results-dir", str(results))  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "imported recent-3 movie k16 seed 0: AUC" in imported.stdout
    assert "100 samples (fixed subset of 100)" in imported.stdout
    again = bench("import-scores", str(scores), "--runner", "recent-3", *cell,
                  "--results-dir", str(results))  # fmt: skip
    assert "already imported" in again.stdout

    table = bench("compare", "--results-dir", str(results), "--stats", "--format", "markdown")
    assert table.returncode == 0, table.stderr
    assert "| recent-3 [1]" in table.stdout and "| GRU4Rec [1]" in table.stdout
    assert "recent-3 [n=100] " in table.stdout  # its comparison with GRU4Rec, by user
    report = tmp_path / "report.html"
    assert bench("report", "--results-dir", str(results), "--out", str(report)).returncode == 0
    assert 'id="recent-3-100"' in report.read_text()

    digest = hashlib.sha256(scores.read_bytes()).hexdigest()
    profile = tmp_path / "mine.yaml"
    entry = {"file": scores.name, "runner": "recent-3", "domain": "movie", "shots": 16, "seed": 0}
    profile.write_text(yaml.safe_dump({"runners": [], "domains": ["movie"], "shots": [16],
                       "seeds": [0], "imports": [entry | {"sha256": digest}]}))  # fmt: skip
    reference = tmp_path / "mine.json"
    check = ["check", "--profile", str(profile), "--reference", str(reference)]
    assert bench(*check, "--update").returncode == 0
    passed = bench(*check)
    assert passed.returncode == 0 and "mine check passed: 1 figures" in passed.stdout
    _outside_scores(scores, [*csv.reader(scores.open())][1:][::-1])  # other bytes, same scores
    failed = bench(*check)
    assert failed.returncode == 1 and f"not the {digest[:12]}" in failed.stderr

    before = snapshot(results)
    ids = [row[0] for row in csv.reader(scores.open())][1:]
    bad = {
        "unknown id": [("movie-test-99999", 0.5), *[(i, 0.5) for i in ids[1:]]],
        "not a fixed subset": [(i, 0.5) for i in ids[1:]],
        "repeated": [(ids[0], 0.5), *[(i, 0.5) for i in ids]],
        "NaN": [(ids[0], "nan"), *[(i, 0.5) for i in ids[1:]]],
        "out of range": [(ids[0], 1.5), *[(i, 0.5) for i in ids[1:]]],
    }
    expected = {
        "unknown id": "are not in movie's test split",
        "not a fixed subset": "nor its fixed subset of 99",
        "repeated": "repeated: keep one score per sample",
        "NaN": "is not a number in [0, 1]",
        "out of range": "is not a number in [0, 1]",
    }
    for name, rows in bad.items():
        path = _outside_scores(tmp_path / "bad.csv", rows)
        result = bench("import-scores", str(path), "--runner", "other", *cell,
                       "--results-dir", str(results))  # fmt: skip
        assert result.returncode == 2, (name, result.stdout)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert str(path) in result.stderr and expected[name] in result.stderr, result.stderr
    clash = bench("import-scores", str(scores), "--runner", "recent-3", "--domain", "movie",
                  "--shots", "16", "--seed", "0", "--results-dir", str(results))  # fmt: skip
    assert clash.returncode == 2 and "add --force to replace it" in clash.stderr  # other bytes
    assert snapshot(results) == before


class _Dom(HTMLParser):
    """Counts of the rendered DOM's elements by tag and class."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, int] = {}
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [tag] + [f"{tag}.{c}" for k, v in attrs if k == "class" for c in (v or "").split()]
        for name in names:
            self.found[name] = self.found.get(name, 0) + 1
        self.sources += [v or "" for k, v in attrs if k in ("src", "href")]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("BENCH_REQUIRE_BROWSER") == "1":  # set by .ci/run
            pytest.fail("chromium is not installed: apt-get install chromium")
        pytest.skip("chromium is not installed (apt-get install chromium; CI installs it)")
    return found


@pytest.mark.slow
def test_html_report_renders_in_headless_chromium(env, tmp_path: Path) -> None:
    browser = _chromium()
    report = tmp_path / "report.html"
    made = bench("report", "--scores", str(QUICK), "--out", str(report))
    assert made.returncode == 0, made.stderr
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run(
        [*flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Dom()
    parser.feed(dom.stdout)
    assert parser.found.get("table.auc") == 1
    assert parser.found.get("section.runner") == 10  # one per row of the quick table
    assert parser.found.get("svg.histogram") == 20  # each row's two domains
    assert parser.found.get("td.best") == 6
    assert all(s.startswith(("data:", "#")) for s in parser.sources), parser.sources  # offline
    assert "TALLRec (CPU) [3]" in dom.stdout and "Provenance" in dom.stdout

    shot = tmp_path / "report.png"
    rendered = subprocess.run(
        [*flags, "--window-size=1280,2000", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rendered.returncode == 0 and shot.exists(), rendered.stderr[-2000:]
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    pixels = list(zip(*(band.tobytes() for band in image.split()), strict=True))
    inked = sum(1 for r, g, b in pixels if r + g + b < 600) / len(pixels)
    assert inked > 0.02, inked  # text, table and figure: not a blank page
    assert len(set(pixels)) > 100  # the figure's colours, not a flat fill


def _tour() -> list[str]:
    """The README's first-session block, line by line."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- tour -->", 1)[1].split("<!-- /tour -->", 1)[0]
    return [line for line in block.splitlines() if line.startswith("python ")]


BAD_INPUT = {  # one bad input per command of the tour, and what its one line says
    "list": ("list sasrek", "unknown runner 'sasrek'"),
    "data": ("data build --domain movies", "movies"),
    "split": ("split --domain movies --shots 16 --seeds 0", "movies"),
    "run": ("run --runner gru4rec --domain movies", "movies"),
    "import-scores": (
        "import-scores missing.csv --runner x --domain movie --shots 16 --seed 0",
        "missing.csv is not a regular file",
    ),
    "compare": ("compare --results-dir empty", "no run records in empty"),
    "report": ("report --results-dir runs/tour --out r.txt", "name a .html file"),
    "check": ("check --reference missing.json", "missing.json is unreadable"),
}


@pytest.mark.slow
def test_readme_first_session_runs_as_written(env, tmp_path: Path) -> None:
    lines = _tour()
    assert {line.split()[3] for line in lines if line.startswith("python -m bench")} == set(
        BAD_INPUT
    )
    for line in lines:
        words = line.split()
        if words[1] != "-m":  # the example script of an outside framework
            words[1] = str(REPO / words[1])
        result = subprocess.run(
            [sys.executable, *words[1:]], capture_output=True, text=True, cwd=tmp_path
        )
        assert result.returncode == 0, (line, result.stderr[-3000:])
        if words[-2:] == ["--format", "json"]:
            assert json.loads(result.stdout)["schema"] == SCHEMA
    assert "| recent-3 [1]" in subprocess.run(
        [sys.executable, "-m", "bench", "compare", "--results-dir", "runs/tour", "--format",
         "markdown"], capture_output=True, text=True, cwd=tmp_path).stdout  # fmt: skip
    assert (tmp_path / "runs" / "tour" / "report.html").stat().st_size > 10_000
    (tmp_path / "empty").mkdir()
    for command, (args, says) in BAD_INPUT.items():
        result = bench("-q", *args.split(), cwd=tmp_path)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr, (
            command,
            result.stderr,
        )
