"""Score files: every test sample's score of every run, with each run's provenance.

A score file (``.csv.gz``, RFC 4180, one row per test sample of a run) is what a report
ships, so that its tables and statistics can be rebuilt on a fresh clone
(``bench compare --scores FILE...``). Each row repeats its run's provenance (run key, model,
commit, packages, machine, command, wall times); gzip makes the repetition nearly free.
Files written before 0.6.0 have only the first eight columns; their runs read back with
empty provenance.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Sequence
from pathlib import Path

from bench.errors import DataError
from bench.files import atomic_write_bytes
from bench.metrics import log_loss, roc_auc
from bench.store.records import Prediction, RunRecord, run_key

RUN_COLUMNS = (
    "runner",
    "variant",
    "domain",
    "test_domain",
    "n_shots",
    "seed",
    "validation",
    "test_limit",
    "profile",
    "model",
    "run_key",
    "data_sha256",
    "manifest_sha256",
    "git_commit",
    "packages",
    "machine",
    "command",
    "fit_s",
    "score_s",
)
SAMPLE_COLUMNS = ("sample_id", "label", "score")
LEGACY_COLUMNS = ("runner", "domain", "n_shots", "seed", "validation", *SAMPLE_COLUMNS)


def model_of(record: RunRecord) -> str:
    """The model of an LLM run (a run whose config has a prompt template), else ''."""
    return str(record.config.get("model", "")) if "template" in record.config else ""


def _run_fields(r: RunRecord) -> list[str]:
    packages = ";".join(f"{k}={v}" for k, v in sorted(r.environment.get("packages", {}).items()))
    return [
        r.runner,
        r.variant,
        r.domain,
        r.tested_on,
        str(r.n_shots),
        str(r.seed),
        r.validation,
        str(r.test_limit),
        r.profile,
        model_of(r),
        r.run_key,
        r.data_sha256,
        r.manifest_sha256,
        str(r.environment.get("git_commit") or ""),
        packages,
        str(r.environment.get("machine", "")),
        r.command,
        repr(r.wall_s.get("fit", math.nan)),
        repr(r.wall_s.get("score", math.nan)),
    ]


def _order(r: RunRecord) -> tuple:
    return (r.runner, r.variant, r.domain, r.tested_on, r.n_shots, r.seed, r.test_limit)


def write_scores(records: Sequence[RunRecord], path: Path) -> None:
    """Every test sample's score of every record, as gzipped CSV (AUCs can be recomputed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*RUN_COLUMNS, *SAMPLE_COLUMNS])
    for r in sorted(records, key=_order):
        fields = _run_fields(r)
        writer.writerows([*fields, p.sample_id, p.label, repr(p.score)] for p in r.predictions)
    atomic_write_bytes(path, gzip.compress(buffer.getvalue().encode("utf-8"), mtime=0))


def _record(run: dict[str, str], rows: list[dict[str, str]]) -> RunRecord:
    predictions = tuple(
        Prediction(row["sample_id"], int(row["label"]), float(row["score"])) for row in rows
    )
    labels, scores = [p.label for p in predictions], [p.score for p in predictions]
    packages = dict(item.split("=", 1) for item in run.get("packages", "").split(";") if item)
    model = run.get("model", "")
    identity = {k: run.get(k, "") for k in RUN_COLUMNS[:9]}
    return RunRecord(
        run_key=run.get("run_key") or "scores:" + run_key(identity),
        runner=run["runner"],
        domain=run["domain"],
        n_shots=int(run["n_shots"]),
        seed=int(run["seed"]),
        validation=run["validation"],
        manifest_sha256=run.get("manifest_sha256", ""),
        data_sha256=run.get("data_sha256", ""),
        config={"model": model, "template": ""} if model else {},
        training={},
        auc=roc_auc(labels, scores),
        log_loss=log_loss(labels, scores),
        wall_s={
            "fit": float(run.get("fit_s") or "nan"),
            "score": float(run.get("score_s") or "nan"),
        },
        peak_rss_mb=math.nan,
        environment={
            "git_commit": run.get("git_commit") or None,
            "packages": packages,
            "machine": run.get("machine", ""),
        },
        predictions=predictions,
        test_domain=run.get("test_domain", ""),
        variant=run.get("variant", ""),
        test_limit=int(run.get("test_limit") or 0),
        profile=run.get("profile", ""),
        command=run.get("command", ""),
    )


def read_scores(path: Path) -> list[RunRecord]:
    """The runs of a score file (of this version or the legacy eight-column one)."""
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
        reader = csv.DictReader(io.StringIO(text))
        columns = tuple(reader.fieldnames or ())
        if not set(LEGACY_COLUMNS) <= set(columns):
            raise DataError(
                f"score file {path} lacks the columns {sorted(set(LEGACY_COLUMNS) - set(columns))}"
                ": give a file written by `bench compare --scores-out`"
            )
        runs: dict[tuple[str, ...], list[dict[str, str]]] = {}
        for row in reader:
            run = tuple(row.get(column, "") for column in RUN_COLUMNS)
            runs.setdefault(run, []).append(row)
        return [
            _record(dict(zip(RUN_COLUMNS, run, strict=True)), rows) for run, rows in runs.items()
        ]
    except FileNotFoundError:
        raise DataError(f"score file {path} does not exist: check the path") from None
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, ValueError, KeyError) as error:
        raise DataError(f"score file {path} is damaged ({error}): fetch it again") from None
