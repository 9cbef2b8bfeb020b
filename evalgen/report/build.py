"""Build `report.html` from run folder files only (no model, no other evalgen stage).

The page embeds two JSON blocks: `data`, the small index the case list and the overview need
(parsed on load), and `texts`, the prompts, outputs and findings (parsed when a case is first
opened or searched), so a 20k-record comparison renders its list before the bulk is parsed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from evalgen.errors import RunFolderError
from evalgen.records import STOP_REASONS, GenerationRecord, record_key
from evalgen.runfolder import iter_jsonl

__all__ = ["REPORT_NAME", "build_report"]

REPORT_NAME = "report.html"

# Report order of the detectors (the order compare.py reports them in); unknown ones follow sorted.
DETECTOR_ORDER = ("repetition", "truncation", "missing_eos", "identity_leak", "language_drift")
TASK = "task"
"""Pseudo-detector for old-task answers scored wrong (task_correct false), filterable like the rest."""

SNIPPET_CHARS = 96  # the list row shows ~60 characters; the rest is in the case view
HIST_BINS = 24

Key = tuple[str, str, int]


# --- reading --------------------------------------------------------------------------------------


class _Run:
    """One run folder as the report needs it: run.json, records and score lines by key."""

    def __init__(self, folder: Path, warnings: list[str]) -> None:
        self.path = folder
        run_json = folder / "run.json"
        if not run_json.is_file():
            raise RunFolderError(f"{run_json}: not found; is {folder} a run folder written by `evalgen run`?")
        try:
            self.run: dict[str, Any] = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RunFolderError(f"{run_json}: not valid JSON ({exc})") from exc
        gen_path = folder / "generations.jsonl"
        if not gen_path.is_file():
            raise RunFolderError(f"{gen_path}: not found; the run never generated; re-run `evalgen run`")
        self.records: dict[Key, GenerationRecord] = {}
        for i, obj in iter_jsonl(gen_path, warnings):
            try:
                record = GenerationRecord.from_dict(obj)
            except (TypeError, ValueError) as exc:
                raise RunFolderError(f"{gen_path}:{i}: {exc}; re-run `evalgen run` or delete that line") from exc
            self.records[record.key] = record  # a resumed run may repeat a key: the last write wins
        self.scores: dict[Key, dict[str, Any]] = {}
        scores_path = folder / "scores.jsonl"
        if scores_path.is_file():
            for i, obj in iter_jsonl(scores_path, warnings):
                probe_id, suite, sample = obj.get("id"), obj.get("suite"), obj.get("sample")
                if not (isinstance(probe_id, str) and isinstance(suite, str) and isinstance(sample, int)):
                    raise RunFolderError(f"{scores_path}:{i}: expected id, suite and sample; re-run `evalgen score`")
                self.scores[record_key(suite, probe_id, sample)] = obj
        else:
            warnings.append(f"{scores_path}: not found; no detector results (run `evalgen score {folder}`)")

    @property
    def name(self) -> str:
        return str(self.run.get("name") or self.path.name)


# --- page data ------------------------------------------------------------------------------------


def _utf16(text: str, index: int) -> int:
    """A Python (code point) offset as a JavaScript (UTF-16 code unit) offset."""
    index = max(0, min(index, len(text)))
    prefix = text[:index]
    return index + sum(1 for ch in prefix if ord(ch) > 0xFFFF)


def _is_astral_free(text: str) -> bool:
    return not text or max(text) <= "\uffff"


def _findings(record: GenerationRecord, score: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Findings worth showing (flagged, or with a score or evidence), spans in UTF-16 offsets."""
    out = []
    plain = _is_astral_free(record.output)
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
            start, end = sorted((max(0, min(start, len(record.output))), max(0, min(end, len(record.output)))))
            if not plain:
                start, end = _utf16(record.output, start), _utf16(record.output, end)
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
    return " ".join(text[: SNIPPET_CHARS * 2].split())[:SNIPPET_CHARS]


class _Payload:
    """Accumulates the index (`data`) and the bulk (`texts`) for both runs."""

    def __init__(self, detectors: list[str], suites: list[str], stops: list[str]) -> None:
        self.detectors, self.suites, self.stops = detectors, suites, stops
        self.bit = {d: 1 << i for i, d in enumerate(detectors)}
        self.prompts: list[str] = []
        self.prompt_index: dict[str, int] = {}
        self.sides: list[dict[str, Any]] = []

    def _prompt(self, text: str) -> int:
        # Samples of one probe, and base and new runs, share prompts: store each text once.
        if text not in self.prompt_index:
            self.prompt_index[text] = len(self.prompts)
            self.prompts.append(text)
        return self.prompt_index[text]

    def side(self, record: GenerationRecord, score: dict[str, Any] | None) -> dict[str, Any]:
        flags = (score or {}).get("flags") or {}
        bits = 0
        for name, on in flags.items():
            if on is True and name in self.bit:
                bits |= self.bit[name]
        correct = (score or {}).get("task_correct")
        if correct is False and TASK in self.bit:
            bits |= self.bit[TASK]
        findings = _findings(record, score)
        raw = record.output_raw or ""
        scores = [0.0] * len(self.detectors)
        for f in findings:
            if f["d"] in self.bit:
                i = self.detectors.index(f["d"])
                scores[i] = max(scores[i], f["s"])
        if correct is False and TASK in self.bit:
            scores[self.detectors.index(TASK)] = 1.0
        self.sides.append({
            "p": self._prompt(record.prompt_text),
            "o": record.output,
            # Raw output is usually the output plus its end token: store just that tail.
            "r": None if raw == record.output or raw.startswith(record.output) else raw,
            "rt": raw[len(record.output):] if raw != record.output and raw.startswith(record.output) else None,
            "sd": record.stop_detail,
            "lat": round(record.latency_s, 4) if isinstance(record.latency_s, int | float) else None,
            "ref": record.reference,
            "sc": record.scorer,
            "lang": record.lang,
            "tags": list(record.tags or []),
            "fd": findings,
        })
        return {
            "f": bits,
            "s": [round(s, 4) for s in scores] if any(scores) else 0,
            "st": self.stops.index(record.stop_reason),
            "t": record.n_output_tokens,
            "c": None if correct is None else bool(correct),
            "sn": _snippet(record.output),
            "x": len(self.sides) - 1,
        }


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
    """A shared-bin histogram of n_output_tokens, topped at max_new_tokens when known."""
    values = {"new": [r.n_output_tokens for r in new.records.values()]}
    if base:
        values["base"] = [r.n_output_tokens for r in base.records.values()]
    top = max((max(v) for v in values.values() if v), default=0)
    limit = (new.run.get("settings") or {}).get("max_new_tokens")
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
    return {"edges": edges, "counts": hist, "summary": summary, "limit": limit}


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)])

    return {"mean": sum(ordered) / len(ordered), "median": pct(0.5), "p90": pct(0.9), "max": ordered[-1]}


def _payload(run_dir: Path, baseline_dir: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    warnings: list[str] = []
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
    runs = [r for r in (base, new) if r]
    detectors = _ordered_detectors(runs)
    keys = sorted({k for r in runs for k in r.records})
    suites = sorted({k[0] for k in keys})
    stops = list(STOP_REASONS) + sorted({r.stop_reason for run in runs for r in run.records.values()}
                                        - set(STOP_REASONS))
    payload = _Payload(detectors, suites, stops)
    suite_index = {s: i for i, s in enumerate(suites)}
    cases = []
    for key in keys:
        sides = []
        for run in (new, base):
            record = run.records.get(key) if run else None
            sides.append(payload.side(record, run.scores.get(key)) if run and record else None)
        cases.append({"k": f"{key[0]}/{key[1]}/{key[2]}", "su": suite_index[key[0]], "p": key[1], "sm": key[2],
                      "n": sides[0], "b": sides[1]})
    if comparison:
        warnings.extend(str(w) for w in comparison.get("warnings") or [])
        # The flip lists and the runs' metadata are already in the page in another form.
        comparison = {k: v for k, v in comparison.items() if k not in ("flips", "base", "new")}
    title = f"evalgen · {new.name}" + (f" vs {base.name}" if base else "")
    data = {
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
        "cases": cases,
    }
    return data, {"prompts": payload.prompts, "sides": payload.sides}


# --- the page -------------------------------------------------------------------------------------

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_CLOSES_ELEMENT = re.compile(r"</(script|style)|<!--", re.IGNORECASE)


def _embed_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` (so no `</script>` or `<!--`), no
    U+2028/2029, and lone surrogates escaped so the file stays valid UTF-8 and JS offsets stay exact."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _asset(name: str) -> str:
    return resources.files("evalgen.report").joinpath(name).read_text(encoding="utf-8")


def render_html(data: dict[str, Any], texts: dict[str, Any]) -> str:
    js, css = _asset("report.js"), _asset("report.css")
    if _CLOSES_ELEMENT.search(js + css):  # an inlined asset must not end its own element early
        raise RuntimeError("report.js/report.css must not contain '</script', '</style' or '<!--'")
    # Only the exact inline script and style run: the hashes pin them, everything else is refused.
    csp = "; ".join([
        "default-src 'none'",
        f"script-src {_csp_hash(js)}",
        f"style-src {_csp_hash(css)}",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    ])
    fill = {"CSP": csp, "TITLE": html.escape(data["title"]), "CSS": css, "JS": js,
            "DATA": _embed_json(data), "TEXTS": _embed_json(texts)}
    # One pass, so a placeholder-like string inside the data is never substituted again.
    return re.sub(r"@@(CSP|TITLE|CSS|JS|DATA|TEXTS)@@", lambda m: fill[m.group(1)], _asset("report.html"))


def build_report(run_dir: str | Path, baseline_dir: str | Path | None = None,
                 out_path: str | Path | None = None) -> Path:
    """Write the HTML report of `run_dir` (compared with `baseline_dir` if given) and return its path.

    Reads run.json, generations.jsonl, scores.jsonl and comparison.json (when present) only; the
    default output is `run_dir/report.html`. Without `baseline_dir`, the base run named in
    comparison.json is used if its folder still exists. Raises RunFolderError for a missing or
    corrupt file.
    """
    run_dir = Path(run_dir)
    data, texts = _payload(run_dir, Path(baseline_dir) if baseline_dir else None)
    out = Path(out_path) if out_path else run_dir / REPORT_NAME
    try:
        out.write_text(render_html(data, texts), encoding="utf-8")
    except OSError as exc:
        raise RunFolderError(f"{out}: cannot write the report ({exc})") from exc
    return out
