"""The sequential baselines as runners: RecBole models, our few-shot training protocol.

Protocol: Adam on the binary label loss; one pass over the few-shot samples per epoch in
batches of ``batch_size``; after each epoch the validation AUC (or, when the validation
samples are all of one label, minus their log loss) decides the best epoch; training stops
after ``patience`` epochs without improvement or at ``max_epochs``; the best epoch's
weights (kept in memory, never pickled) score the test split. Seeds: RecBole's
``init_seed`` (python, numpy, torch, deterministic cuDNN).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from baselines.compat import recbole_config
from baselines.models import MODEL_CLASSES
from baselines.recbole_data import (
    DATASET,
    SHARED_USER,
    AtomicFiles,
    history_of,
    recbole_settings,
    write_atomic_files,
)
from baselines.text import DEFAULT_ENCODER, PRECISION
from baselines.training import train_with_early_stopping
from bench.config import threads as bench_threads
from bench.data.domain import Domain
from bench.data.schema import Sample
from bench.data.splits import FewShotManifest
from bench.errors import BenchError
from bench.metrics import selection_score

log = logging.getLogger(__name__)

# RecBole 1.2.1's defaults (recbole/properties/model/<Model>.yaml), with the values this
# suite changes to the DROS repository's (hidden 64, dropout 0.1) named in DEVIATIONS.
MODEL_PARAMS: dict[str, dict[str, Any]] = {
    "GRU4Rec": {"embedding_size": 64, "hidden_size": 64, "num_layers": 1, "dropout_prob": 0.1},
    "Caser": {"embedding_size": 64, "dropout_prob": 0.1, "reg_weight": 1e-4, "nv": 4, "nh": 8},
    "SASRec": {
        "n_layers": 2,
        "n_heads": 2,
        "hidden_size": 64,
        "inner_size": 256,
        "hidden_dropout_prob": 0.1,
        "attn_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "initializer_range": 0.02,
    },
}
DEVIATIONS = {
    "GRU4Rec": {"hidden_size": "128 -> 64 (DROS)", "dropout_prob": "0.3 -> 0.1 (DROS)"},
    "Caser": {"dropout_prob": "0.4 -> 0.1 (DROS); reg_weight unused: L2 via weight_decay"},
    "SASRec": {
        "hidden_dropout_prob": "0.5 -> 0.1 (DROS)",
        "attn_dropout_prob": "0.5 -> 0.1 (DROS)",
    },
}


@dataclass(frozen=True)
class SequentialConfig:
    """Everything that defines a sequential baseline's run (besides data and seed)."""

    model: str
    learning_rate: float = 1e-3  # DROS repository
    weight_decay: float = 1e-6  # DROS repository (l2_decay)
    batch_size: int = 256  # DROS repository and TALLRec's baselines
    max_epochs: int = 200  # a cap; early stopping ends most runs far sooner
    patience: int = 20  # epochs without a better validation score before stopping
    max_history: int = 10  # TALLRec's histories hold at most 10 items
    dros_alpha: float = 0.0  # 0: no DROS term
    dros_beta: float = 1.0  # DROS repository and TALLRec's DROS baseline
    dros_target: str = "positive"  # y one-hot at the target, as both DROS codes do
    dros_exponent: float = 0.05  # ps exponent of the DROS repository (TALLRec's script: 0.5)
    label_aware: bool = False  # feed the history's like/dislike labels (not in the paper)
    text_encoder: str | None = None  # -BERT: initialise item embeddings from item text
    model_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in MODEL_CLASSES:
            raise BenchError(f"unknown RecBole model {self.model!r}: use {sorted(MODEL_CLASSES)}")
        if not self.model_params:
            object.__setattr__(self, "model_params", dict(MODEL_PARAMS[self.model]))


_DATASETS: dict[tuple[str, int], Any] = {}  # built RecBole datasets, reused across runners
KEPT_DATASETS = 6  # a seed's manifests of two domains x three shot counts (--jobs mixes them)


def recbole_dataset(files: AtomicFiles) -> tuple[Any, Any, Any]:
    """RecBole's (train, valid, test) datasets for ``files``, built once per process."""
    key = (str(files.data_path), files.max_item_list_length)
    if key not in _DATASETS:
        from recbole.data import create_dataset

        config = recbole_config("GRU4Rec", DATASET, recbole_settings(files))
        dataset = create_dataset(config)
        while len(_DATASETS) >= KEPT_DATASETS:  # the oldest goes (dicts keep insertion order)
            del _DATASETS[next(iter(_DATASETS))]
        _DATASETS[key] = dataset.build()
    return _DATASETS[key]


class SequentialRunner:
    """A RecBole sequential model trained on a few-shot manifest's labels."""

    name: ClassVar[str]
    settings: ClassVar[SequentialConfig]
    code_version: ClassVar[int] = 1

    def __init__(self, seed: int, threads: int | None = None) -> None:
        self.seed = seed
        self.threads = threads or bench_threads()
        self.model: Any = None

    def config(self) -> dict[str, Any]:
        """The settings and the seed: part of the run key."""
        text = {"text_precision": PRECISION} if self.settings.text_encoder else {}
        return (
            asdict(self.settings)
            | text
            | {
                "seed": self.seed,
                "deviations": DEVIATIONS[self.settings.model],
            }
        )

    def fit(self, domain: Domain, manifest: FewShotManifest, workdir: Path) -> dict[str, Any]:
        """Train on the manifest's samples, keep the best validation epoch."""
        from recbole.utils import init_seed

        settings = self.settings
        torch.set_num_threads(self.threads)
        files = write_atomic_files(domain, manifest, settings.max_history)
        train_data, _, _ = recbole_dataset(files)
        self.files, self.dataset = files, train_data
        model_class = MODEL_CLASSES[settings.model]
        config = recbole_config(
            settings.model,
            DATASET,
            recbole_settings(files)
            | settings.model_params
            | {
                "seed": self.seed,
                "reproducibility": True,
                "dros_alpha": settings.dros_alpha,
                "dros_beta": settings.dros_beta,
                "dros_target": settings.dros_target,
                "label_aware": settings.label_aware,
            },
        )
        init_seed(self.seed, reproducibility=True)
        model = model_class(config, train_data)
        text = (
            {"text_embeddings_sha256": self._initialise_from_text(model, domain)}
            if settings.text_encoder
            else {}
        )
        train = train_data.inter_feat
        if settings.dros_alpha:
            counts = torch.bincount(train[train_data.iid_field], minlength=train_data.item_num)
            model.set_popularity(counts, settings.dros_exponent)
        _, valid_samples = manifest.samples(domain)
        valid = self.to_interaction(valid_samples)
        valid_labels = [sample.label for sample in valid_samples]
        optimizer = torch.optim.Adam(
            model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )

        def validate(epoch: int) -> float:
            probabilities = self._probabilities(model, valid)
            if not np.isfinite(probabilities).all():
                raise self._diverged("validation scores became nan", epoch)
            return selection_score(valid_labels, probabilities)

        stopped = train_with_early_stopping(
            model, train, optimizer, settings, self.seed, validate, self._diverged
        )
        self.model = model
        return {
            "best_epoch": stopped.best_epoch,
            "epochs_run": len(stopped.history),
            "best_valid_score": stopped.best_score,
            "valid_score_by_epoch": stopped.history,
            "selection_metric": "auc" if len(set(valid_labels)) == 2 else "-log_loss",
            "n_train": len(train),
            "n_valid": len(valid_samples),
            "threads": self.threads,
            "parameters": sum(p.numel() for p in model.parameters()),
            "recbole_data": str(files.data_path),
        } | text

    def _diverged(self, what: str, epoch: int) -> BenchError:
        return BenchError(
            f"{self.name}: {what} at epoch {epoch}: training diverged; "
            "lower learning_rate or dros_alpha"
        )

    @staticmethod
    def _probabilities(model: Any, interaction: Any, batch_size: int = 2048) -> list[float]:
        model.eval()
        out: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(interaction), batch_size):
                logits = model.predict(
                    interaction[torch.arange(start, min(start + batch_size, len(interaction)))]
                )
                out.extend(torch.sigmoid(logits).tolist())
        return out

    def _initialise_from_text(self, model: Any, domain: Domain) -> str:
        """Item embeddings from the item texts (-BERT); returns the text embeddings' sha256."""
        from baselines.text import project, text_embeddings

        catalogue, digest = text_embeddings(list(domain.items.values()), self.settings.text_encoder)
        position = {item_id: index for index, item_id in enumerate(domain.items)}
        tokens = [str(token) for token in self.dataset.field2id_token[self.dataset.iid_field]]
        rows = [row for row, token in enumerate(tokens) if token in position]
        vectors = catalogue[[position[tokens[row]] for row in rows]]
        weight = model.item_embedding.weight
        projected = project(vectors, weight.shape[1], float(weight.detach().std()))
        with torch.no_grad():
            weight[torch.tensor(rows)] = torch.from_numpy(projected)
        return digest

    def to_interaction(self, samples: Sequence[Sample]) -> Any:
        """RecBole ``Interaction`` for ``samples`` in the fitted dataset's id space."""
        from recbole.data.interaction import Interaction

        data = self.dataset
        item_ids = data.field2token_id[data.iid_field]
        label_ids = data.field2token_id["history_label"]
        length = data.field2seqlen[data.item_id_list_field]
        sequences = torch.zeros(len(samples), length, dtype=torch.long)
        history_labels = torch.zeros(len(samples), length, dtype=torch.long)
        lengths = torch.zeros(len(samples), dtype=torch.long)
        for row, sample in enumerate(samples):
            history = history_of(sample, self.settings.max_history)
            sequences[row, : len(history)] = torch.tensor([item_ids[item] for item, _ in history])
            history_labels[row, : len(history)] = torch.tensor(
                [label_ids.get(str(label), 0) for _, label in history]
            )
            lengths[row] = len(history)
        return Interaction(
            {
                data.uid_field: torch.full(
                    (len(samples),), data.field2token_id[data.uid_field][SHARED_USER]
                ),
                data.item_id_list_field: sequences,
                "history_label": history_labels,
                data.item_list_length_field: lengths,
                data.iid_field: torch.tensor([item_ids[s.target_item] for s in samples]),
                data.label_field: torch.tensor([float(s.label) for s in samples]),
            }
        )

    def score(self, samples: Sequence[Sample]) -> list[float]:
        """P(like) for each sample, from the best epoch's weights."""
        if self.model is None:
            raise BenchError(f"{self.name}: score() before fit()")
        return self._probabilities(self.model, self.to_interaction(samples))


def _runner(name: str, settings: SequentialConfig) -> type[SequentialRunner]:
    return type(name, (SequentialRunner,), {"name": name, "settings": settings})


_DROS = {"dros_alpha": 0.4}  # alpha of TALLRec's DROS baseline script (the DROS code: tuned)
_TEXT = {"text_encoder": DEFAULT_ENCODER}
GRU4Rec = _runner("gru4rec", SequentialConfig("GRU4Rec"))
Caser = _runner("caser", SequentialConfig("Caser"))
SASRec = _runner("sasrec", SequentialConfig("SASRec"))
DROS = _runner("dros", SequentialConfig("SASRec", **_DROS))
GRUBert = _runner("gru-bert", SequentialConfig("GRU4Rec", **_TEXT))
DROSBert = _runner("dros-bert", SequentialConfig("SASRec", **_DROS, **_TEXT))
GRU4RecLabel = _runner("gru4rec-label", replace(GRU4Rec.settings, label_aware=True))
SASRecLabel = _runner("sasrec-label", replace(SASRec.settings, label_aware=True))
