"""Fewer tokens (issue 16): the prefix trie's plan and LoRA micro-batches grouped by length."""

from __future__ import annotations

import random

import pytest
import torch

from llm.lora import Example, Schedule, attach_lora, micro_batches, tokenize, train
from llm.scorer import PrefixNode, prefix_tree


def _nodes(node: PrefixNode):
    yield node
    for child in node.children:
        yield from _nodes(child)


def test_prefix_tree_shares_each_groups_prefix_once():
    header = list(range(100, 120))  # 20 tokens every prompt starts with
    users = [list(range(200 + 30 * u, 212 + 30 * u)) for u in range(3)]  # 12 tokens each
    encoded = [header + users[u] + [900 + i] * (1 + i % 3) for i in range(9) for u in [i % 3]]
    encoded.append(header + [7, 8])  # shares only the header
    encoded.append([5, 6, 7])  # shares nothing
    root = prefix_tree(encoded)
    assert sorted(root.prompts()) == list(range(len(encoded)))  # every prompt exactly once
    assert root.leaves == [10] and [c.depth for c in root.children] == [20]
    (top,) = root.children
    assert sorted(c.depth for c in top.children) == [32, 32, 32] and top.leaves == [9]
    for node in _nodes(root):
        below = [encoded[i] for i in node.prompts()]
        assert all(ids[: node.depth] == below[0][: node.depth] for ids in below)
        assert all(len(ids) > node.depth for ids in below)  # each keeps an own token
    run = 20 + 3 * 12 + sum(len(ids) - 32 for ids in encoded[:9]) + 2 + 3
    assert root.tokens_run(encoded) == run < sum(map(len, encoded))


def test_a_group_sharing_fewer_than_eight_more_tokens_gets_no_node():
    encoded = [[1, 2, 3, 4, 5, 9], [1, 2, 3, 4, 5, 8], [1, 2, 3, 4, 6]]
    root = prefix_tree(encoded)
    assert root.children == [] and sorted(root.leaves) == [0, 1, 2]
    assert root.tokens_run(encoded) == sum(map(len, encoded))


def test_grouped_micro_batches_hold_each_steps_samples_sorted_by_length():
    examples = [Example(tuple(range(n)), tuple(range(n))) for n in (5, 1, 9, 3, 7, 2, 8)]
    order = list(range(len(examples)))
    random.Random(0).shuffle(order)
    plain = micro_batches(order, Schedule(1e-3, 4, 2, 0, 1), examples)
    grouped = micro_batches(order, Schedule(1e-3, 4, 2, 0, 1, group_by_length=True), examples)
    assert [sum(step, []) for step in plain] == [order[:4], order[4:]]
    for step, sorted_step in zip(plain, grouped, strict=True):
        flat = sum(sorted_step, [])
        assert sorted(flat) == sorted(sum(step, []))
        assert [len(examples[i].input_ids) for i in flat] == sorted(
            len(examples[i].input_ids) for i in flat
        )
        assert [len(chunk) for chunk in sorted_step] == [len(chunk) for chunk in step]


@pytest.mark.slow
def test_grouped_micro_batches_give_the_same_loss_per_step(env):
    """Two steps of 8 real movie prompts in micro-batches of 4, from the same weights.

    Without dropout: its masks are drawn per micro-batch, so with dropout the two orders
    train on other masks (measured at 0.05: 4.4e-4 apart at step 2, none at step 1).
    """
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    from bench.data.datastore import load_domain
    from bench.data.tallrec_format import to_record
    from llm.models import load_model
    from llm.prompts import render_prompt

    domain, _ = load_domain("movie")
    model, tokenizer, _ = load_model("smollm2-135m-instruct")
    model = attach_lora(model, 8, 16, 0.0, (), "")
    initial = {k: v.clone() for k, v in get_peft_model_state_dict(model).items()}
    samples = domain.samples("train")[:16]
    prompts = [render_prompt(to_record(s, domain.items)) for s in samples]
    examples = [tokenize(tokenizer, p, "Yes.", 512, True) for p in prompts]
    assert len({len(e.input_ids) for e in examples}) > 4  # lengths differ
    losses = []
    for grouped in (False, True):
        set_peft_model_state_dict(model, initial)
        torch.manual_seed(0)
        schedule = Schedule(1e-3, 8, 4, 0, max_epochs=1, group_by_length=grouped)
        losses.append(train(model, examples, schedule, tokenizer.eos_token_id, seed=0).loss_by_step)
    assert len(losses[0]) == 2
    assert losses[0] == pytest.approx(losses[1], abs=1e-5, rel=0)


ENCODE = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
from bench.data.schema import Item
from baselines.text import text_embeddings
vectors, sha = text_embeddings([Item(str(i), f"Movie number {i} ({1990 + i})") for i in range(40)])
print("sha", sha)
"""


@pytest.mark.slow
def test_two_processes_encode_an_item_table_once(own_cache):
    """--jobs workers meet on a fresh cache: one encodes, the other waits and reads it."""
    import subprocess
    import sys

    runs = [
        subprocess.Popen([sys.executable, "-c", ENCODE], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate()[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert sum(out.count("encoding 40 item texts") for out in outputs) == 1, outputs
    hashes = {line for out in outputs for line in out.splitlines() if line.startswith("sha")}
    assert len(hashes) == 1


def _bench_in_background(*args: str):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "bench", "-q", *args]
    return subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(path, run, seconds: float = 300.0) -> None:
    """Until ``path`` exists; fails when ``run`` ends first or it never comes."""
    import time

    deadline = time.monotonic() + seconds
    while not path.exists():
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, f"{path} never came"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_cell_whose_item_table_another_process_encodes_comes_back_later(own_cache, tmp_path):
    """Meanwhile the grid runs the other cells (0.7.0 waited with the core idle)."""
    from baselines.text import embeddings_path
    from bench.data.datastore import load_domain
    from bench.files import exclusive

    items = list(load_domain("movie")[0].items.values())
    embeddings = embeddings_path(items)
    for earlier in (embeddings, embeddings.with_suffix(".sha256")):  # an earlier test's
        earlier.unlink(missing_ok=True)
    results = tmp_path / "runs"
    cell = ["--domain", "movie", "--shots", "16", "--seed", "0", "--jobs", "1"]
    with exclusive(embeddings.with_suffix(".lock")):  # "another process" is encoding them
        run = _bench_in_background(
            "run", "--runner", "gru-bert", "gru4rec", *cell, "--results-dir", str(results)
        )
        _wait_for(results / "gru4rec" / "movie" / "k16-seed0-valid-full.json", run)
        assert not (results / "gru-bert" / "movie" / "k16-seed0-valid-full.json").exists()
    _, err = run.communicate(timeout=600)
    assert run.returncode == 0, err
    assert (results / "gru-bert" / "movie" / "k16-seed0-valid-full.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_shared_group_put_off_comes_back_whole(env, tmp_path, jobs):
    """Zero-shot ICL's first cell is locked by another run: its other shot count waits with
    it and then takes its scores, instead of computing them a second time meanwhile."""
    import json

    from bench.files import exclusive

    results = tmp_path / "runs"
    folder = results / "icl" / "movie"
    cell = ["--domain", "movie", "--shots", "16", "64", "--seed", "0", "--test-limit", "24"]
    with exclusive(folder / "k16-seed0-valid-full-test24.lock"):  # the group's first cell
        run = _bench_in_background(
            "run", "--runner", "icl", "gru4rec", *cell, "--no-cache", "--jobs", jobs,
            "--results-dir", str(results),
        )  # fmt: skip
        for shots in (16, 64):
            _wait_for(results / "gru4rec" / "movie" / f"k{shots}-seed0-valid-full-test24.json", run)
        assert not list(folder.glob("*.json"))
    _, err = run.communicate(timeout=600)
    assert run.returncode == 0, err
    first, other = (json.loads((folder / f"k{k}-seed0-valid-full-test24.json").read_text())
                    for k in (16, 64))  # fmt: skip
    assert "scores_from" not in first["training"]
    assert other["training"]["scores_from"]["run_key"] == first["run_key"]


FAULTS = """
import resource, torch
from bench.config import keep_freed_memory
kept = keep_freed_memory()
x = torch.ones(10 << 20)  # 40 MiB: above glibc's largest adaptive mmap threshold (32 MiB)
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    (x * 2).sum()
before = faults()
for _ in range(20):
    (x * 2).sum()
print(kept, faults() - before)
"""


def test_freed_memory_is_kept_for_reuse_unless_a_malloc_variable_is_set():
    """The same 40 MiB temporary, 20 times: mostly reused, not faulted in afresh each time."""
    import os
    import subprocess
    import sys

    def run(**env: str) -> tuple[str, int]:
        done = subprocess.run(
            [sys.executable, "-c", FAULTS],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env,
        )
        kept, faults = done.stdout.split()
        return kept, int(faults)

    kept, faults = run()
    default, default_faults = run(MALLOC_PERTURB_="0")  # glibc's default, left to the user
    assert (kept, default) == ("True", "False")
    assert default_faults > 20 * 5000  # glibc's default: 10,240 pages faulted in every time
    assert faults < default_faults / 2  # measured: a quarter
