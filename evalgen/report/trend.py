"""The trend report: one self-contained page (`trend.html`) of every metric over the steps of a
training run (or over SFT rounds), with 95% intervals, the base value and the gate threshold drawn,
and the training curves of trainer_state.json on the same step axis. A click on a point opens that
step's case report. Same rules as the case report: no network, inline script and style pinned by
CSP hashes, data embedded as inert JSON.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgen.errors import RunFolderError
from evalgen.report.encode import _asset, embed_json, inline_assets

if TYPE_CHECKING:
    from evalgen.history import History

__all__ = ["build_trend_report", "trend_data"]

FIXED_METRICS = (
    ("task_accuracy", "task accuracy", "acc", "old-task answers judged right", ("task_accuracy",)),
    ("stop_prob", "stop probability", "prob", "teacher-forced P(end of turn) after the reference", ("stop_prob",)),
    ("mean_output_tokens", "mean output tokens", "tokens", "generated tokens per record", ("length",)),
)
"""(key, title, kind, subtitle, the gates whose failure marks this chart's point red)."""


def _link(target: Path | None, page: Path) -> str | None:
    if target is None:
        return None
    try:
        rel = os.path.relpath(target.resolve(), page.resolve().parent)
    except ValueError:  # another drive (Windows)
        return target.resolve().as_uri()
    return Path(rel).as_posix()


def trend_data(history: History, page: Path) -> dict[str, Any]:
    """The page's data: the history's JSON plus chart specs and links relative to the page."""
    data = history.to_dict()
    base = history.base
    steps = data["steps"]
    for point, entry in zip(history.steps, steps, strict=True):
        entry["href"] = _link(point.report, page)
    metrics: list[dict[str, Any]] = []
    for name in history.detectors():
        gates = [name, "identity_suite"] if name == "identity_leak" else [name]
        metrics.append({"key": name, "label": name, "kind": "rate", "sub": "share of records flagged",
                        "base": base.rates.get(name), "gate": history.thresholds.get(name), "gates": gates})
    for key, label, kind, sub, gate_names in FIXED_METRICS:
        if all(entry[key] is None for entry in steps):
            continue
        metrics.append({"key": key, "label": label, "kind": kind, "sub": sub, "gates": list(gate_names),
                        "base": getattr(base, key), "gate": history.thresholds.get(key)})
    names = [p.label for p in history.steps]
    title = f"evalgen trend: {history.steps[0].run.parent.name if history.steps else ''}"
    if len({p.run.parent for p in history.steps}) > 1:
        title = "evalgen trend: " + " → ".join(names[:3]) + (" …" if len(names) > 3 else "")
    base_label = "the first step" if history.base_is_step else f"the baseline run {base.run.name}"
    return {**data, "metrics": metrics, "title": title, "base_label": base_label}


def build_trend_report(history: History, out_path: str | Path) -> Path:
    """Write the trend page for `history` to `out_path` and return the path."""
    out = Path(out_path)
    js, css, csp = inline_assets("trend")
    data = trend_data(history, out)
    fill = {"CSP": csp, "TITLE": html.escape(data["title"]), "CSS": css, "JS": js, "DATA": embed_json(data)}
    page = re.sub(r"@@(CSP|TITLE|CSS|JS|DATA)@@", lambda m: fill[m.group(1)], _asset("trend.html"))
    try:
        out.write_text(page, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise RunFolderError(f"{out}: cannot write the trend report ({exc})") from exc
    return out
