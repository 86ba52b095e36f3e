"""The ``icl`` runner: an instruction-tuned LLM asked TALLRec's question, zero-shot."""

from __future__ import annotations

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

_MODELS: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}  # loaded once per process


class ICL:
    """Zero-shot: no training; the manifest only fixes which data the record belongs to."""

    name: ClassVar[str] = "icl"
    code_version: ClassVar[int] = 1
    model_spec: ClassVar[str] = DEFAULT_MODEL
    template: ClassVar[str] = "tallrec"
    mode: ClassVar[str] = "two-token"
    dtype: ClassVar[str] = "float32"
    device: ClassVar[str] = "auto"
    batch_size: ClassVar[int] = 8

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.scorer: YesNoScorer | None = None
        self.domain: Domain | None = None

    def config(self) -> dict[str, Any]:
        """Model, prompt template and scoring mode (the seed does not change zero-shot scores)."""
        return {
            "model": self.model_spec,
            "template": self.template,
            "mode": self.mode,
            "dtype": self.dtype,
            "demos": 0,
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
        return {
            "model": asdict(info),
            "answer_tokens": {
                "yes": [self.scorer.yes_id, tokenizer.decode([self.scorer.yes_id])],
                "no": [self.scorer.no_id, tokenizer.decode([self.scorer.no_id])],
            },
            "threads": threads,
            "trained": False,
        }

    def prompts(self, samples: Sequence[Sample]) -> list[str]:
        """The exact prompt of each sample."""
        if self.domain is None:
            raise BenchError("icl: prompts() before fit()")
        return [render_prompt(to_record(s, self.domain.items), self.template) for s in samples]

    def score(self, samples: Sequence[Sample]) -> list[float]:
        """P(Yes) for each sample."""
        if self.scorer is None:
            raise BenchError("icl: score() before fit()")
        return self.scorer.score(self.prompts(samples))
