"""An OpenAI-compatible server (`vllm serve`, SGLang, TGI, llama.cpp, Ollama, ...): evaluate what is served.

By default the completions endpoint gets evalgen's own rendered prompt, so the chat template, the stop
strings and the stop reasons are the same as offline. Against vLLM (found from `/v1/models`, whose
entries vLLM marks `owned_by: "vllm"`) the prompt goes as token ids and the output comes back as token
ids (`return_token_ids`), stopping on the template's end ids (`stop_token_ids`) and stop strings, with
special tokens kept: the records then equal the offline backends' token for token, and the teacher-
forced figures come from prompt log-probabilities. Other servers get the prompt as text and return
text: evalgen finds the stop strings and printed end tokens in the text itself (most servers do not say
which stop fired) and takes `finish_reason` for the rest. `--chat-api` sends the conversation to the chat
endpoint instead, when the server must apply its own template (no tokenizer needed; the stop reasons are
then the server's).

N requests are in flight at once (asyncio + httpx2), each with its own deadline; 429, 5xx, timeouts and
dropped connections are retried with exponential backoff and jitter (a server's Retry-After is
honoured); a request that still fails becomes that record's `error`, the run goes on, and `--resume`
retries it. Completions are handed back as they finish, so the run folder fills as the run goes. The
API key is read from the environment variable named by `--api-key-env` and never written anywhere.
"""

from __future__ import annotations

import asyncio
import math
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from evalgen.backends.base import (
    BackendBase,
    BackendSetup,
    BackendSpec,
    Capabilities,
    Completion,
    ForcedItem,
    ForcedScore,
    GenerationSettings,
    Request,
    classify_generated,
    classify_text,
    end_token_ids,
    error_completions,
    repetition_detection,
)
from evalgen.errors import ConfigError

__all__ = ["OpenAIBackend", "RetryPolicy", "ServerError", "create", "retry_delay"]

T = TypeVar("T")

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""Statuses worth another try: overload, rate limits, a server restarting. Other 4xx are the request's
own fault (a prompt over the context length, an unknown model) and fail at once."""


class ServerError(Exception):
    """A request that failed for good (after its retries); its message becomes the record's error."""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 6
    """Tries after the first one."""
    base_s: float = 0.5
    max_s: float = 30.0
    """Cap of one backoff wait; a longer Retry-After is honoured up to `max_retry_after_s`."""
    max_retry_after_s: float = 120.0


def retry_delay(attempt: int, policy: RetryPolicy, retry_after: str | None = None,
                rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before try `attempt + 1`: the server's Retry-After (seconds or an HTTP date) when it
    sent one, else exponential backoff with full jitter (uniform in [0.5, 1] × base·2^attempt, capped)."""
    if retry_after:
        seconds: float | None
        try:
            seconds = float(retry_after)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(retry_after).timestamp() - time.time()
            except (TypeError, ValueError):
                seconds = None
        if seconds is not None and math.isfinite(seconds):
            return min(max(seconds, 0.0), policy.max_retry_after_s)
    return min(policy.base_s * 2**attempt, policy.max_s) * (0.5 + 0.5 * rng())


def create(spec: BackendSpec) -> OpenAIBackend:
    options = dict(spec.options)
    base_url = options.pop("base_url", None)
    if not base_url:
        raise ConfigError("--backend openai needs --base-url URL (e.g. http://127.0.0.1:8000/v1)")
    known = {"model", "api_key_env", "concurrency", "chat_api", "request_timeout", "retries", "dialect"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"--backend openai does not take {', '.join(unknown)}")
    return OpenAIBackend(str(base_url), **options)


def redact_url(url: str) -> str:
    """The URL without a user:password part (never written to run.json)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


class OpenAIBackend(BackendBase):
    name = "openai"

    def __init__(self, base_url: str, model: str | None = None, api_key_env: str | None = None,
                 concurrency: int = 8, chat_api: bool = False, request_timeout: float = 600.0,
                 retries: int | None = None, dialect: str | None = None) -> None:
        if concurrency < 1:
            raise ConfigError(f"--concurrency {concurrency}: must be at least 1")
        if request_timeout <= 0:
            raise ConfigError(f"--request-timeout {request_timeout}: must be above 0 seconds")
        if dialect not in (None, "vllm", "openai"):
            raise ConfigError(f"dialect {dialect!r}: use 'vllm' or 'openai'")
        self.base_url = base_url.rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"--base-url {base_url!r}: expected http://HOST:PORT/v1 or https://...")
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.chat_api = chat_api
        self.request_timeout = float(request_timeout)
        self.policy = RetryPolicy() if retries is None else RetryPolicy(retries=retries)
        self.dialect = dialect
        self.served: dict[str, Any] = {}
        """The `/v1/models` entry of the served model (its `root` is the model's path on the server)."""
        self.capabilities = Capabilities(token_ids=False, logprobs=False, lora=False, chat=chat_api, remote=True)
        self.settings = GenerationSettings()
        self.tokenizer: Any = None
        self.end_ids: dict[int, str] = {}
        self.end_texts: tuple[str, ...] = ()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.client: Any = None
        self.retried = 0
        """Retries made so far (429, 5xx, timeouts, dropped connections)."""
        self.first_sent: float | None = None
        self.last_answer: float | None = None
        """`time.perf_counter()` when the last generate()'s first request went out and its last answer came
        back: the span the server was busy for us (`requests_s` in run.json; bench/bench_openai.py)."""

    # --- lifecycle ---------------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        if not self.api_key_env:
            return {}
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(f"--api-key-env {self.api_key_env}: that environment variable is not set; "
                              f"export {self.api_key_env}=... (the key is never written to any file)")
        return {"Authorization": f"Bearer {key}"}

    def discover(self) -> dict[str, Any]:
        """Ask the server which models it serves (retried like any request); pick `--model` or the only
        one; decide the dialect. Runs once; `tokenizer_source` and `open` both need it."""
        if self.served:
            return self.served
        models = self.run_sync(self._get_models())
        names = [str(m.get("id")) for m in models if isinstance(m, dict)]
        if self.model is None:
            if not names:
                raise ConfigError(f"--base-url {redact_url(self.base_url)}: the server lists no model; pass --model")
            self.model = names[0]
        entry = next((m for m in models if isinstance(m, dict) and m.get("id") == self.model), None)
        if entry is None:
            hint = f"; it serves: {', '.join(names)}" if names else ""
            raise ConfigError(f"--model {self.model!r}: not served at {redact_url(self.base_url)}{hint}")
        self.served = entry
        if self.dialect is None:
            self.dialect = "vllm" if entry.get("owned_by") == "vllm" else "openai"
        vllm = self.dialect == "vllm" and not self.chat_api
        self.capabilities = Capabilities(token_ids=vllm, logprobs=vllm, lora=False, chat=self.chat_api, remote=True)
        return entry

    def tokenizer_source(self) -> str | None:
        """Where the served model's tokenizer may be found here: the `root` vLLM reports (the path or
        Hub id it loaded), else the served name. The runner loads it when the run names no tokenizer."""
        served = self.discover()
        root = served.get("root") or served.get("id")
        return str(root) if root else None

    def open(self, setup: BackendSetup) -> OpenAIBackend:
        try:
            self.start_loop()
            self.discover()
            self.headers()  # a missing key fails now, not once per request
        except BaseException:
            self.close()  # no event-loop thread left behind
            raise
        self.settings = setup.settings
        self.tokenizer = setup.tokenizer
        if self.tokenizer is not None:
            self.end_ids = end_token_ids(self.tokenizer, setup.end_tokens)
        self.end_texts = tuple(setup.end_tokens)
        if not self.chat_api and self.tokenizer is None:
            raise ConfigError("--backend openai: no tokenizer to render the prompts with; pass --tokenizer "
                              "PATH_OR_HUB_ID (the served model's), or --chat-api to let the server apply its template")
        return self

    def close(self) -> None:
        if self.loop is None:
            return
        if self.client is not None:
            self.run_sync(self.client.aclose())
            self.client = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.loop.close()
        self.loop, self.thread = None, None

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "base_url": redact_url(self.base_url),
            "model": self.model,
            "served_root": self.served.get("root"),
            "owned_by": self.served.get("owned_by"),
            "dialect": self.dialect,
            "endpoint": "chat/completions" if self.chat_api else "completions",
            "concurrency": self.concurrency,
            "request_timeout_s": self.request_timeout,
            "retries": self.policy.retries,
            "api_key_env": self.api_key_env,
            **({"requests_s": round(self.last_answer - self.first_sent, 3)}
               if self.first_sent is not None and self.last_answer is not None else {}),
        }

    # --- the event loop thread ---------------------------------------------------------------------

    def start_loop(self) -> None:
        if self.loop is not None:
            return
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="evalgen-openai", daemon=True)
        self.thread.start()

    def run_sync(self, coroutine: Coroutine[Any, Any, T]) -> T:
        self.start_loop()
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def http(self) -> Any:
        if self.client is None:
            import httpx2

            limits = httpx2.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
            # Proxy settings from the environment apply to remote servers, never to one on this machine. Plain
            # HTTP on this machine (no proxy, redirects not followed) never uses TLS: no certificate store to
            # load (~30 ms of a run's start-up).
            local = is_loopback(self.base_url)
            self.client = httpx2.AsyncClient(timeout=httpx2.Timeout(self.request_timeout), limits=limits,
                                             trust_env=not local,
                                             verify=not (local and self.base_url.startswith("http://")))
        return self.client

    # --- requests ----------------------------------------------------------------------------------

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call with its deadline and retries; returns the parsed JSON or raises ServerError."""
        import httpx2

        client = await self.http()
        url = f"{self.base_url}/{path}"
        last = ""
        for attempt in range(self.policy.retries + 1):
            retry_after = None
            try:
                response = await asyncio.wait_for(
                    client.request(method, url, json=body, headers=self.headers()), self.request_timeout)
            except (TimeoutError, httpx2.TimeoutException):
                last = f"no answer within --request-timeout {self.request_timeout:g} s"
            except httpx2.TransportError as exc:  # refused, reset, dropped mid-response
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise ServerError(f"{url}: the answer is not JSON: {response.text[:200]!r}") from None
                last = f"HTTP {response.status_code}: {response_message(response)}"
                if response.status_code not in RETRY_STATUS:
                    raise ServerError(self.redact(f"{url}: {last}"))
                retry_after = response.headers.get("retry-after")
            if attempt < self.policy.retries:
                self.retried += 1
                await asyncio.sleep(retry_delay(attempt, self.policy, retry_after))
        raise ServerError(self.redact(f"{url}: {last} (gave up after {self.policy.retries + 1} tries)"))

    def redact(self, text: str) -> str:
        """Never let the key reach a record, even if a server echoes it back in an error."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return text.replace(key, "***") if key else text

    async def _get_models(self) -> list[Any]:
        try:
            data = await self.call("GET", "models")
        except ServerError as exc:
            raise ConfigError(f"--base-url {redact_url(self.base_url)}: cannot list the served models ({exc}); "
                              "is the server up, and is the URL the API root (ending in /v1)?") from None
        models = data.get("data") if isinstance(data, dict) else None
        return models if isinstance(models, list) else []

    def body(self, request: Request) -> tuple[str, dict[str, Any]]:
        s = self.settings
        sampling = s.temperature > 0
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": s.max_new_tokens,
            "temperature": s.temperature if sampling else 0.0,
            "top_p": s.top_p if sampling else 1.0,
            "n": 1,
        }
        if sampling:
            body["seed"] = s.seed + request.index
        if self.chat_api:
            return "chat/completions", {**body, "messages": [
                {"role": m["role"], "content": f"{m['content']}\n\n{m['input']}" if m.get("input") else m["content"]}
                for m in request.messages]}
        if self.dialect != "vllm":
            # Most servers do not say which stop fired: evalgen finds the stop strings in the text.
            return "completions", {**body, "prompt": request.prompt_text}
        return "completions", {
            **body,
            "prompt": list(request.prompt_ids),
            "return_token_ids": True,
            "stop": list(s.stop_strings) or None,
            "stop_token_ids": list(self.end_ids),
            "include_stop_str_in_output": True,
            "skip_special_tokens": False,
            "spaces_between_special_tokens": False,
            # Exactly evalgen's decoding, not the sampling defaults of the model's generation_config.
            "repetition_penalty": 1.0,
            "top_k": 0,
            "min_p": 0.0,
            # The engine's own loop detection, set never to stop before evalgen's early exit (see vllm.py).
            **({"repetition_detection": detection} if (detection := self.detection()) else {}),
        }

    def detection(self) -> dict[str, int] | None:
        return repetition_detection(self.settings) if self.settings.early_exit else None

    async def fetch(self, request: Request) -> tuple[dict[str, Any], dict[str, Any], float]:
        """(choice, usage, seconds) of one request's answer: only I/O here, on the event loop."""
        path, body = self.body(request)
        began = time.perf_counter()
        if self.first_sent is None:
            self.first_sent = began
        data = await self.call("POST", path, body)
        self.last_answer = time.perf_counter()
        elapsed = self.last_answer - began
        try:
            choice = data["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise ServerError(f"{self.base_url}/{path}: no choices in the answer: {str(data)[:200]!r}") from None
        return choice, data.get("usage") or {}, elapsed

    def completion(self, request: Request, choice: dict[str, Any], usage: dict[str, Any], elapsed: float) -> Completion:
        """An answer → Completion, on the caller's thread (decoding and stop classification cost CPU that
        the event loop should spend sending the next requests)."""
        try:
            completion = self.to_completion(request.index, choice, usage)
        except Exception as exc:  # noqa: BLE001 - one odd answer must not kill the run
            return error_completions([request], f"unreadable answer: {type(exc).__name__}: {exc}")[0]
        completion.latency_s = elapsed
        return completion

    def decode(self, ids: Sequence[int], skip_special: bool) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=skip_special))

    def to_completion(self, index: int, choice: dict[str, Any], usage: dict[str, Any]) -> Completion:
        """One answer's choice → Completion: from its token ids when the server returned them (classified
        exactly as offline), else from its text and finish reason."""
        finish, detail = choice.get("finish_reason"), choice.get("stop_reason", choice.get("matched_stop"))
        ids = choice.get("token_ids")
        if isinstance(ids, list) and self.tokenizer is not None and not self.chat_api:
            completion = classify_generated(index, [int(i) for i in ids], self.settings, self.end_ids, self.decode,
                                            stopped_by_repetition=finish == "repetition")
        else:
            text = choice["message"].get("content") or "" if self.chat_api else choice.get("text") or ""
            completion = classify_text(index, text, finish, () if self.chat_api else self.settings.stop_strings,
                                       () if self.chat_api else self.end_texts,
                                       None if detail is None else str(detail), self.settings.max_new_tokens)
            counted = usage.get("completion_tokens")
            if completion.stop_reason == "stop_string" and self.tokenizer is not None:
                counted = len(self.tokenizer(completion.output_raw, add_special_tokens=False)["input_ids"])
            completion.n_tokens = counted if isinstance(counted, int) else None
        completion.extra = {"finish_reason": finish, "server_stop_reason": detail}
        return completion

    def generate(self, requests: Sequence[Request]) -> Iterator[list[Completion]]:
        """All requests, `concurrency` in flight; completions handed back as they finish."""
        self.start_loop()
        assert self.loop is not None
        self.first_sent = self.last_answer = None
        done: queue.Queue[Completion | tuple[Request, dict[str, Any], dict[str, Any], float]] = queue.Queue()

        async def one(request: Request, gate: asyncio.Semaphore) -> None:
            async with gate:
                try:
                    done.put((request, *await self.fetch(request)))
                except ServerError as exc:
                    done.put(error_completions([request], str(exc))[0])
                except Exception as exc:  # noqa: BLE001 - one bad answer must not kill the run
                    done.put(error_completions([request], f"{type(exc).__name__}: {exc}")[0])

        async def everything() -> None:
            gate = asyncio.Semaphore(self.concurrency)
            await asyncio.gather(*(one(r, gate) for r in requests))

        future = asyncio.run_coroutine_threadsafe(everything(), self.loop)
        received = 0
        try:
            while received < len(requests):
                try:
                    ready = [done.get(timeout=0.5)]
                except queue.Empty:
                    if future.done() and done.empty():
                        future.result()  # raises what killed the producer
                        break
                    continue
                while True:  # hand back everything that is ready in one append
                    try:
                        ready.append(done.get_nowait())
                    except queue.Empty:
                        break
                batch = [item if isinstance(item, Completion) else self.completion(*item) for item in ready]
                received += len(batch)
                yield batch
        finally:
            if not future.done():  # interrupted: stop sending, let the loop wind down
                future.cancel()

    # --- teacher forcing ---------------------------------------------------------------------------

    def teacher_force(self, items: Sequence[ForcedItem]) -> list[ForcedScore]:
        """vLLM only: prompt log-probabilities of prompt + answer + each end id (`prompt_logprobs: 0`
        returns each prompt token's own log-prob), requests in flight like generation."""
        if not self.capabilities.logprobs:
            raise ServerError("this server gives no prompt log-probabilities")
        ends = list(self.end_ids)

        async def one(sequence: list[int], gate: asyncio.Semaphore) -> list[float]:
            async with gate:
                data = await self.call("POST", "completions", {
                    "model": self.model, "prompt": sequence, "max_tokens": 1, "temperature": 0.0,
                    "prompt_logprobs": 0, "return_token_ids": True})
            entries = data["choices"][0].get("prompt_logprobs") or data.get("prompt_logprobs")
            if not isinstance(entries, list) or len(entries) != len(sequence):
                raise ServerError("the server returned no prompt_logprobs for a teacher-forced sequence")
            out = [math.nan]
            for position in range(1, len(sequence)):
                entry = entries[position] or {}
                value: Any = entry.get(str(sequence[position]), entry.get(sequence[position]))
                out.append(float(value["logprob"] if isinstance(value, dict) else value))
            return out

        async def everything() -> list[list[float]]:
            gate = asyncio.Semaphore(self.concurrency)
            sequences = [[*i.prompt_ids, *i.answer_ids, end] for i in items for end in ends]
            return list(await asyncio.gather(*(one(seq, gate) for seq in sequences)))

        results = self.run_sync(everything())
        scores = []
        for n, item in enumerate(items):
            group = results[n * len(ends) : (n + 1) * len(ends)]
            first, last = len(item.prompt_ids), len(item.prompt_ids) + len(item.answer_ids)
            stop = sum(math.exp(g[last]) for g in group)
            scores.append(ForcedScore(group[0][first:last], min(stop, 1.0)))
        return scores


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def response_message(response: Any) -> str:
    """The error message of a failed answer, short (OpenAI-style `{"error": {"message": ...}}` or text)."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error", data)
        message = error.get("message") if isinstance(error, dict) else error
        if message:
            return str(message)[:300]
    return str(data)[:200]
