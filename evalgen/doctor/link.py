"""Link doctor findings to the verdict: which findings explain a detector that got worse.

`regressed_detectors` reads a comparison (the object or comparison.json's dict); `explain` pairs
each regressed detector with the warning/error findings whose code lists it, with a short headline
("EOS masked out of the labels"). `run_findings` gets the findings for a run folder: its doctor.json
(written by `evalgen run`, or by `evalgen doctor ... --json RUN/doctor.json`), else the checkpoint
checks of the checkpoint its run.json names, when that folder is still here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgen.doctor.findings import DoctorFinding

__all__ = ["DOCTOR_FILE", "Explanation", "explain", "regressed_detectors", "report_findings", "run_findings"]

DOCTOR_FILE = "doctor.json"
"""The findings file in a run folder."""

HEADLINES: dict[tuple[str, str], str] = {
    ("pad_is_eos", "missing_eos"): "EOS masked out of the labels",
    ("pad_is_eos", "repetition"): "EOS masked out of the labels",
    ("eos_not_in_template", "missing_eos"): "the chat template never ends a turn with EOS",
    ("eos_not_in_template", "repetition"): "the chat template never ends a turn with EOS",
    ("data_missing_eos", "missing_eos"): "SFT targets carry no EOS",
    ("data_missing_eos", "repetition"): "SFT targets carry no EOS",
    ("data_cut_without_eos", "missing_eos"): "long SFT examples cut before their EOS",
    ("data_cut_without_eos", "truncation"): "long SFT examples cut before their EOS",
    ("eos_mismatch", "missing_eos"): "generation does not stop on the end-of-turn token",
    ("eos_mismatch", "repetition"): "generation does not stop on the end-of-turn token",
    ("special_token_missing", "missing_eos"): "the end-of-turn marker is not one token",
    ("data_identity", "identity_leak"): "other assistants' identities in the SFT data",
    ("data_language_mix", "language_drift"): "the SFT data's language mix",
    ("data_loops", "repetition"): "looping targets in the SFT data",
    ("no_chat_template", "repetition"): "prompt format guessed (no chat template)",
    ("nan_weights", "degenerate"): "NaN weights",
    ("loss_nan", "degenerate"): "the training loss went NaN",
}


@dataclass(frozen=True)
class Explanation:
    """A detector that got worse and a finding that can explain it."""

    detector: str
    headline: str
    finding: DoctorFinding

    def to_dict(self) -> dict[str, Any]:
        """The finding's JSON with `detectors` narrowed to this one and the headline before the message."""
        d = self.finding.to_dict()
        d["detectors"] = [self.detector]
        d["message"] = f"Explains {self.detector} ↑ ({self.headline}). {self.finding.message}"
        return d


def _metrics(comparison: Any) -> list[Mapping[str, Any]]:
    if isinstance(comparison, Mapping):
        return list(comparison.get("metrics") or [])
    return [m.to_dict() for m in comparison.metrics]


def regressed_detectors(comparison: Any) -> list[str]:
    """Detectors whose flag rate over all suites rose with its 95% interval above 0 (or p < 0.05)."""
    out = []
    for m in _metrics(comparison):
        if m.get("kind") != "detector" or m.get("suite") != "all" or not (m.get("delta") or 0) > 0:
            continue
        low, p = m.get("ci_low"), m.get("p_value")
        if (isinstance(low, int | float) and low > 0) or (isinstance(p, int | float) and p < 0.05):
            out.append(str(m["name"]))
    return out


def explain(detectors: Iterable[str], findings: Iterable[DoctorFinding]) -> list[Explanation]:
    """For each regressed detector, the warning/error findings that can explain it (errors first)."""
    ranked = sorted((f for f in findings if f.severity != "info"), key=lambda f: f.severity != "error")
    out = []
    for det in detectors:
        for f in ranked:
            if det in f.detectors:
                out.append(Explanation(det, HEADLINES.get((f.code, det), f.code.replace("_", " ")), f))
    return out


def run_findings(run_dir: str | Path) -> list[DoctorFinding]:
    """The doctor findings for a run folder (see the module docstring); [] when there are none to get.
    When doctor.json holds checkpoint findings only (as `evalgen run` writes it) and the checkpoint's
    trainer_state.json is here, its training checks are added."""
    from evalgen.doctor.findings import CODES

    folder = Path(run_dir)
    path = folder / DOCTOR_FILE
    found: list[DoctorFinding] | None = None
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found = [DoctorFinding.from_dict(d) for d in data.get("findings", [])]
        except (json.JSONDecodeError, OSError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
            found = []
        if any(CODES[f.code].area != "checkpoint" for f in found if f.code in CODES):
            return found
    try:
        meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        ckpt = Path((meta.get("checkpoint") or {}).get("path") or "")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError):
        return found or []
    if not str(ckpt) or not ckpt.is_dir():
        return found or []
    from evalgen.doctor.core import diagnose, resolve_target
    from evalgen.doctor.training import check_training
    from evalgen.errors import EvalgenError

    try:
        if found is None:
            return diagnose(ckpt).findings
        state = resolve_target(ckpt).trainer_state
        return found + (check_training(state) if state is not None else [])
    except EvalgenError:
        return found or []


def report_findings(run_dir: str | Path, comparison: Any = None) -> list[dict[str, Any]]:
    """What the report's Doctor section shows for a run: the explanations of its regressions first,
    then the other warnings and errors."""
    findings = run_findings(run_dir)
    if comparison is None:
        path = Path(run_dir) / "comparison.json"
        if path.is_file():
            try:
                comparison = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                comparison = None
    explained = explain(regressed_detectors(comparison), findings) if comparison is not None else []
    used = {id(e.finding) for e in explained}
    rest = [f.to_dict() for f in findings if f.severity != "info" and id(f) not in used]
    return [e.to_dict() for e in explained] + rest


def format_explanations(explanations: Sequence[Explanation], markdown: bool = False) -> str:
    """The "why" section of `evalgen compare`'s output ('' when nothing is explained)."""
    if not explanations:
        return ""
    if markdown:
        from evalgen.compare_output import _md_cell

        lines = ["", "**Why (evalgen doctor)**", ""]
        lines += [f"- `{e.detector}` ↑: **{_md_cell(e.headline)}**: `{e.finding.code}` in `{_md_cell(e.finding.path)}`"
                  f". Fix: {_md_cell(e.finding.fix)}" for e in explanations]
        return "\n".join(lines) + "\n"
    lines = ["", "Why (evalgen doctor):"]
    for e in explanations:
        lines.append(f"  {e.detector} ↑: {e.headline} [{e.finding.severity} {e.finding.code}] {e.finding.path}")
        lines.append(f"      fix: {e.finding.fix}")
    return "\n".join(lines) + "\n"
