"""In-context learning runners: an LLM asked TALLRec's question, zero- or few-shot.

``icl`` is zero-shot; ``icl-4shot`` shows the first 4 samples of the few-shot manifest (in
manifest order, so every run with the same manifest sees the same demonstrations) as
answered examples. Demonstrations that would overflow the context are dropped, oldest
first, with a warning in the log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import torch

from bench.domain import Domain
from bench.errors import BenchError
from bench.schema import Sample
from bench.splits import FewShotManifest
from bench.tallrec_format import to_record
from llm.models import DEFAULT_MODEL, load_model
from llm.prompts import render_prompt
from llm.scorer import YesNoScorer

log = logging.getLogger(__name__)
_MODELS: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}  # loaded once per process


class ICL:
    """No training; the manifest gives the demonstrations (if any) and ties the record to data."""

    name: ClassVar[str] = "icl"
    code_version: ClassVar[int] = 1
    model_spec: ClassVar[str] = DEFAULT_MODEL
    template: ClassVar[str] = "tallrec"
    mode: ClassVar[str] = "two-token"
    dtype: ClassVar[str] = "float32"
    device: ClassVar[str] = "auto"
    batch_size: ClassVar[int] = 8
    n_demos: ClassVar[int] = 0

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.scorer: YesNoScorer | None = None
        self.domain: Domain | None = None
        self.demos: list[dict[str, str]] = []

    def config(self) -> dict[str, Any]:
        """Model, prompt template and scoring mode (the seed does not change zero-shot scores)."""
        return {
            "model": self.model_spec,
            "template": self.template,
            "mode": self.mode,
            "dtype": self.dtype,
            "demos": self.n_demos,
            "seed": self.seed,
        }

    def fit(self, domain: Domain, manifest: FewShotManifest, workdir: Path) -> dict[str, Any]:
        """Load the model (once per process) and find its Yes/No answer tokens."""
        threads = int(os.environ.get("BENCH_THREADS", "0")) or os.cpu_count() or 1
        torch.set_num_threads(threads)
        key = (self.model_spec, self.dtype, self.device)
        if key not in _MODELS:
            _MODELS[key] = load_model(*key)
        model, tokenizer, info = _MODELS[key]
        probe = render_prompt(to_record(domain.samples("valid")[0], domain.items), self.template)
        self.scorer = YesNoScorer(model, tokenizer, probe, self.mode, self.batch_size)
        self.domain = domain
        train, _ = manifest.samples(domain)
        self.demos = [to_record(sample, domain.items) for sample in train[: self.n_demos]]
        return {
            "demo_sample_ids": [sample.sample_id for sample in train[: self.n_demos]],
            "model": asdict(info),
            "answer_tokens": {
                "yes": [self.scorer.yes_id, tokenizer.decode([self.scorer.yes_id])],
                "no": [self.scorer.no_id, tokenizer.decode([self.scorer.no_id])],
            },
            "threads": threads,
            "trained": False,
        }

    def prompts(self, samples: Sequence[Sample]) -> list[str]:
        """The exact prompt of each sample, demonstrations included (as many as fit)."""
        if self.domain is None or self.scorer is None:
            raise BenchError(f"{self.name}: prompts() before fit()")
        limit = self.scorer.max_length or float("inf")
        prompts = []
        for sample in samples:
            record = to_record(sample, self.domain.items)
            demos = list(self.demos)
            prompt = render_prompt(record, self.template, demos)
            while demos and len(self.scorer.tokenizer(prompt).input_ids) >= limit:
                demos.pop(0)
                prompt = render_prompt(record, self.template, demos)
            if len(demos) < len(self.demos):
                log.warning(
                    "%s: %s keeps %d of %d demonstrations to fit the context",
                    self.name,
                    sample.sample_id,
                    len(demos),
                    len(self.demos),
                )
            prompts.append(prompt)
        return prompts

    def score(self, samples: Sequence[Sample]) -> list[float]:
        """P(Yes) for each sample."""
        if self.scorer is None:
            raise BenchError(f"{self.name}: score() before fit()")
        return self.scorer.score(self.prompts(samples))


class ICL4Shot(ICL):
    """Four demonstrations from the few-shot manifest."""

    name: ClassVar[str] = "icl-4shot"
    n_demos: ClassVar[int] = 4
