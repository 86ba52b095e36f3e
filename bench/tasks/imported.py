"""Scores from another framework as a like/dislike record (``bench import-scores``).

A file of ``sample_id,score`` (CSV with a header, or JSON Lines) for a domain's test split,
or for one of its fixed test subsets, becomes a normal run record: the same table,
statistics, HTML report and ``bench check`` as a runner of the suite. The record names the
file and its sha256 (part of the run key) and the few-shot manifest the outside method was
meant to train on; its AUC is recomputed from the scores like every record's.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.datastore import load_domain
from bench.data.splits import VALIDATION_MODES, test_subset
from bench.errors import DataError, UsageError
from bench.files import atomic_write_text, refuse_links, sha256_bytes
from bench.metrics import log_loss, roc_auc
from bench.registry import DOMAINS, RUNNERS
from bench.store.records import (
    Prediction,
    RunRecord,
    environment,
    invocation,
    read_record,
    record_text,
    run_key,
)
from bench.tasks.base import loaded_domain
from bench.tasks.like import Cell, manifest_for

IMPORT_VERSION = 1  # in the run key: raise it when importing changes what a record holds
MAX_BYTES = 256 * 2**20  # a scores file larger than this is refused, not read
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Import:
    """One scores file of an outside runner for one cell (a profile's ``imports`` entry)."""

    file: Path
    runner: str
    domain: str
    shots: int
    seed: int
    validation: str = "full"
    sha256: str = ""  # the file's expected sha256 ('' when not pinned)


def read_scores_file(path: Path) -> tuple[dict[str, float], str, bytes]:
    """{sample id: score} of a CSV or JSON Lines file, its format and its bytes.

    Every problem is one line naming the file, the line and the fix: not a regular file,
    no ``sample_id``/``score`` columns, an empty or repeated id, a score that is not a
    number in [0, 1] (NaN included).
    """
    if path.is_symlink() or not path.is_file():
        raise UsageError(f"scores file {path} is not a regular file: give the file itself")
    if path.stat().st_size > MAX_BYTES:
        raise UsageError(f"scores file {path} is over {MAX_BYTES >> 20} MiB: not a scores file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"scores file {path} is not UTF-8 text: save it as UTF-8") from None
    fmt = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"
    rows = _jsonl_rows(path, text) if fmt == "jsonl" else _csv_rows(path, text)
    scores: dict[str, float] = {}
    for line, sample_id, value in rows:
        where = f"scores file {path}, line {line}"
        if not isinstance(sample_id, str | int) or not str(sample_id).strip():
            raise DataError(f"{where}: empty sample_id: give every row a test sample's id")
        sample_id = str(sample_id).strip()
        if sample_id in scores:
            raise DataError(f"{where}: sample {sample_id!r} repeated: keep one score per sample")
        try:
            score = float(value)
        except (TypeError, ValueError):
            score = math.nan
        if isinstance(value, bool) or not 0.0 <= score <= 1.0:  # NaN fails both comparisons
            raise DataError(
                f"{where}: score {value!r} of sample {sample_id!r} is not a number in [0, 1]: "
                "give P(like)"
            )
        scores[sample_id] = score
    if not scores:
        raise DataError(f"scores file {path} has no scores: one row per test sample")
    return scores, fmt, data


def _csv_rows(path: Path, text: str) -> list[tuple[int, Any, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"sample_id", "score"} <= set(reader.fieldnames):
        raise DataError(
            f"scores file {path}: the first line must name the columns sample_id,score "
            f"(found {reader.fieldnames}): add that header"
        )
    try:
        return [(reader.line_num, row["sample_id"], row["score"]) for row in reader]
    except csv.Error as error:
        raise DataError(f"scores file {path}, line {reader.line_num}: {error}: fix it") from None


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, Any, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"scores file {path}, line {number}: not JSON ({error.msg})") from None
        if not isinstance(row, dict) or not {"sample_id", "score"} <= set(row):
            raise DataError(
                f"scores file {path}, line {number}: expected an object with sample_id and score"
            )
        rows.append((number, row["sample_id"], row["score"]))
    return rows


def _test_samples(path: Path, domain: Any, ids: set[str]) -> tuple[list[Any], int]:
    """The test samples the file scores and the subset size (0: the whole split)."""
    test = list(domain.samples("test"))
    known = {sample.sample_id for sample in test}
    unknown = sorted(ids - known)
    if unknown:
        raise DataError(
            f"scores file {path}: {len(unknown)} sample ids are not in {domain.name}'s test "
            f"split (first: {unknown[0]!r}): score the test samples `bench data build` made"
        )
    if ids == known:
        return test, 0
    subset = test_subset(domain, len(ids))
    if ids == {sample.sample_id for sample in subset}:
        return subset, len(ids)
    missing = sorted({sample.sample_id for sample in subset} - ids)
    raise DataError(
        f"scores file {path}: its {len(ids)} ids are neither {domain.name}'s {len(test)} test "
        f"samples nor its fixed subset of {len(ids)} (missing {missing[0]!r}): score the whole "
        "test split or a fixed subset (`bench run --test-limit N` names its samples)"
    )


def import_scores(
    spec: Import, results_dir: Path, force: bool = False, profile: str = ""
) -> tuple[RunRecord, bool]:
    """Write the record of ``spec``'s scores into ``results_dir``; (record, written now).

    An intact record of the same scores is kept as it is; a record of other scores at the
    same place is replaced only with ``force``.
    """
    if not _NAME.fullmatch(spec.runner):
        raise UsageError(
            f"runner name {spec.runner!r}: use lower-case letters, digits, '.', '_' or '-'"
        )
    if spec.runner in RUNNERS.names():
        raise UsageError(
            f"runner name {spec.runner!r} is one of the suite's runners: name the imported "
            "method otherwise (e.g. my-method)"
        )
    DOMAINS.check(spec.domain)
    if spec.shots < 1 or spec.seed < 0 or spec.validation not in VALIDATION_MODES:
        raise UsageError(
            f"shots {spec.shots}, seed {spec.seed}, validation {spec.validation!r}: shots must "
            f"be >= 1, the seed >= 0 and validation one of {', '.join(VALIDATION_MODES)}"
        )
    scores, fmt, data = read_scores_file(spec.file)
    digest = sha256_bytes(data)
    if spec.sha256 and digest != spec.sha256:
        raise DataError(
            f"scores file {spec.file} has sha256 {digest[:12]}…, not the {spec.sha256[:12]}… "
            "its profile pins: restore the file or update the profile"
        )
    domain, data_sha256 = loaded_domain(spec.domain, load_domain)
    test, limit = _test_samples(spec.file, domain, set(scores))
    cell = Cell(
        spec.runner, spec.domain, spec.shots, spec.seed, spec.validation, "", limit, (), profile
    )
    manifest = manifest_for(domain, data_sha256, cell)
    config = {"imported": {"file": spec.file.name, "format": fmt, "sha256": digest}}
    parts = {
        "runner": spec.runner,
        "config": config,
        "manifest_sha256": manifest.sha256,
        "code_version": f"import-{IMPORT_VERSION}",
    } | ({"test_limit": limit} if limit else {})
    key = run_key(parts)
    path = cell.record_path(results_dir)
    if path.exists() or path.is_symlink():
        try:
            existing = read_record(path)
        except DataError:
            existing = None
        if existing is not None and existing.run_key == key:
            return existing, False
        if not force:
            raise UsageError(
                f"{path} holds another run of {spec.runner}: add --force to replace it, or "
                "use another --results-dir"
            )
    labels = [sample.label for sample in test]
    values = [scores[sample.sample_id] for sample in test]
    record = RunRecord(
        run_key=key,
        runner=spec.runner,
        domain=spec.domain,
        seed=spec.seed,
        data_sha256=data_sha256,
        config=config,
        training={"imported": {"file": str(spec.file), "sha256": digest, "rows": len(scores)}},
        wall_s={"fit": 0.0, "score": 0.0},
        peak_rss_mb=0.0,
        environment=environment(),
        predictions=tuple(
            Prediction(s.sample_id, s.label, v) for s, v in zip(test, values, strict=True)
        ),
        test_limit=limit,
        profile=profile,
        command=invocation(),
        n_shots=spec.shots,
        validation=spec.validation,
        manifest_sha256=manifest.sha256,
        auc=roc_auc(labels, values),
        log_loss=log_loss(labels, values),
        test_domain=spec.domain,
    )
    text = record_text(record.to_json())
    refuse_links(results_dir, path)
    atomic_write_text(path, text)
    return RunRecord.from_json(json.loads(text)), True
