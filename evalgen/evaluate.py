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
from evalgen.score_stream import in_memory, score_stream
from evalgen.scorers import scorer_options
from evalgen.scoring import ScoreLine

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
    folder: Path,
    records: Sequence[GenerationRecord],
    meta: dict[str, Any],
    config: dict[str, Any],
    jobs: int | None = None,
) -> list[ScoreLine]:
    """Run every detector and the task scorers (over `jobs` processes, None: all cores; see
    `score_stream`); write `folder/scores.jsonl`; return the lines."""
    options = scorer_options(config.get("scorers"))
    tally = score_stream(in_memory(records), folder, detector_context(meta, config), options, jobs=jobs,
                         keep_lines=True, scores_name=SCORES_FILE)
    assert tally.lines is not None
    return tally.lines
