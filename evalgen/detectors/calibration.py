"""Calibrated scores: a flagged finding's score is how often findings of its kind were right.

Each flagged finding's score is the precision of its detector's findings of the same kind (the rule
that fired: `details.kind`, or `details.reason` for truncation) on the blind-labeled sample
(tests/data/labeled/sample.jsonl), smoothed toward the detector's overall precision with 2 pseudo-
findings: `(tp + 2 * p_detector) / (flagged + 2)`. So a score of 0.9 means "nine in ten findings like
this one were real failures". Kinds with no labeled finding get the precision of the kind they were split
from (`SPLIT_FROM`: their flags carried that kind before), else the detector's overall precision.
`bench/detector_accuracy.py --calibrate` recomputes the table from the labels; docs/detectors.md
gives the precision at score >= 0.5 and >= 0.8 per detector. Unflagged findings keep a score below
0.5 (their strength, scaled), so flagged cases sort first in the report.
"""

from __future__ import annotations

__all__ = ["CALIBRATION", "SPLIT_FROM", "calibrated", "unflagged_score"]

CALIBRATION: dict[str, dict[str, float]] = {
    "repetition": {"*": 0.96, "block_loop": 0.9911, "drift_loop": 0.88, "line_loop": 0.9733, "loop": 0.9984,
        "near_loop": 0.88, "reemitted": 0.98, "repeated_items": 0.98},
    "truncation": {"*": 0.9278, "conclusion_cut": 0.9519, "cut_character": 0.9794, "dangling_colon": 0.9519,
        "dangling_word": 0.9953, "empty_code_block": 0.9519, "empty_heading": 0.9639, "empty_opening": 0.9711,
        "fragment": 0.9711, "mid_sentence": 0.6325, "mid_sentence_cjk": 0.9285, "mid_word": 0.9519,
        "open_clause": 0.982, "repeated_line_cut": 0.9519, "table_header_only": 0.9519, "unclosed_bracket": 0.9639,
        "unclosed_code_block": 0.9897, "unclosed_string": 0.9519},
    "missing_eos": {"*": 0.9721, "end_token_text": 0.999, "fake_turn": 0.9981, "length": 0.962},
    "identity_leak": {"*": 0.963, "claim": 0.9973},
    "language_drift": {"*": 0.9766, "drift": 0.984},
    "degenerate": {"*": 0.9412, "empty": 0.9832, "fragments": 0.9608, "symbols": 0.9869, "template_tokens": 0.9706},
}
"""Per detector, per kind of finding: the calibrated score ("*": the detector's overall precision)."""

SPLIT_FROM: dict[str, dict[str, str]] = {"truncation": {"main_clause_missing": "mid_sentence"}}
"""Kinds without labeled findings that name a subset of an older kind's flags: until labels exist they are
as sure as that kind was (an unlabeled rule is no surer than the flags it renamed)."""


def calibrated(detector: str, kind: str | None) -> float:
    """The score of a flagged finding of `detector` whose rule is `kind`."""
    table = CALIBRATION.get(detector, {})
    kind = kind or "*"
    if kind not in table:
        kind = SPLIT_FROM.get(detector, {}).get(kind, "*")
    return table.get(kind, table.get("*", 1.0))


def unflagged_score(strength: float) -> float:
    """The score of a finding that is not flagged: its strength in [0, 1] scaled below 0.5."""
    return round(max(0.0, min(1.0, strength)) * 0.45, 4)
