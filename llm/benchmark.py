"""LLM benchmarks, side by side in one process on the same model and real prompts.

1. The Yes/No scorer against TALLRec's ``evaluate.py`` procedure: prompts in file order,
   batches of 32 with left padding, greedy ``generate`` with ``max_new_tokens=128`` and
   ``output_scores=True``, then the first generated token's scores (softmax over the
   vocabulary, the [Yes, No] columns, softmax again). Ours: ``tallrec-compat`` mode (the
   same numbers), the default ``two-token`` mode, without the shared-prefix cache, and in
   bfloat16.
2. Scorer throughput as a fraction of this machine's matrix-multiply peak, measured here
   with a large float32 matmul: 2 x (parameters outside the embedding table) x tokens run,
   plus 2 x hidden x vocab per prompt for the one position whose logits are kept.
3. Time per LoRA training sample (forward + backward + optimizer step) at 256 tokens.

    python -m llm.benchmark --domain movie --prompts 200 --out reports/scorer-benchmark.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.datastore import load_domain
from bench.data.tallrec_format import to_record
from bench.files import atomic_write_text
from bench.store.records import environment
from llm.lora import Example, Schedule, attach_lora, train
from llm.models import DEFAULT_MODEL, load_model
from llm.prompts import render_prompt
from llm.scorer import YesNoScorer, shared_prefix_length, torch_threads


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


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Float32 GFLOP/s of a square matmul (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def scorer_flops(model: Any, scorer: YesNoScorer, prompts: list[str]) -> dict[str, float]:
    """FLOPs of one ``score`` call: tokens actually run (one shared prefix) and per prompt."""
    encoded = scorer.encode(prompts)
    shared = shared_prefix_length(encoded) if scorer.reuse_prefix else 0
    run = sum(len(ids) - shared for ids in encoded) + shared
    embedding = model.get_input_embeddings().weight
    body = sum(p.numel() for p in model.parameters()) - embedding.numel()
    head = embedding.shape[0] * embedding.shape[1]
    return {
        "tokens_in_prompts": sum(len(ids) for ids in encoded),
        "tokens_run": run,
        "flops": 2 * body * run + 2 * head * len(prompts),
    }


def lora_seconds_per_sample(spec: str, prompts: list[str], tokens: int = 256) -> float:
    """Seconds per training sample (fwd + bwd + step) on real prompts cut to ``tokens``."""
    model, tokenizer, _ = load_model(spec)
    model = attach_lora(model, 8, 16, 0.05, (), "")
    ids = [tokenizer(p).input_ids for p in prompts]
    examples = [Example(tuple(i[:tokens]), tuple(i[:tokens])) for i in ids if len(i) >= tokens]
    examples = examples[:8]
    schedule = Schedule(1e-4, 8, 8, 0, max_epochs=1)
    train(model, examples, schedule, tokenizer.eos_token_id, seed=0)  # warm-up step
    started = time.perf_counter()
    steps = 3
    train(model, examples, Schedule(1e-4, 8, 8, 0, max_epochs=steps), tokenizer.eos_token_id, 0)
    return (time.perf_counter() - started) / (steps * len(examples))


def main() -> None:
    """Run every procedure and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="movie")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    provenance = environment()  # before running: the commit of the code that runs
    threads = torch_threads()
    domain, _ = load_domain(args.domain)
    samples = domain.samples("test")[: args.prompts]
    prompts = [render_prompt(to_record(s, domain.items)) for s in samples]
    model, tokenizer, info = load_model(args.model)
    bf16_model, _, _ = load_model(args.model, dtype="bfloat16")
    compat = YesNoScorer(model, tokenizer, prompts[0], mode="tallrec-compat")
    two_token = YesNoScorer(model, tokenizer, prompts[0])
    no_prefix = YesNoScorer(model, tokenizer, prompts[0], reuse_prefix=False)
    bf16 = YesNoScorer(bf16_model, tokenizer, prompts[0])
    procedures = {
        "reference_generate": lambda: reference_scores(
            model, tokenizer, prompts, compat.yes_id, compat.no_id
        ),
        "scorer_compat": lambda: compat.score(prompts),
        "scorer_two_token": lambda: two_token.score(prompts),
        "scorer_two_token_no_prefix_cache": lambda: no_prefix.score(prompts),
        "scorer_two_token_bfloat16": lambda: bf16.score(prompts),
    }
    timings, results = {}, {}
    for name, run in procedures.items():
        started = time.perf_counter()
        results[name] = np.array(run())
        timings[name] = time.perf_counter() - started
    peak = matmul_peak_gflops()
    work = scorer_flops(model, two_token, prompts)
    achieved = work["flops"] / timings["scorer_two_token"] / 1e9
    book, _ = load_domain("book")  # long prompts: 256 real tokens each
    long_prompts = [render_prompt(to_record(s, book.items)) for s in book.samples("test")[:64]]
    lora_s = lora_seconds_per_sample(args.model, long_prompts)
    base = results["scorer_two_token"]
    figures = {
        "command": f"python -m llm.benchmark --domain {args.domain} --prompts {args.prompts} "
        f"--model {args.model} --out {args.out}",
        "model": info.__dict__,
        "prompts": len(prompts),
        "threads": threads,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "speed_up_vs_reference": {
            k: round(timings["reference_generate"] / v, 2)
            for k, v in timings.items()
            if k != "reference_generate"
        },
        "max_abs_difference_p_yes": {
            "compat_vs_reference": float(
                np.abs(results["reference_generate"] - results["scorer_compat"]).max()
            ),
            "no_prefix_cache_vs_prefix_cache": float(
                np.abs(results["scorer_two_token_no_prefix_cache"] - base).max()
            ),
            "bfloat16_vs_float32": float(np.abs(results["scorer_two_token_bfloat16"] - base).max()),
        },
        "matmul_peak_gflops_float32": round(peak, 1),
        "scorer_two_token": work
        | {
            "gflops_achieved": round(achieved, 1),
            "fraction_of_matmul_peak": round(achieved / peak, 3),
        },
        "lora_training_seconds_per_sample_256_tokens": round(lora_s, 3),
        "environment": provenance,
    }
    atomic_write_text(Path(args.out), json.dumps(figures, indent=2) + "\n")
    shown = ("seconds", "speed_up_vs_reference", "max_abs_difference_p_yes", "scorer_two_token")
    print(json.dumps({k: figures[k] for k in shown}, indent=1))
    print("lora s/sample:", figures["lora_training_seconds_per_sample_256_tokens"])


if __name__ == "__main__":
    main()
