"""Score a finished set of generations into a run folder: detectors, task scorers, `scores.jsonl`.

Shared by `evalgen run` (after generating) and `evalgen score` (generations made elsewhere), so both
write the same file from the same settings recorded in `run.json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalgen.detectors import DetectorConfig, DetectorContext
from evalgen.records import GenerationRecord
from evalgen.scorers import score_task, scorer_options
from evalgen.scoring import ScoreLine, score_records, write_scores

__all__ = ["SCORES_FILE", "detector_context", "score_into"]

SCORES_FILE = "scores.jsonl"


def detector_context(meta: dict[str, Any], config: dict[str, Any]) -> DetectorContext:
    """The detectors' view of a run: its template's markers, the configured identity, thresholds."""
    template = meta.get("template") or {}
    identity = meta.get("identity") or {}
    return DetectorContext(
        turn_markers=tuple(template.get("turn_markers", ())),
        end_tokens=tuple(template.get("end_tokens", ())),
        identity=identity.get("name"),
        identity_org=identity.get("org"),
        config=DetectorConfig.from_mapping(config),
    )


def score_into(
    folder: Path, records: Sequence[GenerationRecord], meta: dict[str, Any], config: dict[str, Any]
) -> list[ScoreLine]:
    """Run every detector and the task scorers; write `folder/scores.jsonl`; return the lines."""
    lines = score_records(records, detector_context(meta, config))
    options = scorer_options(config.get("scorers"))
    for record, line in zip(records, lines, strict=True):
        task = score_task(record, options)
        line.extra["task_correct"] = None if task is None else not task.flagged
        if task is not None:
            line.extra["task"] = task.to_dict()
    write_scores(folder / SCORES_FILE, lines)
    return lines
