"""LoRA fine-tuning of a causal LM on prompt + answer texts, as TALLRec's ``finetune_rec.py``.

The loop is the Hugging Face Trainer's arithmetic without the Trainer: micro-batches of
``micro_batch_size`` (right-padded, labels -100 on padding), gradient accumulation up to
the effective batch, an optimizer step at the end of every epoch for the remainder (so 16
samples with an effective batch of 128 make one step per epoch), the loss averaged over
every label token of the effective batch, AdamW, linear warm-up then linear decay. An
``evaluate`` callback scores the validation set every ``eval_every`` steps (and after the
last step); the best evaluation's adapter weights are restored at the end. With a
``Resume``, the state after every step is saved and a killed run resumes from it
(``llm.checkpoints``).
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from bench.files import atomic_directory, sha256_file
from llm.checkpoints import (
    Checkpoints,
    LoopState,
    Resume,
    check_adapter_keys,
    fingerprint,
    load_adapter_state,
)

log = logging.getLogger(__name__)
IGNORE = -100


@dataclass(frozen=True)
class Example:
    """One tokenized training text."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]


def tokenize(
    tokenizer: Any, prompt: str, answer: str, cutoff: int, train_on_inputs: bool
) -> Example:
    """``prompt + answer`` cut to ``cutoff`` tokens, EOS added when it fits (TALLRec's rule)."""
    ids = tokenizer(prompt + answer, truncation=True, max_length=cutoff).input_ids
    eos = tokenizer.eos_token_id
    if eos is not None and len(ids) < cutoff and ids[-1] != eos:
        ids = [*ids, eos]
    labels = list(ids)
    if not train_on_inputs:
        prompt_length = len(tokenizer(prompt, truncation=True, max_length=cutoff).input_ids)
        labels[:prompt_length] = [IGNORE] * prompt_length
    return Example(tuple(ids), tuple(labels))


def attach_lora(
    model: Any, r: int, alpha: int, dropout: float, targets: Sequence[str], init_adapter: str
) -> Any:
    """``model`` with a trainable LoRA adapter, new or loaded from ``init_adapter``.

    Empty ``targets``: peft's default for the architecture (q_proj/v_proj for LLaMA-style).
    """
    from peft import LoraConfig, PeftModel, get_peft_model

    if init_adapter:
        if not (Path(init_adapter) / "adapter_config.json").exists():
            raise BenchError(
                f"init adapter {init_adapter} has no adapter_config.json: give a folder "
                "written by peft's save_pretrained"
            )
        weights = Path(init_adapter) / "adapter_model.safetensors"
        if not weights.is_file():  # adapter_model.bin is a pickle: never loaded
            raise BenchError(
                f"init adapter {init_adapter} has no adapter_model.safetensors: save it with "
                "peft's save_pretrained(safe_serialization=True)"
            )
        try:
            loaded = PeftModel.from_pretrained(model, init_adapter, is_trainable=True)
        except (RuntimeError, ValueError, KeyError) as error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            cause = next((line for line in lines if "mismatch" in line), lines[0] if lines else "")
            raise BenchError(
                f"adapter {init_adapter} does not fit this base model ({cause[:200]}): "
                "use an adapter trained on this base model"
            ) from None
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as stored:
            check_adapter_keys(loaded, set(stored.keys()), init_adapter)
        return loaded
    lora = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets) or None,
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as error:
        raise BenchError(
            f"LoRA could not be attached ({str(error).splitlines()[0][:160]}): "
            "set target_modules to the model's attention projections"
        ) from None


@dataclass(frozen=True)
class Schedule:
    """How long and how fast to train; the Trainer arguments TALLRec passes."""

    learning_rate: float
    batch_size: int  # effective, through gradient accumulation
    micro_batch_size: int
    warmup_steps: int
    max_epochs: int
    max_steps: int = 0  # 0: max_epochs decides
    eval_every: int = 0  # 0: no evaluation
    patience: int = 0  # evaluations without improvement before stopping; 0: never stop
    group_by_length: bool = False  # sort each step's samples by length into micro-batches

    @property
    def accumulation(self) -> int:
        """Micro-batches per optimizer step."""
        return max(self.batch_size // self.micro_batch_size, 1)

    def steps_per_epoch(self, n_examples: int) -> int:
        """Optimizer steps per epoch (the remainder makes a step at the end of the epoch)."""
        return math.ceil(math.ceil(n_examples / self.micro_batch_size) / self.accumulation)

    def total_steps(self, n_examples: int) -> int:
        """Steps the schedule plans for (the learning-rate decay reaches 0 there)."""
        planned = self.steps_per_epoch(n_examples) * self.max_epochs
        return min(planned, self.max_steps) if self.max_steps else planned


@dataclass
class TrainingLog:
    """What training did, for the run record."""

    steps: int = 0
    epochs: int = 0
    loss_by_step: list[float] = field(default_factory=list)
    evaluations: list[tuple[int, float]] = field(default_factory=list)  # (step, score)
    best_step: int | None = None
    best_score: float | None = None
    stopped_early: bool = False


def _collate(batch: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):  # right padding: positions start at 0
        ids[row, : len(example.input_ids)] = torch.tensor(example.input_ids)
        labels[row, : len(example.labels)] = torch.tensor(example.labels)
        mask[row, : len(example.input_ids)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def _token_loss_sum(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over the label tokens, and how many there were."""
    device = next(model.parameters()).device
    labels = batch["labels"].to(device)
    inputs = (
        {"inputs_embeds": batch["inputs_embeds"].to(device)}
        if "inputs_embeds" in batch
        else {"input_ids": batch["input_ids"].to(device)}
    )
    logits = model(**inputs, attention_mask=batch["attention_mask"].to(device)).logits
    targets = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(),
        targets.flatten(),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return loss, int((targets != IGNORE).sum())


def micro_batches(
    order: list[int], schedule: Schedule, examples: Sequence[Any]
) -> list[list[list[int]]]:
    """An epoch's sample order cut into optimizer steps of micro-batches.

    With ``group_by_length`` each step's samples are sorted by token count before they are
    cut (stable, so still one fixed order): a step trains on the same samples with the same
    loss (the sum over all its label tokens) and far less padding.
    """
    per_step = schedule.micro_batch_size * schedule.accumulation
    steps = [order[i : i + per_step] for i in range(0, len(order), per_step)]
    if schedule.group_by_length:
        steps = [sorted(step, key=lambda i: len(examples[i].input_ids)) for step in steps]
    micro = schedule.micro_batch_size
    return [[step[i : i + micro] for i in range(0, len(step), micro)] for step in steps]


def train(
    model: Any,
    examples: Sequence[Any],
    schedule: Schedule,
    pad_id: int,
    seed: int,
    evaluate: Callable[[], float] | None = None,
    collate: Callable[[list[Any], int], dict[str, torch.Tensor]] | None = None,
    modules: Sequence[torch.nn.Module] = (),
    resume: Resume | None = None,
) -> TrainingLog:
    """Train the trainable parameters of ``model``; restore the best evaluation's weights.

    ``collate(examples, step)`` makes a micro-batch (default: right-padded token ids of
    :class:`Example` s); it may return ``inputs_embeds`` instead of ``input_ids``, and may
    carry state across steps (``state_dict()``/``load_state_dict()``, JSON values).
    ``modules`` train beside the adapter (LLaRA's projector); their weights are restored
    with it. With ``resume``, a run killed mid-training goes on from its last step and ends
    exactly as an uninterrupted one.
    """
    from peft import get_peft_model_state_dict

    if not examples:
        raise BenchError("no training examples: check the few-shot manifest")
    collate = collate or (lambda chunk, _step: _collate(chunk, pad_id))
    parameters = [p for p in model.parameters() if p.requires_grad]
    parameters += [p for module in modules for p in module.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=schedule.learning_rate, weight_decay=0.0)
    total = schedule.total_steps(len(examples))
    warmup = schedule.warmup_steps

    def factor(step: int) -> float:  # transformers' get_linear_schedule_with_warmup
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    generator = torch.Generator().manual_seed(seed)
    result = TrainingLog()
    state = LoopState()
    store = None
    if resume is not None:
        identity = fingerprint(resume, model, modules, examples, schedule, seed)
        store = Checkpoints(
            resume, model, modules, optimizer, scheduler, generator, collate, identity
        )
        store.restore(result, state, total)

    def validate() -> bool:
        model.eval()
        score = evaluate()
        model.train()
        if not math.isfinite(score):
            raise BenchError(
                f"validation score became {score} at step {result.steps}: training diverged; "
                "lower learning_rate or use dtype float32"
            )
        result.evaluations.append((result.steps, round(score, 6)))
        log.info("step %d: validation score %.4f", result.steps, score)
        if result.best_score is None or score > result.best_score:
            result.best_score, result.best_step, state.stale = score, result.steps, 0
            state.best = {
                k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()
            }
            state.best_modules = [copy.deepcopy(module.state_dict()) for module in modules]
            return False
        state.stale += 1
        return bool(schedule.patience) and state.stale >= schedule.patience

    try:
        model.train()
        for module in modules:
            module.train()
        while result.steps < total and not result.stopped_early:
            if state.order is None:
                state.order = torch.randperm(len(examples), generator=generator).tolist()
                state.position = 0
            groups = micro_batches(state.order, schedule, examples)
            while state.position < len(groups):
                group = groups[state.position]
                state.position += 1
                batches = [collate([examples[i] for i in chunk], result.steps) for chunk in group]
                tokens = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches)
                step_loss = 0.0
                for batch in batches:
                    loss_sum, _ = _token_loss_sum(model, batch)
                    loss = loss_sum / tokens
                    if not torch.isfinite(loss):
                        raise BenchError(
                            f"training loss became {loss.item()} at step {result.steps}: "
                            "training diverged; lower learning_rate or use dtype float32"
                        )
                    loss.backward()
                    step_loss += loss.item()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                result.steps += 1
                result.loss_by_step.append(round(step_loss, 6))
                log.info("step %d/%d: training loss %.4f", result.steps, total, step_loss)
                last = result.steps >= total
                due = schedule.eval_every and result.steps % schedule.eval_every == 0
                if evaluate is not None and (due or last) and validate():
                    result.stopped_early = True
                if store is not None:
                    store.save(result, state)
                if last or result.stopped_early:
                    break
            result.epochs += 1
            state.order = None
    except BenchError:  # diverged: resuming would diverge again, so keep nothing
        if store is not None:
            store.discard()
        raise
    if state.best is not None:
        load_adapter_state(model, state.best, "restored from the best evaluation")
        for module, saved in zip(modules, state.best_modules, strict=True):
            module.load_state_dict(saved)
    model.eval()
    for module in modules:
        module.eval()
    return result


def save_adapter(model: Any, folder: Path) -> dict[str, Any]:
    """Save the adapter in peft's format (atomically); its path and weights' sha256."""
    with atomic_directory(folder) as staging:
        model.save_pretrained(staging)
    weights = folder / "adapter_model.safetensors"
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    return {
        "path": str(folder),
        "sha256": sha256_file(weights),
        "target_modules": sorted(config.get("target_modules") or []),
    }
