"""TALLRec: LoRA rec-tuning of a causal LM on the few-shot samples (Bao et al., 2023).

Stage 1 (instruction tuning) is optional: ``instruction_data`` (an Alpaca-format JSON the
user supplies) trains the adapter first, or ``init_adapter`` starts from an existing LoRA
adapter (as TALLRec starts from alpaca-lora); with an instruction-tuned base model such as
the default, stage 1 is that model's own tuning. The record says which.

Stage 2 (rec-tuning) follows ``finetune_rec.py``: LoRA r 8, alpha 16, dropout 0.05 on the
attention query/value projections; lr 1e-4; effective batch 128 (micro-batches of 32);
cutoff 512 tokens; the loss on the whole text (``train_on_inputs``); up to 200 epochs;
validation AUC by the Yes/No scorer every 10 steps (every shots/128*5 above 128 shots),
early stopping after 10 evaluations without improvement, the best adapter restored and
saved (peft format) in the run's folder. Profiles: ``tallrec`` keeps this protocol;
``tallrec-cpu`` shortens it for a 2-core CPU and its record lists each change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.data.domain import Domain
from bench.data.schema import Sample
from bench.data.splits import FewShotManifest, fixed_subset
from bench.data.tallrec_format import to_record
from bench.errors import BenchError
from bench.files import sha256_file
from bench.metrics import selection_score
from llm.base import LLMRunner, LLMSettings
from llm.checkpoints import resume_in
from llm.lora import Example, Schedule, attach_lora, save_adapter, tokenize, train
from llm.models import load_model
from llm.prompts import render_alpaca, render_prompt


@dataclass(frozen=True)
class TallRecSettings(LLMSettings):
    """Stage 1 and stage 2 settings; the defaults are the paper's protocol."""

    profile: str = "paper"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ()  # (): peft's default for the model (q_proj, v_proj)
    learning_rate: float = 1e-4
    train_batch_size: int = 128  # effective, through gradient accumulation
    micro_batch_size: int = 32
    group_by_length: bool = False  # cut a step's samples into micro-batches by length
    warmup_steps: int = 20
    cutoff_len: int = 512
    train_on_inputs: bool = True
    max_epochs: int = 200
    max_steps: int = 0  # 0: no cap besides max_epochs
    eval_every: int = 0  # 0: TALLRec's rule (10, or shots/128*5 above 128 shots)
    patience: int = 10  # evaluations without a better validation AUC
    valid_subset: int = 0  # 0: the manifest's whole validation set
    instruction_data: str = ""  # Alpaca-format JSON for stage 1
    instruction_epochs: int = 3  # alpaca-lora's
    init_adapter: str = ""  # an existing LoRA adapter folder for stage 1


PAPER = TallRecSettings()
# 2-core CPU profile: 16 steps of 16 samples instead of up to 200 epochs of 128; lr x steps
# (16 x 1e-3) about that of the paper's 16-shot run (200 steps x 1e-4). Chosen before any run.
CPU = TallRecSettings(
    profile="cpu",
    learning_rate=1e-3,
    train_batch_size=16,
    micro_batch_size=8,
    warmup_steps=2,
    max_steps=16,
    eval_every=4,
    patience=2,
    valid_subset=100,
)


# Not part of the paper's protocol: what runs it (model, precision, scoring batches) and how
# a step's fixed samples are cut into micro-batches (the same loss, to float rounding).
_NOT_PROTOCOL = {"model", "dtype", "device", "load_in_8bit", "batch_size", "group_by_length"}


def eval_every(settings: TallRecSettings, shots: int) -> int:
    """Optimizer steps between validations: the setting, or TALLRec's rule."""
    if settings.eval_every:
        return settings.eval_every
    return 10 if shots <= 128 else max(1, round(shots / 128 * 5))


def read_instruction_data(path: str) -> list[dict[str, str]]:
    """Alpaca-format records (instruction, optional input, output) from a JSON list."""
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise BenchError(
            f"instruction data {path} is unreadable ({error}): give an Alpaca JSON"
        ) from None
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and isinstance(r.get("instruction"), str) and "output" in r
        for r in records
    ):
        raise BenchError(
            f"instruction data {path} is not a JSON list of {{instruction, input, output}} "
            "records: give an Alpaca-format file"
        )
    return records


class TallRec(LLMRunner):
    """LoRA rec-tuning on the manifest's samples; see the module docstring."""

    name: ClassVar[str] = "tallrec"
    settings: ClassVar[TallRecSettings] = PAPER

    def config(self) -> dict[str, Any]:
        """The settings, the files they name (by sha256), the seed and the deviations."""
        config = super().config() | {"deviations_from_paper": self.deviations()}
        if not self.settings.group_by_length:  # 0.7.0's micro-batches: 0.7.0's run keys
            del config["group_by_length"]
        for key in ("instruction_data", "init_adapter"):
            if value := getattr(self.settings, key):
                path = Path(value)
                weights = path / "adapter_model.safetensors" if path.is_dir() else path
                if weights.is_file():
                    config[f"{key}_sha256"] = sha256_file(weights)
        return config

    def deviations(self) -> dict[str, str]:
        """Each protocol setting that differs from the paper's: 'paper -> this run'.

        The model and its precision are recorded on their own (the paper used LLaMA-7B).
        """
        return {
            f.name: f"{getattr(PAPER, f.name)!r} -> {getattr(self.settings, f.name)!r}"
            for f in fields(TallRecSettings)
            if f.name not in _NOT_PROTOCOL
            and getattr(PAPER, f.name) != getattr(self.settings, f.name)
        }

    def fit(self, domain: Domain, manifest: FewShotManifest, workdir: Path) -> dict[str, Any]:
        """Stage 1 (optional), then rec-tuning with validation-AUC early stopping."""
        settings = self.settings
        if settings.instruction_data and settings.init_adapter:
            raise BenchError("give instruction_data or init_adapter, not both")
        torch.manual_seed(self.seed)  # LoRA's initialisation and dropout
        model, tokenizer, info = load_model(
            settings.model, settings.dtype, settings.device, settings.load_in_8bit
        )
        if settings.load_in_8bit:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model)
        model = attach_lora(
            model,
            settings.lora_r,
            settings.lora_alpha,
            settings.lora_dropout,
            settings.target_modules,
            settings.init_adapter,
        )
        attached = self.attach(model, tokenizer, domain)
        pad_id = self.scorer.pad_id
        stage1 = self._stage1(model, tokenizer, pad_id)

        train_samples, valid_samples = manifest.samples(domain)
        valid_samples = fixed_subset(valid_samples, settings.valid_subset, self.seed)
        valid_labels = [sample.label for sample in valid_samples]
        examples = [
            self._example(tokenizer, render_prompt(record, self.template), record["output"])
            for record in (to_record(s, domain.items) for s in train_samples)
        ]
        schedule = self._schedule(
            max_epochs=settings.max_epochs,
            max_steps=settings.max_steps,
            eval_every=eval_every(settings, len(train_samples)),
            patience=settings.patience,
        )
        log = train(
            model,
            examples,
            schedule,
            pad_id,
            self.seed,
            evaluate=lambda: self._validation_score(valid_samples, valid_labels),
            resume=resume_in(workdir, self.config(), manifest.sha256),
        )
        adapter = save_adapter(model, workdir / "adapter") if workdir is not None else None
        if adapter is not None:
            self.use_score_cache(info, adapter["sha256"])
        self.model = model
        return attached | {
            "model": asdict(info),
            "trained": True,
            "stage1": stage1,
            "adapter": adapter,
            "n_train": len(examples),
            "n_valid": len(valid_samples),
            "valid_sample_ids": [s.sample_id for s in valid_samples]
            if settings.valid_subset
            else "all of the manifest's",
            "train_tokens": [len(e.input_ids) for e in examples],
            "eval_every": schedule.eval_every,
            "steps": log.steps,
            "epochs": log.epochs,
            "loss_by_step": log.loss_by_step,
            "valid_score_by_step": log.evaluations,
            "best_step": log.best_step,
            "best_valid_score": log.best_score,
            "stopped_early": log.stopped_early,
            "selection_metric": "auc" if len(set(valid_labels)) == 2 else "-log_loss",
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        }

    def _validation_score(self, samples: list[Sample], labels: list[int]) -> float:
        scores = self.score(samples)
        return selection_score(labels, scores) if np.isfinite(scores).all() else float("nan")

    def _example(self, tokenizer: Any, prompt: str, answer: str) -> Example:
        settings = self.settings
        return tokenize(tokenizer, prompt, answer, settings.cutoff_len, settings.train_on_inputs)

    def _schedule(self, **length: int) -> Schedule:
        settings = self.settings
        return Schedule(
            learning_rate=settings.learning_rate,
            batch_size=settings.train_batch_size,
            micro_batch_size=settings.micro_batch_size,
            warmup_steps=settings.warmup_steps,
            group_by_length=settings.group_by_length,
            **length,
        )

    def _stage1(self, model: Any, tokenizer: Any, pad_id: int) -> dict[str, Any]:
        settings = self.settings
        if settings.init_adapter:
            return {"kind": "init_adapter", "path": settings.init_adapter}
        if not settings.instruction_data:
            return {"kind": "base model's own instruction tuning", "model": settings.model}
        records = read_instruction_data(settings.instruction_data)
        examples = [
            self._example(tokenizer, render_alpaca(r, self.template), r["output"]) for r in records
        ]
        schedule = self._schedule(max_epochs=settings.instruction_epochs)
        log = train(model, examples, schedule, pad_id, self.seed)
        return {
            "kind": "instruction_data",
            "path": settings.instruction_data,
            "examples": len(examples),
            "steps": log.steps,
            "loss_by_step": log.loss_by_step,
        }


class TallRecCPU(TallRec):
    """The shortened CPU profile (see ``CPU``; the record lists each deviation)."""

    name: ClassVar[str] = "tallrec-cpu"
    settings: ClassVar[TallRecSettings] = CPU
