"""A backend that replays recorded completions: the runner's plumbing (resume, error records, stop
strings, summaries, baselines) tested fast and without a model, and dry runs of a suite.

A reply is what the model *would* generate if nothing stopped it: its text (special tokens written out,
so `...Paris.<|im_end|>` ends the turn) or its token ids. It then goes through exactly what a real
backend's output goes through: cut at `max_new_tokens`, the early-exit loop test, the stop strings and
end tokens of `classify_stop`, with the run's tokenizer. Replies come from a mapping or a JSONL file
(keyed by `suite/id/sample`, `suite/id`, `id` or the last user message), or from a function of the
request; a reply with `error` (or a function that raises) makes that record an `error`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgen.backends.base import (
    Backend,
    BackendBase,
    BackendSetup,
    BackendSpec,
    Capabilities,
    Completion,
    GenerationSettings,
    Request,
    classify_generated,
    end_token_ids,
    error_completions,
)
from evalgen.errors import ConfigError

__all__ = ["ScriptedBackend", "ScriptedReply", "create", "read_script"]


@dataclass(frozen=True)
class ScriptedReply:
    text: str = ""
    """What the model generates, special tokens as text (an end token in it ends the turn there)."""
    token_ids: list[int] | None = None
    """The generated ids, when recorded (they win over `text`)."""
    error: str | None = None
    """Make this request fail with this message (the record's `error`)."""
    delay_s: float = 0.0


Reply = str | ScriptedReply
Script = Mapping[str, Reply] | Callable[[Request], Reply]


def create(spec: BackendSpec) -> Backend:
    script = spec.options.get("script")
    if not script:
        raise ConfigError("--backend scripted needs --script FILE.jsonl (lines: id or prompt, and output)")
    if spec.options.get("ray_address"):  # a dry run of the Ray plumbing: scripted engines as Ray actors
        from evalgen.backends.ray_pool import create_on_ray

        read_script(script)  # a bad script fails here, before any actor starts
        return create_on_ray("scripted", spec)
    return ScriptedBackend(read_script(script))


def read_script(path: str | Path) -> dict[str, ScriptedReply]:
    """Replies from a JSONL file: `id` (or `probe_id`), optional `suite` and `sample`, or `prompt`; and
    `output_raw` or `output` (text), optional `output_token_ids`, optional `error`. A run folder's
    generations.jsonl is such a file (its `error` records fail again)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: script file not found; pass a JSONL file of recorded completions")
    replies: dict[str, ScriptedReply] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc}); fix that line") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: expected a JSON object")
        text = row.get("output_raw", row.get("output", ""))
        ids = row.get("output_token_ids")
        if not isinstance(text, str) or (ids is not None and not (
                isinstance(ids, list) and all(isinstance(i, int) for i in ids))):
            raise ConfigError(f"{where}: 'output' must be a string and 'output_token_ids' a list of integers")
        error = row.get("error") or (row.get("stop_detail") if row.get("stop_reason") == "error" else None)
        reply = ScriptedReply(text, ids, str(error) if error else None)
        ident = row.get("id", row.get("probe_id"))
        if ident is None and not isinstance(row.get("prompt"), str):
            raise ConfigError(f"{where}: needs an 'id' (or 'probe_id') or a 'prompt'")
        if ident is None:
            replies[str(row["prompt"])] = reply
            continue
        key = f"{row['suite']}/{ident}" if row.get("suite") else str(ident)
        replies[f"{key}/{row['sample']}" if "sample" in row else key] = reply
    return replies


class ScriptedBackend(BackendBase):
    name = "scripted"
    capabilities = Capabilities(token_ids=True)

    def __init__(self, script: Script, default: Reply | None = None, batch_size: int | None = None) -> None:
        self.script = script
        self.default = default
        self.batch_size = batch_size
        self.settings = GenerationSettings()
        self.tokenizer: Any = None
        self.end_ids: dict[int, str] = {}
        self.opened = 0
        self.closed = 0
        """How often this backend was opened and closed (tests check the lifecycle with them)."""

    def open(self, setup: BackendSetup) -> ScriptedBackend:
        if setup.tokenizer is None:
            raise ConfigError("the scripted backend needs the run's tokenizer: pass CHECKPOINT or --tokenizer")
        self.tokenizer = setup.tokenizer
        self.settings = setup.settings
        self.end_ids = end_token_ids(self.tokenizer, setup.end_tokens)
        self.opened += 1
        return self

    def close(self) -> None:
        self.closed += 1

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "replies": len(self.script) if isinstance(self.script, Mapping) else None}

    def decode(self, ids: Sequence[int], skip_special: bool) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=skip_special))

    def reply_for(self, request: Request) -> Reply:
        if callable(self.script):
            return self.script(request)
        users = [m["content"] for m in request.messages if m.get("role") == "user"]
        keys = [f"{request.probe}/{request.sample}", request.probe, request.probe.rsplit("/", 1)[-1],
                *(users[-1:])]
        for key in keys:
            if key in self.script:
                return self.script[key]
        if self.default is not None:
            return self.default
        raise LookupError(f"no scripted reply for {request.probe or request.prompt_text[:40]!r}")

    def complete(self, request: Request) -> Completion:
        began = time.perf_counter()
        reply = self.reply_for(request)
        if isinstance(reply, str):
            reply = ScriptedReply(reply)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.error is not None:
            raise RuntimeError(reply.error)
        ids = reply.token_ids
        if ids is None:
            ids = list(self.tokenizer(reply.text, add_special_tokens=False)["input_ids"])
        completion = classify_generated(request.index, ids[: self.settings.max_new_tokens], self.settings,
                                        self.end_ids, self.decode)
        completion.latency_s = time.perf_counter() - began
        return completion

    def generate(self, requests: Sequence[Request]) -> Iterator[list[Completion]]:
        size = self.batch_size or self.settings.batch_size
        for start in range(0, len(requests), size):
            batch: list[Completion] = []
            for request in requests[start : start + size]:
                try:
                    batch.append(self.complete(request))
                except Exception as exc:  # noqa: BLE001 - one failing request must not kill the run
                    batch.extend(error_completions([request], f"{type(exc).__name__}: {exc}"))
            yield batch
