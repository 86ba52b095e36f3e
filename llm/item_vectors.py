"""LLaRA's hybrid item representation: item vectors, the projector, the curriculum.

Each item's title in a hybrid prompt is followed by one slot whose input embedding is the
item's recommender vector (LLaRA's released SASRec, this suite's, or any table in that
layout) through :class:`Projector`. Curriculum: a training micro-batch uses hybrid prompts
with probability (step + 1) / total steps, decided by a hash of (seed, step, micro-batch).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench import config as bench_config
from bench.data.nextitem import NextItemDomain
from bench.errors import BenchError
from bench.files import sha256_file

# LLaRA's released SASRec weights per domain: file in BENCH_DATA_DIR and its sha256.
RELEASED_VECTORS = {
    "lastfm": (
        "llara/rec_model/lastfm_sasrec.safetensors",
        "5e94152f75cfe54e76c793c6662bef68915c9b9c3100aa573e43ba562371c2cf",
    ),
    "movielens-next": (
        "llara/rec_model/movielens_sasrec.safetensors",
        "6fd07592949132b60a85e9704df765076cbed30bd285b067d108f3c9366aa0e7",
    ),
}


class Projector(nn.Module):
    """LLaRA's MLP projector: rec hidden size -> LLM hidden size."""

    def __init__(self, rec_size: int, llm_size: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(rec_size, llm_size), nn.GELU(), nn.Linear(llm_size, llm_size)
        )

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """Projected vectors."""
        return self.mlp(vectors)


def load_item_vectors(spec: str, domain: NextItemDomain) -> tuple[torch.Tensor, dict[str, Any]]:
    """The (items + 1, rec size) table named by ``spec``, checked against the domain."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if spec == "released":
        if domain.name not in RELEASED_VECTORS:
            raise BenchError(f"LLaRA released no SASRec for {domain.name}: give a .safetensors")
        relative, expected = RELEASED_VECTORS[domain.name]
        path = bench_config.data_dir() / relative
        if not path.exists():
            raise BenchError(
                f"{path} is missing: put LLaRA's released SASRec there (see ../shared/README.md) "
                "or set item_vectors to a .safetensors file"
            )
    else:
        path, expected = Path(spec), None
    digest = sha256_file(path) if path.exists() else ""
    if expected and digest != expected:
        raise BenchError(f"{path} fails its sha256 check: fetch it again")
    try:
        table = load_file(str(path))["item_embeddings.weight"].float()
    except (OSError, KeyError, SafetensorError) as error:
        raise BenchError(
            f"item vectors {path} unreadable or without item_embeddings.weight ({error}): "
            "give a safetensors file in LLaRA's layout"
        ) from None
    if table.shape[0] != len(domain.titles) + 1:
        raise BenchError(
            f"item vectors {path} have {table.shape[0]} rows, {domain.name} has "
            f"{len(domain.titles)} items (+1 padding row expected): use the table of this domain"
        )
    return table, {"path": str(path), "sha256": digest, "shape": list(table.shape)}


def hybrid_probability(step: int, total: int) -> float:
    """The curriculum: share of hybrid prompts at optimizer step ``step`` (0-based)."""
    return min(1.0, (step + 1) / max(total, 1))


def uses_hybrid(seed: int, step: int, micro_batch: int, total: int) -> bool:
    """Whether a training micro-batch gets hybrid prompts: a pure function of its step."""
    draw = random.Random(f"{seed}:{step}:{micro_batch}").random()
    return draw < hybrid_probability(step, total)


class HybridCollate:
    """LLaRA's micro-batches: each hybrid (item vectors) or text-only by the curriculum.

    ``flags`` lists (step, hybrid) per micro-batch for the record; it is part of the
    training checkpoint (``state_dict``), so a resumed run records the same flags. The
    runner's ``_batch(chunk, hybrid)`` builds the micro-batch.
    """

    def __init__(self, runner: Any, total: int) -> None:  # a next-item LLM runner
        self.runner, self.total = runner, total
        self.flags: list[tuple[int, bool]] = []
        self.index: dict[int, int] = {}

    def __call__(self, chunk: list[Any], step: int) -> dict[str, torch.Tensor]:
        """The micro-batch of ``chunk`` at optimizer step ``step``, hybrid or text-only."""
        settings, seed = self.runner.settings, self.runner.seed
        index = self.index[step] = self.index.get(step, -1) + 1
        hybrid = settings.hybrid and (
            not settings.curriculum or uses_hybrid(seed, step, index, self.total)
        )
        self.flags.append((step, hybrid))
        return self.runner._batch(chunk, hybrid)

    def state_dict(self) -> dict[str, Any]:
        """The flags so far and each step's micro-batch count (for the checkpoint)."""
        return {"flags": self.flags, "index": {str(k): v for k, v in self.index.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`'s output."""
        self.flags = [(int(step), bool(hybrid)) for step, hybrid in state["flags"]]
        self.index = {int(k): int(v) for k, v in state["index"].items()}
