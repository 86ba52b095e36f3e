"""The Yes/No scorer and the zero-shot ICL runner on the real default model (SmolLM2-135M)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bench.data.datastore import load_domain
from bench.data.splits import make_fewshot
from bench.data.tallrec_format import to_record
from bench.errors import BenchError
from llm.icl import ICL
from llm.models import load_model
from llm.prompts import render_prompt
from llm.scorer import YesNoScorer, answer_token_ids, shared_prefix_length

pytestmark = pytest.mark.slow  # loads (and once converts) the real default model


@pytest.fixture
def icl(env):
    domain, data_sha = load_domain("movie")
    runner = ICL(seed=0)
    info = runner.fit(domain, make_fewshot(domain, data_sha, 16, 0), None)
    return runner, info, list(domain.samples("test")[:16])


def test_answer_tokens_come_from_the_tokenizer_and_scores_are_probabilities(icl):
    runner, info, samples = icl
    assert info["answer_tokens"]["yes"][1] == "Yes" and info["answer_tokens"]["no"][1] == "No"
    scores = runner.score(samples)
    assert all(0.0 < s < 1.0 for s in scores) and len(set(scores)) == len(scores)


def test_scores_do_not_depend_on_batch_size_or_order(icl):
    runner, _, samples = icl
    batched = runner.score(samples)
    runner.scorer.batch_size = 1
    single = runner.score(samples)
    order = list(range(len(samples)))
    random.Random(0).shuffle(order)
    shuffled = runner.score([samples[i] for i in order])
    unshuffled = [shuffled[order.index(i)] for i in range(len(samples))]
    assert np.allclose(batched, single, atol=1e-5, rtol=0)
    assert np.allclose(batched, unshuffled, atol=1e-5, rtol=0)


def test_compat_mode_is_tallrecs_double_softmax(icl):
    runner, _, samples = icl
    model, tokenizer = runner.scorer.model, runner.scorer.tokenizer
    prompt = runner.prompts(samples[:1])[0]
    compat = YesNoScorer(model, tokenizer, prompt, mode="tallrec-compat").score([prompt])[0]
    with torch.no_grad():
        logits = model(**tokenizer(prompt, return_tensors="pt")).logits[0, -1]
    vocab = torch.softmax(logits, dim=-1)
    yes, no = vocab[runner.scorer.yes_id], vocab[runner.scorer.no_id]
    assert compat == pytest.approx(
        (torch.exp(yes) / (torch.exp(yes) + torch.exp(no))).item(), abs=1e-6
    )
    two_token = torch.softmax(logits[[runner.scorer.yes_id, runner.scorer.no_id]], dim=-1)[0]
    assert runner.score(samples[:1])[0] == pytest.approx(two_token.item(), abs=1e-5)


def test_faithful_template_keeps_tallrecs_stray_comment(env):
    domain, _ = load_domain("movie")
    record = to_record(domain.samples("test")[0], domain.items)
    faithful, clean = render_prompt(record, "tallrec"), render_prompt(record, "clean")
    assert faithful.splitlines()[0].endswith("the request.  # noqa: E501")
    assert "noqa" not in clean
    assert faithful.endswith(f"### Input:\n{record['input']}\n\n### Response:\n")


def test_k_shot_prompts_hold_exactly_the_manifests_first_demos(env):
    from llm.icl import ICL4Shot

    domain, data_sha = load_domain("book")
    manifest = make_fewshot(domain, data_sha, 16, 3)
    runner = ICL4Shot(seed=3)
    info = runner.fit(domain, manifest, None)
    assert info["demo_sample_ids"] == list(manifest.train_ids[:4])
    by_id = domain.by_id()
    sample = domain.samples("test")[0]
    prompt = runner.prompts([sample])[0]
    assert prompt.count("### Input:\n") == 5 and prompt.count("### Instruction:") == 1
    position = 0
    for sample_id in manifest.train_ids[:4]:  # in manifest order, each with its answer
        demo = to_record(by_id[sample_id], domain.items)
        position = prompt.index(f"{demo['input']}\n\n### Response:\n{demo['output']}\n\n", position)
    for sample_id in manifest.train_ids[4:]:
        assert to_record(by_id[sample_id], domain.items)["input"] not in prompt
    query = to_record(sample, domain.items)["input"]
    assert prompt.endswith(f"### Input:\n{query}\n\n### Response:\n")
    assert 0.0 < runner.score([sample])[0] < 1.0


def test_prompt_longer_than_the_context_is_refused(icl):
    runner, _, samples = icl
    prompt = runner.prompts(samples[:1])[0]
    with pytest.raises(BenchError, match=r"prompt 1 has \d+ tokens, the model's context is 8192"):
        runner.scorer.score([prompt, prompt * 60])


def test_missing_model_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BenchError, match="could not be loaded"):
        load_model(str(tmp_path / "no-such-model"))
    with pytest.raises(BenchError, match="does not exist"):
        load_model(str(tmp_path / "missing.gguf"))


def test_prefix_trie_gives_the_scores_of_full_prompts_from_fewer_tokens(icl):
    """Movie's test users repeat: their prompts share the header and, per user, the history."""
    runner, _, _ = icl
    domain, _ = load_domain("movie")
    prompts = runner.prompts(domain.samples("test")[:48])
    encoded = runner.scorer.encode(prompts)
    assert shared_prefix_length(encoded) >= 60  # header and instruction
    scores, tokens = {}, {}
    for prefixes in ("tree", "one", "none"):
        runner.scorer.prefixes = prefixes
        scores[prefixes] = runner.scorer.score(prompts)
        tokens[prefixes] = runner.scorer.plan(encoded).tokens_run(encoded)
    assert np.allclose(scores["tree"], scores["none"], atol=1e-5, rtol=0)
    assert np.allclose(scores["one"], scores["none"], atol=1e-5, rtol=0)
    assert tokens["none"] == sum(map(len, encoded)) > tokens["one"] > tokens["tree"]
    runner.scorer.prefixes = "tree"
    root = runner.scorer.plan(encoded)
    assert len(root.children) == 1 and root.children[0].children  # groups below the header


def test_tokenizer_without_distinct_yes_and_no_is_refused():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"[UNK]": 0, "Response": 1, ":": 2}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]")
    with pytest.raises(BenchError, match="same first token 0: cannot tell the answers apart"):
        answer_token_ids(tokenizer, "Response:\n")


def test_model_folder_without_tokenizer_is_named(env, tmp_path, monkeypatch, tiny_llama):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tiny_llama.save_pretrained(tmp_path / "weights-only")
    with pytest.raises(BenchError, match="weights-only' could not be loaded"):
        load_model(str(tmp_path / "weights-only"))


def test_icl_records_recompute_and_test_across_domains(env, tmp_path):
    from sklearn.metrics import roc_auc_score

    from bench.store.records import read_record
    from bench.tasks.like import Cell, run_cell

    cell = Cell("icl", "movie", 16, 0, test_domain="book", test_limit=48)
    record, computed = run_cell(cell, tmp_path)
    assert computed and record.tested_on == "book" and len(record.predictions) == 48
    book, _ = load_domain("book")
    book_ids = {s.sample_id for s in book.samples("test")}
    assert all(p.sample_id in book_ids for p in record.predictions)
    labels = [p.label for p in record.predictions]
    assert record.auc == pytest.approx(roc_auc_score(labels, [p.score for p in record.predictions]))
    path = cell.record_path(tmp_path)
    assert path.parts[-2:] == ("movie-to-book", "k16-seed0-valid-full-test48.json")
    assert read_record(path) == record
    assert record.config["model"] == "smollm2-135m-instruct"
    assert record.training["model"]["source_sha256"]
    assert run_cell(cell, tmp_path) == (record, False)  # an intact record is reused


def test_baselines_cannot_test_across_domains(env, tmp_path):
    from bench.tasks.like import Cell, run_cell

    with pytest.raises(BenchError, match="cannot test on another domain"):
        run_cell(Cell("like-rate", "movie", 16, 0, test_domain="book"), tmp_path)
    assert not any(tmp_path.rglob("*.json"))
