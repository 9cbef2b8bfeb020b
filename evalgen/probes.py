"""Probe suites: JSONL files of prompts, validated line by line.

A line is one probe: `id`, then `prompt` (a string) or `messages` (a list of {role, content}, the last
turn the user's), optional `system`, `input` (alpaca-style context), `reference`, `scorer`, `lang`,
`tags`, `suite`. The suite name is the file stem unless a line says `suite`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evalgen.errors import ProbeError
from evalgen.records import Message, Probe, jsonl_lines

__all__ = ["builtin_suites", "load_suite_file", "load_suites", "resolve_suites"]

ALLOWED_KEYS = {"id", "prompt", "messages", "system", "input", "reference", "scorer", "lang", "tags", "suite"}
ROLES = ("system", "user", "assistant")


def builtin_dir() -> Path:
    """Wheels carry the repo's probes/ folder as evalgen/builtin_probes; a source checkout (or an
    editable install, which does not map the folder) reads probes/ beside the package."""
    package = Path(__file__).resolve().parent
    packaged = package / "builtin_probes"
    return packaged if packaged.is_dir() else package.parent / "probes"


def builtin_suites() -> dict[str, Path]:
    """Built-in suite name → file."""
    return {p.stem: p for p in sorted(builtin_dir().glob("*.jsonl"))}


def resolve_suites(names_or_paths: Iterable[str] | None) -> list[Path]:
    """Turn `--suite` values (built-in names, files or folders) into JSONL files; none → all built-ins."""
    builtins = builtin_suites()
    wanted = list(names_or_paths or [])
    if not wanted:
        return list(builtins.values())
    files: list[Path] = []
    for item in wanted:
        path = Path(item)
        if path.is_dir():
            found = sorted(path.glob("*.jsonl"))
            if not found:
                raise ProbeError(f"{path}: folder has no *.jsonl suite files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif item in builtins:
            files.append(builtins[item])
        else:
            raise ProbeError(
                f"{item}: no such suite file, folder or built-in suite; built-in suites: {', '.join(builtins)}"
            )
    return list(dict.fromkeys(files))


def load_suites(names_or_paths: Iterable[str] | None = None) -> list[Probe]:
    """Every probe of the requested suites; ids must be unique within a suite."""
    probes: list[Probe] = []
    seen: dict[tuple[str, str], str] = {}
    for path in resolve_suites(names_or_paths):
        for probe in load_suite_file(path):
            key = (probe.suite, probe.id)
            if key in seen:
                raise ProbeError(
                    f"{probe.source}: duplicate id {probe.id!r} in suite {probe.suite!r} "
                    f"(first at {seen[key]}); make ids unique"
                )
            seen[key] = probe.source
            probes.append(probe)
    if not probes:
        raise ProbeError("the selected suites hold no probes; add lines to the JSONL files or pick other suites")
    return probes


def load_suite_file(path: Path) -> list[Probe]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProbeError(f"{path}: not UTF-8 text ({exc}); save the suite as UTF-8") from exc
    except OSError as exc:
        raise ProbeError(f"{path}: cannot read ({exc.strerror})") from exc
    probes = []
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProbeError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        probes.append(parse_probe(row, default_suite=path.stem, where=where))
    if not probes:
        raise ProbeError(f"{path}: the suite is empty; add one JSON object per line")
    return probes


def parse_probe(row: Any, default_suite: str, where: str) -> Probe:
    def bad(what: str) -> ProbeError:
        return ProbeError(f"{where}: {what}")

    if not isinstance(row, dict):
        raise bad(f"expected a JSON object, got {type(row).__name__}")
    unknown = sorted(set(row) - ALLOWED_KEYS)
    if unknown:
        raise bad(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOWED_KEYS))}")
    probe_id = row.get("id")
    if not isinstance(probe_id, (str, int)) or isinstance(probe_id, bool) or str(probe_id) == "":
        raise bad("missing 'id' (a non-empty string)")
    if ("prompt" in row) == ("messages" in row):
        raise bad("give exactly one of 'prompt' (a string) or 'messages' (a list of {role, content})")
    messages = parse_messages(row, bad)
    reference = row.get("reference")
    if reference is not None and not (
        isinstance(reference, str) or (isinstance(reference, list) and all(isinstance(r, str) for r in reference))
    ):
        raise bad("'reference' must be a string or a list of strings")
    for key in ("scorer", "lang", "suite"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise bad(f"'{key}' must be a string")
    check_scorer(row.get("scorer"), reference, bad)
    tags = row.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise bad("'tags' must be a list of strings")
    return Probe(
        id=str(probe_id),
        suite=row.get("suite") or default_suite,
        messages=messages,
        reference=reference,
        scorer=row.get("scorer"),
        lang=row.get("lang"),
        tags=tuple(tags),
        source=where,
    )


def check_scorer(scorer: str | None, reference: Any, bad: Any) -> None:
    """The scorer exists, has the reference it needs, and a regex reference compiles: found when the
    suite loads, not after every generation ran."""
    import re

    from evalgen.errors import EvalgenError
    from evalgen.scorers import NEEDS_REFERENCE, get_scorer

    if scorer is None:
        return
    try:
        get_scorer(scorer)
    except EvalgenError as exc:
        raise bad(str(exc)) from None
    patterns = [reference] if isinstance(reference, str) else list(reference or [])
    if scorer in NEEDS_REFERENCE and not patterns:
        raise bad(f"scorer {scorer!r} needs a 'reference'; add one or drop the scorer")
    if scorer == "regex":
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise bad(f"regex reference {pattern!r} does not compile ({exc}); fix the pattern") from None


def parse_messages(row: dict[str, Any], bad: Any) -> list[Message]:
    system = row.get("system")
    if system is not None and not isinstance(system, str):
        raise bad("'system' must be a string")
    if "prompt" in row:
        if not isinstance(row["prompt"], str) or not row["prompt"].strip():
            raise bad("'prompt' must be a non-empty string")
        turns: list[Message] = [{"role": "user", "content": row["prompt"]}]
    else:
        raw = row["messages"]
        if not isinstance(raw, list) or not raw:
            raise bad("'messages' must be a non-empty list of {role, content}")
        turns = []
        for i, message in enumerate(raw):
            if not isinstance(message, dict) or set(message) != {"role", "content"}:
                raise bad(f"messages[{i}] must be an object with exactly 'role' and 'content'")
            if message["role"] not in ROLES or not isinstance(message["content"], str):
                raise bad(f"messages[{i}]: role must be one of {', '.join(ROLES)} and content a string")
            turns.append({"role": message["role"], "content": message["content"]})
        if turns[-1]["role"] != "user":
            raise bad("the last message must be the user's (the model answers it)")
    if "input" in row:
        if not isinstance(row["input"], str):
            raise bad("'input' must be a string")
        turns[-1] = {**turns[-1], "input": row["input"]}
    if system and turns[0]["role"] != "system":
        turns.insert(0, {"role": "system", "content": system})
    return turns
