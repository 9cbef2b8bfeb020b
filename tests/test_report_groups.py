"""Grouping look-alike failures and the report's size rule, without a browser."""

from __future__ import annotations

import random

from evalgen.report.encode import truncation_limit
from evalgen.report.groups import CUT_CONTEXT, EVIDENCE_CHARS, evidence_text, group_findings, normalize

MOSS = "我是MOSS，由复旦大学开发。"
EN_LOOP = "I am MOSS, developed by Fudan University. "


def loop(unit: str, phase: int, chars: int) -> str:
    return (unit * (chars // len(unit) + 2))[phase:phase + chars]


def test_loops_of_one_unit_group_whatever_their_phase_and_length() -> None:
    items = [(0, loop(MOSS, i % len(MOSS), 40 + 7 * i)) for i in range(10)]
    assert group_findings(items) == [0] * 10


def test_different_loops_and_detectors_stay_apart() -> None:
    items = [
        (0, loop(MOSS, 0, 120)), (0, loop(MOSS, 3, 90)),          # group 0
        (0, loop(EN_LOOP, 0, 120)), (0, loop(EN_LOOP, 9, 150)),    # group 1: another unit
        (2, loop(MOSS, 0, 120)), (2, loop(MOSS, 5, 100)),          # group 2: same text, another detector
        (0, loop("small ", 0, 120)),                               # alone
        (0, "The capital of France is Paris."),                    # alone
    ]
    assert group_findings(items) == [0, 0, 1, 1, 2, 2, -1, -1]


def test_names_group_exactly_and_distinct_answers_do_not() -> None:
    items = [(3, "MOSS"), (3, "Qwen"), (3, "moss"), (3, "MOSS 复旦大学"), (3, "MOSS 复旦大学"), (3, "Qwen")]
    assert group_findings(items) == [0, 1, 0, 2, 2, 1]
    # Real, different answers that share words are not look-alikes.
    answers = ["The quick brown fox jumps over the lazy dog near the river bank.",
               "The quick brown fox sleeps under the old oak tree by the house.",
               "A slow green turtle crosses the road near the river bank today."]
    assert group_findings([(0, a) for a in answers]) == [-1, -1, -1]


def test_grouping_is_deterministic_with_dense_ids_in_order_of_appearance() -> None:
    rng = random.Random(7)
    units = ["abc def ", "我是谁？", "lorem ipsum ", "0123 4567 "]
    items = [(rng.randrange(2), loop(rng.choice(units), rng.randrange(8), rng.randrange(30, 200))) for _ in range(200)]
    first = group_findings(items)
    assert first == group_findings(items)
    seen: list[int] = []
    for g in first:
        if g >= 0 and g not in seen:
            seen.append(g)
    assert seen == list(range(len(seen)))
    # Never across detectors.
    by_group: dict[int, set[int]] = {}
    for (det, _), g in zip(items, first, strict=True):
        if g >= 0:
            by_group.setdefault(g, set()).add(det)
    assert all(len(dets) == 1 for dets in by_group.values())


def test_evidence_text() -> None:
    out = "Sure! " + MOSS * 30
    assert evidence_text(out, [(6, 6 + len(MOSS))]) == MOSS
    assert len(evidence_text(out, [(0, len(out))])) == EVIDENCE_CHARS
    assert evidence_text(out, [(100, 100)]) == out[100 - CUT_CONTEXT:100]  # a cut point: the text before it
    assert evidence_text(out, []) == out[-EVIDENCE_CHARS:]  # no spans: where it should have ended
    assert normalize("  Hello\n\tWORLD 42 ") == "hello world 00"


def size(fixed: int, ratio: float, lengths: list[tuple[int, int, int]], limit: int) -> float:
    return fixed + ratio * sum(line - out + (out if chars <= limit else out * limit / chars)
                               for line, out, chars in lengths)


def test_truncation_limit_fits_the_budget_as_closely_as_it_can() -> None:
    rng = random.Random(1)
    lengths = []
    for _ in range(500):
        chars = rng.randrange(50, 5000)
        out = chars * rng.choice((1, 3))
        lengths.append((out + 120, out, chars))
    fixed, ratio = 100_000, 0.5
    whole = size(fixed, ratio, lengths, 10**9)
    assert truncation_limit(fixed, int(whole) + 1, ratio, lengths, 200) is None  # everything fits
    budget = int(fixed + (whole - fixed) / 3)
    limit = truncation_limit(fixed, budget, ratio, lengths, 200)
    assert limit is not None and limit >= 200
    assert size(fixed, ratio, lengths, limit) <= budget < size(fixed, ratio, lengths, limit + 9)
    # A budget below what must stay whole: the floor, and the page is larger than asked.
    assert truncation_limit(fixed, fixed // 2, ratio, lengths, 200) == 200
    assert truncation_limit(fixed, 1, ratio, [], 200) is None
