"""What every backend takes and returns, and how a generation's end is classified from its tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

__all__ = ["Backend", "Completion", "GenerationSettings", "Request", "classify_stop", "loop_period"]


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


@dataclass
class Completion:
    index: int
    output: str
    output_raw: str
    token_ids: list[int]
    stop_reason: str
    stop_detail: str | None = None
    latency_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def generate(self, requests: Sequence[Request]) -> Iterator[list[Completion]]:
        """Yield completions batch by batch, in any order; a failing batch yields `error` completions."""
        ...


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


def loop_period(ids: Sequence[int], min_repeats: int, min_tokens: int, max_period: int) -> int | None:
    """The period p if the tail is one unit repeated back to back at least `min_repeats` times over at
    least `min_tokens` tokens; else None. Conservative on purpose: it cuts generation short."""
    n = len(ids)
    for period in range(1, max_period + 1):
        need = max(period * min_repeats, min_tokens)
        if need > n:
            break
        tail = ids[n - need :]
        if tail[period:] == tail[:-period]:
            return period
    return None
