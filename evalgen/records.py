"""The on-disk contract: probes, generation records and detector findings.

This module imports nothing else from evalgen, so every stage can depend on it. Records are plain
dataclasses that round-trip through JSON; `RECORD_VERSION` changes whenever a field changes meaning.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal

__all__ = [
    "RECORD_VERSION",
    "STOP_REASONS",
    "Message",
    "Probe",
    "GenerationRecord",
    "Span",
    "Finding",
    "jsonl_lines",
    "record_key",
]

RECORD_VERSION = 1

Message = dict[str, str]
"""One chat turn: {"role": "system" | "user" | "assistant", "content": str}."""

StopReason = Literal["eos", "stop_string", "length", "loop", "error", "unknown"]
STOP_REASONS: tuple[str, ...] = ("eos", "stop_string", "length", "loop", "error", "unknown")
"""eos: an end token of the model or template was generated (stop_detail says which).
stop_string: a stop string was produced (stop_detail says which); by default the template's turn
markers, so the model ran on into a made-up next turn.
length: max_new_tokens was reached while the model was still going.
loop: generation was cut early because the tail was certainly looping (early exit).
error: the backend failed on this record (stop_detail holds the message).
unknown: imported by `evalgen score` without a finish reason."""


@dataclass(frozen=True)
class Probe:
    """One prompt of a suite, as validated from a JSONL line."""

    id: str
    suite: str
    messages: list[Message]
    """The conversation to continue; a `system` field in the file becomes the first message."""
    reference: str | list[str] | None = None
    """The expected answer (or accepted answers) for old-task probes."""
    scorer: str | None = None
    """How to check `reference` (exact, contains, regex, choice, numeric, bleu, chrf, json)."""
    lang: str | None = None
    tags: tuple[str, ...] = ()
    source: str = ""
    """Where the probe came from, as `file:line`."""


@dataclass
class GenerationRecord:
    """One generation: a probe × sample, how it was prompted and exactly how it ended."""

    probe_id: str
    suite: str
    sample: int
    messages: list[Message]
    prompt_text: str
    """The prompt as rendered by the chat template, exactly what was tokenized."""
    output: str
    """The generated text with special tokens removed (and the final end token dropped)."""
    output_raw: str
    """The generated text decoded with special tokens kept, so printed template markers show."""
    output_token_ids: list[int] | None
    stop_reason: str
    n_output_tokens: int
    latency_s: float
    stop_detail: str | None = None
    """Which end token or stop string ended the generation, or the error message."""
    reference: str | list[str] | None = None
    scorer: str | None = None
    lang: str | None = None
    tags: list[str] = field(default_factory=list)
    version: int = RECORD_VERSION

    @property
    def key(self) -> tuple[str, str, int]:
        return record_key(self.suite, self.probe_id, self.sample)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRecord:
        """Build a record from a parsed JSON line; raises ValueError naming a missing field."""
        version = data.get("version", RECORD_VERSION)
        if version != RECORD_VERSION:
            raise ValueError(f"record format version {version}, this evalgen reads {RECORD_VERSION}")
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - data.keys())
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in known})


def jsonl_lines(text: str) -> list[str]:
    """Split JSONL text on newlines only. `str.splitlines` also splits on U+2028, U+2029 and U+0085,
    which `json.dumps(..., ensure_ascii=False)` leaves raw inside strings: model output has them."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def record_key(suite: str, probe_id: str, sample: int) -> tuple[str, str, int]:
    """How records pair across runs: (suite, probe id, sample)."""
    return (suite, probe_id, sample)


@dataclass(frozen=True)
class Span:
    """Evidence: a half-open character range [start, end) into the record's `output`."""

    start: int
    end: int
    label: str = ""


@dataclass
class Finding:
    """What one detector concluded about one record."""

    detector: str
    flagged: bool
    score: float
    """Detector-specific strength in [0, 1]; higher is worse. Used for sorting bad cases."""
    explanation: str = ""
    spans: list[Span] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    """Detector-specific figures (e.g. the repeated unit, its count and coverage)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        spans = [Span(**s) for s in data.get("spans", [])]
        return cls(**{**data, "spans": spans})
