"""Run records: one JSON per run with its provenance and every test sample's score."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Self

from bench.errors import BenchError, DataError
from bench.files import atomic_write_text, canonical_json, sha256_bytes
from bench.metrics import roc_auc

REPO = Path(__file__).resolve().parents[2]
_PACKAGES = ("numpy", "torch", "recbole", "scikit-learn", "transformers", "peft", "tallrec-bench")


@dataclass(frozen=True)
class Prediction:
    """One test sample's label and the runner's P(like)."""

    sample_id: str
    label: int
    score: float


def runner_folder(runner: str, variant: str) -> str:
    """A record's runner folder and label: ``runner``, or ``runner@variant``."""
    return f"{runner}@{variant}" if variant else runner


@dataclass(frozen=True, kw_only=True)
class RecordBase:
    """What every task's run record holds: identity, provenance, timings, predictions.

    A task's record adds its own fields (its metrics) and prediction type; the JSON of a
    record is its fields, sorted, with one line per prediction (:func:`record_text`).
    """

    prediction: ClassVar[type]  # the task's per-sample prediction dataclass
    run_key: str
    runner: str
    domain: str
    seed: int
    data_sha256: str
    config: dict[str, Any]
    training: dict[str, Any]
    wall_s: dict[str, float]
    peak_rss_mb: float
    environment: dict[str, Any]
    predictions: tuple[Any, ...]
    variant: str = ""  # the runner settings changed from its defaults, as a label
    test_limit: int = 0  # a fixed subset of the test split was scored (0: all of it)
    profile: str = ""  # the profile whose grid made this run ('' for a cell given by hand)
    command: str = ""  # the command line or script that made it ('' in records before 0.6.0)

    def to_json(self) -> dict[str, Any]:
        """Plain dict; predictions as a list of dicts."""
        return as_plain_dict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Self:
        """Inverse of :meth:`to_json`."""
        predictions = tuple(cls.prediction(**p) for p in record["predictions"])
        return cls(**record | {"predictions": predictions})

    @property
    def runner_label(self) -> str:
        """``runner`` or ``runner@variant``, as the record's folder is named."""
        return runner_folder(self.runner, self.variant)

    @property
    def run_seconds(self) -> float:
        """The runner's own time: every timed step (fit, scoring or ranking, generation)."""
        return sum(self.wall_s.values())


@dataclass(frozen=True, kw_only=True)
class RunRecord(RecordBase):
    """A like/dislike run: its AUC, recomputed from the scores whenever it is read."""

    prediction: ClassVar[type] = Prediction
    n_shots: int
    validation: str
    manifest_sha256: str
    auc: float
    log_loss: float
    test_domain: str = ""  # the test split's domain ('' in records older than this field)

    @property
    def standard(self) -> bool:
        """Same-domain test, the runner's default settings, the whole test split."""
        return self.tested_on == self.domain and not self.variant and not self.test_limit

    @property
    def tested_on(self) -> str:
        """The domain whose test split was scored."""
        return self.test_domain or self.domain

    @property
    def headline(self) -> str:
        """The record's main figure, for progress lines."""
        return f"AUC {self.auc:.4f}"

    def recomputed_auc(self) -> float:
        """AUC from the stored per-sample scores (equals ``auc`` for an intact record)."""
        return roc_auc([p.label for p in self.predictions], [p.score for p in self.predictions])


def run_key(parts: dict[str, Any]) -> str:
    """Content address of a run: sha256 of its sorted-key JSON description."""
    return sha256_bytes(canonical_json(parts).encode("utf-8"))


COMMAND_VARIABLE = "BENCH_COMMAND"  # set by the CLI; passed on to Ray and worker processes


def invocation() -> str:
    """The command that made this process's records: ``BENCH_COMMAND``, else ``sys.argv``.

    The CLI sets ``BENCH_COMMAND`` to its own command line; a Python caller of the API gets
    its script and arguments (``python -c`` and notebooks show as ``python -c``/the kernel).
    """
    return os.environ.get(COMMAND_VARIABLE) or shlex.join(["python", *sys.argv])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_capability() -> str:
    """The widest vector instructions torch's CPU kernels use: AVX512, AVX2 or DEFAULT.

    ``ATEN_CPU_CAPABILITY`` caps it; the last bits of float32 results depend on it.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            flags = next((line.split()[2:] for line in info if line.startswith("flags")), [])
    except OSError:
        flags = []
    found = "AVX512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "DEFAULT"
    order = ("DEFAULT", "AVX2", "AVX512")
    cap = os.environ.get("ATEN_CPU_CAPABILITY", "").upper()
    return min(found, cap, key=order.index) if cap in order else found


@functools.cache
def environment() -> dict[str, Any]:
    """Versions, machine and commit as of this process's first call (the code it runs)."""
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    except OSError:
        commit, dirty = "", False
    return {
        "python": platform.python_version(),
        "packages": versions,
        "machine": (
            f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {_cpu_model()}"
        ),
        "cpu_capability": cpu_capability(),
        "git_commit": commit or None,
        "git_dirty": dirty,
    }


def as_plain_dict(record: Any) -> dict[str, Any]:
    """A record dataclass as a plain dict, its ``predictions`` (flat dataclasses) as dicts.

    Faster than ``dataclasses.asdict`` on thousands of predictions (no deep copies).
    """
    meta = asdict(replace(record, predictions=()))
    return meta | {"predictions": [dict(vars(p)) for p in record.predictions]}


def record_text(data: dict[str, Any]) -> str:
    """JSON of a record dict: fields indented, then one compact line per prediction.

    Written this way because ``json.dumps(indent=...)`` runs the pure-Python encoder, which
    made writing a record most of the grid's per-cell overhead.
    """
    meta = {key: value for key, value in data.items() if key != "predictions"}
    head = json.dumps(meta, indent=1, sort_keys=True)
    encode = json.JSONEncoder(sort_keys=True).encode  # one encoder for every row
    rows = ",\n  ".join(map(encode, data["predictions"]))
    return f'{head[:-2]},\n "predictions": [\n  {rows}\n ]\n}}\n'


def write_record(record: RunRecord, path: Path) -> None:
    """Write ``record`` atomically."""
    atomic_write_text(path, record_text(record.to_json()))


def read_record(path: Path) -> RunRecord:
    """Read a record; a truncated or altered one is an error, never a result."""
    try:
        record = RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        matches = abs(record.recomputed_auc() - float(record.auc)) <= 1e-12
    except (BenchError, OSError, ValueError, TypeError, KeyError) as error:
        # JSONDecodeError is a ValueError; a NaN score or a string AUC lands here too
        raise DataError(f"run record {path} is damaged ({error}): delete it and rerun") from None
    if not matches:
        raise DataError(f"run record {path}: AUC does not match its scores: delete it and rerun")
    return record
