"""The JSON lines of `scores.jsonl` and `generations.jsonl`, byte for byte as
`json.dumps(obj, ensure_ascii=False)` writes them, but built from fragments.

Streamed scoring writes two lines per record. Building each line's dict (every finding through
`Finding.to_dict`) and handing it to `json.dumps` costs more than all the cheap detectors together; here
the fixed parts (keys, separators, detector names) are written once, each string is escaped once (an
imported record's `output` and `output_raw` are one string) and only the leaves go through the C encoder.

With orjson installed (`pip install evalgen[fast]`), the long strings are escaped and lines parsed by
orjson where its result is the same as the standard library's (its escaping of every code point is
json's with ensure_ascii=False; integers of 19 or more digits and anything it refuses go to `json`), so
the files are the same bytes with or without it. tests/test_score_stream.py checks the lines against
`json.dumps` of the dicts, on the real corpus and on awkward values, both ways.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from json import encoder as _encoder
from typing import Any

from evalgen.records import Finding, GenerationRecord

try:
    import orjson
except ImportError:  # optional: the standard library gives the same bytes, slower
    orjson = None

__all__ = ["MISSING", "dumps", "finding_json", "loads", "record_json", "score_json", "string_bytes"]

MISSING = object()
"""What `loads` returns when only the standard library can say (its error message, or its result)."""


def _default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _make_dumps() -> Callable[[Any], str]:
    make = _encoder.c_make_encoder
    if make is None:  # no C accelerator (PyPy): the plain encoder, same output
        return json.JSONEncoder(ensure_ascii=False).encode
    # What json.dumps(value, ensure_ascii=False) builds, made once instead of per call (no circular-reference
    # markers: our values are trees from JSON or from detectors).
    encode = make(None, _default, _encoder.encode_basestring, None, ": ", ", ", False, False, True)

    def dumps(value: Any) -> str:
        if type(value) is str:
            return _string(value)
        return "".join(encode(value, 0))

    return dumps


_string: Callable[[str], str] = _encoder.encode_basestring  # type: ignore[assignment]
dumps = _make_dumps()
"""`json.dumps(value, ensure_ascii=False)`, without its per-call set-up."""

_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_LONG_NUMBER = b"0" * 19
"""orjson reads integers beyond 64 bits as floats, json keeps them whole: lines with a run of 19 digits go
to json (found by translate and `in`: a regex tries every position and costs more than parsing)."""


def loads(raw: bytes) -> Any:
    """json.loads(raw.decode()) by orjson when it gives the same, else MISSING (blank lines, bad lines, long
    integers, NaN, no orjson): then the caller runs the standard library for the result or its error."""
    if orjson is None or _LONG_NUMBER in raw.translate(_DIGITS):
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
    return "true" if value is True else "false" if value is False else dumps(value)


_float_repr = float.__repr__


def finding_json(f: Finding) -> str:
    """json.dumps(Finding.to_dict(f), ensure_ascii=False). Inlined: this runs for every detector on every
    record, so the common leaf types skip the encoder call (a float as json writes it is its repr)."""
    score, explanation, spans = f.score, f.explanation, f.spans
    spans_json = dumps([{"start": s.start, "end": s.end, "label": s.label} for s in spans]) if spans else "[]"
    return (f'{{"detector": {_name(f.detector)}, "flagged": {_bool(f.flagged)}, "score": '
            f'{_float_repr(score) if type(score) is float and score - score == 0.0 else dumps(score)}, '
            f'"explanation": {_string(explanation) if type(explanation) is str else dumps(explanation)}, '
            f'"spans": {spans_json}, "details": {dumps(f.details)}}}')


def score_json(probe_id: Any, suite: Any, sample: Any, findings: Mapping[str, Finding], task: Finding | None,
               task_correct: bool | None) -> str:
    """One scores.jsonl line: json.dumps of {"id", "suite", "sample", "flags", "findings", "task_correct"[,
    "task"]} as `score_stream` writes it."""
    flags, found = [], []
    for name, f in findings.items():  # one loop, no generators: this runs for every record
        key, flagged = _key(name), f.flagged
        flags.append(key + ("true" if flagged is True else "false" if flagged is False else dumps(flagged)))
        found.append(key + finding_json(f))
    line = (f'{{"id": {_string(probe_id) if type(probe_id) is str else dumps(probe_id)}, "suite": {_name(suite)}, '
            f'"sample": {int.__repr__(sample) if type(sample) is int else dumps(sample)}, '
            f'"flags": {{{", ".join(flags)}}}, "findings": {{{", ".join(found)}}}, '
            f'"task_correct": {_bool(task_correct)}')
    if task is not None:
        return f'{line}, "task": {finding_json(task)}}}'
    return line + "}"


_RECORD_FIELDS = [f.name for f in fields(GenerationRecord)]
_HEAD = _RECORD_FIELDS[:_RECORD_FIELDS.index("output")]
_TAIL = _RECORD_FIELDS[_RECORD_FIELDS.index("output_raw") + 1:]


def record_json(record: GenerationRecord) -> bytes:
    """json.dumps(record.__dict__, ensure_ascii=False) in UTF-8, escaping the output once for `output` and
    `output_raw` (one string in an imported record) and the rest with the C encoder."""
    data = record.__dict__
    output = data.get("output")
    if len(data) != len(_RECORD_FIELDS) or type(output) is not str or data.get("output_raw") is not output:
        return dumps(data).encode("utf-8")
    head = dumps({name: data[name] for name in _HEAD})
    tail = dumps({name: data[name] for name in _TAIL})
    text = string_bytes(output)
    return b"".join((head[:-1].encode("utf-8"), b', "output": ', text, b', "output_raw": ', text, b", ",
                     tail[1:].encode("utf-8")))
