"""A minimal OpenAI-compatible server on loopback, backed by a local model.

Answers ``POST /v1/completions`` and ``POST /v1/chat/completions`` with one generated token
(greedy) and its top log-probabilities: enough for ``icl-api`` and its tests, and a way to
check the endpoint path against the local scorer on the same model.

    python -m llm.serve --port 8000 [--model smollm2-135m-instruct]
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import torch

from bench import config as bench_config
from llm.models import DEFAULT_MODEL, load_model
from llm.scorer import torch_threads


class ModelServer(HTTPServer):
    """One request at a time (one model, no locking needed)."""

    def __init__(self, port: int, model: Any, tokenizer: Any, name: str) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.model, self.tokenizer, self.name = model, tokenizer, name

    @torch.no_grad()
    def top_logprobs(self, prompt: str, k: int) -> tuple[str, dict[str, float]]:
        """Greedy next token and the top-k {token text: logprob} after ``prompt``."""
        ids = self.tokenizer(prompt, return_tensors="pt").input_ids.to(self.model.device)
        logits = self.model(input_ids=ids, logits_to_keep=1).logits[0, -1].float()
        values, indices = torch.log_softmax(logits, dim=-1).topk(k)
        tokens = [self.tokenizer.decode([i]) for i in indices.tolist()]
        return tokens[0], dict(zip(tokens, values.tolist(), strict=True))


class Handler(BaseHTTPRequestHandler):
    """Completions and chat completions, logprobs only."""

    server: ModelServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        """Answer one request."""
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if self.path.endswith("/chat/completions"):
                reply = self._chat(body)
            elif self.path.endswith("/completions"):
                reply = self._completion(body)
            else:
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
        except (ValueError, KeyError, TypeError) as error:
            return self._send(400, {"error": {"message": f"bad request: {error}"}})
        self._send(200, reply)

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        token, top = self.server.top_logprobs(body["prompt"], int(body.get("logprobs") or 1))
        logprobs = {"tokens": [token], "token_logprobs": [top[token]], "top_logprobs": [top]}
        choice = {"index": 0, "text": token, "logprobs": logprobs, "finish_reason": "length"}
        return {"object": "text_completion", "model": self.server.name, "choices": [choice]}

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = self.server.tokenizer.apply_chat_template(
            body["messages"], tokenize=False, add_generation_prompt=True
        )
        token, top = self.server.top_logprobs(prompt, int(body.get("top_logprobs") or 1))
        entries = [{"token": t, "logprob": v} for t, v in top.items()]
        content = [{"token": token, "logprob": top[token], "top_logprobs": entries}]
        message = {"role": "assistant", "content": token}
        choice = {"index": 0, "message": message, "logprobs": {"content": content}}
        return {"object": "chat.completion", "model": self.server.name, "choices": [choice]}

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: no line per request."""


def main() -> None:
    """Serve until interrupted; prints the base URL once listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    torch_threads(bench_config.cpus())
    model, tokenizer, _ = load_model(args.model)
    server = ModelServer(args.port, model, tokenizer, args.model)
    print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
