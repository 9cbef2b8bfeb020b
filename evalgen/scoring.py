"""Scoring API: run every detector over records and read/write `scores.jsonl`.

One line per record (keys are stable; other tools read them):
    {"id": probe_id, "suite": ..., "sample": int,
     "flags": {"repetition": bool, ...},           # one per detector
     "findings": {"repetition": Finding.to_dict(), ...}}
Extra top-level keys (e.g. "task_correct", added by task scorers) round-trip through `extra`.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.errors import ProbeError, RunFolderError
from evalgen.records import GenerationRecord, Message, ScoreLine, json_line

__all__ = [
    "FINISH_REASONS",
    "ScoreLine",
    "read_scores",
    "records_from_external",
    "score_folder",
    "score_record",
    "score_records",
    "write_scores",
]

FINISH_REASONS: dict[str | None, str] = {"stop": "eos", "length": "length", None: "unknown"}
"""How an imported line's `finish_reason` maps to `stop_reason`."""


def score_record(record: GenerationRecord, ctx: DetectorContext) -> ScoreLine:
    """Every detector on one record."""
    findings = {name: detect(record, ctx) for name, detect in DETECTORS.items()}
    return ScoreLine(record.probe_id, record.suite, record.sample, findings)


def score_records(records: Iterable[GenerationRecord], ctx: DetectorContext) -> list[ScoreLine]:
    """Every detector on every record, in order. The detectors screen cheaply first, so this stays a
    plain loop over the pure per-record functions and gives exactly their findings."""
    detectors = list(DETECTORS.items())
    # Findings hold no reference cycles; pausing the cyclic GC while 100k of them pile up saves its
    # repeated full scans (a third of the time), and the GC state is restored afterwards.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return [
            ScoreLine(r.probe_id, r.suite, r.sample, {name: detect(r, ctx) for name, detect in detectors})
            for r in records
        ]
    finally:
        if was_enabled:
            gc.enable()


def write_scores(path: str | Path, lines: Iterable[ScoreLine]) -> None:
    """Write one JSON object per line (UTF-8, non-ASCII kept readable)."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json_line(line.to_dict()))
            fh.write("\n")


def read_scores(path: str | Path) -> list[ScoreLine]:
    """Read `scores.jsonl`; RunFolderError naming file:line for a corrupt line."""
    path = Path(path)
    if not path.is_file():
        raise RunFolderError(f"{path}: scores file not found; run `evalgen score` first")
    lines = []
    with path.open(encoding="utf-8") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                lines.append(ScoreLine.from_dict(json.loads(raw)))
            except (ValueError, KeyError, TypeError) as exc:
                raise RunFolderError(f"{path}:{n}: not a valid score line ({exc}); re-score the run") from exc
    return lines


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89abcdefABCDEF]")
"""Text decoded from UTF-8 holds no surrogate: a parsed line can only get a lone one from an escape."""


def find_lone_surrogate(data: Any, text: str | bytes | None = None) -> str:
    """The first lone surrogate a parsed line holds ("" for none), which no UTF-8 file can hold. `text`: the
    line it was parsed from, when it came from a UTF-8 file (then only an escape can give one: checked only
    then)."""
    if isinstance(text, str) and not _SURROGATE_ESCAPE.search(text):
        return ""
    if isinstance(text, bytes) and not _SURROGATE_ESCAPE_BYTES.search(text):
        return ""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.object[exc.start:exc.end]
    return ""


def _record_from_line(data: Any, where: str, default_suite: str, text: str | bytes | None = None, *,
                      surrogates_refused: bool = False) -> GenerationRecord:
    """Validate one parsed line of an outside file; ProbeError naming `where`. `text`: the line it was parsed
    from, when it came from a UTF-8 file (then only an escape can hold a lone surrogate: checked only then);
    `surrogates_refused`: the parser refused lone surrogates itself (orjson), so there is nothing to check."""
    if not isinstance(data, dict):
        raise ProbeError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if "id" not in data:
        raise ProbeError(f"{where}: missing field 'id'")
    output = data.get("output")
    if not isinstance(output, str):
        raise ProbeError(f"{where}: missing or non-string field 'output'")
    messages: list[Message]
    if "messages" in data:
        messages, prompt_text = _messages(data["messages"], where)
    elif isinstance(data.get("prompt"), str):
        prompt_text = data["prompt"]
        messages = [{"role": "user", "content": prompt_text}]
    else:
        raise ProbeError(f"{where}: needs a string 'prompt' or a 'messages' list")
    finish = data.get("finish_reason")
    if finish not in FINISH_REASONS:
        raise ProbeError(f"{where}: finish_reason {finish!r} is not one of 'stop', 'length' or null")
    ids = data.get("output_token_ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        raise ProbeError(f"{where}: 'output_token_ids' must be a list of integers")
    sample = data.get("sample", 0)
    if not isinstance(sample, int) or isinstance(sample, bool):
        raise ProbeError(f"{where}: 'sample' must be an integer, got {sample!r}")
    suite = data.get("suite", default_suite)
    if not isinstance(suite, str) or not suite:
        raise ProbeError(f"{where}: 'suite' must be a non-empty string")
    reference = data.get("reference")
    if reference is not None and not (isinstance(reference, str) or (
            isinstance(reference, list) and all(isinstance(r, str) for r in reference))):
        raise ProbeError(f"{where}: 'reference' must be a string or a list of strings, got {reference!r}; "
                         "quote it, e.g. \"42\"")
    lang = data.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise ProbeError(f"{where}: 'lang' must be a language code string such as \"en\", got {lang!r}")
    scorer = data.get("scorer")
    if scorer is not None:
        from evalgen.probes import check_scorer

        check_scorer(scorer, reference, lambda what: ProbeError(f"{where}: {what}"))
    lone_surrogate = "" if surrogates_refused else find_lone_surrogate(data, text)
    if lone_surrogate:
        raise ProbeError(f"{where}: holds a lone surrogate ({lone_surrogate!r}), which is not valid UTF-8; fix the "
                         "writer of the file (or replace it with U+FFFD)")
    return GenerationRecord(probe_id=str(data["id"]), suite=suite, sample=sample, messages=messages,
                            prompt_text=prompt_text, output=output, output_raw=output, output_token_ids=ids,
                            stop_reason=FINISH_REASONS[finish], n_output_tokens=len(ids) if ids is not None else 0,
                            latency_s=0.0, reference=reference, scorer=scorer, lang=lang)


def _messages(raw: Any, where: str) -> tuple[list[Message], str]:
    """An imported line's `messages` as {"role", "content"} turns, and its prompt: the last user turn's content
    ("" without one)."""
    messages: list[Message] = []
    prompt_text = ""
    for turn in raw if isinstance(raw, list) else [None]:  # a loop, not generators: this runs for every line
        role, content = (turn.get("role"), turn.get("content")) if isinstance(turn, dict) else (None, None)
        if not (isinstance(role, str) and isinstance(content, str)):
            raise ProbeError(f"{where}: 'messages' must be a list of {{'role': str, 'content': str}} objects")
        messages.append({"role": role, "content": content})
        if role == "user":
            prompt_text = content
    return messages, prompt_text


def records_from_external(path: str | Path) -> list[GenerationRecord]:
    """Records from a JSONL file of outside generations (`evalgen score FILE.jsonl`).

    Each line: `id`, `prompt` or `messages`, `output`; optional `finish_reason` ("stop" -> eos,
    "length" -> length, absent/null -> unknown), `output_token_ids`, `suite` (default: the file's
    stem), `sample` (default 0), `reference`, `scorer`, `lang`. ProbeError names file:line.
    """
    path = Path(path)
    if not path.is_file():
        raise ProbeError(f"{path}: file not found; pass a JSONL file of generations")
    records = []
    with path.open(encoding="utf-8") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            where = f"{path}:{n}"
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ProbeError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
            records.append(_record_from_line(data, where, path.stem, raw))
    if not records:
        raise ProbeError(f"{path}: no generations in the file")
    return records


def score_folder(input_path: str | Path, out_dir: str | Path, ctx: DetectorContext) -> list[ScoreLine]:
    """Import `input_path`, write `out_dir/generations.jsonl` and `out_dir/scores.jsonl`, return the lines."""
    records = records_from_external(input_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "generations.jsonl").open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json_line(r.to_dict()))
            fh.write("\n")
    lines = score_records(records, ctx)
    write_scores(out / "scores.jsonl", lines)
    return lines
