"""Calibrated scores: a flagged finding's score is how often findings of its kind were right.

Each flagged finding's score is the precision of its detector's findings of the same kind (the rule
that fired: `details.kind`, or `details.reason` for truncation) on every blind-labeled sample read so far
(`corpus_metrics.READ_SAMPLES` in tests/: 5,826 records — the gate samples, the held-out ones, the truncation
sample and the first nine fresh samples, whose flags were out of sample when labeled), smoothed toward the
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
    "repetition": {"*": 0.9544, "block_loop": 0.9659, "drift_loop": 0.9318, "line_loop": 0.9358, "loop": 0.9798,
        "near_loop": 0.8182, "reemitted": 0.9848, "repeated_items": 0.9091, "rewritten": 0.987},
    "truncation": {"*": 0.8745, "code_cut": 0.6784, "conclusion_cut": 0.9373, "cut_character": 0.9843,
        "dangling_colon": 0.9843, "dangling_word": 0.9523, "empty_code_block": 0.9164, "empty_heading": 0.9721,
        "empty_item": 0.9686, "empty_opening": 0.9106, "fragment": 0.9166, "main_clause_missing": 0.9686,
        "mid_sentence": 0.6594, "mid_sentence_cjk": 0.9187, "mid_word": 0.9895, "open_clause": 0.9569,
        "open_emphasis": 0.9164, "repeated_line_cut": 0.8213, "table_header_only": 0.9498, "table_row_cut": 0.9498,
        "unclosed_bracket": 0.9721, "unclosed_code_block": 0.9229, "unclosed_quote": 0.7498, "unclosed_string": 0.9164},
    "missing_eos": {"*": 0.9825, "end_token_text": 0.9999, "fake_turn": 0.9856, "length": 0.9771},
    "identity_leak": {"*": 0.9667, "claim": 0.9978},
    "language_drift": {"*": 0.9853, "drift": 0.9924, "third_language": 0.767},
    "degenerate": {"*": 0.9818, "empty": 0.9991, "empty_code_block": 0.9879, "fragments": 0.9879, "symbols": 0.9974,
        "template_tokens": 0.9909},
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
