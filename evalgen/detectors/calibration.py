"""Calibrated scores: a flagged finding's score is how often findings of its kind were right.

Each flagged finding's score is the precision of its detector's findings of the same kind (the rule
that fired: `details.kind`, or `details.reason` for truncation) on every blind-labeled sample read so far
(`corpus_metrics.READ_SAMPLES` in tests/: 5,536 records — the gate samples, the held-out ones, the truncation
sample and the first eight fresh samples, whose flags were out of sample when labeled), smoothed toward the
detector's overall precision with 2 pseudo-findings: `(tp + 2 * p_detector) / (flagged + 2)`. So a score
of 0.9 means "nine in ten findings like this one were real failures". Kinds with no labeled finding get the
precision of the kind they were split from (`SPLIT_FROM`: their flags carried that kind before), else the
detector's overall precision. `bench/detector_accuracy.py --calibrate` recomputes the table from the labels;
docs/detectors.md gives the precision at score >= 0.5 and >= 0.8 per detector, on those samples and on the
newest fresh sample, out of sample. Unflagged findings keep a score below 0.5 (their strength, scaled), so
flagged cases sort first in the report.
"""

from __future__ import annotations

__all__ = ["CALIBRATION", "SPLIT_FROM", "calibrated", "unflagged_score"]

CALIBRATION: dict[str, dict[str, float]] = {
    "repetition": {"*": 0.9512, "block_loop": 0.9646, "drift_loop": 0.9314, "line_loop": 0.8835, "loop": 0.9779,
        "near_loop": 0.8482, "reemitted": 0.9837, "repeated_items": 0.9085, "rewritten": 0.9837},
    "truncation": {"*": 0.8712, "code_cut": 0.6775, "conclusion_cut": 0.9356, "cut_character": 0.9839,
        "dangling_colon": 0.9839, "dangling_word": 0.9504, "empty_code_block": 0.9141, "empty_heading": 0.9678,
        "empty_item": 0.9678, "empty_opening": 0.9102, "fragment": 0.9164, "main_clause_missing": 0.9678,
        "mid_sentence": 0.6564, "mid_sentence_cjk": 0.9186, "mid_word": 0.9888, "open_clause": 0.9534,
        "repeated_line_cut": 0.8203, "table_header_only": 0.9141, "table_row_cut": 0.9356, "unclosed_bracket": 0.9714,
        "unclosed_code_block": 0.9182, "unclosed_quote": 0.7485, "unclosed_string": 0.9141},
    "missing_eos": {"*": 0.9795, "end_token_text": 0.9999, "fake_turn": 0.9853, "length": 0.9724},
    "identity_leak": {"*": 0.9655, "claim": 0.9976},
    "language_drift": {"*": 0.9842, "drift": 0.9918, "third_language": 0.7668},
    "degenerate": {"*": 0.9808, "empty": 0.999, "empty_code_block": 0.9872, "fragments": 0.9872, "symbols": 0.997,
        "template_tokens": 0.9904},
}
"""Per detector, per kind of finding: the calibrated score ("*": the detector's overall precision, Laplace-smoothed:
(tp + 1) / (flagged + 2))."""

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
