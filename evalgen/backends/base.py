"""What every backend takes and returns, its lifecycle and capabilities, and the rules all backends
share: how a generation's end is classified from its tokens (or, for servers that return only text,
from its text), the early-exit loop test, and which token ids end the assistant's turn.

Nothing here imports torch, transformers or an HTTP client.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from evalgen.checkpoint import CheckpointInfo
    from evalgen.records import Message

__all__ = [
    "CHECK_EVERY",
    "Backend",
    "BackendBase",
    "BackendSetup",
    "BackendSpec",
    "Capabilities",
    "Completion",
    "ForcedItem",
    "ForcedScore",
    "GenerationSettings",
    "Request",
    "classify_generated",
    "classify_stop",
    "classify_text",
    "configured_eos_ids",
    "end_token_ids",
    "error_completions",
    "loop_cut",
    "loop_period",
    "repetition_detection",
]


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 512
    temperature: float = 0.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    seed: int = 0
    samples: int = 1
    batch_size: int = 16
    stop_strings: tuple[str, ...] = ()
    """Generation stops when one is produced; by default the template's turn markers."""
    early_exit: bool = True
    """Cut a generation whose tail is certainly looping (stop reason `loop`)."""
    loop_min_repeats: int = 12
    loop_min_tokens: int = 96
    loop_max_period: int = 128

    def describe(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop_strings"] = list(self.stop_strings)
        return data


@dataclass(frozen=True)
class Request:
    index: int
    prompt_text: str
    prompt_ids: list[int]
    sample: int = 0
    messages: list[Message] = field(default_factory=list)
    """The conversation itself, for backends that apply a template of their own (a chat endpoint)."""
    probe: str = ""
    """`suite/probe_id`, so that a scripted backend can look its reply up."""


@dataclass
class Completion:
    index: int
    output: str
    output_raw: str
    token_ids: list[int] | None
    """The generated token ids; None when the backend returned text only (a chat endpoint)."""
    stop_reason: str
    stop_detail: str | None = None
    latency_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    n_tokens: int | None = None
    """How many tokens were generated when `token_ids` is None but the backend counted them."""


def error_completions(requests: Sequence[Request], message: str) -> list[Completion]:
    """`error` completions for requests that failed: the run goes on, `--resume` retries them."""
    return [Completion(r.index, "", "", [], "error", message) for r in requests]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond generating text; the runner dispatches on these, not on types."""

    token_ids: bool = True
    """Returns the generated token ids (stop reasons and token-level detectors are exact)."""
    logprobs: bool = False
    """Can score given tokens (prompt log-probabilities): the teacher-forced figures."""
    lora: bool = False
    """Applies a PEFT LoRA adapter checkpoint."""
    chat: bool = False
    """Takes the conversation and applies its own template (no tokenizer needed on our side)."""
    remote: bool = False
    """Generates elsewhere (a server): this process only waits, so the runner scores records as they come."""

    def describe(self) -> dict[str, bool]:
        return asdict(self)


@dataclass(frozen=True)
class BackendSpec:
    """What a backend factory gets from the run: the resolved checkpoint (None when the run names none,
    e.g. a served model) and the backend's own options."""

    checkpoint: CheckpointInfo | None = None
    dtype: str = "auto"
    device: str | None = None
    trust_remote_code: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    """Backend-specific: vLLM engine arguments, an OpenAI-compatible server's URL and limits, ..."""


@dataclass(frozen=True)
class BackendSetup:
    """What `Backend.open` gets: everything about the run that decides what is generated."""

    settings: GenerationSettings
    end_tokens: tuple[str, ...]
    """The template's end-of-turn texts (see `end_token_ids`)."""
    tokenizer: Any = None
    """The tokenizer prompts were rendered and tokenized with; None for a backend that takes messages."""
    progress: bool = False


@dataclass(frozen=True)
class ForcedItem:
    """One teacher-forced sequence: the rendered prompt's ids followed by a given answer's ids."""

    prompt_ids: list[int]
    answer_ids: list[int]


@dataclass(frozen=True)
class ForcedScore:
    """What the model thinks of a `ForcedItem`."""

    token_logprobs: list[float]
    """log p(answer token | everything before it), one per answer token."""
    stop_prob: float
    """p(an end-of-turn token right after the answer), summed over the end ids."""


@runtime_checkable
class Backend(Protocol):
    """A generation backend. Lifecycle: built by its factory (cheap: options only), `open(setup)` (loads
    the model, starts the engine, connects: the heavy part), `generate` any number of times, `close()`.
    `open` returns the backend itself and a backend is a context manager that closes on exit:

        with backend.open(setup):
            for completions in backend.generate(requests): ...

    `close()` is idempotent and safe on a backend that was never opened (the runner closes every backend
    it was handed or built, on every way out). Capabilities may be settled only by `open` (a server's).
    Backends with `capabilities.logprobs` also have `teacher_force(items) -> list[ForcedScore]`; a backend
    that can find its tokenizer itself (a server's model) may have `tokenizer_source() -> str | None`."""

    name: str
    capabilities: Capabilities

    def open(self, setup: BackendSetup) -> Backend: ...

    def close(self) -> None: ...

    def generate(self, requests: Sequence[Request]) -> Iterator[list[Completion]]:
        """Yield completions as they finish, in any order; a failure yields `error` completions."""
        ...

    def describe(self) -> dict[str, Any]:
        """What run.json records about the backend (never a secret)."""
        ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...


class BackendBase:
    """Defaults for the lifecycle: a context manager whose exit calls `close()`."""

    name = "base"
    capabilities = Capabilities()

    def open(self, setup: BackendSetup) -> Self:
        return self

    def close(self) -> None:
        return None

    def generate(self, requests: Sequence[Request]) -> Iterator[list[Completion]]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "capabilities": self.capabilities.describe()}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- which token ids end the assistant's turn ----------------------------------------------------


def end_token_ids(tokenizer: Any, end_tokens: Sequence[str], configured: Sequence[int] = ()) -> dict[int, str]:
    """Token ids that end the assistant turn → their text: the template's end tokens that are single
    tokens, the tokenizer's EOS and the model's configured eos_token_id(s) (`configured_eos_ids`)."""
    ids: dict[int, str] = {}
    vocab = tokenizer.get_vocab()
    for text in end_tokens:
        if text in vocab:
            ids[vocab[text]] = text
    for token_id in [tokenizer.eos_token_id, *configured]:
        if token_id is not None and token_id not in ids:
            ids[int(token_id)] = str(tokenizer.convert_ids_to_tokens(int(token_id)))
    return ids


def configured_eos_ids(source: Any) -> list[int]:
    """The eos_token_id(s) a model is configured to stop on: from a loaded model's generation config, or
    read from `generation_config.json` in a folder (no transformers needed)."""
    if isinstance(source, (str, Path)):
        path = Path(source) / "generation_config.json"
        if not path.is_file():
            return []
        try:
            value = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
        except (ValueError, AttributeError):
            return []
    else:
        value = getattr(getattr(source, "generation_config", None), "eos_token_id", None)
    values = value if isinstance(value, list) else [value]
    return [int(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]


# --- how a generation ended ------------------------------------------------------------------------


def classify_stop(
    index: int,
    token_ids: Sequence[int],
    end_ids: dict[int, str],
    stop_strings: Sequence[str],
    max_new_tokens: int,
    decode: Callable[[Sequence[int], bool], str],
    looped: bool = False,
) -> Completion:
    """Decide how a generation ended from its token ids, never from a guess on the text.

    `token_ids` are the new tokens of one row, possibly followed by padding. The first end id ends
    the turn (`eos`); padding after it is dropped. Generation halts as soon as a stop string is
    complete, so a stop string in the text before any end id means `stop_string`, also when the
    padding id equals EOS. No end and no stop string: `loop` if early exit cut it, else `length`.
    """
    ids = list(token_ids)
    end_at = next((i for i, t in enumerate(ids) if t in end_ids), None)
    body = ids if end_at is None else ids[:end_at]
    raw = decode(body, False)
    hit = first_stop_string(raw, stop_strings)
    if hit is not None:
        kept = trim_after_stop(body, hit, decode)
        return Completion(index, decode(kept, True), decode(kept, False), kept, "stop_string", hit)
    if end_at is not None:
        return Completion(index, decode(body, True), raw, ids[: end_at + 1], "eos", end_ids[ids[end_at]])
    reason = "loop" if looped else "length"
    return Completion(
        index, decode(body, True), raw, body, reason, None if looped else f"max_new_tokens={max_new_tokens}"
    )


def classify_text(
    index: int,
    text: str,
    finish_reason: str | None,
    stop_strings: Sequence[str],
    end_texts: Sequence[str] = (),
    server_detail: str | None = None,
    max_new_tokens: int = 0,
) -> Completion:
    """How a generation ended when only its text and the server's finish reason are known (a server that
    returns no token ids, a chat endpoint). Stop strings are found in the text itself, since most servers
    do not say which one fired: the text is cut after the first one (`stop_string`). An end token printed
    in the text ends it there (`eos`). Otherwise the server's word: `stop` is the model ending its turn
    (`eos`, with the server's detail when it gives one), `length` the limit, anything else `unknown`."""
    end_at = min(((text.find(t), t) for t in end_texts if t and t in text), default=None)
    body = text if end_at is None else text[: end_at[0]]
    hit = first_stop_string(body, stop_strings)
    if hit is not None:
        cut = body[: body.find(hit) + len(hit)]
        return Completion(index, cut, cut, None, "stop_string", hit)
    if end_at is not None:
        return Completion(index, body, body, None, "eos", end_at[1])
    if finish_reason == "stop":
        return Completion(index, text, text, None, "eos", server_detail or "finish_reason=stop")
    if finish_reason == "length":
        return Completion(index, text, text, None, "length", f"max_new_tokens={max_new_tokens}")
    return Completion(index, text, text, None, "unknown", f"finish_reason={finish_reason}")


def first_stop_string(text: str, stop_strings: Sequence[str]) -> str | None:
    positions = [(text.find(s), s) for s in stop_strings if s and s in text]
    return min(positions)[1] if positions else None


def trim_after_stop(ids: list[int], stop: str, decode: Callable[[Sequence[int], bool], str]) -> list[int]:
    """The shortest prefix of `ids` whose text contains the stop string (drops padding after it).

    "Contains" only grows with the prefix, so a binary search finds it in log(n) decodes."""
    low, high = 1, len(ids)
    while low < high:
        mid = (low + high) // 2
        if stop in decode(ids[:mid], False):
            high = mid
        else:
            low = mid + 1
    return ids[:high]


# --- early exit ------------------------------------------------------------------------------------

CHECK_EVERY = 8
"""Generated-token counts at which the loop test runs (the HF backend checks every 8 steps; every other
backend cuts its output back to the first such count at which the test fires, so they all agree)."""


def loop_period(ids: Sequence[int], min_repeats: int, min_tokens: int, max_period: int) -> int | None:
    """The period p if the tail is one unit repeated back to back at least `min_repeats` times over at
    least `min_tokens` tokens; else None. Conservative on purpose: it cuts generation short."""
    n = len(ids)
    last = ids[-1] if n else None
    for period in range(1, max_period + 1):
        need = max(period * min_repeats, min_tokens)
        if need > n:
            break
        if need > period and ids[n - 1 - period] != last:
            continue  # the tail's last pair already differs: no loop of this period (most periods end here)
        tail = ids[n - need :]
        if tail[period:] == tail[:-period]:
            return period
    return None


def loop_cut(token_ids: Sequence[int], settings: GenerationSettings, every: int = CHECK_EVERY) -> int | None:
    """Where the HF backend's early exit would have stopped this generation: the first multiple of `every`
    (at least `loop_min_tokens`) at which `loop_period` fires on the prefix; None if it never does."""
    s = settings
    ids = list(token_ids)
    start = math.ceil(max(s.loop_min_tokens, 1) / every) * every
    for n in range(start, len(ids) + 1, every):
        if loop_period(ids[:n], s.loop_min_repeats, s.loop_min_tokens, s.loop_max_period) is not None:
            return n
    return None


def repetition_detection(settings: GenerationSettings) -> dict[str, int] | None:
    """vLLM `RepetitionDetectionParams` fields that never stop a generation before the HF backend would.

    vLLM ends a request once its last `min_count` blocks of q tokens are equal, for q in
    [min_pattern_size, max_pattern_size]. With q ≥ loop_min_tokens / loop_min_repeats, q ≥ the HF check
    interval and min_count = loop_min_repeats + 1, `loop_period` already fires on every prefix that ends in
    the last q tokens, one of which is a multiple of the check interval: so the HF cut point lies at or
    before vLLM's stop and `loop_cut` can cut back to it exactly. Small periods (below q) are found too, as
    their multiples, only a little later. None when no pattern size satisfies this."""
    s = settings
    smallest = max(CHECK_EVERY, math.ceil(s.loop_min_tokens / s.loop_min_repeats), 1)
    if smallest > s.loop_max_period:
        return None
    return {"min_pattern_size": smallest, "max_pattern_size": s.loop_max_period, "min_count": s.loop_min_repeats + 1}


def classify_generated(
    index: int,
    token_ids: Sequence[int],
    settings: GenerationSettings,
    end_ids: dict[int, str],
    decode: Callable[[Sequence[int], bool], str],
    stopped_by_repetition: bool = False,
) -> Completion:
    """A finished (not padded) generation's ids → Completion, with the early-exit cut applied exactly as
    the HF backend applies it while generating: what the vLLM engine, a vLLM server and the scripted
    backend use, so that every backend gives the HF backend's records."""
    ids = list(token_ids)
    looped = False
    if settings.early_exit:
        cut = loop_cut(ids, settings)
        if cut is not None:
            ids, looped = ids[:cut], True
        looped = looped or stopped_by_repetition
    return classify_stop(index, ids, end_ids, settings.stop_strings, settings.max_new_tokens, decode, looped=looped)
