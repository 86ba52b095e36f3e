"""Scorer benchmark: this suite's Yes/No scorer against TALLRec's ``evaluate.py`` procedure.

Reference procedure (TALLRec ``evaluate.py``): prompts in file order, batches of 32 with left
padding, greedy ``generate`` with ``max_new_tokens=128`` and ``output_scores=True``, then the
first generated token's scores: softmax over the vocabulary, the [Yes, No] columns, softmax
again. Ours: ``YesNoScorer`` in ``tallrec-compat`` mode (the same numbers) and in the default
``two-token`` mode. Both on the same model, the same real test prompts, one process, side by
side.

    python -m llm.benchmark --domain movie --prompts 200 --out reports/scorer-benchmark.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from bench.datastore import load_domain
from bench.files import atomic_write_text
from bench.records import environment
from bench.tallrec_format import to_record
from llm.models import DEFAULT_MODEL, load_model
from llm.prompts import render_prompt
from llm.scorer import YesNoScorer


@torch.no_grad()
def reference_scores(
    model: Any, tokenizer: Any, prompts: list[str], yes: int, no: int
) -> list[float]:
    """P(Yes) the way TALLRec's evaluate.py computes it."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token_id = tokenizer.eos_token_id
    scores: list[float] = []
    for start in range(0, len(prompts), 32):
        inputs = tokenizer(prompts[start : start + 32], return_tensors="pt", padding=True)
        output = model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=128,
            return_dict_in_generate=True,
            output_scores=True,
            pad_token_id=tokenizer.pad_token_id,
        )
        first = output.scores[0].float().softmax(dim=-1)
        scores += first[:, [yes, no]].softmax(dim=-1)[:, 0].tolist()
    return scores


def main() -> None:
    """Run both procedures and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="movie")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    provenance = environment()  # before running: the commit of the code that runs
    threads = int(os.environ.get("BENCH_THREADS", "0")) or os.cpu_count() or 1
    torch.set_num_threads(threads)
    domain, _ = load_domain(args.domain)
    samples = domain.samples("test")[: args.prompts]
    prompts = [render_prompt(to_record(s, domain.items)) for s in samples]
    model, tokenizer, info = load_model(args.model)
    compat = YesNoScorer(model, tokenizer, prompts[0], mode="tallrec-compat", batch_size=8)
    two_token = YesNoScorer(model, tokenizer, prompts[0], mode="two-token", batch_size=8)
    timings, results = {}, {}
    for name, run in (
        (
            "reference_generate",
            lambda: reference_scores(model, tokenizer, prompts, compat.yes_id, compat.no_id),
        ),
        ("scorer_compat", lambda: compat.score(prompts)),
        ("scorer_two_token", lambda: two_token.score(prompts)),
    ):
        started = time.perf_counter()
        results[name] = run()
        timings[name] = time.perf_counter() - started
    difference = max(
        abs(a - b)
        for a, b in zip(results["reference_generate"], results["scorer_compat"], strict=True)
    )
    figures = {
        "command": f"python -m llm.benchmark --domain {args.domain} --prompts {args.prompts} "
        f"--model {args.model} --out {args.out}",
        "model": info.__dict__,
        "prompts": len(prompts),
        "threads": threads,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "speed_up_vs_reference": {
            k: round(timings["reference_generate"] / timings[k], 2)
            for k in ("scorer_compat", "scorer_two_token")
        },
        "max_abs_difference_p_yes_compat_vs_reference": difference,
        "environment": provenance,
    }
    atomic_write_text(Path(args.out), json.dumps(figures, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: figures[k]
                for k in (
                    "seconds",
                    "speed_up_vs_reference",
                    "max_abs_difference_p_yes_compat_vs_reference",
                )
            }
        )
    )


if __name__ == "__main__":
    main()
