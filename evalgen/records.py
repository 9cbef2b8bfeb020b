"""The on-disk contract: probes, generation records, detector findings, and every file of a run folder.

A run folder holds `run.json` (`RunMeta`), `generations.jsonl` (`GenerationRecord`), `scores.jsonl`
(`ScoreLine`) and `teacher_forced.jsonl` (`TeacherForcedRow`); `evalgen.runfolder.load_run` reads them
all through the `from_dict` methods here, which validate every field's type and raise ValueError
naming the field (the loader adds file:line). Writers use `json_line`, which never writes a bare NaN.

This module imports nothing else from evalgen, so every stage can depend on it. Records are plain
dataclasses that round-trip through JSON; `RECORD_VERSION` changes whenever a field changes meaning.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal

__all__ = [
    "RECORD_VERSION",
    "RUN_FORMAT_VERSION",
    "RUN_STATUSES",
    "STOP_REASONS",
    "TEACHER_FORCED_KINDS",
    "Message",
    "Probe",
    "GenerationRecord",
    "RunMeta",
    "ScoreLine",
    "Span",
    "Finding",
    "TeacherForcedRow",
    "finite",
    "json_line",
    "jsonl_lines",
    "record_key",
]

RECORD_VERSION = 1
RUN_FORMAT_VERSION = 1
"""The version of `run.json` (and of the run folder's layout)."""

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
        """`dataclasses.asdict(self)`, copying the lists without its deep copy: asdict copies every token id one
        call at a time, most of the cost of writing a batch's records."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["messages"] = [dict(m) for m in self.messages]
        data["tags"] = list(self.tags)
        for name in ("output_token_ids", "reference"):
            if isinstance(data[name], list):
                data[name] = list(data[name])
        return data

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
        check_types(data, _RECORD_TYPES)
        if data["stop_reason"] not in STOP_REASONS:
            raise ValueError(f"stop_reason {data['stop_reason']!r} is not one of {', '.join(STOP_REASONS)}")
        return cls(**{k: v for k, v in data.items() if k in known})


_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "probe_id": (str,), "suite": (str,), "sample": (int,), "messages": (list,), "prompt_text": (str,),
    "output": (str,), "output_raw": (str,), "output_token_ids": (list, type(None)), "stop_reason": (str,),
    "n_output_tokens": (int,), "latency_s": (int, float), "stop_detail": (str, type(None)),
    "reference": (str, list, type(None)), "scorer": (str, type(None)), "lang": (str, type(None)),
    "tags": (list,), "version": (int,),
}

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "an object",
               bool: "true/false", type(None): "null"}


def check_types(data: dict[str, Any], types: dict[str, tuple[type, ...]]) -> None:
    """ValueError naming the first field of `data` whose JSON type is not one of `types[field]`
    (absent fields are the caller's business; true/false is never an integer or a number)."""
    for name, allowed in types.items():
        if name not in data:
            continue
        value = data[name]
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if not ok:
            wanted = " or ".join(dict.fromkeys(_TYPE_NAMES.get(t, t.__name__) for t in allowed))
            raise ValueError(f"field {name!r} is {json.dumps(value, default=repr)[:40]}, expected {wanted}")


def finite(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None (JSON null), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def json_line(obj: Any) -> str:
    """One JSON line (UTF-8 text kept readable, no newline added) that every JSON reader accepts: a NaN
    or infinite number becomes null instead of a bare `NaN`."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False)
    except ValueError:  # rare: a non-finite figure somewhere; clean the whole object once
        return json.dumps(finite(obj), ensure_ascii=False, allow_nan=False)


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


def _finding_dict(f: Finding) -> dict[str, Any]:
    """Finding.to_dict() without dataclasses.asdict's deep copy (same result, ~10x faster)."""
    return {
        "detector": f.detector,
        "flagged": f.flagged,
        "score": f.score,
        "explanation": f.explanation,
        "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in f.spans],
        "details": dict(f.details),
    }


def _finding_from_dict(name: str, data: Any) -> Finding:
    if not isinstance(data, dict):
        raise ValueError(f"findings[{name!r}] is not an object")
    check_types(data, {"detector": (str,), "flagged": (bool,), "score": (int, float, type(None)),
                       "explanation": (str,), "spans": (list,), "details": (dict,)})
    if not isinstance(data.get("flagged"), bool):
        raise ValueError(f"findings[{name!r}] has no flagged true/false")
    spans = []
    for s in data.get("spans", []):
        if not (isinstance(s, dict) and isinstance(s.get("start"), int) and isinstance(s.get("end"), int)):
            raise ValueError(f"findings[{name!r}]: a span needs integer start and end")
        spans.append(Span(s["start"], s["end"], str(s.get("label", ""))))
    score = data.get("score")
    return Finding(str(data.get("detector", name)), data["flagged"], math.nan if score is None else float(score),
                   str(data.get("explanation", "")), spans, dict(data.get("details", {})))


@dataclass
class ScoreLine:
    """The detectors' verdicts on one record: one line of `scores.jsonl`.

    On disk: {"id", "suite", "sample", "flags": {detector: bool}, "findings": {detector: Finding},
    then the extra keys}; `flags` is derived from `findings` and written for tools that only want it."""

    id: str
    """The record's probe id."""
    suite: str
    sample: int
    findings: dict[str, Finding]
    """Detector name → its finding, in the registry's order."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Further top-level keys: `task_correct` (true/false, or null when the probe has no scorer) and
    `task` (the task scorer's finding) are written by evalgen; others round-trip untouched."""

    @property
    def key(self) -> tuple[str, str, int]:
        return record_key(self.suite, self.id, self.sample)

    @property
    def flags(self) -> dict[str, bool]:
        return {name: f.flagged for name, f in self.findings.items()}

    @property
    def task_correct(self) -> bool | None:
        """Whether the old-task answer was right; None when the probe has no scorer."""
        value = self.extra.get("task_correct")
        return value if isinstance(value, bool) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "suite": self.suite,
            "sample": self.sample,
            "flags": self.flags,
            "findings": {name: _finding_dict(f) for name, f in self.findings.items()},
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreLine:
        """Validate and build one line; ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        missing = [k for k in ("id", "suite", "sample", "findings") if k not in data]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        check_types(data, {"id": (str,), "suite": (str,), "sample": (int,), "findings": (dict,), "flags": (dict,),
                           "task_correct": (bool, type(None)), "task": (dict, type(None))})
        findings = {name: _finding_from_dict(name, f) for name, f in data["findings"].items()}
        extra = {k: v for k, v in data.items() if k not in ("id", "suite", "sample", "flags", "findings")}
        return cls(data["id"], data["suite"], data["sample"], findings, extra)


TEACHER_FORCED_KINDS: tuple[str, ...] = ("reference", "own", "baseline")
"""reference: the probe's reference, scored as the answer (only references that are whole answers).
own: this run's own generation that ended naturally (eos), scored by the same model.
baseline: the baseline run's generation that ended naturally, scored by this run's model: paired
with the baseline's `own` row, it asks "would the new model still stop where the base stopped?"."""


@dataclass
class TeacherForcedRow:
    """One teacher-forced answer: a line of `teacher_forced.jsonl`."""

    suite: str
    probe_id: str
    ref_logprob_mean: float | None
    """Mean log-probability of the answer's tokens given the prompt; null when not finite."""
    stop_prob: float | None
    """Probability of an end-of-turn token right after the answer; null when not finite."""
    n_ref_tokens: int
    """How many answer tokens were scored."""
    kind: str = "reference"
    """What was scored as the answer: one of TEACHER_FORCED_KINDS."""
    sample: int = 0
    """The generation's sample number for `own` and `baseline` rows (0 for references)."""
    answer_from: str | None = None
    """For `baseline` rows: the baseline run folder whose answers were scored (its run name)."""

    @property
    def key(self) -> tuple[str, str, int]:
        return record_key(self.suite, self.probe_id, self.sample)

    def to_dict(self) -> dict[str, Any]:
        return finite(asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherForcedRow:
        """Validate and build one row; ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        missing = [k for k in ("suite", "probe_id", "ref_logprob_mean", "stop_prob") if k not in data]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        number = (int, float, type(None))
        check_types(data, {"suite": (str,), "probe_id": (str,), "ref_logprob_mean": number, "stop_prob": number,
                           "n_ref_tokens": (int,), "kind": (str,), "sample": (int,),
                           "answer_from": (str, type(None))})
        kind = data.get("kind", "reference")
        if kind not in TEACHER_FORCED_KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(TEACHER_FORCED_KINDS)}")

        def num(name: str) -> float | None:
            value = data.get(name)
            return None if value is None or not math.isfinite(value) else float(value)

        return cls(data["suite"], data["probe_id"], num("ref_logprob_mean"), num("stop_prob"),
                   int(data.get("n_ref_tokens", 0)), kind, int(data.get("sample", 0)), data.get("answer_from"))


RUN_STATUSES: tuple[str, ...] = ("running", "interrupted", "failed", "complete")
"""running: generation in progress (or the process died: nothing else updated run.json).
interrupted: stopped by Ctrl-C; `--resume` continues it. failed: stopped by an error (run.json's
`error` says which); `--resume` continues it. complete: every record generated, scored, and written."""

_DICT, _STR_OR_NULL = (dict,), (str, type(None))


@dataclass
class RunMeta:
    """`run.json`: what was run, with which weights and settings, by which versions, how it went."""

    status: str
    """One of RUN_STATUSES."""
    name: str | None = None
    """The run's name (its folder name when written)."""
    format_version: int = RUN_FORMAT_VERSION
    checkpoint: dict[str, Any] = field(default_factory=dict)
    """path, hash (config + tokenizer files), fingerprint (the weights: see evalgen.weights), adapter,
    base, and `hub` (id, revision, commit) for a Hub checkpoint; paths null for imported generations."""
    backend: str | None = None
    """The generation backend (hf, vllm, openai, scripted, external for `evalgen score`)."""
    backend_reason: str | None = None
    """Why that backend was chosen (for `--backend auto`)."""
    backend_info: dict[str, Any] = field(default_factory=dict)
    """What the backend reports about itself (engine, server, model name)."""
    tokenizer: str | None = None
    """Where the tokenizer that rendered the prompts came from."""
    template: dict[str, Any] = field(default_factory=dict)
    """name, turn_markers, end_tokens (and the template's source and hash when known)."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Generation settings: max_new_tokens, temperature, top_p, seed, samples, batch_size,
    stop_strings, early_exit, dtype, device."""
    suites: dict[str, Any] = field(default_factory=dict)
    """Suite name → {path, n_probes, hash (of the probes' content)}."""
    identity: dict[str, Any] = field(default_factory=dict)
    """{name, org}: the configured assistant identity the detectors judge against."""
    versions: dict[str, Any] = field(default_factory=dict)
    """Package → version (python, evalgen, torch, transformers, peft, vllm) at write time."""
    timings: dict[str, Any] = field(default_factory=dict)
    """started, finished (ISO 8601 UTC) and seconds per stage (load_s, generate_s, score_s)."""
    counts: dict[str, Any] = field(default_factory=dict)
    """records, stop_reasons {reason: n}, prompt_errors (records refused before generating)."""
    teacher_forced: str | None = None
    """What the teacher-forced pass did, in words (rows written, or why it was skipped)."""
    host: str | None = None
    source: str | None = None
    """For `evalgen score`: the imported JSONL file."""
    error: str | None = None
    """For status `failed`: the one-line error that stopped the run."""
    updated: str | None = None
    """When run.json was last written (ISO 8601 UTC)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this evalgen does not know (written by a plug-in or a newer version), kept as they were."""

    @property
    def evalgen_version(self) -> str | None:
        value = self.versions.get("evalgen")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, data: Any) -> RunMeta:
        """Validate and build; ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__ if data is not None else 'null'}")
        version = data.get("format_version", RUN_FORMAT_VERSION)
        if version != RUN_FORMAT_VERSION:
            raise ValueError(f"format_version {version!r}, this evalgen reads {RUN_FORMAT_VERSION}")
        if "status" not in data:
            raise ValueError("missing field 'status'")
        check_types(data, _META_TYPES)
        if data["status"] not in RUN_STATUSES:
            raise ValueError(f"status {data['status']!r} is not one of {', '.join(RUN_STATUSES)}")
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})


_META_TYPES: dict[str, tuple[type, ...]] = {
    "status": (str,), "name": _STR_OR_NULL, "format_version": (int,), "checkpoint": _DICT, "backend": _STR_OR_NULL,
    "backend_reason": _STR_OR_NULL, "backend_info": _DICT, "tokenizer": _STR_OR_NULL, "template": _DICT,
    "settings": _DICT, "suites": _DICT, "identity": _DICT, "versions": _DICT, "timings": _DICT, "counts": _DICT,
    "teacher_forced": _STR_OR_NULL, "host": _STR_OR_NULL, "source": _STR_OR_NULL, "error": _STR_OR_NULL,
    "updated": _STR_OR_NULL,
}
