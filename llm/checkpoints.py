"""Training state on disk: adapter weights loaded key by key, and resumable checkpoints.

:func:`llm.lora.train` saves a :class:`Checkpoints` folder after every optimizer step when
given a :class:`Resume`: ``state.json`` (JSON only) and ``tensors.safetensors``. Nothing in
it is unpickled, and it is loaded only when it belongs to the same run and is intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bench.errors import BenchError
from bench.files import atomic_directory, canonical_json, sha256_file
from bench.tasks.runner import CHECKPOINT

if TYPE_CHECKING:
    from llm.lora import Schedule, TrainingLog

log = logging.getLogger(__name__)


def check_adapter_keys(model: Any, keys: set[str], source: str) -> None:
    """Refuse adapter weights whose keys are not exactly the model's adapter keys.

    peft only warns about missing keys and ignores unexpected ones: a run would go on from
    a half-loaded adapter (TALLRec's users lost runs to this, its issues #53, #59, #66).
    """
    from peft import get_peft_model_state_dict

    expected = set(get_peft_model_state_dict(model))
    missing, unexpected = sorted(expected - keys), sorted(keys - expected)
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise BenchError(
            f"adapter {source} has {len(missing)} missing and {len(unexpected)} unexpected "
            f"weights (e.g. {example}): use an adapter saved with these LoRA settings for "
            "this base model"
        )


def load_adapter_state(model: Any, state: dict[str, torch.Tensor], source: str) -> None:
    """Load adapter weights into ``model``, every key checked (see :func:`check_adapter_keys`)."""
    from peft import set_peft_model_state_dict

    check_adapter_keys(model, set(state), source)
    result = set_peft_model_state_dict(model, state)
    if result.unexpected_keys:
        raise BenchError(f"adapter {source}: {result.unexpected_keys[0]} was not loaded")


@dataclass(frozen=True)
class Resume:
    """Where :func:`train` keeps its state after every optimizer step, and what it is for.

    ``identity`` names the run (the runner's config and data); the schedule, seed, examples
    and initial weights are added to it, so a checkpoint of anything else is never loaded.
    """

    folder: Path
    identity: str


def resume_in(workdir: Path | None, *identity: Any) -> Resume | None:
    """Checkpoints in ``<workdir>/checkpoint`` (removed once the cell's record is written)."""
    if workdir is None:
        return None
    return Resume(workdir / CHECKPOINT, canonical_json(list(identity)))


def fingerprint(
    resume: Resume,
    model: Any,
    modules: Sequence[torch.nn.Module],
    examples: Sequence[Any],
    schedule: Schedule,
    seed: int,
) -> str:
    """sha256 of the run's identity, schedule, seed, examples and initial weights."""
    from peft import get_peft_model_state_dict

    digest = hashlib.sha256(repr((resume.identity, schedule, seed, list(examples))).encode())
    states = [get_peft_model_state_dict(model), *(m.state_dict() for m in modules)]
    for weights in states:
        for name, tensor in sorted(weights.items()):
            digest.update(name.encode() + tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


@dataclass
class LoopState:
    """The training loop's position and best weights: what a checkpoint adds to the log."""

    order: list[int] | None = None  # this epoch's example order (None: draw the next one)
    position: int = 0  # optimizer steps of this epoch done
    stale: int = 0
    best: dict[str, torch.Tensor] | None = None
    best_modules: list[dict[str, torch.Tensor]] = field(default_factory=list)


@dataclass
class Checkpoints:
    """One verified checkpoint folder: ``state.json`` (JSON only) and ``tensors.safetensors``.

    Nothing in it is unpickled: tensors load through safetensors, the rest through JSON,
    and both are checked against the run's fingerprint and the tensors' sha256.
    """

    resume: Resume
    model: Any
    modules: Sequence[torch.nn.Module]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    generator: torch.Generator
    collate: Any
    fingerprint: str  # see :func:`fingerprint`: a checkpoint with another one is not loaded

    def save(self, result: TrainingLog, state: LoopState) -> None:
        """Replace the checkpoint with the state after this step (atomically)."""
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        tensors = {f"model.{k}": v for k, v in get_peft_model_state_dict(self.model).items()}
        for index, module in enumerate(self.modules):
            tensors |= {f"module{index}.{k}": v for k, v in module.state_dict().items()}
        for k, v in (state.best or {}).items():
            tensors[f"best.{k}"] = v
        for index, saved in enumerate(state.best_modules):
            tensors |= {f"best_module{index}.{k}": v for k, v in saved.items()}
        optimizer = self.optimizer.state_dict()
        for param, values in optimizer["state"].items():
            tensors |= {f"optim.{param}.{k}": v for k, v in values.items()}
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.generator"] = self.generator.get_state()
        meta = {
            "fingerprint": self.fingerprint,
            "log": asdict(result),
            "order": state.order,
            "position": state.position,
            "stale": state.stale,
            "has_best": state.best is not None,
            "param_groups": optimizer["param_groups"],
            "optimizer_state": {str(k): sorted(v) for k, v in optimizer["state"].items()},
            "scheduler": self.scheduler.state_dict(),
            "collate": self.collate.state_dict() if hasattr(self.collate, "state_dict") else None,
        }
        tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        with atomic_directory(self.resume.folder) as staging:
            save_file(tensors, str(staging / "tensors.safetensors"))
            meta["tensors_sha256"] = sha256_file(staging / "tensors.safetensors")
            (staging / "state.json").write_text(json.dumps(meta), encoding="utf-8")

    def discard(self) -> None:
        """Remove the checkpoint (and the workdir it made, when nothing else is there)."""
        shutil.rmtree(self.resume.folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.resume.folder.parent.rmdir()

    def restore(self, result: TrainingLog, state: LoopState, total: int) -> None:
        """Load the checkpoint into the run when it is this run's and intact; else start anew."""
        from safetensors.torch import load_file

        folder = self.resume.folder
        if not (folder / "state.json").exists():
            return
        try:
            meta = json.loads((folder / "state.json").read_bytes().decode("utf-8"))
            if meta["fingerprint"] != self.fingerprint:
                raise ValueError("it belongs to another run")
            if sha256_file(folder / "tensors.safetensors") != meta["tensors_sha256"]:
                raise ValueError("its tensors fail their checksum")
            tensors = load_file(str(folder / "tensors.safetensors"))
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("not resuming from %s: %s", folder, error)
            return

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        load_adapter_state(self.model, part("model."), f"checkpoint {folder}")
        for index, module in enumerate(self.modules):
            module.load_state_dict(part(f"module{index}."))
        if meta["has_best"]:
            state.best = part("best.")
            state.best_modules = [part(f"best_module{i}.") for i in range(len(self.modules))]
        optimizer_state = {
            int(param): {k: tensors[f"optim.{param}.{k}"] for k in keys}
            for param, keys in meta["optimizer_state"].items()
        }
        groups = [
            g | {"betas": tuple(g["betas"])} if "betas" in g else g for g in meta["param_groups"]
        ]
        self.optimizer.load_state_dict({"state": optimizer_state, "param_groups": groups})
        self.scheduler.load_state_dict(meta["scheduler"])
        if meta["collate"] is not None:
            self.collate.load_state_dict(meta["collate"])
        torch.set_rng_state(tensors["rng.torch"])
        self.generator.set_state(tensors["rng.generator"])
        saved = meta["log"]
        result.steps, result.epochs = saved["steps"], saved["epochs"]
        result.loss_by_step = saved["loss_by_step"]
        result.evaluations = [tuple(pair) for pair in saved["evaluations"]]
        result.best_step, result.best_score = saved["best_step"], saved["best_score"]
        result.stopped_early = saved["stopped_early"]
        state.order, state.position, state.stale = meta["order"], meta["position"], meta["stale"]
        if result.steps >= total or result.stopped_early:
            result.epochs += 1  # the epoch the loop closes after its last step
            state.order = None
        log.warning("resumed at step %d/%d from %s", result.steps, total, folder)
