"""LLM benchmarks, side by side in one process on the same model and real prompts.

1. The Yes/No scorer against TALLRec's ``evaluate.py`` procedure: prompts in file order,
   batches of 32 with left padding, greedy ``generate`` with ``max_new_tokens=128`` and
   ``output_scores=True``, then the first generated token's scores (softmax over the
   vocabulary, the [Yes, No] columns, softmax again). Ours: ``tallrec-compat`` mode (the
   same numbers), the default ``two-token`` mode with its prefix trie, with only the prefix
   all prompts share (``prefixes="one"``, 0.7.0's scorer), without shared prefixes, and in
   bfloat16. Every ``--domain`` after the first runs only the reference and the trie and
   one-prefix scorers (the accuracy check on that domain's prompts).
2. Scorer throughput as a fraction of this machine's matrix-multiply peak, measured here
   with a large float32 matmul: 2 x (parameters outside the embedding table) x tokens run,
   plus 2 x hidden x vocab per prompt for the one position whose logits are kept.
3. Time per LoRA training sample (forward + backward + optimizer step) at 256 tokens, and
   LoRA steps on real prompts of varied length with micro-batches grouped by length or not
   (loss per step, seconds, padding tokens).

    python -m llm.benchmark --domain movie book --prompts 200 --out reports/scorer-benchmark.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import config as bench_config
from bench.data.datastore import load_domain
from bench.data.tallrec_format import to_record
from bench.files import atomic_write_text
from bench.store.records import environment
from llm.lora import Example, Schedule, attach_lora, micro_batches, tokenize, train
from llm.models import DEFAULT_MODEL, load_model
from llm.prompts import render_prompt
from llm.scorer import YesNoScorer, torch_threads


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
    run = scorer.plan(encoded).tokens_run(encoded)
    embedding = model.get_input_embeddings().weight
    body = sum(p.numel() for p in model.parameters()) - embedding.numel()
    head = embedding.shape[0] * embedding.shape[1]
    return {
        "tokens_in_prompts": sum(len(ids) for ids in encoded),
        "tokens_run": run,
        "flops": 2 * body * run + 2 * head * len(prompts),
    }


def lora_grouping(spec: str, prompts: list[str], steps: int = 3) -> dict[str, Any]:
    """LoRA steps with and without ``group_by_length`` from the same weights and seed.

    tallrec-cpu's batches (16 samples in micro-batches of 8) of real prompts, LoRA dropout
    0: its masks are drawn per micro-batch, so with dropout the two would differ by the masks.
    """
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    model, tokenizer, _ = load_model(spec)
    model = attach_lora(model, 8, 16, 0.0, (), "")
    initial = {k: v.clone() for k, v in get_peft_model_state_dict(model).items()}
    examples = [tokenize(tokenizer, p, "Yes.", 512, True) for p in prompts[: 16 * steps]]
    figures: dict[str, Any] = {}
    for grouped in (False, True):
        set_peft_model_state_dict(model, initial)
        schedule = Schedule(1e-3, 16, 8, 0, max_epochs=1, group_by_length=grouped)
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(0))
        padded = sum(
            len(chunk) * max(len(examples[i].input_ids) for i in chunk)
            for step in micro_batches(order.tolist(), schedule, examples)
            for chunk in step
        )
        started = time.perf_counter()
        log = train(model, examples, schedule, tokenizer.eos_token_id, seed=0)
        figures["grouped" if grouped else "file_order"] = {
            "seconds": round(time.perf_counter() - started, 2),
            "loss_by_step": log.loss_by_step,
            "tokens_with_padding": padded,
        }
    figures["tokens"] = sum(len(e.input_ids) for e in examples)
    figures["max_abs_loss_difference"] = max(
        abs(a - b)
        for a, b in zip(
            figures["grouped"]["loss_by_step"], figures["file_order"]["loss_by_step"], strict=True
        )
    )
    figures["speed_up"] = round(figures["file_order"]["seconds"] / figures["grouped"]["seconds"], 3)
    return figures


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


def scorer_runs(
    domain_name: str, count: int, spec: str, everything: bool
) -> tuple[dict[str, Any], list[str]]:
    """Each scoring procedure on the first ``count`` test prompts of a domain.

    Seconds, speed-ups, the largest P(Yes) differences, the work of the trie scorer.
    """
    domain, _ = load_domain(domain_name)
    prompts = [render_prompt(to_record(s, domain.items)) for s in domain.samples("test")[:count]]
    model, tokenizer, _ = load_model(spec)
    compat = YesNoScorer(model, tokenizer, prompts[0], mode="tallrec-compat", prefixes="tree")
    scorers = {
        "scorer_compat": compat,
        "scorer_two_token": YesNoScorer(model, tokenizer, prompts[0], prefixes="tree"),
        "scorer_two_token_one_prefix": YesNoScorer(model, tokenizer, prompts[0]),  # default
    }
    if everything:
        scorers["scorer_two_token_no_prefix"] = YesNoScorer(
            model, tokenizer, prompts[0], prefixes="none"
        )
        bf16_model, _, _ = load_model(spec, dtype="bfloat16")
        scorers["scorer_two_token_bfloat16"] = YesNoScorer(bf16_model, tokenizer, prompts[0])
    procedures = {
        "reference_generate": lambda: reference_scores(
            model, tokenizer, prompts, compat.yes_id, compat.no_id
        ),
    } | {name: scorer.score for name, scorer in scorers.items()}
    timings, results = {}, {}
    for name, run in procedures.items():
        started = time.perf_counter()
        results[name] = np.array(run() if name == "reference_generate" else run(prompts))
        timings[name] = time.perf_counter() - started
    reference, base = results["reference_generate"], results["scorer_two_token"]
    reference_two_token = results["scorer_two_token_one_prefix"]
    differences = {  # the reference computes tallrec-compat's numbers (with the trie here)
        "compat_vs_reference": float(np.abs(reference - results["scorer_compat"]).max()),
        "two_token_trie_vs_one_prefix": float(np.abs(base - reference_two_token).max()),
    }
    if everything:
        differences |= {
            "no_prefix_vs_trie": float(np.abs(results["scorer_two_token_no_prefix"] - base).max()),
            "bfloat16_vs_float32": float(np.abs(results["scorer_two_token_bfloat16"] - base).max()),
        }
    return {
        "prompts": len(prompts),
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "speed_up_vs_reference": {
            k: round(timings["reference_generate"] / v, 2)
            for k, v in timings.items()
            if k != "reference_generate"
        },
        "max_abs_difference_p_yes": differences,
        "scorer_two_token": scorer_flops(model, scorers["scorer_two_token"], prompts)
        | {"seconds": timings["scorer_two_token"]},
        "scorer_two_token_one_prefix": scorer_flops(
            model, scorers["scorer_two_token_one_prefix"], prompts
        ),
    }, prompts


def main() -> None:
    """Run every procedure and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", nargs="+", default=["movie"])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    provenance = environment()  # before running: the commit of the code that runs
    bench_config.keep_freed_memory()  # as in every process that runs cells
    threads = torch_threads(bench_config.cpus())
    _, _, info = load_model(args.model)
    peak = matmul_peak_gflops()
    by_domain, movie_prompts = {}, []
    for index, name in enumerate(args.domain):
        by_domain[name], prompts = scorer_runs(name, args.prompts, args.model, index == 0)
        work = by_domain[name]["scorer_two_token"]
        achieved = work["flops"] / work.pop("seconds") / 1e9
        work |= {
            "gflops_achieved": round(achieved, 1),
            "fraction_of_matmul_peak": round(achieved / peak, 3),
        }
        movie_prompts = movie_prompts or prompts
    book, _ = load_domain("book")  # long prompts: 256 real tokens each
    long_prompts = [render_prompt(to_record(s, book.items)) for s in book.samples("test")[:64]]
    lora_s = lora_seconds_per_sample(args.model, long_prompts)
    grouping = lora_grouping(args.model, movie_prompts)
    figures = {
        "command": f"python -m llm.benchmark --domain {' '.join(args.domain)} "
        f"--prompts {args.prompts} --model {args.model} --out {args.out}",
        "model": info.__dict__,
        "threads": threads,
        "matmul_peak_gflops_float32": round(peak, 1),
        "domains": by_domain,
        "lora_training_seconds_per_sample_256_tokens": round(lora_s, 3),
        "lora_micro_batches_grouped_by_length": grouping,
        "environment": provenance,
    }
    atomic_write_text(Path(args.out), json.dumps(figures, indent=2) + "\n")
    for name, shown in by_domain.items():
        print(name, json.dumps({k: v for k, v in shown.items() if k != "prompts"}, indent=1))
    print("lora s/sample:", figures["lora_training_seconds_per_sample_256_tokens"])
    print("lora grouping:", json.dumps(grouping))


if __name__ == "__main__":
    main()
