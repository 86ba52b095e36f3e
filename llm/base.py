"""What every LLM runner shares: settings, the loaded model, prompts and the Yes/No scorer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from bench.data.domain import Domain
from bench.data.schema import Sample
from bench.data.tallrec_format import to_record
from bench.errors import BenchError
from llm import score_cache
from llm.models import DEFAULT_MODEL, ModelInfo, load_model
from llm.prompts import TEMPLATES, render_prompt
from llm.scorer import MODES, YesNoScorer, torch_threads

log = logging.getLogger(__name__)
_MODELS: dict[tuple[str, str, str, bool], tuple[Any, Any, ModelInfo]] = {}


@dataclass(frozen=True)
class LLMSettings:
    """Model and scoring settings; part of every LLM run's key."""

    model: str = DEFAULT_MODEL  # Hugging Face id, local folder or .gguf file
    dtype: str = "float32"  # float32 | bfloat16 | float16
    device: str = "auto"  # auto: CUDA when present
    load_in_8bit: bool = False  # CUDA + bitsandbytes only
    template: str = "tallrec"  # tallrec (faithful, with its stray "# noqa") | clean
    mode: str = "two-token"  # two-token | tallrec-compat
    batch_size: int = 8  # scoring batch (scores do not depend on it)

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise BenchError(f"unknown prompt template {self.template!r}: use one of {TEMPLATES}")
        if self.mode not in MODES:
            raise BenchError(f"unknown scoring mode {self.mode!r}: use one of {MODES}")


def shared_model(settings: LLMSettings) -> tuple[Any, Any, ModelInfo]:
    """The model for ``settings``, loaded once per process (for runners that do not train)."""
    key = (settings.model, settings.dtype, settings.device, settings.load_in_8bit)
    if key not in _MODELS:
        model, tokenizer, info = load_model(*key)
        model.requires_grad_(False)  # shared for inference only; training loads its own
        _MODELS[key] = model, tokenizer, info
    return _MODELS[key]


class LLMRunner:
    """Base of the LLM runners: prompts from TALLRec records, P(Yes) from the scorer."""

    name: ClassVar[str]
    settings: ClassVar[LLMSettings]
    code_version: ClassVar[int] = 1

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.threads = torch_threads()
        self.scorer: YesNoScorer | None = None
        self.domain: Domain | None = None
        self.demos: list[dict[str, str]] = []

    def config(self) -> dict[str, Any]:
        """The settings and the seed: part of the run key."""
        return asdict(self.settings) | {"seed": self.seed}

    def attach(self, model: Any, tokenizer: Any, domain: Domain) -> dict[str, Any]:
        """Build the scorer for ``model`` on ``domain``'s prompts; what the record keeps of it."""
        probe = render_prompt(to_record(domain.samples("valid")[0], domain.items), self.template)
        self.scorer = YesNoScorer(
            model, tokenizer, probe, self.settings.mode, self.settings.batch_size
        )
        self.domain = domain
        return {
            "answer_tokens": {
                "yes": [self.scorer.yes_id, tokenizer.decode([self.scorer.yes_id])],
                "no": [self.scorer.no_id, tokenizer.decode([self.scorer.no_id])],
            },
            "threads": self.threads,
        }

    def use_score_cache(self, info: ModelInfo, adapter_sha256: str | None) -> None:
        """Serve and keep test scores in the score cache (``llm.score_cache``).

        Call once the weights are final: the cache is keyed on the model file's and the
        adapter's sha256. A model without a single weights file to hash is not cached.
        """
        if self.scorer is not None:
            self.scorer.cache = score_cache.cache_for(
                info, self.scorer.tokenizer, self.settings.mode, adapter_sha256
            )

    def scoring_notes(self) -> dict[str, Any] | None:
        """How many test scores came from the score cache and how many were computed."""
        cache = self.scorer.cache if self.scorer is not None else None
        return {"score_cache": cache.notes()} if cache is not None else None

    def use_domain(self, domain: Domain) -> None:
        """Score ``domain``'s samples from now on (cross-domain tests; prompts use its items)."""
        self.domain = domain

    @property
    def template(self) -> str:
        """The prompt template's id."""
        return self.settings.template

    def prompts(self, samples: Sequence[Sample]) -> list[str]:
        """The exact prompt of each sample, with as many demonstrations as fit the context."""
        if self.domain is None or self.scorer is None:
            raise BenchError(f"{self.name}: prompts() before fit()")
        return [self.prompt(to_record(sample, self.domain.items)) for sample in samples]

    def prompt(self, record: dict[str, str]) -> str:
        """One prompt; demonstrations are dropped oldest first while it overflows the context."""
        limit = self.scorer.max_length or float("inf")
        demos = list(self.demos)
        prompt = render_prompt(record, self.template, demos)
        while demos and len(self.scorer.tokenizer(prompt).input_ids) >= limit:
            demos.pop(0)
            prompt = render_prompt(record, self.template, demos)
        if len(demos) < len(self.demos):
            log.warning(
                "%s: a prompt keeps %d of %d demonstrations to fit the context",
                self.name,
                len(demos),
                len(self.demos),
            )
        return prompt

    def score(self, samples: Sequence[Sample]) -> list[float]:
        """P(Yes) for each sample."""
        if self.scorer is None:
            raise BenchError(f"{self.name}: score() before fit()")
        return self.scorer.score(self.prompts(samples))
