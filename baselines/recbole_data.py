"""Canonical samples -> RecBole atomic files -> RecBole datasets, once per manifest.

Atomic files (``bench.{train,valid,test}.inter`` + ``bench.item``) hold
``user_id:token``, ``item_id_list:token_seq``, ``history_label:token_seq``, ``item_id:token``
and ``label:float``; train = the manifest's few-shot samples, valid = its validation
samples, test = the domain's whole test split; the item file lists the whole catalogue.

Adapter rules (RecBole pitfalls measured on this stack):
- histories longer than ``max_history`` keep their most recent items (RecBole would keep
  the oldest, and SASRec fails on longer ones);
- an empty history becomes the single token ``EMPTY_HISTORY`` (RecBole's predict crashes on
  a zero-length sequence); no sample is dropped;
- ``MAX_ITEM_LIST_LENGTH`` is the longest history written (Caser fails when it is larger);
- ``user_id`` is one shared token: the paper's baselines see no user ids, and unseen users
  would only add random embeddings (RecBole's Caser thus learns one shared user vector).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import config as bench_config
from bench.data.domain import Domain
from bench.data.schema import Sample
from bench.data.splits import FewShotManifest
from bench.files import atomic_directory

DATASET = "bench"
EMPTY_HISTORY = "__empty_history__"
SHARED_USER = "all"
INTER_HEADER = (
    "user_id:token\titem_id_list:token_seq\thistory_label:token_seq\titem_id:token\tlabel:float\n"
)


def history_of(sample: Sample, max_history: int) -> list[tuple[str, int]]:
    """The (item, label) history as written: most recent ``max_history``, never empty."""
    history = [(entry.item_id, entry.label) for entry in sample.history][-max_history:]
    return history or [(EMPTY_HISTORY, 0)]


def inter_lines(samples: Sequence[Sample], max_history: int) -> str:
    """Atomic ``.inter`` content for ``samples``, in order."""
    lines = [INTER_HEADER]
    for sample in samples:
        history = history_of(sample, max_history)
        items = " ".join(item for item, _ in history)
        labels = " ".join(str(label) for _, label in history)
        lines.append(f"{SHARED_USER}\t{items}\t{labels}\t{sample.target_item}\t{sample.label}\n")
    return "".join(lines)


# How RecBole runs here, whatever the model and data: no negative sampling (our own losses and
# candidates), quiet, on the CPU, nothing saved next to the data.
RUNTIME_SETTINGS: dict[str, Any] = {
    "train_neg_sample_args": None,
    "show_progress": False,
    "use_gpu": False,
    "device": "cpu",
    "save_dataset": False,
    "save_dataloaders": False,
}


@dataclass(frozen=True)
class AtomicFiles:
    """A folder of atomic files for one manifest, and the sequence length they need."""

    data_path: Path
    max_item_list_length: int


def write_atomic_files(domain: Domain, manifest: FewShotManifest, max_history: int) -> AtomicFiles:
    """Write (once, into the cache) the atomic files of ``manifest``."""
    train, valid = manifest.samples(domain)
    test = list(domain.samples("test"))
    folder = bench_config.cache_dir() / "recbole" / f"{manifest.sha256[:20]}-h{max_history}"
    longest = max(len(history_of(s, max_history)) for s in [*train, *valid, *test])
    if not (folder / DATASET / f"{DATASET}.item").exists():
        with atomic_directory(folder / DATASET) as staging:
            for split, samples in (("train", train), ("valid", valid), ("test", test)):
                (staging / f"{DATASET}.{split}.inter").write_text(inter_lines(samples, max_history))
            items = "".join(f"{item_id}\n" for item_id in [*domain.items, EMPTY_HISTORY])
            (staging / f"{DATASET}.item").write_text("item_id:token\n" + items)
    return AtomicFiles(folder, longest)


def private_checkpoint_dir() -> str:
    """A fresh, empty folder for RecBole's ``checkpoint_dir``, removed when the process ends.

    RecBole's ``create_dataset`` unpickles ``<checkpoint_dir>/<dataset>-<class>.pth``
    whenever it exists; inside the shared cache a planted file would run as code.
    """
    folder = tempfile.mkdtemp(prefix="bench-recbole-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


def recbole_settings(files: AtomicFiles) -> dict[str, Any]:
    """The RecBole config keys that describe the data (shared by every model)."""
    return {
        "data_path": str(files.data_path),
        "checkpoint_dir": private_checkpoint_dir(),
        "benchmark_filename": ["train", "valid", "test"],
        "alias_of_item_id": ["item_id_list"],
        "LABEL_FIELD": "label",
        "MAX_ITEM_LIST_LENGTH": files.max_item_list_length,
        "load_col": {
            "inter": ["user_id", "item_id_list", "history_label", "item_id", "label"],
            "item": ["item_id"],
        },
        "eval_args": {"mode": "labeled", "order": "TO", "split": None, "group_by": None},
        "metrics": ["AUC", "LogLoss"],
        "valid_metric": "AUC",
    } | RUNTIME_SETTINGS
