"""RecBole's GRU4Rec, Caser and SASRec on the next-item task (LLaRA's baselines).

Each is RecBole's own class with its own loss (``loss_type: CE``, a softmax over every
item) trained on the domain's whole train split (history -> next item); Adam, batches of
256, at most ``max_epochs`` epochs, stopping after ``patience`` epochs without a better
validation score (mean reciprocal rank of the target among the 20 stored candidates); the
best epoch's weights score the test samples' candidates (``full_sort_predict``, then the
20 candidates' columns). The SASRec runner also writes its item embeddings in LLaRA's
layout (``item_vectors.safetensors``: row = item id, last row padding), which the ``llara``
runner can use instead of LLaRA's released SASRec.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from baselines.compat import import_sequential_models, recbole_config
from baselines.recbole_data import RUNTIME_SETTINGS, SHARED_USER, private_checkpoint_dir
from baselines.sequential import MODEL_PARAMS
from baselines.training import train_with_early_stopping
from bench import config as bench_config
from bench.data.nextitem import HISTORY_LENGTH, NextItemDomain, NextItemSample
from bench.errors import BenchError
from bench.files import atomic_directory
from bench.nextitem_metrics import mean_reciprocal_rank

log = logging.getLogger(__name__)
DATASET = "next"
VECTORS_FILE = "item_vectors.safetensors"


@dataclass(frozen=True)
class NextItemBaselineSettings:
    """Everything that defines a next-item baseline's run (besides data and seed)."""

    model: str
    learning_rate: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 50
    patience: int = 5
    train_limit: int = 0  # a fixed subset of the train split (0: all of it)


def _write_atomic_files(domain: NextItemDomain, data_sha256: str) -> Path:
    folder = bench_config.cache_dir() / "recbole-next" / f"{domain.name}-{data_sha256[:16]}"
    if not (folder / DATASET / f"{DATASET}.item").exists():
        header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
        with atomic_directory(folder / DATASET) as staging:
            for split in ("train", "valid", "test"):
                lines = [header] + [
                    f"{SHARED_USER}\t{' '.join(s.history)}\t{s.target}\n"
                    for s in domain.samples(split)
                ]
                (staging / f"{DATASET}.{split}.inter").write_text("".join(lines))
            items = "".join(f"{item}\n" for item in domain.titles)
            (staging / f"{DATASET}.item").write_text("item_id:token\n" + items)
    return folder


def _settings(folder: Path) -> dict[str, Any]:
    return {
        "data_path": str(folder),
        "checkpoint_dir": private_checkpoint_dir(),
        "benchmark_filename": ["train", "valid", "test"],
        "alias_of_item_id": ["item_id_list"],
        "MAX_ITEM_LIST_LENGTH": HISTORY_LENGTH,
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"], "item": ["item_id"]},
        "eval_args": {"mode": "full", "order": "TO", "split": None, "group_by": None},
        "loss_type": "CE",
    } | RUNTIME_SETTINGS


class NextItemBaseline:
    """A RecBole sequential model trained with full softmax; see the module docstring."""

    name: ClassVar[str]
    settings: ClassVar[NextItemBaselineSettings]
    # 2 (0.6.0): validation MRR counts ties as the mean rank among them (model selection)
    code_version: ClassVar[int] = 2

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.threads = bench_config.threads()
        self.model: Any = None

    def config(self) -> dict[str, Any]:
        """The settings, RecBole model parameters and the seed: part of the run key."""
        return asdict(self.settings) | {
            "seed": self.seed,
            "model_params": MODEL_PARAMS[self.settings.model],
        }

    def fit(self, domain: NextItemDomain, data_sha256: str, workdir: Path) -> dict[str, Any]:
        """Train on the train split; keep the epoch of best validation MRR (ties: mean rank)."""
        from recbole.data import create_dataset
        from recbole.utils import init_seed

        settings = self.settings
        torch.set_num_threads(self.threads)
        folder = _write_atomic_files(domain, data_sha256)
        base = {"seed": self.seed, "reproducibility": True} | MODEL_PARAMS[settings.model]
        config = recbole_config(settings.model, DATASET, _settings(folder) | base)
        train_data, _, _ = create_dataset(config).build()
        self.dataset = train_data
        init_seed(self.seed, reproducibility=True)
        model = getattr(import_sequential_models(), settings.model)(config, train_data)
        train = train_data.inter_feat
        if settings.train_limit:
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
            train = train[order[: settings.train_limit]]
        valid = domain.samples("valid")
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
        self.model = model  # rank() scores the validation samples with it after each epoch

        def validate(epoch: int) -> float:
            score = mean_reciprocal_rank(self.rank(valid), [s.target_index for s in valid])
            log.info("%s epoch %d: validation MRR %.4f", self.name, epoch, score)
            return score

        def diverged(what: str, epoch: int) -> BenchError:
            return BenchError(f"{self.name}: {what} at epoch {epoch}")

        stopped = train_with_early_stopping(
            model, train, optimizer, settings, self.seed, validate, diverged
        )
        vectors = self._write_vectors(domain, workdir) if settings.model == "SASRec" else None
        return {
            "best_epoch": stopped.best_epoch,
            "epochs_run": len(stopped.history),
            "best_valid_mrr": stopped.best_score,
            "valid_mrr_by_epoch": stopped.history,
            "n_train": len(train),
            "n_valid": len(valid),
            "threads": self.threads,
            "parameters": sum(p.numel() for p in model.parameters()),
            "item_vectors": vectors,
        }

    def _interaction(self, samples: Sequence[NextItemSample]) -> Any:
        from recbole.data.interaction import Interaction

        data = self.dataset
        item_ids = data.field2token_id[data.iid_field]
        sequences = torch.zeros(len(samples), HISTORY_LENGTH, dtype=torch.long)
        lengths = torch.zeros(len(samples), dtype=torch.long)
        for row, sample in enumerate(samples):
            history = sample.history[-HISTORY_LENGTH:]
            sequences[row, : len(history)] = torch.tensor([item_ids[i] for i in history])
            lengths[row] = len(history)
        return Interaction(
            {
                data.uid_field: torch.full(
                    (len(samples),), data.field2token_id[data.uid_field][SHARED_USER]
                ),
                data.item_id_list_field: sequences,
                data.item_list_length_field: lengths,
            }
        )

    def rank(self, samples: Sequence[NextItemSample], batch_size: int = 1024) -> list[list[float]]:
        """Each sample's 20 candidate scores, in candidate order."""
        if self.model is None:
            raise BenchError(f"{self.name}: rank() before fit()")
        item_ids = self.dataset.field2token_id[self.dataset.iid_field]
        self.model.eval()
        scores: list[list[float]] = []
        with torch.no_grad():
            for start in range(0, len(samples), batch_size):
                chunk = samples[start : start + batch_size]
                every_item = self.model.full_sort_predict(self._interaction(chunk))
                every_item = every_item.view(len(chunk), -1)
                columns = torch.tensor([[item_ids[c] for c in s.candidates] for s in chunk])
                scores.extend(every_item.gather(1, columns).tolist())
        return scores

    def _write_vectors(self, domain: NextItemDomain, workdir: Path) -> dict[str, Any]:
        """Item embeddings in LLaRA's layout: row i = item id i, one padding row last."""
        from safetensors.torch import save_file

        item_ids = self.dataset.field2token_id[self.dataset.iid_field]
        weight = self.model.item_embedding.weight.detach()
        rows = torch.zeros(len(domain.titles) + 1, weight.shape[1])
        for item in domain.titles:
            rows[int(item)] = weight[item_ids[item]]
        with atomic_directory(workdir / "vectors") as staging:
            save_file({"item_embeddings.weight": rows.contiguous()}, str(staging / VECTORS_FILE))
        return {"path": str(workdir / "vectors" / VECTORS_FILE), "shape": list(rows.shape)}


def _runner(name: str, model: str) -> type[NextItemBaseline]:
    settings = NextItemBaselineSettings(model)
    return type(name, (NextItemBaseline,), {"name": name, "settings": settings})


GRU4RecNext = _runner("gru4rec", "GRU4Rec")
CaserNext = _runner("caser", "Caser")
SASRecNext = _runner("sasrec", "SASRec")
