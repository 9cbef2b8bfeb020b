"""The JSON lines of `scores.jsonl` and `generations.jsonl`, byte for byte as `records.json_line` writes them
(`json.dumps(obj, ensure_ascii=False)`, a NaN or infinity as null), but built from fragments.

Streamed scoring writes two lines per record. Building each line's dict (every finding through
`Finding.to_dict`) and handing it to `json.dumps` costs more than all the cheap detectors together; here
the fixed parts (keys, separators, detector names) are written once, each string is escaped once (an
imported record's `output` and `output_raw` are one string) and only the leaves go through the C encoder.

With orjson installed (`pip install evalgen[fast]`), the long strings are escaped and lines parsed by
orjson where its result is the same as the standard library's (its escaping of every code point is
json's with ensure_ascii=False; integers of 19 or more digits and anything it refuses go to `json`), so
the files are the same bytes with or without it. tests/test_score_stream.py checks the lines against
`json_line` of the dicts, on the real corpus and on awkward values, both ways.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from json import encoder as _encoder
from operator import itemgetter
from typing import Any

from evalgen.records import Finding, GenerationRecord, Span, finite, json_line

try:
    import orjson
except ImportError:  # optional: the standard library gives the same bytes, slower
    orjson = None  # type: ignore[assignment]

__all__ = ["MISSING", "dumps", "finding_json", "loads", "record_json", "score_json", "string_bytes"]

MISSING = object()
"""What `loads` returns when only the standard library can say (its error message, or its result)."""


def _default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _make_encoder() -> Callable[[Any, int], Sequence[str]]:
    """What json.dumps(value, ensure_ascii=False, allow_nan=False) runs, made once instead of per call: the
    value's JSON in pieces to join (no circular-reference markers: our values are trees from JSON or from
    detectors). A NaN or infinity raises ValueError, as in `json_line`: the callers then write it as null."""
    make = _encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is None:  # no C accelerator (PyPy): the plain encoder, same output
        plain = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
        return lambda value, _level: [plain(value)]
    return make(None, _default, _encoder.encode_basestring, None, ": ", ", ", False, False, False)  # type: ignore[no-any-return]


_encode = _make_encoder()
_string: Callable[[str], str] = _encoder.encode_basestring  # type: ignore[assignment]


def dumps(value: Any) -> str:
    """`json_line(value)` (json.dumps with ensure_ascii=False, a NaN or infinity as null), without its per-call
    set-up."""
    if type(value) is str:
        return _string(value)
    try:
        return "".join(_encode(value, 0))
    except ValueError:  # rare: a non-finite number somewhere
        return "".join(_encode(finite(value), 0))


_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_LONG_NUMBER = b"0" * 19
"""orjson reads integers beyond 64 bits as floats, json keeps them whole: lines with a run of 19 digits go
to json (found by translate and `in`: a regex tries every position and costs more than parsing)."""


def loads(raw: bytes, *, exact_integers: bool = True) -> Any:
    """json.loads(raw.decode()) by orjson when it gives the same, else MISSING (blank lines, bad lines, long
    integers, NaN, no orjson): then the caller runs the standard library for the result or its error.

    `exact_integers=False` skips looking for long integers, for a caller that takes no number from the line
    but those it checks are integers (an integer from 2**64 on comes back as a float, which fails that check)
    and reads the line again with json when one fails (an imported line: `score_stream`)."""
    if orjson is None or (exact_integers and _LONG_NUMBER in raw.translate(_DIGITS)):
        return MISSING
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return MISSING


def _escaped(text: str) -> str:
    """json's escaping of `text`, most of it by str.replace (the C escaper goes character by character)."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{out}"' if out.isprintable() else _string(text)  # other control characters: the escaper


def string_bytes(text: str) -> bytes:
    """json.dumps(text, ensure_ascii=False).encode("utf-8") (UnicodeEncodeError for a lone surrogate)."""
    if orjson is not None:
        try:
            return orjson.dumps(text)
        except TypeError:  # a lone surrogate: let the encoder say it
            pass
    return _escaped(text).encode("utf-8")


_NAMES: dict[str, str] = {}
_NAMED: dict[str, str] = {}


def _key(name: str) -> str:
    """`"name": ` (cached: the keys are a few fixed names)."""
    out = _NAMES.get(name) if type(name) is str else None
    if out is None:
        out = dumps({name: 0})[1:-2]
        if type(name) is str and len(_NAMES) < 1000:
            _NAMES[name] = out
    return out


def _name(value: Any) -> str:
    """dumps(value) for a value that is nearly always one of a few names (a finding's detector)."""
    out = _NAMED.get(value) if type(value) is str else None
    if out is None:
        out = dumps(value)
        if type(value) is str and len(_NAMED) < 1000:
            _NAMED[value] = out
    return out


def _bool(value: Any) -> str:
    """dumps(value) for true, false or null (a task verdict, a flag)."""
    return "true" if value is True else "false" if value is False else "null" if value is None else dumps(value)


_float_repr = float.__repr__
_int_repr = int.__repr__


def _spans(spans: list[Span]) -> str:
    return dumps([{"start": s.start, "end": s.end, "label": s.label} for s in spans])


def finding_json(f: Finding) -> str:
    """json_line(Finding.to_dict(f)). The common leaf types skip the encoder call (a float as json writes it is
    its repr). `score_json` has the same inlined (a call per finding cost 10%): change both together;
    tests/test_score_stream.py compares both with json_line."""
    score, explanation, spans = f.score, f.explanation, f.spans
    try:
        return (f'{{"detector": {_name(f.detector)}, "flagged": {_bool(f.flagged)}, "score": '
                f'{_float_repr(score) if type(score) is float and score - score == 0.0 else dumps(score)}, '
                f'"explanation": {_string(explanation) if type(explanation) is str else dumps(explanation)}, '
                f'"spans": {_spans(spans) if spans else "[]"}, '
                f'"details": {"".join(_encode(f.details, 0))}}}')
    except ValueError:  # a NaN or infinity in the details: the plain writer makes them null
        return json_line(f.to_dict())


_HEADS: dict[str, tuple[Any, str, str]] = {}


def _head(name: Any, detector: Any) -> tuple[Any, str, str]:
    """(detector, `"name": `, `"name": {"detector": "detector", "flagged": `) for a finding under key `name` of
    the findings (cached by name: the detectors are a few fixed names, each its own finding's detector)."""
    key = _key(name)
    head = (detector, key, f'{key}{{"detector": {_name(detector)}, "flagged": ')
    if type(name) is str and type(detector) is str and len(_HEADS) < 1000:
        _HEADS[name] = head
    return head


def score_json(probe_id: Any, suite: Any, sample: Any, findings: Mapping[str, Finding], task: Finding | None,
               task_correct: bool | None) -> str:
    """One scores.jsonl line: json_line of {"id", "suite", "sample", "flags", "findings", "task_correct"[,
    "task"]} as `score_stream` writes it."""
    try:
        return _score_line(probe_id, suite, sample, findings, task, task_correct)
    except ValueError:  # a NaN or infinity in some finding's details: the plain writer makes them null
        line = {"id": probe_id, "suite": suite, "sample": sample, "flags": {k: f.flagged for k, f in findings.items()},
                "findings": {k: f.to_dict() for k, f in findings.items()}, "task_correct": task_correct}
        if task is not None:
            line["task"] = task.to_dict()
        return json_line(line)


def _score_line(probe_id: Any, suite: Any, sample: Any, findings: Mapping[str, Finding], task: Finding | None,
                task_correct: bool | None) -> str:
    """`score_json`'s line built from fragments; ValueError where a finding's details hold a NaN or infinity."""
    flags, found = [], []
    for name, f in findings.items():  # one loop, no generators or calls per finding: this runs for every record
        detector, key, head = _HEADS.get(name) or _head(name, f.detector)
        if f.detector != detector:
            detector, key, head = _head(name, f.detector)
        flagged, score, explanation, spans = f.flagged, f.score, f.explanation, f.spans
        flag = "true" if flagged is True else "false" if flagged is False else dumps(flagged)
        flags.append(key + flag)
        found.append(  # finding_json(f), inlined
            f'{head}{flag}, "score": '
            f'{_float_repr(score) if type(score) is float and score - score == 0.0 else dumps(score)}, '
            f'"explanation": {_string(explanation) if type(explanation) is str else dumps(explanation)}, '
            f'"spans": {_spans(spans) if spans else "[]"}, '
            f'"details": {"".join(_encode(f.details, 0))}}}')
    line = (f'{{"id": {_string(probe_id) if type(probe_id) is str else dumps(probe_id)}, "suite": {_name(suite)}, '
            f'"sample": {_int_repr(sample) if type(sample) is int else dumps(sample)}, '
            f'"flags": {{{", ".join(flags)}}}, "findings": {{{", ".join(found)}}}, '
            f'"task_correct": {_bool(task_correct)}')
    if task is not None:
        return f'{line}, "task": {finding_json(task)}}}'
    return line + "}"


def _value_bytes(value: Any) -> bytes:
    """dumps(value).encode("utf-8"), the common leaves of a record without the encoder."""
    kind = type(value)
    if kind is str:
        return string_bytes(value)
    if value is None:
        return b"null"
    if kind is int:
        return _int_repr(value).encode()
    if kind is float and value - value == 0.0:
        return _float_repr(value).encode()
    if kind is list and not value:
        return b"[]"
    return dumps(value).encode("utf-8")


_TURN_KEYS = ["role", "content"]


def _messages_bytes(messages: Any, prompt: Any) -> tuple[bytes, bytes]:
    """(dumps(messages), dumps(prompt)) in UTF-8, escaping each turn's content once and the prompt not again
    when it is one of them (an imported record's prompt is its last user turn)."""
    if type(messages) is not list:
        return dumps(messages).encode("utf-8"), _value_bytes(prompt)
    turns, prompt_bytes = [], None
    for turn in messages:
        if type(turn) is not dict or list(turn) != _TURN_KEYS:
            return dumps(messages).encode("utf-8"), _value_bytes(prompt)
        content = turn["content"]
        content_bytes = _value_bytes(content)
        if content is prompt:
            prompt_bytes = content_bytes
        turns.append(b'{"role": ' + _value_bytes(turn["role"]) + b', "content": ' + content_bytes + b"}")
    return b"[" + b", ".join(turns) + b"]", prompt_bytes or _value_bytes(prompt)


_RECORD_FIELDS = [f.name for f in fields(GenerationRecord)]
_AT = _RECORD_FIELDS.index("messages")
_BEFORE, _MIDDLE, _AFTER = _RECORD_FIELDS[:_AT], _RECORD_FIELDS[_AT:_AT + 4], _RECORD_FIELDS[_AT + 4:]
_FAST_RECORD = _MIDDLE == ["messages", "prompt_text", "output", "output_raw"] and len(_BEFORE) > 1 and len(_AFTER) > 1
"""`record_json` writes the middle fields itself and the leaves around them by `itemgetter` (a tuple for two or
more names); a record laid out otherwise goes to the encoder whole."""
_before, _after = (itemgetter(*_BEFORE), itemgetter(*_AFTER)) if _FAST_RECORD else (None, None)
_RECORD_PARTS: list[bytes] = [part for i, name in enumerate(_RECORD_FIELDS)
                              for part in ((b"{" if i == 0 else b", ") + dumps(name).encode() + b": ", b"")] + [b"}"]
"""A record's line with its keys in place and its values (the odd places) left empty."""


def record_json(record: GenerationRecord) -> bytes:
    """json_line(record.__dict__) in UTF-8, built from its values' own bytes: each long
    string escaped once (an imported record's `output` is its `output_raw`, its prompt its last turn)."""
    data = record.__dict__
    if len(data) != len(_RECORD_FIELDS) or not _FAST_RECORD:
        return dumps(data).encode("utf-8")
    messages, prompt = _messages_bytes(data["messages"], data["prompt_text"])
    output = data["output"]
    output_bytes = _value_bytes(output)
    raw = data["output_raw"]
    parts = _RECORD_PARTS.copy()
    parts[1:-1:2] = [*map(_value_bytes, _before(data)), messages, prompt, output_bytes,
                     output_bytes if raw is output else _value_bytes(raw), *map(_value_bytes, _after(data))]
    return b"".join(parts)
