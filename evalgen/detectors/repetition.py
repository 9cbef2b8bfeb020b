"""`repetition`: the output loops — a unit repeated back to back — or repeats whole lines/sentences.

Loop search (exact, on characters, so Chinese without spaces works): a probe of the last 16
characters is looked up earlier in the text (`str.rfind`, C speed); the nearest earlier copy gives
a candidate period p, and the periodic run (s[k] == s[k+p]) is grown backwards with galloping slice
comparisons. Probes every `probe_stride` characters do the same for loops that stop before the end.
A run is a loop when it repeats its unit >= `min_repeats` times over >= `min_loop_chars` characters.
When `output_token_ids` is present the same search on token ids reports the loop in tokens.

Near-loops (loops that drift, with small changes per copy): the recurrence, the share of probes
(16 characters, at least 16 spread over the text) whose text occurs again later, is >=
`min_recurrence` (natural text: < 0.1; loops: 0.4-1.0).

Repeated segments: lines (list numbering stripped) and sentences of long lines that occur
>= `min_segment_repeats` times and whose extra copies cover >= `min_segment_coverage` of the output
(counted when at least 20% of the text recurs, or the output is under 400 characters).

Near-identical lines: >= `min_repeats` consecutive lines that are one line with its numbers or a word
changed ("Step 7: Add a contact form." / "Step 8: ...") over >= `min_loop_chars` characters.

rep-n (1 - unique/total n-grams, n = 2, 3, 4, over the last 512 tokens or characters) is reported
for flagged records; `distinct_n` gives the suite-level figure.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher

from evalgen.detectors._text import is_code_line, last_user_message
from evalgen.detectors.base import DetectorContext, RepetitionConfig
from evalgen.records import Finding, GenerationRecord, Span

__all__ = ["detect_repetition", "distinct_n", "find_loop", "rep_n"]

NAME = "repetition"
_PROBE = 16  # characters per probe: long enough that natural text rarely recurs nearby
_TOKEN_PROBE = 6
_REP_WINDOW = 512
_MIN_PROBES = 16  # probes spread over the text for the recurrence share
_SEGMENT_SCREEN = 0.2  # repeated lines/sentences are only counted when this much text recurs

_FENCE_LINE = re.compile(r"^[ \t]*(?:```|~~~)", re.M)
_LIST_CHARS = "0123456789.)-*+•#>|、)（(）[] \t"
_SENTENCE = re.compile(r"(?<=[。！？!?；;])|(?<=[.])\s+")
_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "twenty": 20, "fifty": 50, "hundred": 100, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
    "六": 6, "七": 7, "八": 8, "九": 9, "十": 10, "百": 100,
}
_REPEAT_REQUEST = re.compile(
    r"\brepeat|\bover and over|\bagain and again|\b(\d+|two|three|four|five|six|seven|eight|nine|ten|twenty"
    r"|fifty|hundred)\s+times\b|重复|复述|([0-9]+|[一二两三四五六七八九十百]+)\s*[遍次]",
    re.I,
)


def _common_forward(s: Sequence, i: int, j: int, limit: int) -> int:
    """Largest m <= limit with s[i:i+m] == s[j:j+m]: gallop, then bisect (slice compares run in C)."""
    good, step = 0, 32
    while True:
        m = min(good + step, limit)
        if m <= good:
            return good
        if s[i + good:i + m] == s[j + good:j + m]:
            good = m
            step *= 2
        else:
            bad = m
            break
    while bad - good > 1:
        mid = (good + bad) // 2
        if s[i + good:i + mid] == s[j + good:j + mid]:
            good = mid
        else:
            bad = mid
    return good


def _common_backward(s: Sequence, i: int, j: int, limit: int) -> int:
    """Largest t <= limit with s[i-t:i] == s[j-t:j]."""
    good, step = 0, 32
    while True:
        t = min(good + step, limit)
        if t <= good:
            return good
        if s[i - t:i - good] == s[j - t:j - good]:
            good = t
            step *= 2
        else:
            bad = t
            break
    while bad - good > 1:
        mid = (good + bad) // 2
        if s[i - mid:i - good] == s[j - mid:j - good]:
            good = mid
        else:
            bad = mid
    return good


def _run(s: Sequence, i: int, p: int) -> tuple[int, int]:
    """The maximal periodic run [a, b) with period p that contains position i (s[i] == s[i+p])."""
    n = len(s)
    m = _common_forward(s, i, i + p, n - i - p)
    t = _common_backward(s, i, i + p, i)
    return i - t, i + p + m


def _best(a: tuple[int, int, int] | None, b: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a[1] - a[0] >= b[1] - b[0] else b


_BLANK = " \t\n\r-=*#|_.:·~+<>/\\()[]{}0123456789"


def find_loop(
    s: Sequence, min_repeats: float = 3.0, min_len: int = 40, max_period: int = 400, stride: int = 128,
    probe: int = _PROBE, skip: Sequence[tuple[int, int]] = (),
) -> tuple[tuple[int, int, int] | None, float]:
    """The longest back-to-back repetition in `s` (a str, or a str of token ids) as (start, end,
    period) or None, and the recurrence: the share of probes (`probe` items every `stride`, at
    least 16 probes, probes in `skip` ranges or without a letter left out) whose text occurs again
    later (at least 16 probes). Only runs with >= min_repeats copies over >= min_len items are returned. The tail is
    searched with any period up to len/min_repeats; elsewhere up to max_period."""
    n = len(s)
    w = min(probe, max(1, min_len // 3))
    if n < max(min_len, 2 * w):
        return None, 0.0
    best: tuple[int, int, int] | None = None

    def accept(a: int, b: int, p: int) -> tuple[int, int, int] | None:
        return (a, b, p) if b - a >= min_len and (b - a) >= min_repeats * p else None

    # Tail: the nearest earlier copies of the last w items give candidate periods.
    tail = s[n - w:]
    end = n - 1
    for _ in range(4):
        j = s.rfind(tail, 0, end)  # type: ignore[attr-defined]
        if j < 0:
            break
        p = n - w - j
        if p * min_repeats > n:
            break
        a, b = _run(s, j, p)
        hit = accept(a, b, p)
        if hit:
            best = hit
            break
        end = j + w - 1
    # Elsewhere: probes look for a later copy; one within max_period may start a loop.
    is_text = isinstance(s, str)
    step = max(8, min(stride, (n - w) // _MIN_PROBES))
    probes = recurring = 0
    tail_start = best[0] if best else n
    skip_until = 0
    for i in range(0, n - w, step):
        window = s[i:i + w]
        if (is_text and not window.strip(_BLANK)) or (skip and any(x <= i < y for x, y in skip)):  # type: ignore
            continue
        probes += 1
        j = s.find(window, i + 1)  # type: ignore[attr-defined]
        if j < 0:
            continue
        recurring += 1
        if i >= tail_start or i < skip_until:
            continue
        for _ in range(3):
            if j < 0 or j - i > max_period:
                break
            a, b = _run(s, i, j - i)
            hit = accept(a, b, j - i)
            if hit:
                best = _best(best, hit)
                skip_until = b
                break
            j = s.find(window, j + 1, i + w + max_period)  # type: ignore[attr-defined]
    return best, (recurring / probes if probes >= _MIN_PROBES - 4 else 0.0)


def _ids_to_str(ids: Sequence[int]) -> str:
    """Token ids as a str (one code point per id) so the same C-speed search works on tokens."""
    try:
        # Same as "".join(map(chr, ids)) for valid code points, 4x faster; surrogates, negative or
        # huge ids fail the decode or the array and take the path below.
        return array("I", ids).tobytes().decode("utf-32-le")
    except (ValueError, OverflowError, TypeError, UnicodeDecodeError):
        pass
    try:
        return "".join(map(chr, ids))
    except (ValueError, OverflowError, TypeError):
        return "".join(chr(int(i) % 0x110000) for i in ids)


def rep_n(seq: Sequence, n: int) -> float:
    """1 - unique/total n-grams of a sequence (0 when it has no n-gram)."""
    total = len(seq) - n + 1
    if total <= 0:
        return 0.0
    grams = set(zip(*(seq[k:] for k in range(n)), strict=False))
    return 1.0 - len(grams) / total


def _rep_234(seq: str) -> tuple[float, float, float]:
    """`rep_n(seq, n)` for n = 2, 3, 4 at once, with numpy: each n-gram of code points packed into
    one int64, sorted, distinct = 1 + changes between neighbours (5x faster than sets of tuples on
    512 items; same counts, so the same floats). Code points take 21 bits, so 4-grams are packed
    from the dense ranks of the bigrams instead."""
    if len(seq) < 5 or len(seq) >= 1 << 16:
        return rep_n(seq, 2), rep_n(seq, 3), rep_n(seq, 4)
    import numpy as np  # lazy: only flagged records need rep-n

    codes = np.frombuffer(seq.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)
    k2 = (codes[:-1] << 21) | codes[1:]
    s2 = np.sort(k2)
    u2 = s2[np.concatenate(([True], s2[1:] != s2[:-1]))]
    k3 = np.sort((k2[:-1] << 21) | codes[2:])
    rank2 = np.searchsorted(u2, k2)  # < len(seq) < 2**16
    k4 = np.sort((rank2[:-2] << 16) | rank2[2:])
    n = len(seq)
    d3 = int(np.count_nonzero(k3[1:] != k3[:-1])) + 1
    d4 = int(np.count_nonzero(k4[1:] != k4[:-1])) + 1
    return 1.0 - len(u2) / (n - 1), 1.0 - d3 / (n - 2), 1.0 - d4 / (n - 3)


def distinct_n(records: Iterable[GenerationRecord], n: int) -> float:
    """Suite-level diversity: unique / total n-grams over all outputs (token ids when every record
    has them, else characters); 0 when there is no n-gram."""
    recs = list(records)
    use_tokens = bool(recs) and all(r.output_token_ids is not None for r in recs)
    grams: set[tuple] = set()
    total = 0
    for r in recs:
        seq: Sequence = r.output_token_ids if use_tokens else r.output  # type: ignore[assignment]
        count = len(seq) - n + 1
        if count > 0:
            total += count
            grams.update(zip(*(seq[k:] for k in range(n)), strict=False))
    return len(grams) / total if total else 0.0


def _requested_repeats(prompt: str) -> int | None:
    """How many copies the user asked for: 0 for 'asked, number unknown', None when not asked."""
    found = None
    for m in _REPEAT_REQUEST.finditer(prompt):
        word = m.group(1) or m.group(2)
        if word is None:
            found = found or 0
            continue
        word = word.lower()
        if word.isdigit():
            value = int(word)
        elif word in _NUMBER_WORDS:
            value = _NUMBER_WORDS[word]
        else:  # Chinese numerals such as 二十 or 三
            value = 0
            for ch in word:
                value = value * 10 if ch in "十百" and value else value + _NUMBER_WORDS.get(ch, 0)
        found = max(found or 0, value)
    return found


def _fences(text: str) -> list[tuple[int, int]]:
    if "`" not in text and "~" not in text:  # single-character screen: memchr speed
        return []
    marks = [m.start() for m in _FENCE_LINE.finditer(text)] if "```" in text or "~~~" in text else []
    if len(marks) % 2:
        marks.append(len(text))
    return list(zip(marks[::2], marks[1::2], strict=True))


def _segments(text: str, cfg: RepetitionConfig) -> tuple[str, int, float] | None:
    """The most repeated line/sentence (text, count) and the coverage of all extra copies."""
    keys: list[str] = []
    for line in text.split("\n"):
        parts = _SENTENCE.split(line) if len(line) > 200 else [line]
        for part in parts:
            key = part.strip().lstrip(_LIST_CHARS).strip()
            if len(key) >= cfg.min_segment_chars:
                keys.append(key)
    if len(set(keys)) == len(keys):
        return None
    counts = Counter(keys)
    repeated = [(k, c) for k, c in counts.items() if c >= 2 and any(ch.isalpha() for ch in k)]
    if not repeated:
        return None
    top, count = max(repeated, key=lambda kc: (kc[1], len(kc[0])))
    extra = sum(len(k) * (c - 1) for k, c in repeated)
    return top, count, min(1.0, extra / max(1, len(text)))


_DIGITS = re.compile(r"\d+")
_NEAR_LINE_RATIO = 0.9  # lines this similar (numbers ignored) are copies of one line with a word changed


def _near_line_run(
    text: str, fences: list[tuple[int, int]], cfg: RepetitionConfig
) -> tuple[int, int, int, str] | None:
    """The longest run of consecutive lines (blank lines between allowed) that are the same line up to
    numbers and a changed word ("Step 7: Add a contact form." / "Step 8: ..."; "I looked at the third
    one. It read ..." / "... fourth one ..."), as (start, end, lines, first line). Lines in code, code-like
    lines, table rows and lines with fewer than 5 letters are left out and break a run."""
    best: tuple[int, int, int, str] | None = None
    run_start = run_end = count = 0
    prev = first = ""
    pos = 0
    for raw in text.split("\n"):
        start, pos = pos, pos + len(raw) + 1
        line = raw.strip()
        if not line:
            continue  # blank lines between copies do not break a run
        key = _DIGITS.sub("0", line)
        usable = (
            len(key) >= cfg.min_segment_chars and sum(ch.isalpha() for ch in key) >= 5 and not line.startswith("|")
            and not any(x <= start < y for x, y in fences) and not is_code_line(raw)
        )
        same = usable and bool(prev) and (key == prev or (
            abs(len(key) - len(prev)) <= 0.2 * max(len(key), len(prev))
            and SequenceMatcher(None, prev, key).ratio() >= _NEAR_LINE_RATIO
        ))
        if same:
            count += 1
            run_end = start + len(raw)
            if count >= 2 and (best is None or count > best[2]):
                best = (run_start, run_end, count, first)
            prev = key
            continue
        prev, first = (key, line) if usable else ("", "")
        run_start, run_end, count = start, start + len(raw), 1
    return best


def early_exit_finding(text: str, details: dict) -> Finding:
    """The backend cut this generation because its last tokens repeated one unit many times: proof of a
    loop on token ids even where the text analysis falls short (symbol runs like "5 5 5", whitespace)."""
    start = details.get("loop_start", max(0, len(text) - 200))
    details = {**details, "kind": "early_exit"}
    return Finding(NAME, True, 1.0, "Generation was cut early: its tail repeated one unit (early exit).",
                   [Span(start, len(text), "loop (early exit)")], details)


def detect_repetition(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    cfg = ctx.config.repetition
    text = record.output
    n = len(text)
    if record.stop_reason == "loop" and len(text.strip()) < cfg.min_output_chars:
        return early_exit_finding(text, {"kind": None})
    if len(text.strip()) < cfg.min_output_chars:
        return Finding(NAME, False, 0.0, "Too short to judge repetition.", [], {"kind": None})

    details: dict = {"kind": None}
    spans: list[Span] = []
    fences = _fences(text)
    ran_out = record.stop_reason in ("length", "loop")
    loop, recurrence = find_loop(
        text, min(cfg.min_repeats, cfg.min_repeats_at_limit), cfg.min_loop_chars, cfg.max_period, cfg.probe_stride,
        skip=fences,
    )
    details["recurrence"] = round(recurrence, 4)
    requested: int | None = None
    asked = False

    def needed(base: float) -> float:
        nonlocal requested, asked
        if not asked:
            requested = _requested_repeats(last_user_message(record))
            asked = True
        if requested is None:
            return base
        return max(base, 2 * requested + 2 if requested else 50)

    loop_ok = False
    loop_cov = 0.0
    if loop:
        a, b, p = loop
        unit = text[a:a + p]
        count = (b - a) / p
        loop_cov = (b - a) / n
        at_tail = b >= len(text.rstrip())
        in_code = any(x <= a < y for x, y in fences)
        informative = any(ch.isalpha() for ch in unit)
        if ran_out and at_tail:
            # The generation ran into the limit while repeating: two copies are proof enough.
            need_len, need_rep = cfg.min_loop_chars if informative else cfg.min_symbol_loop_chars, \
                cfg.min_repeats_at_limit
        else:
            need_len = cfg.min_loop_chars if informative and not in_code else cfg.min_symbol_loop_chars
            need_rep = cfg.min_code_repeats if in_code else cfg.min_repeats
        loop_ok = (b - a) >= need_len and count >= needed(need_rep)
        details.update(
            unit=unit[:200], period=p, repeats=round(count, 2), loop_start=a, loop_end=b,
            coverage=round(loop_cov, 4), at_tail=at_tail, in_code=in_code,
        )
        if loop_ok:
            spans.append(Span(a, b, f"loop ×{count:.1f}"))

    seg = _segments(text, cfg) if recurrence >= _SEGMENT_SCREEN or n < 400 else None
    seg_ok = False
    seg_cov = 0.0
    if seg:
        top, seg_count, seg_cov = seg
        seg_ok = seg_count >= needed(cfg.min_segment_repeats) and seg_cov >= cfg.min_segment_coverage
        details.update(segment=top[:200], segment_repeats=seg_count, segment_coverage=round(seg_cov, 4))
        if seg_ok and not loop_ok:
            first = text.find(top)
            pos = text.find(top, first + len(top))
            while pos >= 0 and len(spans) < 20:
                spans.append(Span(pos, pos + len(top), "repeated segment"))
                pos = text.find(top, pos + len(top))

    # Lines repeated back to back with a counter or one word changed: a loop that exact search misses.
    near = _near_line_run(text, fences, cfg) if not (loop_ok or seg_ok) and (
        recurrence >= _SEGMENT_SCREEN or n < 400) else None
    near_ok = bool(near) and near[2] >= needed(cfg.min_repeats) and near[1] - near[0] >= cfg.min_loop_chars  # type: ignore[index]
    near_cov = 0.0
    if near and near_ok:
        a, b, lines, top = near
        near_cov = (b - a) * (lines - 1) / lines / n
        details.update(segment=top[:200], segment_repeats=lines, segment_coverage=round(near_cov, 4),
                       near_lines=True)
        spans.append(Span(a, b, f"{lines} near-identical lines"))
        seg_ok, seg_cov = True, near_cov
    rec_ok = (
        recurrence >= cfg.min_recurrence and n >= cfg.min_recurrence_chars and needed(0) == 0
    )
    if asked and requested is not None:
        details["requested_repeats"] = requested
    flagged = loop_ok or seg_ok or rec_ok
    strength = max(loop_cov, seg_cov, recurrence)
    if not flagged and record.stop_reason == "loop":
        return early_exit_finding(text, details)
    if not flagged:
        return Finding(NAME, False, round(0.5 * strength, 4), "No loop or repeated segment.", [], details)

    if loop_ok:
        details["kind"] = "loop"
        unit = details["unit"]
        shown = unit if len(unit) <= 40 else unit[:37] + "..."
        where = "the output ends in" if details["at_tail"] else "the output contains"
        explanation = f"From character {details['loop_start']} {where} a loop of {shown!r} ×{details['repeats']} " \
                      f"({loop_cov:.0%} of the text)."
    elif seg_ok:
        details["kind"] = "repeated_segment"
        shown = details["segment"] if len(details["segment"]) <= 40 else details["segment"][:37] + "..."
        how = "lines like" if details.get("near_lines") else "segment"
        explanation = f"The {how} {shown!r} occurs {details['segment_repeats']} times ({seg_cov:.0%} of the text)."
    else:
        details["kind"] = "near_loop"
        explanation = f"{recurrence:.0%} of the text recurs later with small changes: a loop that drifts."
        start = _first_recurring(text, fences)
        spans.append(Span(start, n, "recurring text"))

    ids = record.output_token_ids
    seq = text[-_REP_WINDOW:]
    if ids:
        tok = _ids_to_str(ids)
        seq = tok[-_REP_WINDOW:]
        tloop, _ = find_loop(tok, cfg.min_repeats, 8, cfg.max_period, cfg.probe_stride, _TOKEN_PROBE)
        if tloop:
            details.update(token_period=tloop[2], token_repeats=round((tloop[1] - tloop[0]) / tloop[2], 2))
    rep_2, rep_3, rep_4 = _rep_234(seq)
    details.update(rep_2=round(rep_2, 4), rep_3=round(rep_3, 4), rep_4=round(rep_4, 4))
    details["rep_on"] = "tokens" if ids else "chars"
    return Finding(NAME, True, round(min(1.0, max(strength, 0.5)), 4), explanation, spans, details)


def _first_recurring(text: str, fences: list[tuple[int, int]]) -> int:
    """Where recurring text starts: the first 16-character window that occurs again later."""
    n = len(text)
    for i in range(0, max(0, n - _PROBE), 8):
        window = text[i:i + _PROBE]
        if window.strip(_BLANK) and not any(x <= i < y for x, y in fences) and text.find(window, i + 1) >= 0:
            return i
    return 0
