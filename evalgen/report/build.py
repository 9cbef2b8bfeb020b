"""Build `report.html` from run folder files only (no model, no other evalgen stage).

Reading the run folders (`_Run`, `_read`) is kept apart from turning them into page data
(`_payload`), which `encode.py` compresses into the page (see there for the format).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalgen.detectors import DETECTORS
from evalgen.errors import RunFolderError
from evalgen.records import STOP_REASONS, GenerationRecord
from evalgen.report.encode import (
    Bulk,
    Encoded,
    embed_json,
    json_line,
    pack_index,
    page_overhead,
    render_page,
    truncation_limit,
)
from evalgen.report.groups import EVIDENCE_CHARS, evidence_text, group_findings
from evalgen.runfolder import load_run

__all__ = ["DEFAULT_MAX_SIZE_MB", "REPORT_NAME", "build_report"]

REPORT_NAME = "report.html"

# Report order of the detectors (the order compare.py reports them in); unknown ones follow sorted.
DETECTOR_ORDER = tuple(DETECTORS)
"""Report order: the registry's (evalgen.detectors.DETECTORS)."""
TASK = "task"
"""Pseudo-detector for old-task answers scored wrong (task_correct false), filterable like the rest."""

SNIPPET_COLUMNS = 64  # the list row shows ~55 columns (a CJK character takes two); the rest is in the case view
HIST_BINS = 24
DEFAULT_MAX_SIZE_MB = 15.0
"""Above this size, healthy outputs (no detector flag and no wrong answer in either run) are cut,
except a fixed sample of them; bad, flipped and sampled cases always stay whole. 0: never cut."""
SAMPLE_FULL = 1000
"""Healthy cases kept whole however large the report: those with the smallest CRC-32 of their key."""
MIN_KEPT_CHARS = 200
"""A cut healthy output keeps at least this many characters (the page may then exceed the budget)."""

Key = tuple[str, str, int]


# --- reading --------------------------------------------------------------------------------------


class _Run:
    """One run folder as the report needs it: run.json, records and score lines by key."""

    def __init__(self, folder: Path, warnings: list[str]) -> None:
        run = load_run(folder)  # the one reader of the run-folder contract
        warnings.extend(run.warnings)
        self.path = run.path
        self.run: dict[str, Any] = run.meta.to_dict()
        self.records: dict[Key, GenerationRecord] = run.records_by_key()
        self.scores: dict[Key, dict[str, Any]] = {key: line.to_dict() for key, line in run.scores_by_key().items()}

    @property
    def name(self) -> str:
        return str(self.run.get("name") or self.path.name)



# --- page data ------------------------------------------------------------------------------------

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _utf16(text: str, index: int) -> int:
    """A Python (code point) offset as a JavaScript (UTF-16 code unit) offset."""
    index = max(0, min(index, len(text)))
    return index + len(_ASTRAL.findall(text, 0, index))


def _is_astral_free(text: str) -> bool:
    return text.isascii() or _ASTRAL.search(text) is None


def _findings(output: str, score: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Findings worth showing (flagged, or with a score or evidence), spans in UTF-16 offsets into
    `output` (which may be a cut output: spans past its end are dropped)."""
    out = []
    plain = _is_astral_free(output)
    raw = score.get("findings") if score else None
    for name, f in (raw or {}).items():
        if not isinstance(f, dict):
            continue
        spans = []
        for s in f.get("spans") or []:
            try:
                start, end = int(s["start"]), int(s["end"])
            except (KeyError, TypeError, ValueError):
                continue
            if min(start, end) > len(output):
                continue
            start, end = sorted((max(0, min(start, len(output))), max(0, min(end, len(output)))))
            if not plain:
                start, end = _utf16(output, start), _utf16(output, end)
            spans.append([start, end, str(s.get("label") or "")])
        flagged = bool(f.get("flagged"))
        value = f.get("score")
        value = float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0
        if not (flagged or value or spans):
            continue
        out.append({
            "d": str(f.get("detector") or name),
            "fl": flagged,
            "s": value,
            "x": str(f.get("explanation") or ""),
            "sp": spans,
            "dt": f.get("details") or {},
        })
    return out


def _snippet(text: str) -> str:
    """The start of the output as the list row shows it: whitespace collapsed, ~SNIPPET_COLUMNS wide."""
    head = " ".join(text[: SNIPPET_COLUMNS * 2].split())[:SNIPPET_COLUMNS]
    if head.isascii():
        return head
    width = 0
    for i, ch in enumerate(head):
        width += 2 if ch >= "\u1100" else 1
        if width > SNIPPET_COLUMNS:
            return head[:i]
    return head


def _tokens_known(record: GenerationRecord) -> bool:
    """False for a record imported without token ids (its n_output_tokens is a placeholder 0)."""
    return record.output_token_ids is not None or record.n_output_tokens > 0 or not record.output


def _turns_not_in_prompt(record: GenerationRecord) -> bool:
    """True when the rendered prompt does not show every turn (an import keeps only the last user turn)."""
    return len(record.messages) > 1 and any(
        isinstance(m.get("content"), str) and m["content"].strip() not in record.prompt_text for m in record.messages)


def _side_entry(record: GenerationRecord, score: dict[str, Any] | None) -> dict[str, Any]:
    """The bulk entry of one output: the text, how it ended, the findings (spans in UTF-16 units)."""
    raw = record.output_raw or ""
    same = raw == record.output
    tail = not same and raw.startswith(record.output)
    entry: dict[str, Any] = {
        "o": record.output,
        # Raw output is usually the output plus its end token: store just that tail.
        "r": None if same or tail else raw,
        "rt": raw[len(record.output):] if tail else None,
        "sd": record.stop_detail,
        "lat": round(record.latency_s, 4) if isinstance(record.latency_s, int | float) else None,
        "ref": record.reference,
        "sc": record.scorer,
        "lang": record.lang,
        "tags": list(record.tags or []),
        "fd": _findings(record.output, score),
    }
    return {k: v for k, v in entry.items() if v is not None}


def _cut_entry(entry: dict[str, Any], limit: int) -> dict[str, Any]:
    """The entry with its output cut to `limit` characters: no raw output, spans past the cut dropped."""
    output = entry["o"][:limit]
    end = _utf16(output, len(output))
    findings = []
    for f in entry["fd"]:
        spans = [[s, min(e, end), lab] for s, e, lab in f["sp"] if s <= end]
        findings.append({**f, "sp": spans})
    cut = {k: v for k, v in entry.items() if k not in ("r", "rt")}
    cut.update(o=output, fd=findings, tr=len(entry["o"]))
    return cut


def _side_line(entry: dict[str, Any]) -> list[Any]:
    # The output first, as the line's first string: the page's search looks only there.
    return [entry["o"], {k: v for k, v in entry.items() if k != "o"}]


class _Payload:
    """The index (one small row per case) and the bulk entries (prompts, outputs) for both runs."""

    def __init__(self, detectors: list[str], suites: list[str], stops: list[str]) -> None:
        self.detectors, self.suites, self.stops = detectors, suites, stops
        self.bit = {d: 1 << i for i, d in enumerate(detectors)}
        self.entries: list[Any] = []
        """Bulk entries as values: a prompt's text (or list), or a side's entry dict."""
        self.prompt_index: dict[str, int] = {}
        self.side_entries: list[int] = []

    def _prompt(self, record: GenerationRecord) -> int:
        # Samples of one probe, and base and new runs, share prompts: store each once.
        # A prompt entry is its text, or [every turn's text (what search looks in), text, turns].
        if _turns_not_in_prompt(record):
            turns = "\n".join(str(m.get("content", "")) for m in record.messages)
            value: Any = [turns, record.prompt_text, record.messages]
            key = json_line(value)
        else:
            value = key = record.prompt_text
        if key not in self.prompt_index:
            self.prompt_index[key] = len(self.entries)
            self.entries.append(value)
        return self.prompt_index[key]

    def bits(self, score: dict[str, Any] | None) -> int:
        bits = 0
        for name, on in ((score or {}).get("flags") or {}).items():
            if on is True and name in self.bit:
                bits |= self.bit[name]
        if (score or {}).get("task_correct") is False and TASK in self.bit:
            bits |= self.bit[TASK]
        return bits

    def side(self, record: GenerationRecord, score: dict[str, Any] | None,
             extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        correct = (score or {}).get("task_correct")
        prompt = self._prompt(record)
        entry = _side_entry(record, score)
        if extra:
            entry["tf"] = dict(extra)
        x = len(self.entries)
        self.entries.append(entry)
        self.side_entries.append(x)
        scores = [0.0] * len(self.detectors)
        for f in entry["fd"]:
            if f["d"] in self.bit:
                i = self.detectors.index(f["d"])
                scores[i] = max(scores[i], f["s"])
        if correct is False and TASK in self.bit:
            scores[self.detectors.index(TASK)] = 1.0
        return {
            "f": self.bits(score),
            "s": [round(s, 4) for s in scores] if any(scores) else 0,
            "st": self.stops.index(record.stop_reason),
            "t": record.n_output_tokens if _tokens_known(record) else None,
            "ch": len(record.output),
            "c": None if correct is None else bool(correct),
            "sn": _snippet(record.output),
            "x": x,
            "pe": prompt,
        }

    def line(self, i: int) -> str:
        value = self.entries[i]
        return json_line(_side_line(value) if isinstance(value, dict) else value)


def _groups(cases: list[dict[str, Any]], pairs: list[tuple[Any, Any]], detectors: list[str],
            bit: dict[str, int]) -> list[dict[str, Any]]:
    """Look-alike failures: sets case["g"] = [[detector index, group id], ...] and returns the groups."""
    items: list[tuple[int, str]] = []
    owners: list[tuple[int, int]] = []
    for ci, (case, (new, base)) in enumerate(zip(cases, pairs, strict=True)):
        for d, name in enumerate(detectors):
            b = bit[name]
            side = new if case["n"] and case["n"]["f"] & b else base if case["b"] and case["b"]["f"] & b else None
            if side is None:
                continue
            record, score = side
            if name == TASK:  # a wrong answer: the answer itself is the evidence
                text = record.output[:EVIDENCE_CHARS]
            else:
                finding = ((score or {}).get("findings") or {}).get(name) or {}
                spans = []
                for s in finding.get("spans") or []:
                    if isinstance(s, dict) and isinstance(s.get("start"), int) and isinstance(s.get("end"), int):
                        spans.append((s["start"], s["end"]))
                text = evidence_text(record.output, spans)
            items.append((d, text))
            owners.append((ci, d))
    ids = group_findings(items)
    groups: dict[int, dict[str, Any]] = {}
    for (ci, d), (_, text), g in zip(owners, items, ids, strict=True):
        if g < 0:
            continue
        cases[ci].setdefault("g", []).append([d, g])
        if g not in groups:
            groups[g] = {"d": d, "ev": " ".join(text.split())[:120], "n": 0}
        groups[g]["n"] += 1
    return [groups[g] for g in range(len(groups))]


def _healthy_sample(keys: list[Key], healthy: list[int]) -> set[int]:
    """The fixed sample of healthy cases kept whole: smallest CRC-32 of "suite/probe/sample"."""
    ranked = sorted(healthy, key=lambda i: (zlib.crc32("/".join(map(str, keys[i])).encode("utf-8")), i))
    return set(ranked[:SAMPLE_FULL])


def _ordered_detectors(runs: list[_Run]) -> list[str]:
    seen: set[str] = set()
    has_task = False
    for run in runs:
        for score in run.scores.values():
            seen.update(k for k in (score.get("flags") or {}) if isinstance(k, str))
            seen.update(k for k in (score.get("findings") or {}) if isinstance(k, str))
            has_task = has_task or isinstance(score.get("task_correct"), bool)
    known = [d for d in DETECTOR_ORDER if d in seen]
    return known + sorted(seen - set(known) - {TASK}) + ([TASK] if has_task else [])


def _rates(run: _Run, detectors: list[str], suites: list[str]) -> dict[tuple[str, str], tuple[float, int]]:
    """(metric, suite) → (value, n): detector flag rates, and old-task accuracy as task_accuracy."""
    flagged: Counter[tuple[str, str]] = Counter()
    scored: Counter[str] = Counter()
    right: Counter[str] = Counter()
    judged: Counter[str] = Counter()
    for key, score in run.scores.items():
        if key not in run.records:
            continue
        suite = key[0]
        flags = score.get("flags") or {}
        for s in (suite, "all"):
            scored[s] += 1
            for d in detectors:
                flagged[(d, s)] += flags.get(d) is True
            tc = score.get("task_correct")
            if isinstance(tc, bool):
                judged[s] += 1
                right[s] += tc
    out: dict[tuple[str, str], tuple[float, int]] = {}
    for s in ["all", *suites]:
        if scored[s]:
            for d in detectors:
                if d != TASK:
                    out[(d, s)] = (flagged[(d, s)] / scored[s], scored[s])
        if judged[s]:
            out[("task_accuracy", s)] = (right[s] / judged[s], judged[s])
    return out


def _rate_rows(new: _Run, base: _Run | None, comparison: dict[str, Any] | None,
               detectors: list[str], suites: list[str]) -> list[dict[str, Any]]:
    """One row per metric and suite; comparison.json's figures (paired, with intervals) win."""
    new_rates = _rates(new, detectors, suites)
    base_rates = _rates(base, detectors, suites) if base else {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for key in sorted(new_rates.keys() | base_rates.keys(), key=lambda k: (k[1] != "all", k)):
        b, n = base_rates.get(key), new_rates.get(key)
        rows[key] = {
            "name": key[0],
            "kind": "task" if key[0] == "task_accuracy" else "detector",
            "suite": key[1],
            "base": b[0] if b else None,
            "new": n[0] if n else None,
            "delta": n[0] - b[0] if b and n else None,
            "n": n[1] if n else (b[1] if b else 0),
            "src": "runs",
        }
    for m in (comparison or {}).get("metrics") or []:
        if isinstance(m, dict) and "name" in m and "suite" in m:
            rows[(str(m["name"]), str(m["suite"]))] = {**m, "src": "comparison"}
    return list(rows.values())


def _stop_mix(run: _Run) -> dict[str, int]:
    return dict(Counter(r.stop_reason for r in run.records.values()))


def _lengths(new: _Run, base: _Run | None) -> dict[str, Any]:
    """A shared-bin histogram of n_output_tokens, topped at max_new_tokens when known; of characters
    when a run was imported without token counts."""
    runs = {"new": new, **({"base": base} if base else {})}
    tokens = all(any(_tokens_known(r) for r in run.records.values()) or not run.records for run in runs.values())
    values = {side: [r.n_output_tokens if tokens else len(r.output) for r in run.records.values()]
              for side, run in runs.items()}
    top = max((max(v) for v in values.values() if v), default=0)
    limit = (new.run.get("settings") or {}).get("max_new_tokens") if tokens else None
    if isinstance(limit, int) and limit >= top:
        top = limit
    top = max(top, 1)
    width = max(1, math.ceil((top + 1) / HIST_BINS))
    edges = [i * width for i in range(HIST_BINS + 1)]
    hist = {}
    for side, vals in values.items():
        counts = [0] * HIST_BINS
        for v in vals:
            counts[min(HIST_BINS - 1, max(0, v) // width)] += 1
        hist[side] = counts
    summary = {side: _summary(vals) for side, vals in values.items()}
    return {"edges": edges, "counts": hist, "summary": summary, "limit": limit,
            "unit": "tokens" if tokens else "characters"}


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)])

    return {"mean": sum(ordered) / len(ordered), "median": pct(0.5), "p90": pct(0.9), "max": ordered[-1]}




def _read(run_dir: Path, baseline_dir: Path | None,
          warnings: list[str]) -> tuple[_Run, _Run | None, Path | None, dict[str, Any] | None]:
    """The runs and comparison.json as read from disk (the only part of the build that reads files)."""
    new = _Run(run_dir, warnings)
    comparison = None
    comparison_path = run_dir / "comparison.json"
    if comparison_path.is_file():
        try:
            comparison = json.loads(comparison_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            warnings.append(f"{comparison_path}: unreadable ({exc}); showing the runs without it")
    if baseline_dir is None and isinstance(comparison, dict):
        # The comparison names its base run: show it side by side when that folder is still there.
        named = (comparison.get("base") or {}).get("path")
        if isinstance(named, str) and named and (Path(named) / "run.json").is_file():
            baseline_dir = Path(named)
    base = _Run(baseline_dir, warnings) if baseline_dir else None
    return new, base, baseline_dir, comparison if isinstance(comparison, dict) else None


def _payload(run_dir: Path, baseline_dir: Path | None, max_bytes: int,
             doctor: Sequence[Mapping[str, Any]] | None = None,
             teacher_forced: Mapping[str, Mapping[str, Any]] | None = None,
             ) -> tuple[dict[str, Any], str, Encoded]:
    warnings: list[str] = []
    new, base, baseline_dir, comparison = _read(run_dir, baseline_dir, warnings)
    runs = [r for r in (base, new) if r]
    detectors = _ordered_detectors(runs)
    keys = sorted({k for r in runs for k in r.records})
    suites = sorted({k[0] for k in keys})
    stops = list(STOP_REASONS) + sorted({r.stop_reason for run in runs for r in run.records.values()}
                                        - set(STOP_REASONS))
    payload = _Payload(detectors, suites, stops)
    suite_index = {s: i for i, s in enumerate(suites)}
    # Healthy cases (no flag, no wrong answer in either run) outside the fixed sample may be cut: their
    # entries go after all others, so the texts kept whole and the cuttable ones compress apart.
    healthy = [i for i, key in enumerate(keys) if not any(
        payload.bits(run.scores.get(key)) for run in runs if key in run.records)]
    sample = _healthy_sample(keys, healthy) if max_bytes > 0 else set()
    cuttable = set(healthy) - sample if max_bytes > 0 else set()
    cases: list[dict[str, Any]] = [{} for _ in keys]
    pairs: list[tuple[Any, Any]] = [(None, None) for _ in keys]
    boundary = 0
    for i in [i for i in range(len(keys)) if i not in cuttable] + sorted(cuttable):
        if i in cuttable and not boundary:
            boundary = len(payload.entries)
        key = keys[i]
        sides, pair = [], []
        extra = (teacher_forced or {}).get(f"{key[0]}/{key[1]}/{key[2]}")
        for run in (new, base):
            record = run.records.get(key) if run else None
            score = run.scores.get(key) if run and record else None
            sides.append(payload.side(record, score, extra) if run and record else None)
            pair.append((record, score) if run and record else None)
            if run and record:
                extra = None  # the case's teacher-forced figures go with its first side only
        cases[i] = {"su": suite_index[key[0]], "p": key[1], "sm": key[2], "n": sides[0], "b": sides[1]}
        pairs[i] = (pair[0], pair[1])
    if not cuttable:
        boundary = len(payload.entries)
    groups = _groups(cases, pairs, detectors, payload.bit)
    for case in cases:
        # The list shows bad cases first; a healthy row reads its snippet from the bulk when shown.
        if not ((case["n"] or {}).get("f") or (case["b"] or {}).get("f")):
            for row in (case["n"], case["b"]):
                if row:
                    del row["sn"]
    if comparison:
        warnings.extend(str(w) for w in comparison.get("warnings") or [])
        # The flip lists and the runs' metadata are already in the page in another form.
        comparison = {k: v for k, v in comparison.items() if k not in ("flips", "base", "new")}
    title = f"evalgen · {new.name}" + (f" vs {base.name}" if base else "")
    data: dict[str, Any] = {
        "title": title,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "new": {"name": new.name, "path": str(run_dir), "run": new.run, "n": len(new.records)},
        "base": {"name": base.name, "path": str(baseline_dir), "run": base.run, "n": len(base.records)}
        if base else None,
        "comparison": comparison,
        "detectors": detectors,
        "suites": suites,
        "stops": stops,
        "rates": _rate_rows(new, base, comparison, detectors, suites),
        "stop_mix": {"new": _stop_mix(new), **({"base": _stop_mix(base)} if base else {})},
        "lengths": _lengths(new, base),
        "warnings": warnings,
        "doctor": [dict(d) for d in doctor or []],
        "n_cases": len(cases),
        "truncation": None,
    }
    index = pack_index(_columns(cases, groups))
    encoded = _fit(data, index, payload, boundary, max_bytes)
    if data["truncation"]:
        data["truncation"].update(n_healthy=len(healthy), n_sample=len(sample), sample=SAMPLE_FULL)
    return data, index, encoded


SIDE_FIELDS = ("f", "s", "st", "t", "ch", "c", "x", "pe")


def _columns(cases: list[dict[str, Any]], groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The index as columns (one array per field, parsed far faster than an object per case): per
    case su, p, sm; per side (`n`, `b`) a present flag and SIDE_FIELDS; snippets and look-alike
    groups sparse, by case number."""
    out: dict[str, Any] = {"su": [c["su"] for c in cases], "p": [c["p"] for c in cases],
                           "sm": [c["sm"] for c in cases], "groups": groups,
                           "g": [[i, d, g] for i, c in enumerate(cases) for d, g in c.get("g", ())]}
    for side in ("n", "b"):
        rows = [c[side] for c in cases]
        if not any(rows):
            out[side] = None
            continue
        col: dict[str, Any] = {"has": [1 if r else 0 for r in rows]}
        for f in SIDE_FIELDS:
            col[f] = [r[f] if r else 0 for r in rows]
        col["sn"] = {str(i): r["sn"] for i, r in enumerate(rows) if r and "sn" in r}
        out[side] = col
    return out


def _text(value: Any) -> str:
    """The text of a bulk entry that the size rule may cut: a side's output, a prompt's text."""
    return str(value["o"] if isinstance(value, dict) else value if isinstance(value, str) else value[0])


def _cut_prompt(value: Any, limit: int) -> Any:
    """A prompt entry cut to `limit` characters: [text, None, None, whole length]."""
    text = value if isinstance(value, str) else value[0]
    return value if len(text) <= limit else [text[:limit], None, None, len(text)]


def _fit(data: dict[str, Any], index: str, payload: _Payload, boundary: int, max_bytes: int) -> Encoded:
    """Every entry serialized once and compressed. Entries from `boundary` on belong to cuttable
    (healthy, unsampled) cases: when the page would exceed `max_bytes`, their outputs and prompts are
    cut to the most characters that fit. Sizes are measured, not guessed: the entries kept whole are
    compressed first, then the cuttable ones at an estimated limit, and once more at a corrected one
    if that missed. The rule goes into `data["truncation"]`."""
    whole = Bulk([payload.line(i) for i in range(boundary)]).encode()
    n = len(payload.entries)
    if boundary == n:
        return whole
    order = range(boundary, n)

    def cut_line(x: int, limit: int | None) -> str:
        value = payload.entries[x]
        if limit is not None and isinstance(value, dict) and len(value["o"]) > limit:
            return json_line(_side_line(_cut_entry(value, limit)))
        if limit is not None and not isinstance(value, dict):
            return json_line(_cut_prompt(value, limit))
        return payload.line(x)

    def attempt(limit: int | None) -> Encoded:
        part = Bulk([cut_line(x, limit) for x in order]).encode()
        return Encoded(whole.chunks + part.chunks, whole.starts + [boundary + s for s in part.starts],
                       whole.raw_bytes + part.raw_bytes)

    fixed = page_overhead() + len(embed_json(data)) + 200 + len(index) + whole.size
    probe = order[:: max(1, len(order) // 2000)]
    # Bytes of an entry besides its text (findings, figures), from a sample.
    rest = sum(len(payload.line(x).encode("utf-8")) - len(_text(payload.entries[x]).encode("utf-8", "surrogatepass"))
               for x in probe) / len(probe)
    lengths = []
    for x in order:
        text = _text(payload.entries[x])
        out = len(text.encode("utf-8", "surrogatepass"))
        lengths.append((int(rest) + out, out, len(text)))
    ratio = whole.size / whole.raw_bytes if whole.raw_bytes else 0.5
    limit = truncation_limit(fixed, max_bytes, ratio, lengths, MIN_KEPT_CHARS)
    encoded = attempt(limit)
    if limit is not None and limit > MIN_KEPT_CHARS and not 0.95 * max_bytes <= fixed + encoded.size - whole.size \
            <= max_bytes:
        # The cut texts compressed differently from the whole ones: fit again with their measured
        # ratio (page bytes per modelled raw byte at that limit), leaving a little room.
        modelled = sum(line - out + (out if chars <= limit else out * limit / max(1, chars))
                       for line, out, chars in lengths)
        ratio = (encoded.size - whole.size) / max(1.0, modelled)
        limit = truncation_limit(fixed, int(max_bytes * 0.98), ratio, lengths, MIN_KEPT_CHARS)
        encoded = attempt(limit)
    n_cut = sum(1 for x in order if limit is not None and isinstance(payload.entries[x], dict)
                and len(payload.entries[x]["o"]) > limit)
    if n_cut:
        data["truncation"] = {"max_mb": round(max_bytes / 1e6, 1), "limit": limit, "n_cut": n_cut}
    return encoded


def build_report(run_dir: str | Path, baseline_dir: str | Path | None = None,
                 out_path: str | Path | None = None, *, max_size_mb: float = DEFAULT_MAX_SIZE_MB,
                 doctor: Sequence[Mapping[str, Any]] | None = None,
                 teacher_forced: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write the HTML report of `run_dir` (compared with `baseline_dir` if given) and return its path.

    Reads run.json, generations.jsonl, scores.jsonl and comparison.json (when present) only; the
    default output is `run_dir/report.html`. Without `baseline_dir`, the base run named in
    comparison.json is used if its folder still exists. Above `max_size_mb` (0: no limit), healthy
    outputs are cut (bad, flipped and a fixed sample of healthy cases stay whole; the page says so).
    `doctor` (findings: code, severity, message, fix, evidence) is shown beside the gates;
    `teacher_forced` maps "suite/probe_id/sample" to figures shown in that case. Raises
    RunFolderError for a missing or corrupt file.
    """
    run_dir = Path(run_dir)
    data, index, encoded = _payload(run_dir, Path(baseline_dir) if baseline_dir else None,
                                    int(max_size_mb * 1e6), doctor, teacher_forced)
    out = Path(out_path) if out_path else run_dir / REPORT_NAME
    data["chunks"] = encoded.starts
    try:
        render_page(out, data, index, encoded)
    except OSError as exc:
        raise RunFolderError(f"{out}: cannot write the report ({exc})") from exc
    return out
