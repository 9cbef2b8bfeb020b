"""Plain-text output of `evalgen doctor` (the JSON is `findings.findings_json`)."""

from __future__ import annotations

import json

from evalgen.doctor.core import Diagnosis

__all__ = ["format_text"]

_LABEL = {"error": "ERROR", "warning": "WARN ", "info": "info "}


def _value(v: object) -> str:
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 160 else text[:157] + "..."


def format_text(d: Diagnosis) -> str:
    """Findings most severe first: code, file, message, fix and evidence; then the counts and notes."""
    out = [f"evalgen doctor: {', '.join(d.checked) or 'nothing to check'}"]
    for f in d.findings:
        out += ["", f"{_LABEL[f.severity]} {f.code}  {f.path}", f"  {f.message}", f"  fix: {f.fix}"]
        out += [f"  {k}: {_value(v)}" for k, v in f.evidence.items()]
    counts = {s: sum(f.severity == s for f in d.findings) for s in ("error", "warning", "info")}
    out += ["", f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"]
    out += [f"note: {n}" for n in d.notes]
    return "\n".join(out) + "\n"
