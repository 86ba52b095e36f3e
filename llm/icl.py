"""In-context learning runners: an LLM asked TALLRec's question, zero- or few-shot.

``icl`` is zero-shot; ``icl-4shot`` shows the first 4 samples of the few-shot manifest (in
manifest order, so every run with the same manifest sees the same demonstrations) as
answered examples; ``--set demos=K`` picks another K. Demonstrations that would overflow
the context are dropped, oldest first, with a warning in the log. ``icl-api`` asks an
OpenAI-compatible endpoint instead of a local model (see ``llm.endpoint``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.data.domain import Domain
from bench.data.schema import Sample
from bench.data.splits import FewShotManifest
from bench.data.tallrec_format import to_record
from bench.errors import BenchError
from llm.base import LLMRunner, LLMSettings, shared_model
from llm.endpoint import EndpointScorer, EndpointSettings
from llm.prompts import render_prompt


@dataclass(frozen=True)
class ICLSettings(LLMSettings):
    """A local model; ``demos`` answered examples from the manifest before the question."""

    demos: int = 0


def demonstrations(
    domain: Domain, manifest: FewShotManifest, count: int
) -> tuple[list[Sample], list[dict[str, str]]]:
    """The manifest's first ``count`` training samples and their TALLRec records."""
    train, _ = manifest.samples(domain)
    chosen = train[:count]
    return chosen, [to_record(sample, domain.items) for sample in chosen]


class ICL(LLMRunner):
    """No training; the manifest gives the demonstrations (if any) and ties the record to data."""

    name: ClassVar[str] = "icl"
    settings: ClassVar[ICLSettings] = ICLSettings()

    @classmethod
    def reads_train(cls) -> bool:
        """Only demonstrations come from the train samples: zero-shot reads none."""
        return cls.settings.demos > 0

    def fit(self, domain: Domain, manifest: FewShotManifest, workdir: Path) -> dict[str, Any]:
        """Load the model (once per process), find its answer tokens, pick the demonstrations."""
        model, tokenizer, info = shared_model(self.settings)
        attached = self.attach(model, tokenizer, domain)
        self.use_score_cache(info, adapter_sha256=None)
        chosen, self.demos = demonstrations(domain, manifest, self.settings.demos)
        return attached | {
            "demo_sample_ids": [sample.sample_id for sample in chosen],
            "model": asdict(info),
            "trained": False,
        }


class ICL4Shot(ICL):
    """Four demonstrations from the few-shot manifest."""

    name: ClassVar[str] = "icl-4shot"
    settings: ClassVar[ICLSettings] = ICLSettings(demos=4)


class EndpointICL:
    """ICL through an OpenAI-compatible endpoint that returns log-probabilities (GPT-3.5 row)."""

    name: ClassVar[str] = "icl-api"
    code_version: ClassVar[int] = 1
    settings: ClassVar[EndpointSettings] = EndpointSettings()

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.scorer = EndpointScorer(self.settings)
        self.domain: Domain | None = None
        self.demos: list[dict[str, str]] = []

    def config(self) -> dict[str, Any]:
        """Endpoint settings (never the API key) and the seed."""
        return asdict(self.settings) | {"seed": self.seed}

    reads_train = classmethod(ICL.reads_train.__func__)  # zero-shot reads no train sample

    def fit(self, domain: Domain, manifest: FewShotManifest, workdir: Path) -> dict[str, Any]:
        """Pick the demonstrations (the endpoint is first asked when scoring)."""
        self.domain = domain
        chosen, self.demos = demonstrations(domain, manifest, self.settings.demos)
        return {"demo_sample_ids": [s.sample_id for s in chosen], "trained": False}

    def use_domain(self, domain: Domain) -> None:
        """Score ``domain``'s samples from now on (cross-domain tests)."""
        self.domain = domain

    def scoring_notes(self) -> dict[str, int]:
        """How many prompts each renormalisation rule scored (see ``llm.endpoint``)."""
        return dict(self.scorer.rules)

    def prompts(self, samples: Sequence[Sample]) -> list[str]:
        """The exact prompt of each sample (the endpoint enforces its own context limit)."""
        if self.domain is None:
            raise BenchError(f"{self.name}: prompts() before fit()")
        return [
            render_prompt(to_record(s, self.domain.items), self.settings.template, self.demos)
            for s in samples
        ]

    def score(self, samples: Sequence[Sample]) -> list[float]:
        """P(Yes) renormalised over the endpoint's top log-probabilities."""
        return self.scorer.score(self.prompts(samples))
