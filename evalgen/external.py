"""`evalgen score`: turn generations made elsewhere into a scored run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalgen.evaluate import score_into
from evalgen.records import GenerationRecord
from evalgen.runfolder import RunFolder, now_iso
from evalgen.runner import count, versions
from evalgen.scoring import ScoreLine, records_from_external
from evalgen.templates import EOS, get_template

__all__ = ["score_external"]


def score_external(
    path: str | Path,
    out: str | Path,
    template: str | None = None,
    identity: str | None = None,
    identity_org: str | None = None,
    config: dict[str, Any] | None = None,
) -> tuple[list[GenerationRecord], list[ScoreLine]]:
    """Write `out/` with generations.jsonl, scores.jsonl and run.json for an outside JSONL file."""
    records = records_from_external(path)
    folder = RunFolder(out)
    folder.rewrite(records)
    described: dict[str, Any] = {"name": None, "turn_markers": [], "end_tokens": []}
    if template:
        named = get_template(template)
        # No tokenizer here: the template's own end tokens, and the common ones via the detector.
        described = {
            "name": named.name,
            "turn_markers": list(named.turn_markers),
            "end_tokens": [t for t in named.end_tokens if t != EOS],
        }
    suites: dict[str, dict[str, Any]] = {}
    for record in records:
        suites.setdefault(record.suite, {"path": str(path), "n_probes": 0})["n_probes"] += 1
    meta: dict[str, Any] = {
        "name": Path(out).name,
        "status": "complete",
        "checkpoint": {"path": None, "hash": None, "adapter": False, "base": None},
        "backend": "external",
        "source": str(Path(path).resolve()),
        "template": described,
        "settings": {},
        "suites": suites,
        "identity": {"name": identity, "org": identity_org},
        "versions": versions(),
        "timings": {"started": now_iso()},
    }
    scores = score_into(Path(out), records, meta, config or {})
    meta["counts"] = count(records)
    meta["timings"]["finished"] = now_iso()
    folder.write_meta(meta)
    return records, scores
