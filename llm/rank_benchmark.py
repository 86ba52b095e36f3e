"""Benchmark of next-item ``rank`` mode, side by side in one process on real test samples.

Ours: one forward pass of the prompt, its cache shared by the 20 candidates' answers in one
batch (:class:`llm.ranker.CandidateRanker`). Reference: 20 independent forward passes, one
per candidate, each over the whole prompt + answer. Both give every candidate's summed
answer log-probability; the figures are samples per second, the ratio, and the largest
score difference.

    python -m llm.rank_benchmark --domain lastfm --samples 40 --out reports/rank-benchmark.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from bench import config as bench_config
from bench.data.nextitem import load_next_item_domain
from bench.files import atomic_write_text
from bench.store.records import environment
from llm.models import DEFAULT_MODEL, load_model
from llm.next_prompts import answer_text, encode, render, template_for
from llm.ranker import CandidateRanker
from llm.scorer import torch_threads


@torch.no_grad()
def independent_scores(ranker: CandidateRanker, prompt_ids: list[int], answers: list[str]):
    """Each answer's summed log-probability from its own full forward pass."""
    scores = []
    for answer in ranker.answer_ids(answers):
        ids = torch.tensor([[*prompt_ids, *answer]])
        logits = ranker.model(input_ids=ids).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        start = len(prompt_ids) - 1
        picked = logprobs[torch.arange(start, start + len(answer)), torch.tensor(answer)]
        scores.append(float(picked.sum()))
    return scores


def main() -> None:
    """Time both procedures on the same samples and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="lastfm")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    provenance = environment()
    threads = torch_threads(bench_config.cpus())
    domain, _ = load_next_item_domain(args.domain)
    model, tokenizer, info = load_model(args.model)
    ranker = CandidateRanker(model, tokenizer)
    cases: list[tuple[Any, list[str]]] = []
    for sample in domain.samples("test")[: args.samples]:
        text = render(
            template_for(domain.name, sample.sample_id),
            [domain.titles[i] for i in sample.history],
            [domain.titles[i] for i in sample.candidates],
            hybrid=False,
        )
        answers = [answer_text(domain.titles[c]) for c in sample.candidates]
        cases.append((encode(tokenizer, text, ranker.pad_id), answers))
    started = time.perf_counter()
    shared = [ranker.rank(encoded, answers) for encoded, answers in cases]
    shared_s = time.perf_counter() - started
    started = time.perf_counter()
    independent = [independent_scores(ranker, list(e.input_ids), a) for e, a in cases]
    independent_s = time.perf_counter() - started
    difference = max(
        abs(x - y)
        for a, b in zip(shared, independent, strict=True)
        for x, y in zip(a, b, strict=True)
    )
    figures = {
        "command": f"python -m llm.rank_benchmark --domain {args.domain} --samples "
        f"{args.samples} --model {args.model} --out {args.out}",
        "model": info.__dict__,
        "samples": len(cases),
        "candidates_per_sample": 20,
        "mean_prompt_tokens": round(sum(len(e.input_ids) for e, _ in cases) / len(cases), 1),
        "threads": threads,
        "seconds": {"shared_prompt": round(shared_s, 2), "independent_20": round(independent_s, 2)},
        "samples_per_second": {
            "shared_prompt": round(len(cases) / shared_s, 3),
            "independent_20": round(len(cases) / independent_s, 3),
        },
        "speed_up": round(independent_s / shared_s, 2),
        "max_abs_score_difference": difference,
        "environment": provenance,
    }
    atomic_write_text(Path(args.out), json.dumps(figures, indent=2) + "\n")
    print(json.dumps({k: figures[k] for k in ("seconds", "samples_per_second", "speed_up")}))


if __name__ == "__main__":
    main()
