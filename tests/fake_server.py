"""A small OpenAI-compatible server for the tests: replies from a script, faults on demand.

It speaks the vLLM dialect (`owned_by: "vllm"`: token-id prompts, `return_token_ids`, `stop_token_ids`,
`stop` with `include_stop_str_in_output`, `prompt_logprobs`) or a plain one (text in, text out, no
stop detail), and the chat endpoint. Which reply a request gets is decided by the user's last question,
read back from the prompt. Faults are planned per question and served in order, one per request:
`429` (with Retry-After), `500`, `hang` (answers after the client's deadline), `drop` (closes the
connection without an answer), `always` (500 on every request), `echo` (a 400 quoting the API key).
The real vLLM server is tested in the vLLM CI step; this one tests evalgen's side: retries, deadlines,
concurrency, resume, key handling.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

END = "<|im_end|>"


def fake_logprob(position: int, token: int) -> float:
    """What the fake server says log p(token at position | before) is: any fixed function will do."""
    return -((position % 7) + 1) / 10 - (token % 3) / 100


class FakeServer:
    def __init__(self, tokenizer_dir: Path, replies: dict[str, str], dialect: str = "vllm",
                 api_key: str | None = None, default: str = f"I do not know.{END}", delay_s: float = 0.0,
                 hang_s: float = 3.0, retry_after: str = "0.1") -> None:
        from evalgen.compat import load_pretrained_tokenizer

        self.tokenizer = load_pretrained_tokenizer(tokenizer_dir)
        self.root = str(tokenizer_dir)
        self.replies, self.default, self.dialect, self.api_key = replies, default, dialect, api_key
        self.delay_s, self.hang_s, self.retry_after = delay_s, hang_s, retry_after
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.requests: Counter[str] = Counter()
        """question → generation requests received (faulty ones included)."""
        self.forced = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- what the model says -----------------------------------------------------------------------

    def reply(self, question: str) -> str:
        return self.replies.get(question, self.default)

    def completion(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        prompt = body["prompt"]
        text = self.tokenizer.decode(prompt) if isinstance(prompt, list) else prompt
        asked = [q for q in self.replies if q in text]  # any template: the last known question in the prompt
        question = max(asked, key=text.rfind) if asked else text
        if body.get("prompt_logprobs") is not None:
            ids = prompt if isinstance(prompt, list) else self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            entries = [None] + [{str(t): {"logprob": fake_logprob(i, t), "rank": 1}} for i, t in enumerate(ids) if i]
            choice = {"index": 0, "text": "", "prompt_logprobs": entries, "finish_reason": "length", "token_ids": [0]}
            return "forced", {"choices": [choice], "usage": {}}
        reply, limit = self.reply(question), int(body.get("max_tokens") or 16)
        if self.dialect != "vllm":
            return question, plain_choice(self.tokenizer, reply, limit, "text")
        ids = self.tokenizer(reply, add_special_tokens=False)["input_ids"][:limit]
        ends = set(body.get("stop_token_ids") or []) | {self.tokenizer.eos_token_id}
        finish, detail = ("length" if len(ids) == limit else "stop"), None
        end_at = next((i for i, t in enumerate(ids) if t in ends), None)
        if end_at is not None:
            ids, finish = ids[: end_at + 1], "stop"
        for n in range(1, len(ids) + 1):  # the first stop string completed ends it (kept in the output)
            decoded = self.tokenizer.decode(ids[:n])
            hit = next((s for s in body.get("stop") or [] if s in decoded), None)
            if hit is not None and (end_at is None or n <= end_at):
                ids, finish, detail = ids[:n], "stop", hit
                break
        choice = {"index": 0, "text": self.tokenizer.decode(ids), "finish_reason": finish, "stop_reason": detail}
        if body.get("return_token_ids"):
            choice["token_ids"] = ids
        return question, {"choices": [choice], "usage": {"completion_tokens": len(ids)}}

    def chat(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        question = users[-1]
        return question, plain_choice(self.tokenizer, self.reply(question), int(body.get("max_tokens") or 16), "chat")

    # --- HTTP --------------------------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up first
                    self.wfile.write(payload)

            def authorized(self) -> bool:
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    self.send(401, {"error": {"message": "Unauthorized"}})
                    return False
                return True

            def do_GET(self) -> None:
                if not self.authorized():
                    return
                if self.path.rstrip("/") != "/v1/models":
                    self.send(404, {"error": {"message": "not found"}})
                    return
                owner = "vllm" if server.dialect == "vllm" else "someone"
                self.send(200, {"object": "list", "data": [{"id": "tiny", "object": "model", "owned_by": owner,
                                                            "root": server.root}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if not self.authorized():
                    return
                if body.get("model") != "tiny":
                    self.send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                    return
                path = self.path.rstrip("/")
                question, data = server.chat(body) if path.endswith("/chat/completions") else server.completion(body)
                with server.lock:
                    if question == "forced":
                        server.forced += 1
                    else:
                        server.requests[question] += 1
                        server.bodies.append(body)
                    plan = server.faults.get(question) or []
                    fault = plan[0] if plan else None
                    if fault is not None and fault != "always":
                        plan.pop(0)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay_s)
                    if fault == "429":
                        self.send(429, {"error": {"message": "rate limited"}}, {"Retry-After": server.retry_after})
                    elif fault in ("500", "always"):
                        self.send(500, {"error": {"message": "internal error"}})
                    elif fault == "echo":  # a careless server that quotes the request's headers back
                        self.send(400, {"error": {"message": f"bad request ({self.headers.get('Authorization')})"}})
                    elif fault == "drop":
                        self.close_connection = True  # no answer at all: the connection just closes
                    else:
                        if fault == "hang":
                            time.sleep(server.hang_s)
                        self.send(200, data)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        return Handler


def plain_choice(tokenizer: Any, reply: str, limit: int, kind: str) -> dict[str, Any]:
    """What a server without evalgen's extensions answers: special tokens skipped, no stop detail."""
    ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
    end = tokenizer.convert_tokens_to_ids(END)
    finish = "stop" if end in ids[:limit] else "length"
    ids = ids[: ids.index(end)] if end in ids[:limit] else ids[:limit]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
    choice.update({"message": {"role": "assistant", "content": text}} if kind == "chat" else {"text": text})
    return {"choices": [choice], "usage": {"completion_tokens": len(ids)}}


def expected_stop_prob(sequence_without_end: list[int], end_ids: list[int]) -> float:
    position = len(sequence_without_end)
    return min(sum(math.exp(fake_logprob(position, e)) for e in end_ids), 1.0)
