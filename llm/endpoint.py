"""P(Yes) from an OpenAI-compatible endpoint that returns top log-probabilities.

The paper's GPT-3.5 row was scored this way: ask for one token with the top-5
log-probabilities, keep the "Yes" and "No" entries and renormalise them against each other.
Tokens are matched after stripping spaces and a trailing period, case-insensitively, and
variants of one answer ("Yes", " Yes", "yes") are summed (log-sum-exp). When one answer is
not among the top-k, its log-probability is replaced by the lowest one returned (an upper
bound on the missing value, so P(Yes) is not pushed to 0 or 1); when neither is, P(Yes) =
0.5. How many prompts needed each rule is kept in the run record. The authors did not
publish their substitution code; this rule is this suite's, stated here and in the README.

Both APIs are supported: ``completions`` (``logprobs: k``) and ``chat``
(``logprobs: true, top_logprobs: k``). The key comes from ``$OPENAI_API_KEY`` (never
recorded). ``python -m llm.serve`` is a loopback server backed by a local model.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError

APIS = ("completions", "chat")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: urllib would send the API key on to the new host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201
        raise BenchError(
            f"endpoint {req.full_url} redirected ({code}) to {newurl}: refused, so the API key "
            "goes nowhere else; give the final URL with --set endpoint=URL"
        )


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class EndpointSettings:
    """Where to ask and how; part of the run key."""

    endpoint: str = ""  # base URL, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1
    api: str = "completions"  # completions | chat
    model: str = "gpt-3.5-turbo-instruct"
    template: str = "tallrec"
    demos: int = 0
    top_logprobs: int = 5
    timeout_s: float = 60.0


def answer_of(token: str) -> str | None:
    """The answer ("yes" or "no") that ``token`` spells, else None."""
    word = token.strip().rstrip(".").lower()
    return word if word in ("yes", "no") else None


def renormalised_yes(top: dict[str, float]) -> tuple[float, str]:
    """P(Yes) from top log-probabilities {token: logprob}, and which rule gave it."""
    found: dict[str, list[float]] = {"yes": [], "no": []}
    for token, logprob in top.items():
        answer = answer_of(token)
        if answer is not None:
            found[answer].append(logprob)
    if not found["yes"] and not found["no"]:
        return 0.5, "neither"
    floor = min(top.values())
    yes, no = (_logsumexp(found[answer]) if found[answer] else floor for answer in ("yes", "no"))
    rule = "both" if found["yes"] and found["no"] else f"{'no' if found['yes'] else 'yes'}-missing"
    return 1.0 / (1.0 + math.exp(no - yes)), rule


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def top_logprobs_of(response: dict[str, Any], api: str) -> dict[str, float]:
    """The first generated token's top log-probabilities from either API's response."""
    try:
        choice = response["choices"][0]
        if api == "chat":
            entries = choice["logprobs"]["content"][0]["top_logprobs"]
            return {entry["token"]: float(entry["logprob"]) for entry in entries}
        return {k: float(v) for k, v in choice["logprobs"]["top_logprobs"][0].items()}
    except (KeyError, IndexError, TypeError) as error:
        raise BenchError(
            f"endpoint response has no top log-probabilities ({error!r}): use an endpoint "
            "and model that return logprobs"
        ) from None


class EndpointScorer:
    """Scores prompts through the endpoint, one request per prompt, in order."""

    def __init__(self, settings: EndpointSettings) -> None:
        if settings.api not in APIS:
            raise BenchError(f"unknown endpoint api {settings.api!r}: use one of {APIS}")
        self.settings = settings
        self.rules: Counter[str] = Counter()

    def request_body(self, prompt: str) -> dict[str, Any]:
        """The JSON body asking for one token and its top log-probabilities."""
        body: dict[str, Any] = {"model": self.settings.model, "max_tokens": 1, "temperature": 0}
        if self.settings.api == "chat":
            messages = [{"role": "user", "content": prompt}]
            return body | {
                "messages": messages,
                "logprobs": True,
                "top_logprobs": self.settings.top_logprobs,
            }
        return body | {"prompt": prompt, "logprobs": self.settings.top_logprobs}

    def score(self, prompts: Sequence[str]) -> list[float]:
        """P(Yes) for each prompt (the rules used are counted in ``rules``)."""
        rated = self.rate(prompts)
        self.rules.update(rule for _, rule in rated)
        return [value for value, _ in rated]

    def rate(self, prompts: Sequence[str]) -> list[tuple[float, str]]:
        """(P(Yes), renormalisation rule) for each prompt."""
        if not self.settings.endpoint:
            raise BenchError("icl-api needs an endpoint: --set endpoint=https://HOST/v1")
        return [
            renormalised_yes(top_logprobs_of(self._post(self.request_body(p)), self.settings.api))
            for p in prompts
        ]

    def _post(self, body: dict[str, Any], attempts: int = 3) -> dict[str, Any]:
        path = "chat/completions" if self.settings.api == "chat" else "completions"
        url = f"{self.settings.endpoint.rstrip('/')}/{path}"
        headers = {"Content-Type": "application/json"}
        if os.environ.get("OPENAI_API_KEY"):
            headers["Authorization"] = f"Bearer {os.environ['OPENAI_API_KEY']}"
        request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
        for attempt in range(attempts):
            try:
                with _OPENER.open(request, timeout=self.settings.timeout_s) as reply:
                    return json.loads(reply.read())
            except urllib.error.HTTPError as error:
                retry = error.code == 429 or error.code >= 500
                if not retry or attempt == attempts - 1:
                    detail = error.read().decode("utf-8", "replace")[:200]
                    raise BenchError(f"endpoint {url} answered {error.code}: {detail}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == attempts - 1:
                    raise BenchError(
                        f"endpoint {url} unreachable ({error}): check --set endpoint=URL"
                    ) from None
            time.sleep(2**attempt)
        raise AssertionError("unreachable")
