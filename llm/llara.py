"""LLM runners on the next-item task: zero-shot ICL, text-only LoRA, LLaRA.

Text-only LoRA follows TALLRec's recipe; LLaRA (Liao et al., SIGIR 2024) uses hybrid
item-embedding prompts with curriculum tuning.

Every runner gives each sample's 20 candidates a score (``rank``: log-likelihood of the
answer) and, unless ``generate`` is off, a greedy answer text matched as LLaRA does.

LLaRA: each item's title is followed by one slot whose input embedding is the item's
SASRec vector through a projector (Linear rec->LLM, GELU, Linear LLM->LLM). The vectors are
LLaRA's released SASRec (``item_vectors="released"``), this suite's RecBole SASRec trained
on the domain's train split with the cell's seed before the LLM (``"sasrec"``: the
``sasrec`` next-item runner, its settings part of the run key), or a ``.safetensors`` table
in the same layout, such as the one the ``sasrec`` runner writes. Curriculum: a
training micro-batch uses hybrid prompts with probability (step + 1) / total steps, decided
by a hash of (seed, step, micro-batch), a pure function of the global step (LLaRA keeps the
counter in data-loader workers that restart every epoch); the record keeps the realised
hybrid share per epoch. Evaluation always uses hybrid prompts, as LLaRA's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import torch

from bench.data.nextitem import NextItemDomain, NextItemSample
from bench.data.splits import fixed_subset
from bench.errors import BenchError
from bench.files import atomic_directory, canonical_json, sha256_bytes
from bench.nextitem_metrics import mean_reciprocal_rank
from llm import score_cache
from llm.base import LLMSettings, shared_model
from llm.checkpoints import resume_in
from llm.item_vectors import HybridCollate, Projector, load_item_vectors
from llm.lora import IGNORE, Schedule, attach_lora, save_adapter, train
from llm.models import DEFAULT_MODEL, ModelInfo, load_model
from llm.next_prompts import answer_text, encode, render, template_for
from llm.ranker import CandidateRanker, embed_with_slots
from llm.score_cache import ScoreCache
from llm.scorer import torch_threads

log = logging.getLogger(__name__)
ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class NextItemLLMSettings:
    """Model, prompt and training settings of a next-item LLM runner (part of its run key)."""

    model: str = DEFAULT_MODEL
    dtype: str = "float32"
    device: str = "auto"
    generate: bool = True  # also generate answers (LLaRA's protocol) besides ranking
    max_new_tokens: int = 32
    hybrid: bool = False  # title + item-embedding slot (LLaRA)
    curriculum: bool = False  # hybrid share rising from 0 to 1 over training (LLaRA)
    item_vectors: str = "released"  # released | sasrec (trained here) | a .safetensors table
    train_samples: int = 0  # a fixed subset of the train split (0: no training; -1: all)
    max_epochs: int = 1
    learning_rate: float = 1e-4
    train_batch_size: int = 128  # effective, through gradient accumulation
    micro_batch_size: int = 4
    warmup_steps: int = 0
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ()  # (): peft's default (q_proj, v_proj)
    train_on_inputs: bool = True
    eval_every: int = 0  # steps between validations (0: once per epoch, as LLaRA)
    valid_limit: int = 0  # a fixed subset of the validation split (0: all of it)
    patience: int = 0


class NextItemLLM:
    """Base of the next-item LLM runners; see the module docstring."""

    name: ClassVar[str]
    settings: ClassVar[NextItemLLMSettings]
    # 2 (0.6.0): validation MRR counts ties as the mean rank among them (model selection)
    code_version: ClassVar[int] = 2

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.threads = torch_threads()
        self.projector: Projector | None = None
        self.vectors: torch.Tensor | None = None
        self.caches: dict[str, ScoreCache] = {}  # "rank", "generate": set once weights are final

    def config(self) -> dict[str, Any]:
        """The settings and the seed (and the SASRec trained here, if any): the run key."""
        config = asdict(self.settings) | {"seed": self.seed}
        if self.settings.hybrid and self.settings.item_vectors == "sasrec":
            from baselines.next_item import SASRecNext

            config["sasrec"] = SASRecNext(self.seed).config()
        return config

    def fit(self, domain: NextItemDomain, data_sha256: str, workdir: Path) -> dict[str, Any]:
        """Load the model (and item vectors), then train when ``train_samples`` is set."""
        settings = self.settings
        notes: dict[str, Any] = {"threads": self.threads}
        if settings.hybrid:  # checked before the model loads: a wrong table fails fast
            spec = settings.item_vectors
            if spec == "sasrec":
                notes["sasrec"] = self._train_sasrec(domain, data_sha256, workdir)
                spec = notes["sasrec"]["item_vectors"]["path"]
            self.vectors, notes["item_vectors"] = load_item_vectors(spec, domain)
        if settings.train_samples:
            model, tokenizer, info = load_model(settings.model, settings.dtype, settings.device)
        else:
            model, tokenizer, info = shared_model(
                LLMSettings(model=settings.model, dtype=settings.dtype, device=settings.device)
            )
        self.domain, self.ranker = domain, CandidateRanker(model, tokenizer)
        notes["model"] = asdict(info)
        torch.manual_seed(self.seed)  # after loading: projector and LoRA initialisation
        if self.vectors is not None:
            rec_size, llm_size = self.vectors.shape[1], model.config.hidden_size
            self.projector = Projector(rec_size, llm_size).to(model.device)
        if settings.train_samples:
            notes |= self._train(model, tokenizer, domain, workdir)
        else:
            notes["trained"] = False
        self._use_score_cache(info, notes)
        return notes

    def _use_score_cache(self, info: ModelInfo, notes: dict[str, Any]) -> None:
        """Serve and keep test rankings and answers in the score cache (``llm.score_cache``).

        The identity: the model file's sha256, and as its "adapter" the hash of the saved
        LoRA adapter's sha256, the projector's weights and the item vectors' sha256. A
        trained model without a saved adapter, or a model without a weights file, is not
        cached.
        """
        trained = notes["trained"]
        if trained and "adapter" not in notes:
            return
        parts = [notes["adapter"]["sha256"] if trained else None]
        if self.projector is not None:
            from safetensors.torch import save

            parts += [
                sha256_bytes(save(self.projector.state_dict())),
                notes["item_vectors"]["sha256"],
            ]
        adapter = None if parts == [None] else sha256_bytes(canonical_json(parts).encode())
        modes = {"rank": "next-item-rank"}
        if self.settings.generate:
            modes["generate"] = f"next-item-generate-{self.settings.max_new_tokens}"
        for use, mode in modes.items():
            cache = score_cache.cache_for(info, self.ranker.tokenizer, mode, adapter)
            if cache is not None:
                self.caches[use] = cache

    def scoring_notes(self) -> dict[str, Any] | None:
        """Test rankings and answers served by the score cache, and computed."""
        if not self.caches:
            return None
        return {"score_cache": {use: cache.notes() for use, cache in self.caches.items()}}

    def _train_sasrec(
        self, domain: NextItemDomain, data_sha256: str, workdir: Path | None
    ) -> dict[str, Any]:
        """Train the ``sasrec`` next-item runner (this cell's seed); its vectors go to workdir."""
        from baselines.next_item import SASRecNext

        if workdir is None:
            raise BenchError(f"{self.name}: item_vectors=sasrec needs a work folder for SASRec")
        log.info("%s: training SASRec for the item vectors", self.name)
        return SASRecNext(self.seed).fit(domain, data_sha256, workdir / "sasrec")

    def _train(
        self, model: Any, tokenizer: Any, domain: NextItemDomain, workdir: Path
    ) -> dict[str, Any]:
        settings = self.settings
        model = attach_lora(
            model,
            settings.lora_r,
            settings.lora_alpha,
            settings.lora_dropout,
            settings.target_modules,
            "",
        )
        self.ranker = CandidateRanker(model, tokenizer)
        train_split = domain.samples("train")
        count = len(train_split) if settings.train_samples < 0 else settings.train_samples
        samples = fixed_subset(train_split, count, self.seed)
        valid = fixed_subset(domain.samples("valid"), settings.valid_limit, 0)
        schedule = Schedule(
            learning_rate=settings.learning_rate,
            batch_size=settings.train_batch_size,
            micro_batch_size=settings.micro_batch_size,
            warmup_steps=settings.warmup_steps,
            max_epochs=settings.max_epochs,
            patience=settings.patience,
        )
        per_epoch = schedule.steps_per_epoch(len(samples))
        schedule = replace(schedule, eval_every=settings.eval_every or per_epoch)
        total = schedule.total_steps(len(samples))
        collate = HybridCollate(self, total)
        training = train(
            model,
            samples,
            schedule,
            self.ranker.pad_id,
            self.seed,
            evaluate=lambda: self.validation_mrr(valid),
            collate=collate,
            modules=[self.projector] if self.projector is not None else [],
            resume=resume_in(workdir, self.config(), domain.name),
        )
        hybrid_flags = collate.flags
        shares: dict[int, list[bool]] = {}
        for step, hybrid in hybrid_flags:
            shares.setdefault(step // per_epoch, []).append(hybrid)
        saved = self._save(model, workdir)
        return {
            "trained": True,
            "n_train": len(samples),
            "n_valid": len(valid),
            "steps": training.steps,
            "epochs": training.epochs,
            "loss_by_step": training.loss_by_step,
            "valid_mrr_by_step": training.evaluations,
            "best_step": training.best_step,
            "best_valid_mrr": training.best_score,
            "hybrid_share_by_epoch": {
                str(epoch): round(sum(flags) / len(flags), 4) for epoch, flags in shares.items()
            },
            "hybrid_by_micro_batch": [int(h) for _, h in hybrid_flags],
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)
            + sum(p.numel() for p in (self.projector.parameters() if self.projector else [])),
        } | saved

    def _save(self, model: Any, workdir: Path) -> dict[str, Any]:
        if workdir is None:
            return {}
        saved = {"adapter": save_adapter(model, workdir / "adapter")}
        if self.projector is not None:
            from safetensors.torch import save_file

            with atomic_directory(workdir / "projector") as staging:
                save_file(self.projector.state_dict(), str(staging / "projector.safetensors"))
            saved["projector"] = str(workdir / "projector" / "projector.safetensors")
        return saved

    def prompt(self, sample: NextItemSample, hybrid: bool) -> str:
        """The prompt text of ``sample``."""
        titles = self.domain.titles
        return render(
            template_for(self.domain.name, sample.sample_id),
            [titles[i] for i in sample.history],
            [titles[i] for i in sample.candidates],
            hybrid,
        )

    def _slot_vectors(self, sample: NextItemSample) -> torch.Tensor:
        rows = torch.tensor([int(i) for i in (*sample.history, *sample.candidates)])
        return self.projector(self.vectors[rows].to(self.projector.mlp[0].weight.device))

    def _encoded(self, sample: NextItemSample, hybrid: bool) -> tuple[Any, torch.Tensor | None]:
        slots = len(sample.history) + len(sample.candidates) if hybrid else 0
        encoded = encode(
            self.ranker.tokenizer, self.prompt(sample, hybrid), self.ranker.pad_id, slots
        )
        return encoded, self._slot_vectors(sample) if hybrid else None

    def _batch(self, chunk: Sequence[NextItemSample], hybrid: bool) -> dict[str, torch.Tensor]:
        """A right-padded training micro-batch: prompt + answer, input embeddings with slots."""
        rows, slot_rows, vectors = [], [], []
        for sample in chunk:
            encoded, slot_vectors = self._encoded(sample, hybrid)
            answer = self.ranker.answer_ids([answer_text(self.domain.titles[sample.target])])[0]
            ids = [*encoded.input_ids, *answer]
            labels = (
                list(ids)
                if self.settings.train_on_inputs
                else [IGNORE] * len(encoded.input_ids) + answer
            )
            for slot in encoded.slots:
                labels[slot] = IGNORE
            rows.append((ids, labels))
            slot_rows.append(encoded.slots)
            vectors.append(slot_vectors if slot_vectors is not None else torch.zeros(0))
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.ranker.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, (ids, row_labels) in enumerate(rows):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, : len(ids)] = torch.tensor(row_labels)
            mask[row, : len(ids)] = 1
        model = self.ranker.model
        embeddings = embed_with_slots(model, input_ids.to(model.device), slot_rows, vectors)
        return {"inputs_embeds": embeddings, "labels": labels, "attention_mask": mask}

    def rank(self, samples: Sequence[NextItemSample]) -> list[list[float]]:
        """Log-likelihood of each candidate's answer, per sample."""
        return self._cached("rank", samples, self._rank_one)

    def _rank_one(self, sample: NextItemSample) -> list[float]:
        encoded, vectors = self._encoded(sample, self.settings.hybrid)
        answers = [answer_text(self.domain.titles[c]) for c in sample.candidates]
        return self.ranker.rank(encoded, answers, vectors)

    def generate(self, samples: Sequence[NextItemSample]) -> list[str]:
        """Greedy answer text per sample (empty strings when ``generate`` is off)."""
        if not self.settings.generate:
            return [""] * len(samples)
        return self._cached("generate", samples, self._generate_one)

    def _generate_one(self, sample: NextItemSample) -> str:
        encoded, vectors = self._encoded(sample, self.settings.hybrid)
        return self.ranker.generate(encoded, vectors, self.settings.max_new_tokens)

    def _cached(
        self, use: str, samples: Sequence[NextItemSample], one: Callable[[NextItemSample], Any]
    ) -> list:
        """``one`` of each sample, through the score cache once the weights are final.

        A request is the prompt with its candidates' answers and the ids of the items in
        its slots: everything besides the cache's identity that the answer depends on.
        """
        cache = self.caches.get(use)
        if cache is None:  # during training (validation), or the cache is off
            with torch.no_grad():
                return [one(sample) for sample in samples]
        requests = [self._request(sample) for sample in samples]
        by_request = dict(zip(requests, samples, strict=True))

        def compute(todo: list[str]) -> list[Any]:
            with torch.no_grad():
                return [one(by_request[request]) for request in todo]

        return cache.answers(requests, compute)

    def _request(self, sample: NextItemSample) -> str:
        hybrid = self.settings.hybrid
        slots = [int(i) for i in (*sample.history, *sample.candidates)] if hybrid else []
        answers = [answer_text(self.domain.titles[c]) for c in sample.candidates]
        return canonical_json([self.prompt(sample, hybrid), answers, slots])

    def validation_mrr(self, samples: Sequence[NextItemSample]) -> float:
        """Mean reciprocal rank of the target among the candidates (model selection).

        Ties count as the mean rank among the tied candidates (``mean_reciprocal_rank``).
        """
        scores = self.rank(samples)
        if not all(math.isfinite(v) for row in scores for v in row):
            return float("nan")
        return mean_reciprocal_rank(scores, [s.target_index for s in samples])


def deviations(settings: NextItemLLMSettings, reference: NextItemLLMSettings) -> dict[str, str]:
    """Each training setting that differs from ``reference``: 'reference -> this run'."""
    skip = {"model", "dtype", "device", "generate", "max_new_tokens", "item_vectors"}
    return {
        f.name: f"{getattr(reference, f.name)!r} -> {getattr(settings, f.name)!r}"
        for f in fields(NextItemLLMSettings)
        if f.name not in skip and getattr(reference, f.name) != getattr(settings, f.name)
    }


# LLaRA's protocol (train_lastfm.sh, main.py): all training samples, 5 epochs, lr 1e-4,
# batches of 4 x 32 accumulation, LoRA r 8 / alpha 32 / dropout 0.1 on every projection,
# loss on the answer only, warm-up max_steps // 20 (here a fixed 20), validation each epoch.
LLARA = NextItemLLMSettings(
    hybrid=True,
    curriculum=True,
    train_samples=-1,
    max_epochs=5,
    learning_rate=1e-4,
    train_batch_size=128,
    micro_batch_size=4,
    warmup_steps=20,
    lora_alpha=32,
    lora_dropout=0.1,
    target_modules=ALL_PROJECTIONS,
    train_on_inputs=False,
    patience=10,
)
# TALLRec's recipe on this task: LoRA r 8 / alpha 16 / dropout 0.05 on q/v, lr 1e-4, batch
# 128, loss on the whole text, text-only prompts.
TALLREC_NEXT = NextItemLLMSettings(train_samples=-1, max_epochs=5, warmup_steps=20, patience=10)
# 2-core CPU profile, chosen before any run: 256 training samples, one epoch of batches of 16
# (16 steps), lr 1e-3 (as tallrec-cpu), validation on 61 samples every 4 steps.
_CPU = {
    "train_samples": 256,
    "max_epochs": 1,
    "learning_rate": 1e-3,
    "train_batch_size": 16,
    "micro_batch_size": 4,
    "warmup_steps": 2,
    "eval_every": 4,
    "valid_limit": 61,
    "patience": 2,
}


def _runner(name: str, settings: NextItemLLMSettings, reference: NextItemLLMSettings | None):
    extra: dict[str, Any] = {"name": name, "settings": settings}
    if reference is not None:

        def config(self: NextItemLLM) -> dict[str, Any]:
            return NextItemLLM.config(self) | {
                "deviations_from_protocol": deviations(self.settings, reference)
            }

        extra["config"] = config
    return type(name, (NextItemLLM,), extra)


ICLNext = _runner("icl", NextItemLLMSettings(), None)
ICLNext.code_version = 1  # zero-shot: selects no step, so the 0.6.0 MRR tie rule cannot move it
TallRecNext = _runner("tallrec-next", TALLREC_NEXT, TALLREC_NEXT)
TallRecNextCPU = _runner(
    "tallrec-next-cpu", NextItemLLMSettings(**asdict(TALLREC_NEXT) | _CPU), TALLREC_NEXT
)
LLaRA = _runner("llara", LLARA, LLARA)
LLaRACPU = _runner("llara-cpu", NextItemLLMSettings(**asdict(LLARA) | _CPU), LLARA)
