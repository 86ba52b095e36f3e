"""The OpenAI-compatible path: top-k renormalisation, and a real loopback server."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from bench.data.datastore import load_domain
from bench.data.splits import make_fewshot
from bench.errors import BenchError
from bench.tasks.runner import with_settings
from llm.endpoint import EndpointScorer, EndpointSettings, renormalised_yes, top_logprobs_of
from llm.icl import ICL, EndpointICL


def test_yes_and_no_are_renormalised_against_each_other():
    top = {"Yes": math.log(0.6), "No": math.log(0.2), "The": math.log(0.1)}
    value, rule = renormalised_yes(top)
    assert value == pytest.approx(0.75) and rule == "both"


def test_variants_of_one_answer_are_summed():
    top = {" Yes": math.log(0.3), "yes": math.log(0.1), "No.": math.log(0.4), "I": -3.0}
    assert renormalised_yes(top)[0] == pytest.approx(0.4 / 0.8)


def test_a_missing_answer_takes_the_lowest_returned_logprob():
    top = {"Yes": -0.5, "The": -2.0, "I": -3.0, "It": -4.0, "As": -5.0}
    value, rule = renormalised_yes(top)
    assert rule == "no-missing" and value == pytest.approx(1 / (1 + math.exp(-5.0 + 0.5)))
    assert renormalised_yes({"The": -1.0, "I": -2.0}) == (0.5, "neither")


def test_a_response_without_logprobs_is_named():
    with pytest.raises(BenchError, match="no top log-probabilities"):
        top_logprobs_of({"choices": [{"text": "Yes"}]}, "completions")


def test_unreachable_endpoint_is_one_line(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    scorer = EndpointScorer(EndpointSettings(endpoint="http://127.0.0.1:9/v1", timeout_s=2))
    with pytest.raises(BenchError, match=r"endpoint http://127.0.0.1:9/v1/completions unreachable"):
        scorer.score(["prompt"])


@pytest.fixture(scope="module")
def server():
    """``python -m llm.serve`` on a free loopback port, serving the real default model."""
    process = subprocess.Popen(
        [sys.executable, "-m", "llm.serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.slow
def test_endpoint_scores_equal_the_local_scorer_where_both_answers_are_in_the_top5(env, server):
    domain, data_sha = load_domain("movie")
    manifest = make_fewshot(domain, data_sha, 16, 0)
    samples = list(domain.samples("test")[:12])
    remote = with_settings(EndpointICL, endpoint=server, model="smollm2-135m-instruct")(seed=0)
    remote.fit(domain, manifest, None)
    remote_scores = remote.score(samples)
    local = ICL(seed=0)
    local.fit(domain, manifest, None)
    local_scores = local.score(samples)
    assert remote.scoring_notes().get("both", 0) >= 6  # the test must compare something
    assert sum(remote.scoring_notes().values()) == len(samples)
    assert remote.prompts(samples) == local.prompts(samples)
    rated = remote.scorer.rate(remote.prompts(samples))
    assert [value for value, _ in rated] == remote_scores  # the server is deterministic
    for (remote_score, rule), local_score in zip(rated, local_scores, strict=True):
        if rule == "both":
            assert remote_score == pytest.approx(local_score, abs=1e-5)
        else:
            assert 0.0 < remote_score < 1.0


@pytest.mark.slow
def test_chat_api_returns_probabilities(env, server):
    domain, data_sha = load_domain("book")
    runner = with_settings(EndpointICL, endpoint=server, api="chat", demos=2)(seed=1)
    info = runner.fit(domain, make_fewshot(domain, data_sha, 16, 1), None)
    assert len(info["demo_sample_ids"]) == 2
    scores = runner.score(list(domain.samples("test")[:4]))
    assert all(0.0 < s < 1.0 for s in scores) and len(set(np.round(scores, 9))) > 1
