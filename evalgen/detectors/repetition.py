"""`repetition`: the output degenerates into a loop — one unit repeated back to back, a list that keeps
coming back to the same items, a whole answer re-emitted.

Character loops (exact, so Chinese without spaces works): the last characters are looked up earlier
in the text (`str.rfind`, C speed); the nearest earlier copy gives a candidate period p, and the
periodic run (s[k] == s[k+p]) is grown backwards with galloping slice comparisons. Probes every
`probe_stride` characters do the same for loops that stop before the end. A run is a loop when it
repeats its unit >= `min_repeats` times over >= `min_loop_chars` characters (>= `min_repeats_at_limit`
when the generation ran into the token limit), or — a short loop such as "你好！" ×5 — a unit with two
letters >= `min_short_repeats` times over >= `min_short_loop_chars`. Units without a letter and loops in
code need more (`min_symbol_loop_chars`, `min_code_repeats`).

Line loops, on units = lines (sentences of long lines), list numbering stripped and digits
normalised, code, tables and short lines left out:
- the same line back to back >= `min_repeats` times ("12. 西瓜 / 13. 西瓜 / 14. 西瓜"), or a line with
  one word changed >= `min_near_repeats` times ("I looked at the third one…" / "…fourth one…"), each one
  more where the text goes on after them;
- a block of lines repeated back to back >= `min_repeats` times (a whole answer re-emitted; a list
  cycling through the same items), or twice when the two copies are the whole answer and end it;
- a table that keeps coming back to the same rows (a third of its rows, 4+, copies of earlier rows);
- repeated items: lines occurring >= `min_segment_repeats` times whose extra copies cover
  >= `min_segment_coverage` of the output (a list that keeps coming back to the same items).
Loops the line checks cannot see:
- a whole answer re-emitted: its opening line's first 40 characters come back >= `min_repeats` - 1
  times, each copy but the last the first answer again (made-up turns "User: … / Joi:" between);
- a loop that drifts until the cut (the limit, or no finish reason and the text stops unfinished):
  the stretch before the end copies the text just before it probe by probe, a counter or a longer
  name aside ("cityOrder7", "timeout_clear_clear_set"), over >= 240 characters and two periods;
- an emoji repeated >= 10 times until the output ends;
- the answer announced again and again as its final or refined version ("Here's the **final, accurate list**:",
  "以下是修改后的版本："), in new words each time: four times and cut, or eight times.
What the prompt says is not a failure: a loop whose text the prompt already holds (an echo), lines
the prompt holds, repetition the prompt asks for ("repeat X 10 times", "重复三遍": then more than
`2 × N + 2` copies are needed, 50 when no number is given), rows of the ASCII art asked for (not rows
of blank cells) and a song's chorus (the prompt asks for a
song or poem, or the output labels a chorus/refrain: repeated items do not count there) are left out.
Templated writing (patent claims, lesson plans, per-item boilerplate) is not a loop: its lines say
different things. `details.recurrence` (the share of 16-character probes whose text occurs again
later) is reported; it only decides whether the line checks run on outputs of 400+ characters.

When `output_token_ids` is present the same search on token ids reports the loop in tokens. rep-n
(1 - unique/total n-grams, n = 2, 3, 4, over the last 512 tokens or characters) is reported for
flagged records; `distinct_n` gives the suite-level figure.
"""

from __future__ import annotations

import math
import os
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from functools import lru_cache
from typing import NamedTuple

from evalgen.detectors._text import (
    SPECIAL_TOKEN,
    conversation_key,
    cut_marker,
    fence_blocks,
    is_code_line,
    last_user_message,
    mask_urls,
    request_text,
)
from evalgen.detectors.base import DetectorContext, RepetitionConfig
from evalgen.detectors.calibration import calibrated, unflagged_score
from evalgen.records import Finding, GenerationRecord, Span

__all__ = ["asks_for_song", "detect_repetition", "distinct_n", "ends_in_loop", "find_loop", "rep_n"]

NAME = "repetition"
_DIGIT_RUN = re.compile(r"\d+")
_PROBE = 16  # characters per probe: long enough that natural text rarely recurs nearby
_TOKEN_PROBE = 6
_REP_WINDOW = 512
_MIN_PROBES = 16  # probes spread over the text for the recurrence share
_LINE_SCREEN = 0.2  # the line checks run on long outputs only when this much text recurs (or lines repeat)
_WHOLE_ANSWER = 0.9  # a block repeated twice to the end is a loop when its copies are this share of the output
_MAX_UNITS = 400  # the block search looks at the last this many lines

_LIST_CHARS = "0123456789.)-*+•#>|、)（(）[] \t"
_SENTENCE = re.compile(r"(?<=[。！？!?；;])|(?<=[.])\s+")
"""Where sentences end (the definition): after a sentence mark, or the spaces after a period."""
_SENTENCE_END = re.compile(r"[。！？!?；;]|\.\s+")
"""The same cuts at the ends of its matches, found faster: a pattern that starts with a lookbehind is tried
at every position, one that starts with a character set only where one of its characters is."""


def _sentences(line: str) -> list[str]:
    """`_SENTENCE.split(line)`: the pieces between the cuts, the spaces after a period left out."""
    pieces = []
    last = 0
    for m in _SENTENCE_END.finditer(line):
        a, b = m.span()
        pieces.append(line[last:a + 1] if line[a] == "." else line[last:b])
        last = b
    pieces.append(line[last:])
    return pieces
_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh",
             "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth",
             "nineteenth", "twentieth")
_WORD_VALUES = {**{w: v for v, w in enumerate(_UNITS)}, **{w: v for v, w in enumerate(_ORDINALS, 1)},
                **{w: 10 * v for v, w in enumerate(_TENS, 2)}, "hundred": 100}
_CJK_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CJK_NUMERAL_RUN = "[零一二三四五六七八九十百千两]+"
_REPEAT_REQUEST = re.compile(
    r"\brepeat|\bover and over|\bagain and again|\b(\d+|two|three|four|five|six|seven|eight|nine|ten|twenty"
    r"|fifty|hundred)\s+times\b|重复|复述|([0-9]+|[一二两三四五六七八九十百]+)\s*[遍次]",
    re.I,
)
_SONG_REQUEST = re.compile(
    # The song or poem is what is asked for: no "about", "list of", "essay" … between the verb and it ("Write a short
    # essay about the poem", "Make a list of songs"); 词 is lyrics, not the 词 of 单词, 名词, 关键词; 歌 and 诗 not
    # those of 歌手 and 诗人 (写一篇关于诗人李白的短文).
    r"\b(?:write|compose|create|make|generate|sing|rewrite|turn)\b"
    r"(?:(?!\b(?:about|list|essay|summary|analy[sz]\w*|review|report|article|explain\w*)\b)[^.?!\n]){0,60}?"
    r"\b(?:song|poem|poetry|rap|chant|anthem|jingle|ballad|hymn|verses?|limerick|sonnet|lullaby)s?\b|\blyrics\b"
    r"|写[^。！？\n]{0,8}(?:歌(?![手星])|诗(?!人)|(?<![单名动形副代量键示台])词(?![语汇典组性]))|歌词|诗歌|作诗",
    re.I,
)
_MAX_REFRAIN = 4  # a chorus comes back a few times; a runaway loop in a song does not stop
_LYRIC_WORD = re.compile(r"[^\W\d_]{3}")  # a line of lyrics holds words; a bar of notes ("D2 G2 A2 |") does not
_PROSE_LINE_END = frozenset(".!?。！？")  # ...and ends on no sentence mark: a line of prose does
_SECTION_LABEL = re.compile(r"(?im)^[ \t*#\[(]*(?:outro|chorus|refrain|hook|bridge|intro|coda|verse[ \d]*|副歌|尾声|"
                            r"合唱|桥段|主歌[一二三\d]*)[ \t*\])]*[:：]?[ \t*]*\n?\Z")
"""A song's section label as the line just before a refrain ("Outro:", "[Chorus]", "尾声：")."""
# Screens for the two request patterns (case-insensitive and tried at every position: ~100 ns a character): a
# match holds one of these words, in lower case once lowered, unless the text holds one of the letters re.I
# also matches that lower() leaves apart ("ı" and "İ" for i, "ſ" for s; the Kelvin sign lowers to k).
_ODD_CASE = ("ı", "İ", "ſ")
_REPEAT_WORDS = ("repeat", "over and over", "again and again", "times")
_REPEAT_CJK = ("重复", "复述", "遍", "次")
_SONG_VERBS = ("write", "compose", "create", "make", "generate", "sing", "turn")  # "rewrite" holds "write"
_SONG_NOUNS = ("song", "poem", "poetry", "rap", "chant", "anthem", "jingle", "ballad", "hymn", "verse", "limerick",
               "sonnet", "lullaby")
_SONG_CJK = ("歌", "诗", "词")


def _may_hold(text: str, words: tuple[str, ...]) -> bool:
    """Whether `text` may hold one of the lower-case ASCII `words` as re.I matches them."""
    if not text.isascii() and any(ch in text for ch in _ODD_CASE):
        return True
    low = text.lower()
    return any(word in low for word in words)


def asks_for_song(prompt: str) -> bool:
    """`_SONG_REQUEST.search(prompt)`, screened: a match holds a verb and a noun of the pattern, "lyrics", or
    歌, 诗 or 词."""
    if (_may_hold(prompt, _SONG_NOUNS) and _may_hold(prompt, _SONG_VERBS)) or _may_hold(prompt, ("lyrics",)) or \
            any(ch in prompt for ch in _SONG_CJK):
        return _SONG_REQUEST.search(prompt) is not None
    return False
_CHORUS = re.compile(r"chorus|refrain|hook\b|副歌|合唱", re.I)


def _labels_chorus(text: str) -> bool:
    """`_CHORUS.search(text)`, screened in C: a match holds "chor", "refra" or "hook" in lower case (the
    letters re.I also matches, "ſ" and "ı", are in none of them) or a Chinese word."""
    low = text.lower()
    if "chor" in low or "refra" in low or "hook" in low or "副歌" in text or "合唱" in text:
        return _CHORUS.search(text) is not None
    return False
_ART_REQUEST = re.compile(r"ascii|\bart\b|draw|diagram|picture|pattern|emboss|braille|字符画|画|图案", re.I)
_PICTURE_REQUEST = re.compile(r"(?<![A-Za-z])(?:ascii art|emboss|braille|draw me\b)|字符画|点阵|画一[幅张只]|压印|盲文",
                              re.I)
"""A picture asked for in so many words ("emboss", "braille", "ASCII art", "draw me a cat", 画一只猫): not "draw a
conclusion", "draw a table", "the big picture", "state-of-the-art", 画一个表格, 画出 of an exam's underlined passage."""
_PLACEHOLDER = re.compile(r"\[[^\]\n]{1,60}\]|<[^<>\n]{1,60}>|\{[^{}\n]{1,60}\}")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]+")
_BLANK_CELLS = " \t\n\r\u00a0\u2800\u3000"  # rows of these are empty: no picture, whatever the prompt asked
_MAX_PICTURE_ROWS = 8  # a picture's rows of words repeat a few times; a loop the text gets out of more
_MIN_EMOJI_REPEATS = 10  # a few emoji close a cheerful answer; ten of one in a row at the end do not
_LAUGH = frozenset(("ha", "he", "hi", "ho", "la", "na", "da", "哈", "嘿", "呵", "啦", "嘻", "嘎"))


def _match_forward(a: Sequence, i: int, b: Sequence, j: int, limit: int, step: int = 32) -> int:
    """Largest m <= limit with a[i:i+m] == b[j:j+m]: gallop from `step`, then bisect (slice compares run
    in C)."""
    good = 0
    while True:
        m = min(good + step, limit)
        if m <= good:
            return good
        if a[i + good:i + m] == b[j + good:j + m]:
            good = m
            step *= 2
        else:
            bad = m
            break
    while bad - good > 1:
        mid = (good + bad) // 2
        if a[i + good:i + mid] == b[j + good:j + mid]:
            good = mid
        else:
            bad = mid
    return good


def _match_backward(a: Sequence, i: int, b: Sequence, j: int, limit: int, step: int = 32) -> int:
    """Largest t <= limit with a[i-t:i] == b[j-t:j]."""
    good = 0
    while True:
        t = min(good + step, limit)
        if t <= good:
            return good
        if a[i - t:i - good] == b[j - t:j - good]:
            good = t
            step *= 2
        else:
            bad = t
            break
    while bad - good > 1:
        mid = (good + bad) // 2
        if a[i - mid:i - good] == b[j - mid:j - good]:
            good = mid
        else:
            bad = mid
    return good


def _run(s: Sequence, i: int, p: int) -> tuple[int, int]:
    """The maximal periodic run [a, b) with period p that contains position i (s[i] == s[i+p])."""
    n = len(s)
    m = _match_forward(s, i, s, i + p, n - i - p)
    t = _match_backward(s, i, s, i + p, i)
    return i - t, i + p + m


def _long_run(s: Sequence, i: int, p: int, min_repeats: float, min_len: int) -> tuple[int, int] | None:
    """`_run(s, i, p)` when it repeats its unit >= min_repeats times over >= min_len items, else None.
    Most candidates are a phrase that recurs, far too short: two compares prove that before the gallops.
    The run holds t items before i, one period and m after it, so it needs t + m >= e; when m < f (not all of
    the f items from i equal their copy p later) and t < e + 1 - f (likewise the `back` items before i),
    t + m < e."""
    e = math.ceil(max(min_len, min_repeats * p)) - p
    f = (e + 2) // 2
    back = e + 1 - f
    if e > 0 and s[i:i + f] != s[i + p:i + p + f] and (back > i or s[i - back:i] != s[i + p - back:i + p]):
        return None
    a, b = _run(s, i, p)
    return (a, b) if b - a >= min_len and b - a >= min_repeats * p else None


def _best(a: tuple[int, int, int] | None, b: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a[1] - a[0] >= b[1] - b[0] else b


_BLANK = " \t\n\r-=*#|_.:·~+<>/\\()[]{}0123456789"
_RULE_CHARS = " \t\n\r-=*#|_:+~"
_WORD_CHAR = re.compile(r"[^\W\d_]")  # a letter of any script: copied text is text, not symbols or digits


def _tail_run(s: Sequence, min_repeats: float, min_len: int) -> tuple[int, int, int] | None:
    """The periodic run that reaches the end of `s`, as (start, end, period), when it repeats its unit
    >= min_repeats times over >= min_len items: the nearest earlier copies of the last items give the
    candidate periods."""
    n = len(s)
    w = min(_PROBE, max(2, n // 2))
    if n < max(min_len, 2 * w):
        return None
    tail = s[n - w:]
    end = n - 1
    for _ in range(4):
        j = s.rfind(tail, 0, end)  # type: ignore[attr-defined]
        if j < 0:
            return None
        p = n - w - j
        if p * min_repeats > n:
            return None
        run = _long_run(s, j, p, min_repeats, min_len)
        if run:
            return run[0], run[1], p
        end = j + w - 1
    return None


def find_loop(
    s: Sequence, min_repeats: float = 3.0, min_len: int = 40, max_period: int = 400, stride: int = 128,
    probe: int = _PROBE, skip: Sequence[tuple[int, int]] = (), tail_repeats: float | None = None,
) -> tuple[tuple[int, int, int] | None, float]:
    """The longest back-to-back repetition in `s` (a str, or a str of token ids) as (start, end,
    period) or None, and the recurrence: the share of probes (`probe` items every `stride`, at
    least 16 probes; probes in `skip` ranges or without a letter look for loops but are left out of
    the share) whose text occurs again later (0 without a counted probe). Only runs with
    >= min_repeats copies over >= min_len items are returned (>= tail_repeats for a run that reaches
    the end, min_repeats by default). The tail is searched with any period up to len/tail_repeats;
    elsewhere up to max_period."""
    n = len(s)
    best = _tail_run(s, min_repeats if tail_repeats is None else tail_repeats, min_len)
    w = min(probe, max(1, min_len // 3))
    if n < max(min_len, 2 * w):
        return best, 0.0

    # Elsewhere: probes look for a later copy; one within max_period may start a loop.
    is_text = isinstance(s, str)
    step = max(8, min(stride, (n - w) // _MIN_PROBES))
    probes = recurring = 0
    tail_start = best[0] if best else n
    skip_until = 0
    find = s.find  # type: ignore[attr-defined]
    for i in range(0, n - w, step):
        window = s[i:i + w]
        # A window that starts outside _BLANK is not letterless: one `in` test spares most strips.
        if is_text and window[0] in _BLANK and not window.strip(_BLANK):  # type: ignore[attr-defined]
            if not window.strip(_RULE_CHARS):  # type: ignore[attr-defined]
                continue  # a rule or table border ("|------|"): no loop starts there
            counted = False  # letterless
        else:
            counted = True
            for x, y in skip:  # a loop, not any() over a generator: no closure, so Cython can type it (bench/compiled)
                if x <= i < y:
                    counted = False
                    break
        j = find(window, i + 1)
        if j < 0:
            probes += counted
            continue
        probes += counted
        recurring += counted
        if i >= tail_start or i < skip_until:
            continue
        for _ in range(3):
            if j < 0 or j - i > max_period:
                break
            run = _long_run(s, i, j - i, min_repeats, min_len)
            if run:
                best = _best(best, (run[0], run[1], j - i))
                skip_until = run[1]
                break
            j = find(window, j + 1, i + w + max_period)
    return best, (recurring / probes if probes else 0.0)


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
    if not (_may_hold(prompt, _REPEAT_WORDS) or any(word in prompt for word in _REPEAT_CJK)):
        return None  # no word of the pattern: no match
    found = None
    for m in _REPEAT_REQUEST.finditer(prompt):
        word = m.group(1) or m.group(2)
        if word is None:
            found = found or 0
            continue
        found = max(found or 0, number_value(word))
    return found


def number_value(word: str) -> int:
    """The value of a number as written: digits, English number words ("twelve", "twenty-one", "seventh"), Chinese
    numerals (十一, 二十, 三百; at most 6 characters: a longer run is no number a user writes)."""
    if word.isdigit():
        return int(word)
    if word.isascii():
        return sum(_WORD_VALUES.get(part, 0) for part in re.split(r"[- ]", word.lower()))
    total = digit = 0
    for ch in word[:6]:
        if ch in "十百":
            total += (digit or 1) * (10 if ch == "十" else 100)
            digit = 0
        else:
            digit = _CJK_DIGITS.get(ch, 0)
    return total + digit


_COUNT_WORDS = "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred"
_COUNT = re.compile(  # a number of things asked for: "10 names", "50 short stories", "top 5", "八个", "五条"
    rf"(?<![\d.,])\b(\d{{1,3}}|{_COUNT_WORDS})\s+(?!(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|times|"
    rf"dollars|percent)\b)(?:[a-z-]+\s+){{0,2}}?[a-z]+s\b|\btop\s+(\d{{1,3}}|{_COUNT_WORDS})\b"
    r"|([一二两三四五六七八九十百]{1,4})[个条种首句点项位本部篇道款件则样]",
    re.I)
_ITEM_NUMBER = re.compile(r"[ \t]*(\d{1,3})[.)、]")
_FINAL_MARKS = frozenset(".!?。！？)）\"”")


def _stops_at_its_count(record: GenerationRecord) -> bool:
    """Whether the output is a list whose last item has the number of items the user asked for ("a list of 10
    names" … "10. …", "写五条" … "5."), once, and is whole (it ends on a final mark, or is an earlier item
    again): the model stopped at its count, whatever its items repeat."""
    body = _analysed(record.output).rstrip()
    start = body.rfind("\n") + 1
    item = _ITEM_NUMBER.match(body, start)
    if item is None:
        return False
    count = int(item.group(1))
    asked = (number_value(next(g for g in m.groups() if g)) for m in _COUNT.finditer(last_user_message(record)))
    if count < 3 or count not in asked:
        return False
    text = body[item.end():].strip()
    if not text or len(re.findall(rf"(?m)^[ \t]*{count}[.)、]", body)) > 1:
        return False  # an empty last item, or the count reached before (the list started over)
    return text[-1] in _FINAL_MARKS or text in {_strip_numbering(line) for line in body[:start].split("\n")}


_SPACES = re.compile(r"\s+")
_KEY_END = " \t.。!！?？;；:：,，*_`\"'”“’)）"
_ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")  # the screen compares lines up to digits
_BYTE_KEY_STRIP = b" \t*-#>0.)(:|+"


_LABEL = re.compile(
    r"^(?:[^\W\d_]{1,12}\s*\d+\s*[:：.)、]|第\s*[0-9一二三四五六七八九十百]+\s*[步天章节条个项轮部][:：、]?)\s*"
)
_URLS = re.compile(r"(?:https?|ftp)://\S+")
_MIN_SHORT_BYTES = 6  # the shortest line a line loop counts: two CJK characters ("西瓜"), "Help!"
_EMPTY_ITEM = re.compile(r"^\d+[.)、][\s*_#-]*$")
_EMPTY_ITEM_BYTES = re.compile(r"\n[ \t]*0+(?:[.)]|、)[ \t*_#-]*(?=\n|\Z)".encode())  # on b"\n" + text
_EMPTY_KEY = "<empty list item>"
_ITEM_MARKS = "0123456789.) \t"


def _code_key(line: str) -> str:
    """A code line as compared: as written (similar lines with other numbers are a program's syntax;
    a runaway loop of counted lines is a run of lines with a word changed)."""
    return line.strip()
_MD_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")


def _key(piece: str) -> str:
    """A line or sentence as compared: list numbering and counters ("Step 7:", "选法3：", "第3步") stripped,
    spaces collapsed, lower case, no final punctuation. Other numbers stay: "2 dresses take 4 hours"
    and "3 dresses take 6 hours" say different things."""
    key = piece.strip().lstrip(_LIST_CHARS).strip()
    if key[:1].isalpha() and (label := _LABEL.match(key)):
        key = key[label.end():]  # the pattern is anchored at the start: what `sub` would remove
    if not key.isprintable() or "  " in key:
        # Spaces collapsed (the key has none at its ends). A printable key holds no whitespace but " " (every
        # other whitespace character is a control or separator), so without "  " it is already collapsed:
        # splitting it into words (most of `_key`'s time) is then skipped.
        key = " ".join(key.split())
    return key.lower().rstrip(_KEY_END)


def _strip_numbering(line: str) -> str:
    return _LABEL.sub("", line.strip().lstrip(_LIST_CHARS).strip()) or line.strip()


_is_code_remembered = lru_cache(maxsize=1024)(is_code_line)


def _is_code(line: str) -> bool:
    """`is_code_line`, remembered for the last short lines: the copy rule's pieces ask it again about the
    lines the line units just classified. Long lines are not kept (1,024 lines of 200 KB each would hold
    200 MB in every worker), and they cost little next to the work they come with."""
    return _is_code_remembered(line) if len(line) <= 512 else is_code_line(line)
_NOT_SYMBOL = re.compile(r"[^\W_]+|\s+")  # runs of what is no symbol: a symbol is `[^\w\s]|_`
_ASCII_WORD_SPACE = bytes(c for c in range(128) if chr(c).isalnum() or chr(c).isspace())  # not "_": a symbol


def _has_letters(key: str, k: int = 5) -> bool:
    """Whether a key holds at least `k` letters (any script)."""
    if key[:k].isalpha() and len(key) >= k:
        return True  # the usual case, in C: the key starts with k letters
    count = 0
    for ch in key:
        if ch.isalpha():
            count += 1
            if count >= k:
                return True
    return False


_CJK_ALNUM = "".join(map(chr, range(0x5000, 0xA000))).isalnum()  # CJK ideographs: letters (Unicode 14: all)
_MAYBE_SYMBOL = bytes(
    b" "[0] if c < 0x80 and c in _ASCII_WORD_SPACE or 0x80 <= c < 0xC0 else
    b"c"[0] if 0xE5 <= c <= 0xE9 and _CJK_ALNUM else b"s"[0] for c in range(256)
)
"""UTF-8 bytes as "s" for an ASCII symbol or the first byte of a non-ASCII character that may be one, "c"
for the first byte of a CJK ideograph U+5000-U+9FFF (a letter), " " for the rest."""


def _symbolic(line: str) -> bool:
    """Formula or code-like line: a third or more of its visible characters (URLs aside) are neither
    letters nor digits."""
    if "://" in line:
        line = _URLS.sub("", line)
    visible = len(line) - line.count(" ") - line.count("\t")
    if visible <= 0:
        return False
    if line.isascii():  # the symbols are what is left once letters, digits and spaces are deleted (in C)
        return len(line.encode("ascii").translate(None, _ASCII_WORD_SPACE)) * 3 >= visible
    # ASCII symbols plus the non-ASCII characters other than CJK ideographs bound the symbols (in C): a
    # line of Chinese prose is far under a third.
    if line.encode("utf-8", "surrogatepass").translate(_MAYBE_SYMBOL).count(b"s") * 3 < visible:
        return False
    return len(_NOT_SYMBOL.sub("", line)) * 3 >= visible


def _lines_repeat(text: str, min_chars: int, ran_out: bool) -> bool:
    """Whether lines of the text repeat enough for a line loop, list numbering and digits aside: a line
    three times, two different lines twice each (a block), any line twice when the generation ran into
    the limit, or empty list items ("4.", "37.***"). A screen for the line checks, on UTF-8 bytes
    (translate, split, strip and Counter run in C)."""
    if "\n" not in text:
        return False  # one line: nothing to repeat
    data = text.encode("utf-8", "surrogatepass").translate(_ZERO_DIGITS)
    shortest = min(_MIN_SHORT_BYTES, min_chars)
    # A line counts by its length before the list marks are stripped: a code line keeps its "100:" in its
    # key, so the stripped key may be shorter than the line the exact checks see.
    lines = data.split(b"\n")
    keys = [line.strip(_BYTE_KEY_STRIP) for line in lines if len(line) >= shortest]  # 1.5x faster than map/compress
    distinct = set(keys)
    if len(distinct) < len(keys) - (b"" in distinct and keys.count(b"") - 1):  # a non-empty key repeats
        twice = [c for k, c in Counter(keys).items() if c > 1 and k]
        if ran_out or len(twice) >= 2 or max(twice) >= 3:
            return True
    # Empty items: the search jumps between line starts (the pattern begins with "\n"); screening for "0." first
    # cost more than it saved, numbered lists being common.
    return len(_EMPTY_ITEM_BYTES.findall(b"\n" + data)) >= 2


class _Unit(NamedTuple):
    """A line (or a sentence of a long line) as the line checks see it (a tuple: built ~4x faster than
    a frozen dataclass, and there is one per line)."""

    start: int
    end: int
    key: str
    kind: str = "text"
    """"text", "code" (fenced or code-like, formulas too) or "table" (a table row)."""
    short: bool = False
    """Under `min_segment_chars` or 5 letters ("西瓜", "Yes"): counts only in runs of one line."""


def _units(text: str, fences: list[tuple[int, int]], min_chars: int, echoed: frozenset[str] = frozenset()
           ) -> list[_Unit | None]:
    """The lines of the text (sentences of prose lines over 200 characters) as units in order; None
    marks a break that no run crosses (a line the prompt holds). Blank and short lines, table rules
    and template tokens alone on a line are skipped."""
    out: list[_Unit | None] = []
    append = out.append
    unit = tuple.__new__  # a _Unit without NamedTuple's Python-level __new__ (one per line)
    min_code = min(_MIN_SHORT_BYTES, min_chars)
    pos = 0
    fence_at, fence_count = 0, len(fences)  # fences are disjoint and in text order: one pointer walks them
    for raw in text.split("\n"):
        start, pos = pos, pos + len(raw) + 1
        line = raw.strip()
        if not line:
            continue
        first = line[0]
        if first.isdecimal() and _EMPTY_ITEM.match(line):  # \d is a decimal digit: the same test
            append(unit(_Unit, (start, start + len(raw), _EMPTY_KEY, "text", False)))  # "4.", "37.***": empty item
            continue
        if first in "<[" and SPECIAL_TOKEN.fullmatch(line):
            continue  # a template token printed alone on its line ("<|im_end|>") is neither text nor a break
        while fence_at < fence_count and fences[fence_at][1] <= start:
            fence_at += 1
        fenced = fence_at < fence_count and fences[fence_at][0] <= start
        # raw.strip() == line: the line starts `lead` characters into raw and ends at lead + len(line).
        if first == "|" and (not fenced or line[-1] == "|" or line.count("|") >= 3):
            # (in a fence, "| [] => []" is a program's match arm, "| 1 | 2 | 5" a grid's row)
            if len(line.encode("utf-8", "surrogatepass").strip(_BYTE_KEY_STRIP)) >= _MIN_SHORT_BYTES:
                lead = len(raw) - len(raw.lstrip())
                append(unit(_Unit, (start + lead, start + lead + len(line), line, "table", False)))
            continue
        plain = _MD_LINK.sub(r"\1", raw) if "](" in raw else raw  # a markdown link is its text
        if fenced or _is_code(plain) or _symbolic(plain):
            # A code line's key is the line as written (`_code_key`: the stripped line); a fence opening a list
            # item's block ("2. ```python") without the item's number.
            if len(line.encode("utf-8", "surrogatepass").strip(_BYTE_KEY_STRIP)) >= min_code:
                lead = len(raw) - len(raw.lstrip())
                opens = first.isdecimal() and fence_at < fence_count and fences[fence_at][0] == start
                key = line.lstrip(_ITEM_MARKS) if opens else line
                append(unit(_Unit, (start + lead, start + lead + len(line), key, "code", False)))
            continue
        if len(raw) > 200:
            pieces = []
            offset = start
            for part in _sentences(raw):
                pieces.append((offset, part))
                offset += len(part)
        else:
            pieces = [(start, raw)]
        for offset, part in pieces:
            key = _key(_MD_LINK.sub(r"\1", part) if "](" in part else part)
            if key in echoed:
                if out and out[-1] is not None:
                    append(None)
                continue
            if ((len(key) >= 2 and key[:2].isalpha()) or _has_letters(key, 2)) and \
                    len(key.encode("utf-8", "surrogatepass")) >= _MIN_SHORT_BYTES:
                body = part.strip()
                lead = len(part) - len(part.lstrip())
                short = len(key) < min_chars or not ((len(key) >= 5 and key[:5].isalpha()) or _has_letters(key))
                append(unit(_Unit, (offset + lead, offset + lead + len(body), key, "text", short)))
    return out


_NUMBER_ONLY = re.compile(r"\s*(?:\*\*)?(\d{1,6})[.)]?(?:\*\*)?")
_ITEM_START = re.compile(r"[ \t]*(?:\*\*)?(\d{1,6})(?:\*\*)?[.)]")  # "12.", "**12.**", "**12**."


def _next_number_begun(text: str, end: int, rest: str) -> bool:
    """Whether `rest` is only the number of the item after the one ending at `end`, perhaps cut ("33" after
    "32. …", "25" after "250. …")."""
    number = _NUMBER_ONLY.fullmatch(rest)
    if number is None:
        return False
    item = _ITEM_START.match(text, text.rfind("\n", 0, end) + 1)
    return item is not None and str(int(item.group(1)) + 1).startswith(number.group(1))


def _reaches_end(text: str, end: int, keys: Iterable[str], partial_only: bool = False) -> bool:
    """Whether evidence ending at `end` runs to the end of the text: nothing follows but blank space or
    one last line that is cut from a copy of the repeated lines ("64. Sunday Morning by Velvet Under");
    with `partial_only`, only the latter (the output was cut inside the loop)."""
    body_end = len(text.rstrip())
    if end >= body_end:
        return not partial_only
    rest = text[end:body_end]
    if _next_number_begun(text, end, rest):
        return True  # "32. Create a new field …\n\n33": cut as the next copy began
    if rest.strip().count("\n"):
        # Several lines follow: the loop still runs when each of them copies text from before the end of
        # the evidence (a copy of the repeated lines whose numbering or layout changed, then a cut one).
        return not partial_only and all(
            _strip_numbering(line) in text[:end] for line in rest.split("\n") if line.strip()
        )
    partial = _key(rest)
    if len(partial) < 3:
        return False
    code = _code_key(rest)
    keys = list(keys)
    if partial_only:  # cut inside a copy: not a whole copy of a repeated line, but sharing its beginning
        found = any((k.startswith((partial, code)) or partial.startswith(k)) and k not in (partial, code) for k in keys)
    else:
        found = any(k.startswith((partial, code)) or partial.startswith(k) for k in keys)
    if not found and _DIGIT_RUN.search(partial):
        # The next copy's first line, its counter moved on: "Year 14,000,000" after "Year 13,000,000:".
        numbered = _DIGIT_RUN.sub("0", partial)
        found = any(_DIGIT_RUN.sub("0", k).startswith(numbered) and k != partial for k in keys)
    return found


def _near(a: str, b: str, similarity: float, min_common: int) -> bool:
    """One line with a word changed: the common start and end cover `similarity` of the longer one
    and at least `min_common` characters (short lines with a changed word say different things; a URL counts as
    one character)."""
    if a == b:
        return True
    if "://" in a and "://" in b:  # links say which item each line is about: their shared prefix is no shared text
        a, b = _URLS.sub("\u2022", a), _URLS.sub("\u2022", b)
    la, lb = len(a), len(b)
    longest = max(la, lb)
    if min(la, lb) < similarity * longest:
        return False
    limit = min(la, lb)
    need = max(similarity * longest, min_common)
    if not limit or a[0] != b[0] and a[-1] != b[-1]:
        return need <= 0  # nothing in common at either end (the usual case: a test of two characters)
    i = _match_forward(a, 0, b, 0, limit, step=8)  # lines differ early: a short first step
    return i + _match_backward(a, la, b, lb, limit - i, step=8) >= need


def _names_its_item(text: str, unit: _Unit) -> bool:
    """Whether a line opens, after its list marks, with a label that names its item ("Camel 2:", "骆驼2：") and gives
    it a quantity ("2 bricks (20 kg)"): each such line speaks of another item. A description that comes back under
    new labels ("Restaurant 3: The Golden Dragon, famous for…") is the same item again."""
    return _LABEL.match(text[unit.start:unit.end].strip().lstrip(_LIST_CHARS)) is not None and \
        any(ch.isdigit() for ch in unit.key)


def _numbered_apart(run: list[_Unit]) -> bool:
    """Whether every line of a run of near lines holds numbers, and no two lines the same ones: each gives the
    figures of another item. A counter (1, 2, 3 … line by line: "The answer to question 3 is …") numbers the
    copies and gives no item figures of its own: it is left out."""
    numbers = [[int(n) for n in _DIGIT_RUN.findall(u.key)] for u in run]
    width = len(numbers[0])
    if all(len(n) == width for n in numbers):
        kept = [k for k in range(width) if any(b[k] - a[k] != 1 for a, b in zip(numbers, numbers[1:], strict=False))]
        numbers = [[n[k] for k in kept] for n in numbers]
    figures = [tuple(n) for n in numbers]
    return all(figures) and len(set(figures)) == len(figures)


def _named_apart(text: str, run: list[_Unit]) -> bool:
    """Whether the first two lines of a run of one key differ by their labels ("Camel 1:", "Camel 2:"): each
    line speaks of another item, where list numbering alone ("12. 西瓜", "13. 西瓜") does not."""
    first, second = run[:2]
    return text[first.start:first.end] != text[second.start:second.end] and _names_its_item(text, first) and \
        _names_its_item(text, second)


def _line_run(units: list[_Unit | None], cfg: RepetitionConfig, text: str
               ) -> tuple[int, int, int, str, bool, bool] | None:
    """The longest run of consecutive units of one kind that are the same line, or the same line with a
    word changed, as (start, end, copies, first line, exact, reaches the end) when it is long enough:
    `min_repeats` copies of one line reaching the end of the text, one more elsewhere;
    `min_near_repeats` copies of a line with a word changed reaching the end, one more elsewhere; table rows
    only identical; code lines (similar by nature) `min_code_repeats` copies running to the end (a runaway
    loop cut off)."""
    best: tuple[int, int, int, str, bool, bool] | None = None
    run: list[_Unit] = []
    exact = True

    shortest = min(cfg.min_repeats, cfg.min_near_repeats)  # a shorter run is no candidate: close() is not called

    def close() -> None:
        nonlocal best
        at_end = _reaches_end(text, run[-1].end, (u.key for u in run[-2:]))
        if run[0].kind == "code":
            ok = at_end and len(run) >= cfg.min_code_repeats
        elif run[0].short:
            ok = exact and len(run) >= cfg.min_short_repeats  # "12. 西瓜 / 13. 西瓜 / …"
        elif exact and not at_end and len(run) < 2 * cfg.min_repeats and _named_apart(text, run):
            ok = False  # "Camel 1: 2 bricks / Camel 2: 2 bricks / …" and the text goes on: an enumeration
        elif not exact and not at_end and len(run) < 2 * cfg.min_repeats and _numbered_apart(run):
            ok = False  # "90% … in the first quarter", "92% … in the second quarter" and the text goes on: per item
        else:
            # (one copy more where the text goes on after the run: the model got out of it, as a list does)
            ok = len(run) >= (cfg.min_repeats if exact else cfg.min_near_repeats) + (not at_end)
        if ok and sum(u.end - u.start for u in run) >= cfg.min_short_loop_chars and \
                (best is None or len(run) > best[2]):
            best = (run[0].start, run[-1].end, len(run), run[0].key, exact, at_end)

    similarity, min_common = cfg.near_line_similarity, cfg.min_loop_chars
    last = None  # run[-1], None when the run is empty
    for unit in units:
        # Different lines are near only when both hold `min_common` characters (their common start and end
        # do): the length test spares most calls.
        if unit is not None and last is not None and unit.kind == last.kind and (
            unit.key == last.key or unit.kind != "table" and len(unit.key) >= min_common
            and len(last.key) >= min_common and _near(last.key, unit.key, similarity, min_common)
        ):
            exact = exact and last.key == unit.key
            run.append(unit)
            last = unit
            continue
        if len(run) >= shortest:
            close()
        run, exact, last = ([unit] if unit is not None else []), True, unit
    if len(run) >= shortest:
        close()
    return best


_LIST_NUMBER = re.compile(r"[ \t]*(?:\*\*)?(?:\d{1,4}(?:\*\*)?[.)、．]|[（(]\d{1,4}[)）])")  # "12.", "12、", "（12）"


def _numbered_list(text: str, units: list[_Unit | None]) -> bool:
    """Whether every line of `units` is a numbered list item ("11. Robot is the friend of man,", "11、"): copies of a
    block numbered on are a list that came back, not a song's chorus."""
    return all(u is None or _LIST_NUMBER.match(text, u.start) for u in units)


def _block_run(units: list[_Unit | None], min_repeats: float) -> tuple[int, int, int, int] | None:
    """The longest block of >= 2 lines repeated back to back >= min_repeats times, as (first unit,
    end unit, block length, copies) over the unit list (the last `_MAX_UNITS` of them)."""
    seq = [u for u in units[-_MAX_UNITS:] if u is None or not u.short]
    keys = [u.key if u is not None else None for u in seq]
    n = len(keys)
    best: tuple[int, int, int, int] | None = None
    # Candidate block lengths: distances between consecutive copies of a line.
    last: dict[str, int] = {}
    periods: set[int] = set()
    for i, key in enumerate(keys):
        if key is None:
            continue
        if key in last and 2 <= i - last[key] <= n // 2:
            periods.add(i - last[key])
        last[key] = i
    for k in sorted(periods):
        match = 0
        for i in range(k, n):
            if keys[i] == keys[i - k]:  # a break (code line) matches a break
                match += 1
                length = match + k
                if length >= min_repeats * k and (best is None or length > best[1] - best[0]) and \
                        sum(key is not None for key in keys[i + 1 - k:i + 1]) >= 2:
                    best = (i + 1 - length, i + 1, k, length // k)
            else:
                match = 0
    if best is None:
        return None
    # Back to indexes of `units`.
    index = [i for i, u in enumerate(units) if u is None or not u.short][-_MAX_UNITS:]
    return index[best[0]], index[best[1] - 1] + 1, best[2], best[3]


_MAX_BLOCK_ITEMS = 8  # a list re-emitted with small changes: at most this many items a copy
_ALIKE_ITEM = 0.75  # difflib's ratio of an item and its counterpart one copy before: the same item reworded
_MIN_CUT_COPIES = 2.5
_MAX_CUT_COPIES = 6  # copies measured at most: enough evidence, and a bound on the difflib calls
_ITEM_CHARS = 300  # characters of an item compared (a bound on difflib's cost for long lines)


def _likeness(a: str, b: str, cut: bool) -> int:
    """How item `a` stands to item `b` one copy before it: 0 unlike, 1 the same, 2 reworded in one place (a
    template's slot: "练习2：请用“努力”造句" after "练习1：请用“坚持”造句" says a different thing), 3 reworded in
    several places (a loop rephrasing itself). `cut`: `a` is the last item, which the cut may have
    shortened, so it is set against as much of `b`."""
    a = a[:_ITEM_CHARS]
    b = b[:len(a)] if cut else b[:_ITEM_CHARS]
    if a == b:
        return 1
    if min(len(a), len(b)) < 0.6 * max(len(a), len(b)):
        return 0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.quick_ratio() < _ALIKE_ITEM or matcher.ratio() < _ALIKE_ITEM:
        return 0
    ops = [op for op, *_ in matcher.get_opcodes()]
    if cut and ops[-1] != "equal":
        ops.pop()  # where the cut fell, not a change
    changed = sum(op != "equal" for op in ops)
    return 1 if not changed else 3 if changed > 1 else 2


def _near_block_to_cut(units: list[_Unit | None]) -> tuple[int, int, int, float] | None:
    """A block of lines that keeps coming back reworded until the output is cut ("1. 提供更多的信息：… 2. …
    3. … 4. 提供更多的信息：…" to the limit), as (first unit, end unit, block length, copies): walking back
    from the last line (after the last break), each line is the same as, or reworded from, the one a block
    before it, over >= `_MIN_CUT_COPIES` copies, and at least half of the lines that changed changed in
    several places (a template whose items differ in one slot says different things). Block lengths are
    tried where a line comes back word for word (a list that drifts keeps some items)."""
    first = max((i + 1 for i, u in enumerate(units) if u is None), default=0)
    first = max(first, len(units) - _MAX_UNITS)
    seq = [(i, u) for i, u in enumerate(units[first:], first) if u is not None and u.kind == "text" and not u.short]
    keys = [u.key for _, u in seq]
    n = len(keys)
    last: dict[str, int] = {}
    periods: set[int] = set()
    for i, key in enumerate(keys):
        if key in last and 2 <= i - last[key] <= min(_MAX_BLOCK_ITEMS, n // 2):
            periods.add(i - last[key])
        last[key] = i
    for k in sorted(periods):
        i, changed, rephrased = n - 1, 0, 0
        while i - k >= 0 and n - 1 - i < (_MAX_CUT_COPIES - 1) * k:
            like = _likeness(keys[i], keys[i - k], i == n - 1)
            if not like:
                break
            changed += like > 1
            rephrased += like > 2
            i -= 1
        copies = (n - 1 - i + k) / k
        if copies >= _MIN_CUT_COPIES and rephrased * 2 >= changed:
            return seq[i + 1 - k][0], seq[-1][0] + 1, k, copies
    return None


def _repeated_items(units: list[_Unit | None], text: str, echoed: frozenset[str]) -> tuple[str, int, float] | None:
    """The most repeated line (not one the prompt holds, nor one that names its item: "骆驼2：驮2块砖" is about
    another camel than "骆驼1：驮2块砖"), its count, and the share of the output that the extra copies of all
    repeated lines cover."""
    lines = [u for u in units if u is not None and u.kind != "code" and not u.short and u.key not in echoed]
    counts = Counter(u.key for u in lines)
    if len(counts) == len(lines):
        return None
    keys = [u.key for u in lines if counts[u.key] == 1 or not _names_its_item(text, u)]  # (the label test is slow)
    n = len(text)
    if len(set(keys)) == len(keys):
        return None
    counts = Counter(keys)
    repeated = [(k, c) for k, c in counts.items() if c >= 2]
    top, count = max(repeated, key=lambda kc: (kc[1], len(kc[0])))
    lengths = {u.key: u.end - u.start for u in units if u is not None and not u.short}
    extra = sum(lengths[k] * (c - 1) for k, c in repeated)
    return top, count, min(1.0, extra / max(1, n))


_MIN_TABLE_ROWS = 9
_MIN_REPEATED_ROWS = 4


def _repeated_rows(units: list[_Unit | None], request: str, text: str) -> tuple[int, int, list[Span]] | None:
    """A table that keeps coming back to the same rows: >= `_MIN_REPEATED_ROWS` of its rows, and a third of
    them, exact copies of earlier rows (a table lists different things; a model in a loop lists them
    again). Rows the prompt holds (a grid reprinted after each step) do not count, nor rows a new table takes
    from an earlier one under another header (a second table building on the first). As (repeated rows,
    rows, spans of the copies)."""
    rows: list[tuple[_Unit, str]] = []  # (row, the header of its table)
    header, last = "", None  # the current table's first row; the row before (None: a text line came between)
    for u in units:
        if u is None or u.kind != "table":
            last = None
            continue
        if last is None or "\n\n" in text[last.end:u.start]:
            header = u.key  # a table starts: after text, a blank line or a break
        last = u
        if u.key not in request:
            rows.append((u, header))
    if len(rows) < _MIN_TABLE_ROWS:
        return None
    seen: dict[str, set[str]] = {}  # a row's key: the headers of the tables it came in
    copies = []
    for u, header in rows:
        tables = seen.setdefault(u.key, set())
        if header in tables:
            copies.append(Span(u.start, u.end, "repeated row"))
        tables.add(header)
    if len(copies) < _MIN_REPEATED_ROWS or len(copies) * 3 < len(rows):
        return None
    return len(copies), len(rows), copies


@lru_cache(maxsize=4096)
def _prompt_facts(request: str, last_user: str, min_chars: int) -> tuple[int | None, bool, frozenset[str]]:
    """(copies asked for, asks for a song or poem, the prompt's own lines as keys); cached: every
    sample of a probe has the same prompt."""
    keys = frozenset(k for k in (_key(line) for line in request.split("\n")) if len(k) >= min_chars)
    return _requested_repeats(last_user), asks_for_song(last_user), keys


def _fences(text: str) -> list[tuple[int, int]]:
    return fence_blocks(text)[0]


def ends_in_loop(record: GenerationRecord, ctx: DetectorContext) -> bool:
    """Whether the output ends inside a loop (the `repetition` finding reaches the end of the text): what
    `missing_eos` reads as cut off while looping when no finish reason was recorded. Exactly the
    finding's `reaches_end` (remembered: `repetition` scored the same record just before). A text
    screen here (the last 32 characters occur earlier, or a cut last line began before) missed loops
    whose last copy varies ("Þis þeah þeah þeah.") and near copies running to the end."""
    if len(record.output.rstrip().rstrip("\ufffd")) < ctx.config.repetition.min_loop_chars:
        return False  # a short loop ("你好！" ×5) is not read as a cut
    finding = _memo_repetition(record, ctx)
    return finding.flagged and bool(finding.details.get("reaches_end")) and not _stops_at_its_count(record)


def rewrites_itself(record: GenerationRecord, ctx: DetectorContext) -> bool:
    """Whether the `repetition` finding is a loop that drifts (`near_loop`: the text copies itself with small
    changes, an answer rewritten again and again). Cut without a finish reason, its next copy may stop anywhere,
    even before its copying shows ("---\n\n**Ultra-Enhanced" after "Enhanced" and "Further Enhanced" answers)."""
    return _memo_repetition(record, ctx).details.get("kind") == "near_loop"


_MEMO: dict[tuple, Finding] = {}
_MEMO_SIZE = 64
_CONFIGS: dict[RepetitionConfig, int] = {}
"""A number per distinct config: the memo key holds it instead of the config, whose dataclass hash is
computed anew (over every field) on each lookup."""
_last_config: tuple[RepetitionConfig | None, int] = (None, 0)
"""(the config object last seen, its number): the next calls pass the same object. One tuple, read once per
call, so a thread never pairs one config with another's number."""


def _config_number(cfg: RepetitionConfig) -> int:
    """The number of `cfg` in `_CONFIGS` (equal configs share one), by identity for the object last seen
    (a frozen dataclass: the same object holds the same thresholds)."""
    global _last_config
    last = _last_config
    if last[0] is cfg:
        return last[1]
    number = _CONFIGS.setdefault(cfg, len(_CONFIGS))
    _last_config = (cfg, number)
    return number


def _memo_repetition(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    """The repetition finding, remembered for the last few records: `missing_eos` and `truncation` ask
    about the record that `repetition` just scored. Keyed by everything the finding depends on (the
    output, its stop reason and token ids, the system and user turns by role, the thresholds): not the
    joined request text, which a system turn plus a user turn shares with one user turn holding both,
    though only the last user turn says how many copies were asked for. The same finding object comes
    back, so callers must not change it."""
    ids = record.output_token_ids
    key = (record.output, record.stop_reason, conversation_key(record), tuple(ids) if ids else None,
           _config_number(ctx.config.repetition))
    found = _MEMO.get(key)
    if found is None:
        found = _detect(record, ctx)
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = found
    return found


_CHUNK = 60  # characters per piece compared with the text before it
_MIN_COPY_RUN = 4  # copied pieces in a row (240+ characters) that show a loop the copying did not end in
_COPY_STEP = 8


_PROSE_CHARS = 150
_WORD = re.compile(r"[^\W\d_]{2,}")
_CODE_SYMBOL = re.compile(r"[;{}\[\]<>_%]")


def _prose(line: str) -> bool:
    """A long line of running words with formulas inside ("If a^3 = c^3 - b^3, then a = c - b. However, ..."):
    prose, though the code-line test sees two "=" in it. Words fill >= half of its characters and "=" is
    its only code symbol."""
    return (len(line) >= _PROSE_CHARS and _CODE_SYMBOL.search(line) is None
            and sum(map(len, _WORD.findall(line))) * 2 >= len(line))


def _chunks(text: str, fences: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The text as consecutive pieces of >= `_CHUNK` characters: short lines merged, lines over 300
    characters cut after sentence ends; fenced code left out."""
    out: list[tuple[int, int]] = []
    start = -1
    pos = 0
    fence_at, fence_count = 0, len(fences)  # fences are disjoint and in text order: one pointer walks them
    for raw in text.split("\n"):
        a, pos = pos, pos + len(raw) + 1
        while fence_at < fence_count and fences[fence_at][1] <= a:
            fence_at += 1
        if line_is_token := raw[:1] in "<[" and SPECIAL_TOKEN.fullmatch(raw.strip()) is not None:
            pass  # template tokens on their own line belong to the text around them
        in_fence = fence_at < fence_count and fences[fence_at][0] <= a
        if not line_is_token and (in_fence or _is_code(raw) and not _prose(raw)):
            if start >= 0:
                out.append((start, a - 1))
                start = -1
            continue
        if len(raw) > 300:
            if start >= 0:
                out.append((start, a - 1))
                start = -1
            piece = a
            for m in _SENTENCE_END.finditer(raw):
                cut = a + m.end()
                if cut - piece >= _CHUNK:
                    out.append((piece, cut))
                    piece = cut
            if a + len(raw) - piece > 0:
                out.append((piece, a + len(raw)))
            continue
        if start < 0:
            start = a
        if a + len(raw) - start >= _CHUNK:
            out.append((start, a + len(raw)))
            start = -1
    if start >= 0 and len(text) - start > 0:
        out.append((start, len(text)))
    return out


def _piece_cover(text: str, a: int, b: int, request: str, min_match: int, need: float) -> tuple[int, tuple[int, int]]:
    """(characters of text[a:b] in stretches of >= `min_match` that occur before `a` and not in the request, the
    longest such stretch), walked window by window. The walk stops once the characters left cannot make up
    `need` (a stretch found at i covers at most b - i): then the piece is not copied and `longest` is not read;
    `need` 0 walks to the end."""
    covered = 0
    longest = (0, 0)
    i = a
    while i <= b - _PROBE and covered + b - i >= need:
        window = text[i:i + _PROBE]
        j = text.find(window, 0, a) if _WORD_CHAR.search(window) and "://" not in window else -1
        if j < 0:
            i += _COPY_STEP
            continue
        length = _PROBE + _match_forward(text, j + _PROBE, text, i + _PROBE, min(b - i - _PROBE, a - j - _PROBE))
        if length >= min_match and text[i:i + min_match] not in request:
            covered += length
            if length > longest[1] - longest[0]:
                longest = (i, i + length)
        i += max(length, _COPY_STEP)
    return covered, longest


def _blank_between(text: str, a: int, b: int, fences: list[tuple[int, int]]) -> bool:
    """Whether text[a:b] holds only whitespace and fenced code (which is no piece): two copied pieces around a code
    block are back to back ("…here is the corrected version:" / code / "This version should now work…")."""
    for x, y in fences:
        if x < b and y > a:
            if text[a:x].strip():
                return False
            a = max(a, y)
    return not text[a:b].strip()


def _copies(text: str, fences: list[tuple[int, int]], request: str, min_share: float = 0.8, min_match: int = 32
            ) -> tuple[float, int, int, bool, bool, int]:
    """(share of the output in pieces copied from the text before them, copied pieces, where the first
    starts, whether one is a third copy, whether copied pieces reach the end, the longest run of copied pieces
    back to back: a loop copies long stretches in a row, a template per item copies a piece or two between each
    item's own text). A piece is copied when
    stretches of >= `min_match` characters that occur earlier in the output cover >= `min_share` of it:
    a loop that drifts copies long stretches with small changes, templated writing (claims, per-item
    boilerplate) only reuses short phrases. A third copy: the piece's longest stretch occurs twice
    before it. Stretches the prompt holds (echoes) do not count. A piece is examined only when the text
    at a quarter, half or three quarters of it occurred before."""
    n = len(text)
    copied = pieces = run = longest_run = 0
    first = run_end = -1
    third = last = False
    body_end = len(text.rstrip())
    for a, b in _chunks(text, fences):
        if a == 0 or b - a < _PROBE:
            continue
        # A piece four fifths copied has text seen before at a quarter, half or three quarters of it.
        quarter = (b - a - _PROBE) // 4
        q1, q2, q3 = a + quarter, a + 2 * quarter, a + 3 * quarter
        if text.find(text[q1:q1 + _PROBE], 0, a) < 0 and text.find(text[q2:q2 + _PROBE], 0, a) < 0 and \
                text.find(text[q3:q3 + _PROBE], 0, a) < 0:
            continue
        need = min_share * (b - a)
        covered, longest = _piece_cover(text, a, b, request, min_match, need)
        if covered >= need:
            copied += b - a
            pieces += 1
            if first < 0:
                first = a
            third = third or text.count(text[longest[0]:longest[1]], 0, a) >= 2
            last = body_end - b < _CHUNK  # copying goes on to the end (a short cut piece may follow)
            run = run + 1 if run_end >= 0 and _blank_between(text, run_end, a, fences) else 1
            run_end = b
            longest_run = max(longest_run, run)
    return copied / max(1, n), pieces, first, third, last, longest_run


def early_exit_finding(text: str, details: dict) -> Finding:
    """The backend cut this generation because its last tokens repeated one unit many times: proof of a
    loop on token ids even where the text analysis falls short (symbol runs like "5 5 5", whitespace)."""
    start = details.get("loop_start", max(0, len(text) - 200))
    details = {**details, "kind": "early_exit", "reaches_end": True}
    return Finding(NAME, True, calibrated(NAME, "early_exit"),
                   "Generation was cut early: its tail repeated one unit (early exit).",
                   [Span(start, len(text), "loop (early exit)")], details)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


_Found = tuple[float, str, str, list[Span], bool]
"""A candidate finding: (strength, kind, explanation, spans, whether it reaches the end of the text)."""


class _Prompt:
    """What the prompt says, looked up once per record and only when a candidate needs it."""

    def __init__(self, record: GenerationRecord, cfg: RepetitionConfig) -> None:
        self._record = record
        self._cfg = cfg
        self._facts: tuple[int | None, bool, frozenset[str]] | None = None

    @property
    def facts(self) -> tuple[int | None, bool, frozenset[str]]:
        if self._facts is None:
            self._facts = _prompt_facts(request_text(self._record), last_user_message(self._record),
                                        self._cfg.min_segment_chars)
        return self._facts

    @property
    def asked(self) -> bool:
        return self._facts is not None

    def needed(self, base: float) -> float:
        """Copies needed for a loop: more when the user asked for repetition (2 × N + 2, or 50)."""
        requested = self.facts[0]
        if requested is None:
            return base
        return max(base, 2 * requested + 2 if requested else 50)


def detect_repetition(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    return _memo_repetition(record, ctx)


def _detect(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    cfg = ctx.config.repetition
    text = _analysed(record.output)
    n = len(text)
    if len(text.strip()) < cfg.min_output_chars:
        if record.stop_reason == "loop":
            return early_exit_finding(text, {"kind": None})
        return Finding(NAME, False, 0.0, "Too short to judge repetition.", [], {"kind": None})

    details: dict = {"kind": None}
    fences, open_fence = fence_blocks(text)
    ran_out = record.stop_reason in ("length", "loop")
    loop, recurrence = find_loop(
        text, cfg.min_repeats, cfg.min_loop_chars, cfg.max_period, cfg.probe_stride, skip=fences,
        tail_repeats=cfg.min_repeats_at_limit if ran_out else cfg.min_repeats,
    )
    if loop is None and n < 2 * cfg.min_loop_chars:
        loop = _tail_run(text, cfg.min_short_repeats, min(cfg.min_loop_chars, cfg.min_short_loop_chars))
    details["recurrence"] = round(recurrence, 4)
    prompt = _Prompt(record, cfg)
    findings: list[_Found] = []
    if loop:
        findings += _char_loop(record, cfg, loop, fences, ran_out, prompt, details)
    if not findings:
        repeats = _lines_repeat(text, cfg.min_segment_chars, ran_out)
        if repeats or recurrence >= _LINE_SCREEN:
            findings += _line_loops(record, cfg, fences, recurrence, repeats, ran_out, prompt, details)
    if not findings:
        findings += _reemitted(record, cfg, prompt, details)
    if not findings and record.stop_reason == "unknown" and not _ends_sentence(text):
        # (a copy that stops after a sentence stops where a phrase ends: most outputs end so, and are spared the call)
        findings += _copied_to_cut(record, cfg, text, fences, prompt, details)
    if not findings and (ran_out or record.stop_reason == "unknown" and (_looks_cut(text) or open_fence)):
        findings += _drift_loop(record, cfg, prompt, details)
    if not findings and (ran_out or record.stop_reason == "unknown") and _may_be_rewritten(text, recurrence):
        findings += _rewritten(record, text, ran_out, details)
    if prompt.asked and prompt.facts[0] is not None:
        details["requested_repeats"] = prompt.facts[0]
    if not findings:
        if record.stop_reason == "loop":
            return early_exit_finding(text, details)
        return Finding(NAME, False, unflagged_score(max(recurrence, details.get("copied_share", 0.0)) / 2),
                       "No loop or repeated lines.", [], details)

    strength, kind, explanation, spans, at_end = max(findings, key=lambda f: f[0])
    details["kind"] = kind
    details["reaches_end"] = at_end
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
    details["strength"] = round(strength, 4)
    return Finding(NAME, True, calibrated(NAME, kind), explanation, spans, details)


_OPENING = 40  # characters of the answer's first line that a re-emitted answer starts with again
_MIN_OPENING = 20


def _reemitted(record: GenerationRecord, cfg: RepetitionConfig, prompt: _Prompt, details: dict) -> list[_Found]:
    """The whole answer re-emitted: its opening (the first 40 characters of its first line) comes back
    `min_repeats` - 1 times or more, each copy but the last the first answer again (its common start
    with it covers `near_line_similarity` of both), whatever separates the copies (made-up turns
    "User: … / Joi:", blank lines). Letters, emails or stories the user asked several of share an
    opening line at most: their bodies differ."""
    text = _analysed(record.output)
    body = text.lstrip()
    lead = len(text) - len(body)
    line_end = body.find("\n")
    opening = (body if line_end < 0 else body[:line_end]).rstrip()[:_OPENING]
    if len(opening) < _MIN_OPENING or body.count(opening) < 3 or not _has_letters(opening, 5):
        return []
    starts = [0]
    while (j := body.find(opening, starts[-1] + 1)) >= 0:
        starts.append(j)
    first = starts[1]
    for x, y in zip(starts[1:], starts[2:], strict=False):
        length = y - x
        if not (cfg.near_line_similarity * first <= length <= first / cfg.near_line_similarity):
            return []
        if _match_forward(body, 0, body, x, min(first, length)) < cfg.near_line_similarity * max(first, length):
            return []
    copies = len(starts)
    if copies < prompt.needed(cfg.min_repeats) or body[:first].strip() in request_text(record):
        return []
    details.update(answer_chars=first, answer_copies=copies)
    a = lead + starts[1]
    at_end = len(body.rstrip()) - starts[-1] <= first / cfg.near_line_similarity  # not something else after
    return [(min(1.0, copies / 10 + (len(body) - starts[1]) / len(text)), "reemitted",
             f"The answer ({first} characters) is emitted {copies} times (made-up turns or blank lines between).",
             [Span(a, len(text.rstrip()), f"{copies - 1} more copies")], at_end)]


# A version of the answer announced as a revision of the last: "Here's the **final, accurate 5-country list**:",
# "Here is a slightly refined version", "**Even More Polished Version:**", "以下是修改后的版本", "**终极版：**". Not a
# per-item "Here is the corrected sentence", "Here's the updated code" or "最终答案：" (each item has its own).
_REVISED = r"(?:final|refined|revised|improved|definitive|polished|streamlined|optimi[sz]ed|enhanced|rewritten|" \
    r"ultimate)"
_REVISION = re.compile(
    rf"\bhere(?:'s|’s| is)\s+(?:the|a|an|my|our)\s+(?:[*_\s]|[\w-]+[ ,]+){{0,6}}?{_REVISED}\b"
    rf"|\b{_REVISED}\s+(?:[\w-]+\s+)?(?:version|draft)(?:\s*[*_]+)?\s*(?:[:：]|$)"
    r"|以下是(?:最终|修改后|改进后|优化后|修订后|润色后|完善后)的|(?:优化|最终|终极|修改|改进|润色|精简)版本?[*_]*[:：]"
    r"|(?:修改|改进|优化|修订|润色|完善)后的版本[*_]*[:：]",
    re.I | re.M)
_MIN_REVISIONS = 4
_ITEM_OPENING = re.compile(r"(?:[ \t]*(?:\d{1,3}[.)]|[-*•])[ \t]+|(?: {2}|\t)[ \t]*)[*_]*")  # (marks first)


def _item_label(text: str, pos: int) -> bool:
    """Whether the announcement at `pos` opens a list item or a line indented under one (two spaces or a tab; one
    space before a paragraph is how some tokenizers write it): the item's own label ("3. Original: …\n   **Improved
    version:** …"), not another version of the whole answer."""
    opening = _ITEM_OPENING.match(text, text.rfind("\n", 0, pos) + 1)
    return opening is not None and opening.end() == pos


# A request for several versions ("give me 8 versions", "three drafts", "写三个版本"), not a word about versions.
_ASKS_VERSIONS = re.compile(r"\b(?:\d+|two|three|four|five|six|seven|eight|nine|ten|several|multiple|a few|different|"
                            r"some)\s+(?:[\w-]+\s+)?(?:versions|drafts|variations|iterations)\b"
                            r"|[几多两二三四五六七八九十\d]+\s*[个种稿份]?(?:不同的)?版本|几稿|多稿", re.I)


def _may_be_rewritten(text: str, recurrence: float) -> bool:
    """A cheap bound before `_REVISION` (a pattern without a literal start scans every position): each
    announcement holds one of these literals. English versions of one answer share phrases, so they recur; Chinese
    ones reworded need not."""
    if text.isascii():
        if recurrence < _LINE_SCREEN:
            return False
        marks = 0
    else:
        marks = text.count("版") + text.count("以下是")
        if recurrence < _LINE_SCREEN:
            return marks >= _MIN_REVISIONS
    return marks + text.count("ere's ") + text.count("ere’s ") + text.count("ere is ") + text.count("ersion") + \
        text.count("raft") >= _MIN_REVISIONS


def _rewritten(record: GenerationRecord, text: str, ran_out: bool, details: dict) -> list[_Found]:
    """The answer given again and again as a "final" or "refined" version of itself, with new words each time,
    four times and cut inside the next (the limit, or the text stops open: `_stops_open`), or eight times: the model
    cannot stop rewriting, and the loop runs to the end of the output. The copies differ, so only the announcements
    show it. Versions the user asked for are none."""
    found = [m for m in _REVISION.finditer(text) if not _item_label(text, m.start())]
    if len(found) < _MIN_REVISIONS or _ASKS_VERSIONS.search(last_user_message(record)):
        return []
    if len(found) < (_MIN_REVISIONS if ran_out or _stops_open(text) else 2 * _MIN_REVISIONS):
        return []
    details.update(revisions=len(found))
    return [(min(1.0, (len(text) - found[0].start()) / len(text)), "rewritten",
             f"The answer is announced as a new final or refined version {len(found)} times until the output ends.",
             [Span(m.start(), m.end(), "another version") for m in found[1:21]], True)]


_OPEN_END = frozenset(",，、;；:：(（")
_OPEN_WORDS = frozenset(("the", "a", "an", "and", "or", "of", "to", "with", "for", "in"))
_OPEN_ZH = frozenset("和与及或且而把被对从向给让将")  # ("…而且": a Chinese sentence left open; not 的: 是的, 好的)


def _stops_open(text: str) -> bool:
    """Whether the text stops where nothing can end: on a comma, colon or opening bracket, the bare number of the
    next item ("1. Spain\n2"), or a lower-case article, conjunction or preposition ("…gentle on your gums and",
    "…而且"); not on a list item, an emoji, a signature, a rule, "Plan A" or a last figure."""
    body = text.rstrip(" \t\n*_")
    if not body:
        return False
    line_start = body.rfind("\n") + 1
    return body[-1] in _OPEN_END or body[-1] in _OPEN_ZH or body.rsplit(None, 1)[-1] in _OPEN_WORDS or \
        line_start > 0 and _next_number_begun(body, line_start - 1, body[line_start - 1:])


_MIN_DRIFT_CHARS = 240


_PHRASE_BREAKS = frozenset(",，、;；:：.。!！?？\n")
_SENTENCE_END_MARKS = frozenset("。!！?？")


def _finishes_loop(text: str, b: int) -> bool:
    """Whether the text after a loop ending at `b` finishes it: a blank line opens a new block (the loop's unit may
    hold the first of its two breaks), or the text ends a sentence or on a line written whole before (`_char_loop`)."""
    body = text.rstrip()
    last_start = body.rfind("\n") + 1
    return "\n\n" in text[max(0, b - 1):len(body)] or _ends_sentence(body) or \
        (last_start > 0 and body.find(body[last_start:].strip() + "\n", 0, last_start) >= 0)


def _ends_sentence(text: str) -> bool:
    """Whether the text ends on a sentence mark: "!", "?", their full-width forms, "。", or "." after a letter (not
    a cell's "." nor the "3." of "Python 3.")."""
    tail = text.rstrip()[-2:]
    return tail[-1:] in _SENTENCE_END_MARKS or tail[-1:] == "." and tail[:1].isalpha()


def _copied_to_cut(record: GenerationRecord, cfg: RepetitionConfig, text: str, fences: list[tuple[int, int]],
                   prompt: _Prompt, details: dict) -> list[_Found]:
    """No finish reason, and the text stops in the middle of a third copy of a block given twice back to back (a
    sudoku's rows given again, cut after "|"; the caller has seen that no sentence ends it): the limit cut a loop,
    so two copies are proof enough, as when the finish reason says so. A list given twice that ends with its last
    item stopped after a whole copy, and a copy stopped where a phrase ends, may have ended there; so may a song
    the user asked for or one that labels its chorus."""
    body = text.rstrip()
    if len(body) < 2 * cfg.min_loop_chars or body.find(body[-_PROBE:], 0, len(body) - _PROBE) < 0:
        return []
    tail = _tail_run(body, cfg.min_repeats_at_limit, cfg.min_loop_chars)
    if tail is None or ((tail[1] - tail[0]) / tail[2]) % 1 < 0.1 or prompt.facts[1] or _labels_chorus(text):
        return []
    a, b, p = tail
    resume = a + (b - a) % p  # where the first copy goes on past the point where the last one stops
    if text[resume:resume + 8].lstrip(" \t\r")[:1] in _PHRASE_BREAKS:  # (past the spaces a line may end with)
        return []  # the copy stops where a phrase ends ("Go Tigers go" before ", fight all the way"): a cheer may
    loop_details: dict = {}  # kept only for a loop: unflagged findings do not describe a tail they rejected
    found = _char_loop(record, cfg, tail, fences, True, prompt, loop_details)
    if found:
        details.update(loop_details)
    return found


def _drift_loop(record: GenerationRecord, cfg: RepetitionConfig, prompt: _Prompt, details: dict) -> list[_Found]:
    """A loop that drifts (a counter, a growing name, a changed word per copy) until the output is cut:
    the generation ran into the limit, or stops unfinished with no finish reason."""
    text = _analysed(record.output)
    found = _drift_to_cut(text, _MIN_DRIFT_CHARS) or _token_run_to_cut(text)
    if found is None:
        return []
    a, b, p, at_end = found
    if prompt.facts[1] or (b - a) / p < prompt.needed(cfg.min_repeats):
        return []  # a song's verses, or the repetition the user asked for
    if "$" in text and _in_math(text, a) and _in_math(text, b - 1):
        return []  # a derivation repeating its factors ("\\cdot \\left(1+…\\right)" again): exact loops only, as code
    if text[a:a + min(b - a, 2 * p)] in request_text(record):
        return []
    copies = (b - a) / p + 1
    details.update(drift_start=a, drift_end=b, drift_period=p)
    return [(min(1.0, (b - a) / len(text)), "drift_loop",
             f"From character {a} to the cut the text keeps copying the {p} characters before it with small "
             f"changes (about {copies:.0f} copies).", [Span(a, b, "copied until the cut")], at_end)]


def _analysed(output: str) -> str:
    """The output as analysed: without a character cut by the limit at its end (U+FFFD), or the marker a
    published result puts where it cut the output (" ... (truncated)"), so a loop runs up to it. A prefix of
    the output, so spans still point into it."""
    if output.endswith("\ufffd"):
        return output.rstrip("\ufffd")
    marker = cut_marker(output)
    return output[:marker] if marker >= 0 else output


def _in_table_row(text: str, pos: int) -> bool:
    """Whether `pos` lies in a line that is a table row (it starts and ends with "|")."""
    start, end = text.rfind("\n", 0, pos) + 1, text.find("\n", pos)
    row = text[start:end if end >= 0 else len(text)].strip()
    return row.startswith("|") and row.endswith("|")


def _in_math(text: str, pos: int) -> bool:
    """Whether `pos` lies inside LaTeX math ($…$ or $$…$$): a formula repeats its factors as code repeats its
    syntax ("\\cdot \\left(1+\\frac{x}{…}\\right) \\cdot \\left(1+…"), so it loops on code's terms. A span
    closes as pandoc reads one (an opening "$" before a non-space, a closing one after a non-space and not before
    a digit: "$5 or $10" is money). A "$" the text never closes opens math only for a formula that runs to the
    end of the text (cut there): TeX follows it within 200 characters, no blank line or fence comes after it (not
    "$HOME/.bashrc", "`${name}`" in a paragraph before), and no digit right after it ("costs $5")."""
    start = 0
    for m in _MATH_SPAN.finditer(text):
        if m.start() >= pos:
            break
        if pos < m.end():
            return True
        start = m.end()
    # After the last closed span: a "$" opened and never closed, after the last blank line or fence of the text?
    opening = text.find("$", max(start, text.rfind("\n\n") + 1, text.rfind("```") + 1), pos)
    while opening >= 0:
        after = opening + 2 if text.startswith("$$", opening) else opening + 1
        if after < len(text) and not text[after].isspace() and not text[after].isdigit() and \
                _TEX_MARK.search(text, after, after + 200):
            return True
        opening = text.find("$", after, pos)
    return False


_MATH_SPAN = re.compile(r"\$\$.+?\$\$|\$(?=[^\s$])[^$\n]*?(?<=[^\s$\\])\$(?!\d)", re.S)
_TEX_MARK = re.compile(r"[\\^_{]")


def _char_loop(record: GenerationRecord, cfg: RepetitionConfig, loop: tuple[int, int, int],
               fences: list[tuple[int, int]], ran_out: bool, prompt: _Prompt, details: dict) -> list[_Found]:
    """The character loop, when it is long enough and neither an echo of the prompt nor rows of the ASCII
    art the user asked for."""
    text = _analysed(record.output)
    n = len(text)
    a, b, p = loop
    unit = text[a:a + p]
    count = (b - a) / p
    at_tail = b >= len(text.rstrip())
    in_code = any(x <= a < y for x, y in fences) or "$" in text and _in_math(text, a)
    letters = sum(ch.isalpha() for ch in unit)
    if ran_out and at_tail:
        # The generation ran into the limit while repeating: two copies are proof enough.
        need_len = cfg.min_loop_chars if letters else cfg.min_symbol_loop_chars
        need_rep = cfg.min_repeats_at_limit
    elif at_tail and in_code:
        # Code that loops until the output ends is a runaway loop, not similar lines of a program.
        need_len = cfg.min_loop_chars if letters else cfg.min_symbol_loop_chars
        need_rep = cfg.min_repeats
    else:
        need_len = cfg.min_loop_chars if letters and not in_code else cfg.min_symbol_loop_chars
        need_rep = cfg.min_code_repeats if in_code else cfg.min_repeats
    ok = (b - a) >= need_len and count >= prompt.needed(need_rep)
    cells = not at_tail and "|" in unit and "\n" not in text[a:b] and _in_table_row(text, a)
    if cells:
        ok = False  # one value in several cells of a table row ("| Fine Point Markers | Fine Point Markers |")
    if not ok and not cells and letters >= 2 and not in_code and unit.strip().lower() not in _LAUGH:
        ok = (b - a) >= cfg.min_short_loop_chars and count >= prompt.needed(cfg.min_short_repeats)
    if not ok and at_tail and not letters and _EMOJI.fullmatch(unit.strip()):
        # An emoji repeated until the output ends ("🎂🎂🎂…"): a loop, though without a letter.
        ok = count >= prompt.needed(_MIN_EMOJI_REPEATS)
    details.update(unit=unit[:200], period=p, repeats=round(count, 2), loop_start=a, loop_end=b,
                   coverage=round((b - a) / n, 4), at_tail=at_tail, in_code=in_code)
    if ok and text[a:a + 2 * p] in request_text(record):
        ok = False  # the prompt holds the repeated text: an echo, not a loop
        details["echoed"] = True
    art = not letters and count <= 20 and unit.strip(_BLANK_CELLS)  # rows of empty cells are no picture
    if ok and art and _ART_REQUEST.search(last_user_message(record)):
        ok = False  # rows of symbols in the ASCII art or pattern the user asked for
    if ok and not at_tail and count <= _MAX_PICTURE_ROWS and "\n" in unit.strip() and \
            _PICTURE_REQUEST.search(last_user_message(record)):
        ok = False  # rows of words in the picture the user asked for, the text going on after it ("Dots 6-7")
    if ok and "[" in unit and sum(len(m) for m in _PLACEHOLDER.findall(unit)) * 2 >= len(unit.strip()):
        ok = False  # a fill-in template ("**[Saw name]** - [Summary of features]"), not a loop
    if ok and count <= _MAX_REFRAIN and "\n" in unit and (
            "\n" in unit.strip() and (prompt.facts[1] or _CHORUS.search(text))
            or _LYRIC_WORD.search(unit) and unit.strip()[-1] not in _PROSE_LINE_END and prompt.facts[1]
            and not (ran_out and at_tail) and _SECTION_LABEL.search(text, 0, a)):
        # A stanza or chorus of the song or poem the user asked for, or a refrain line of its lyrics: words, no
        # sentence end, right under a section label ("Outro:"; a sign-off said four times after the song is a
        # loop), not sung again into the limit.
        ok = False
    if not ok:
        return []
    where = "the output ends in" if at_tail else "the output contains"
    at_end = at_tail
    if not at_tail:
        # The loop runs to the end with a variation in its last copy, cut unfinished ("点确定，字对勾选没有了"), or
        # the longest loop is elsewhere and another one runs to the end (what missing_eos asks). What ends the
        # loop's sentence ("þeah þeah." ), a line written whole before ("-dis instruct") or a block after a blank
        # line ("\n\nfoobar()", the call after a loop in "def foobar():") finishes it instead.
        rest = text[b:].strip()
        at_end = len(rest) <= max(2 * p, 60) and rest in text[:b] and not _finishes_loop(text, b)
        if not at_end:
            tail = _tail_run(text.rstrip(), cfg.min_repeats_at_limit if ran_out else cfg.min_repeats,
                             cfg.min_loop_chars)
            at_end = tail is not None and any(ch.isalpha() for ch in text[tail[0]:tail[0] + tail[2]])
    return [(min(1.0, max((b - a) / n, count / 10)), "loop",
             f"From character {a} {where} a loop of {_short(unit)!r} ×{count:.1f} ({(b - a) / n:.0%} of the text).",
             [Span(a, b, f"loop ×{count:.1f}")], at_end)]


def _line_loops(record: GenerationRecord, cfg: RepetitionConfig, fences: list[tuple[int, int]], recurrence: float,
                repeats: bool, ran_out: bool, prompt: _Prompt, details: dict) -> list[_Found]:
    """Loops of lines: one line back to back, a block of lines back to back, a drifting copy of earlier
    text, lines that keep coming back. Without two lines alike (`repeats`, up to digits) only the
    loops with changes (a word changed per line, drifting copies) can be there."""
    text = _analysed(record.output)
    n = len(text)
    units = _units(text, fences, cfg.min_segment_chars, prompt.facts[2])
    song = prompt.facts[1] or _labels_chorus(text)
    run = _line_run(units, cfg, text)
    if run and song and run[2] <= _MAX_REFRAIN:
        run = None  # a refrain line of the song or poem the user asked for
    if run and run[2] >= prompt.needed(cfg.min_repeats if run[4] else cfg.min_near_repeats):
        a, b, copies, first, exact, at_end = run
        how = "the same line" if exact else "one line with a word changed"
        details.update(segment=first[:200], segment_repeats=copies, near_lines=not exact)
        return [(min(1.0, (b - a) / n + copies / 20), "line_loop",
                 f"{how.capitalize()} {copies} times back to back: {_short(first)!r}.",
                 [Span(a, b, f"{copies} × {how}")], at_end)]
    block = _block_run(units, min(cfg.min_repeats, cfg.min_repeats_at_limit)) if repeats else None
    if block and song and block[3] <= _MAX_REFRAIN and not _numbered_list(text, units[block[0]:block[1]]):
        block = None  # the chorus of the song or poem the user asked for (a list numbered on is no chorus)
    if block:
        inside = [u for u in units[block[0]:block[1]] if u is not None]
        keys = [u.key for u in inside[:block[2]]]
        at_end = _reaches_end(text, inside[-1].end, keys)
        # Fewer copies do when the generation ran into the limit, was cut inside the next copy, or when the
        # copies are the whole answer (a list of 3+ lines emitted again until the output ends).
        whole = block[2] >= 3 and inside[-1].end - inside[0].start >= _WHOLE_ANSWER * len(text.strip())
        if block[3] < cfg.min_repeats and not (at_end and (ran_out or whole or _reaches_end(
                text, inside[-1].end, keys, partial_only=True))):
            block = None
    if block and not at_end and any(u.kind == "code" and text[u.start:u.end].strip() != text[v.start:v.end].strip()
                                    for u, v in zip(inside, inside[block[2]:], strict=False)):
        block = None  # code lines with different counters: only a runaway loop at the end counts
    if block and block[3] >= prompt.needed(min(cfg.min_repeats, block[3])):
        i, j, k, copies = block
        inside = [u for u in units[i:j] if u is not None]
        a, b = inside[0].start, inside[-1].end
        details.update(block_lines=k, block_repeats=copies)
        keys = [u.key for u in inside[:k]]
        reaches = _reaches_end(text, b, keys)
        if reaches and copies < cfg.min_repeats and not ran_out:
            # Two copies of the whole answer ending complete: re-emitted once, not cut inside a loop.
            reaches = _reaches_end(text, b, keys, partial_only=True)
        return [(min(1.0, (b - a) / n + copies / 20), "block_loop",
                 f"A block of {k} lines repeats {copies} times back to back ({(b - a) / n:.0%} of the text).",
                 [Span(a, b, f"{k} lines ×{copies}")], reaches)]
    if song:
        return []  # a song's or poem's refrain comes back by design
    # Cut off inside the loop: the limit was hit, or (no finish reason) the text stops unfinished on a
    # line that is not a whole copy of an earlier one.
    last_line = _key(text.rstrip()[text.rstrip().rfind("\n") + 1:])
    cut = ran_out or (record.stop_reason == "unknown" and _looks_cut(text)
                      and last_line not in {u.key for u in units[:-1] if u is not None})
    if recurrence >= _LINE_SCREEN:
        share, pieces, first_copy, third, last, run = _copies(mask_urls(text), fences, request_text(record),
                                                              cfg.min_copy_cover, cfg.min_copy_match)
        details.update(copied_share=round(share, 4), copied_pieces=pieces)
        # A loop the model got out of copied a long stretch in a row; pieces copied here and there between new
        # text, the answer then going on to its end, are a template filled per item (per-item boilerplate).
        if (share >= cfg.min_copy_share and third and (last or run >= _MIN_COPY_RUN)) or \
                (cut and last and share >= cfg.min_copy_share_at_limit):
            return [(share, "near_loop", f"{share:.0%} of the text copies earlier text with small changes: a loop "
                     "that drifts.", [Span(first_copy, n, "copied text")], last)]
    block = _near_block_to_cut(units) if cut else None
    if block and block[3] >= prompt.needed(cfg.min_repeats_at_limit):
        i, j, k, copies = block
        a, b = units[i].start, units[j - 1].end  # type: ignore[union-attr]
        details.update(block_lines=k, block_repeats=round(copies, 2), near_lines=True)
        return [(min(1.0, (b - a) / n + copies / 20), "near_loop",
                 f"A block of {k} lines comes back reworded until the cut (about {copies:.1f} copies).",
                 [Span(a, b, f"{k} lines, reworded, ×{copies:.1f}")], True)]
    rows = _repeated_rows(units, request_text(record), text) if repeats else None
    if rows:
        dup, total, spans = rows
        details.update(table_rows=total, repeated_rows=dup)
        return [(min(1.0, dup / total), "repeated_items",
                 f"{dup} of the {total} rows of the table repeat earlier rows.", spans[:20], False)]
    items = _repeated_items(units, text, prompt.facts[2]) if repeats else None
    if items:
        top, count, coverage = items
        details.update(segment=top[:200], segment_repeats=count, segment_coverage=round(coverage, 4))
        if count >= prompt.needed(cfg.min_segment_repeats) and coverage >= cfg.min_segment_coverage:
            spans = [Span(u.start, u.end, "repeated line") for u in units if u is not None and u.key == top]
            counts = Counter(u.key for u in units if u is not None)
            tail = [u for u in units if u is not None][-2:]
            # The list is still coming back to its items at the end (the last item may be cut).
            # A list still coming back to its items when it was cut (the limit, or a last item cut mid-way).
            repeated = [k for k, c in counts.items() if c > 1]
            at_end = bool(tail) and (
                ran_out and counts[tail[-1].key] > 1
                or len(tail) > 1 and counts[tail[0].key] > 1 and _reaches_end(text, tail[0].end, repeated, True)
                or counts[tail[-1].key] > 1 and _next_number_begun(text, tail[-1].end, text[tail[-1].end:].rstrip())
            )
            return [(coverage, "repeated_items",
                     f"The line {_short(top)!r} occurs {count} times; repeated lines are {coverage:.0%} of the text.",
                     spans[1:21], at_end)]
    return []


_NAME_COUNTER = re.compile(r"(?<=[^\W\d])\d+")  # "cityOrder7", "tree1": a counter in a name; numbers stay


def _zeros(m: re.Match) -> str:
    return "0" * len(m.group())


def _zero_name_counters(text: str) -> str:
    """`_NAME_COUNTER.sub(_zeros, text)` from the runs of digits (rare, so `re` jumps between them; the
    lookbehind is tried at every position): a run becomes zeros when the character before it is a word
    character (it is no digit: the runs are maximal)."""
    parts: list[str] = []
    last = 0
    for m in _DIGIT_RUN.finditer(text):
        a = m.start()
        if a and (text[a - 1].isalnum() or text[a - 1] == "_"):
            b = m.end()
            parts += (text[last:a], "0" * (b - a))
            last = b
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


_DRIFT_REACH = 2000  # a probe of a loop that drifts finds its copy within this many characters before it
_DRIFT_MISSES = 0.1  # share of probes of the region that may be new text (a changed word, a longer name)


def _drift_to_cut(text: str, min_chars: int) -> tuple[int, int, int, bool] | None:
    """A loop that drifts until the output is cut, as (start, end, typical period, whether it runs to
    the end of the text). The stretch before the end whose 16-character probes, every 8 characters,
    occur in the text just before them (digits that end a name, "cityOrder7", aside), at most
    `_DRIFT_MISSES` of them new, over at least `min_chars` characters and at least two periods after
    its source: code whose declarations keep coming back with a counter or a longer name, a block of
    lines re-emitted with small changes. Lines that share a template but say different things leave
    most probes new. One last short line may follow (the loop then runs to the end only when that line
    starts like an earlier one: cut inside a copy). A counter spelled out ("seventeen", "十七") changes a
    copy's length with its value: where none is found and the end holds one, the copies are compared with
    each number as one mark."""
    body = text.rstrip()
    end = len(body)
    last = body.rfind("\n") + 1
    at_end = True
    if end - last < 60 and last > 0:
        end = last - 1  # the loop may end one short line before the cut ("tree1 = TreeNode(1)")
        at_end = _starts_a_copy(body, last)
    if end < 2 * min_chars:
        return None
    t = _zero_name_counters(body[:end])  # same length: offsets stay
    found = _copying_stretch(t, min_chars)
    if found is None and _counts_in_words(t[-_COUNTER_TAIL:]) and (counted := _words_counted_collapsed(t)):
        collapsed, starts, ends = counted
        found = _copying_stretch(collapsed, min_chars)
        if found is not None:  # back to the text's offsets, the period in proportion
            a, b, period, reaches = found
            found = starts[a], ends[b - 1], max(1, round(period * (ends[b - 1] - starts[a]) / (b - a))), reaches
    if found is None:
        return None
    start, stop, period, reaches = found
    return start, stop, period, at_end and reaches


_COUNTER_TAIL = 160  # characters before the end where a spelled-out counter of a loop to the cut shows


def _counts_in_words(tail: str) -> bool:
    """Whether the tail holds two different spelled-out numbers (a counter moving on): `_SPELLED_COUNTER`'s words
    searched in the lower-cased tail by a pattern that starts with their first letters (6x faster than the
    case-insensitive one, tried at every position)."""
    found = {m.group() for m in _SPELLED_WORD.finditer(tail.lower())}
    return len(found) >= 2 or len(found | set(_CJK_NUMERALS.findall(tail))) >= 2


def _starts_a_copy(body: str, last: int) -> bool:
    """Whether the last line (from `last`) starts like an earlier one, its counter moved on ("Year 14,000,000"
    after "Year 13,000,000:", "…with seventeen in the denom," after "…with sixteen in the denom,")."""
    line = _DIGIT_RUN.sub("0", body[last - 1:].rstrip())
    before = _DIGIT_RUN.sub("0", body[:last - 1])
    if line not in before and (_SPELLED_WORD.search(line.lower()) or _CJK_NUMERALS.search(line)):
        line, before = _SPELLED_COUNTER.sub("#", line), _SPELLED_COUNTER.sub("#", before)
    return line in before and _WORD_CHAR.search(line) is not None


def _copying_stretch(t: str, min_chars: int) -> tuple[int, int, int, bool] | None:
    """`_drift_to_cut`'s probe walk from the end of `t`: (start, stop, period, whether it reaches the end)."""
    end = len(t)
    hits = misses = run_misses = 0
    start = stop = -1
    dists: list[int] = []
    i = end - _PROBE
    while i > 0:
        window = t[i:i + _PROBE]
        j = t.rfind(window, max(0, i - _DRIFT_REACH), i + _PROBE - 1)
        if j >= 0 and window.strip():
            if stop < 0:
                stop = i + _PROBE
            hits += 1
            run_misses = 0
            dists.append(i - j)
            if misses <= _DRIFT_MISSES * (hits + misses):
                start = i
        else:
            misses += 1
            run_misses += 1
            if run_misses >= 4 or misses > _DRIFT_MISSES * (hits + misses) + 3:
                break
        i -= 8
    if start < 0 or stop - start < min_chars:
        return None
    dists.sort()
    period = dists[len(dists) // 2]
    if stop - start < 2 * period:
        return None
    return start, stop, period, stop >= end  # (the copying may stop before the end)


_SPELLED = rf"\b(?:(?:{'|'.join(_TENS)})[- ]?)?(?:{'|'.join((*_UNITS[1:], *_TENS, *_ORDINALS))})\b"
_SPELLED_COUNTER = re.compile(f"{_SPELLED}|{_CJK_NUMERAL_RUN}", re.I)
_SPELLED_WORD = re.compile(r"(?=[otfsen])" + _SPELLED)  # on lower-cased text
_CJK_NUMERALS = re.compile(_CJK_NUMERAL_RUN)
_A_BEFORE_NUMBER = re.compile(r"\b[Aa]n?(?=[ \t]+#)")


def _words_counted_collapsed(text: str) -> tuple[str, list[int], list[int]] | None:
    """The text with each spelled-out counter ("…with seventeen in the denom,", "换成十七") as one "#", with the
    offsets in `text` where each of its characters starts and ends (None when none was collapsed). A counter is a
    number one away from the number at the same place of the line before or after that reads the same with its
    numbers masked (the copy before or after: "% Seventh set of knights" every other line, a fixed line between):
    it changes a copy's length with its value, so the copies of a counted line would not line up probe by probe.
    Other numbers stay: lines that give each item its own figures ("swim for twelve minutes") are no copies."""
    lines: dict[int, list[tuple[int, int, int]]] = {}
    line = newline = 0
    for m in _SPELLED_COUNTER.finditer(text):
        while (newline := text.find("\n", newline)) != -1 and newline < m.start():
            line += 1
            newline += 1
        lines.setdefault(line, []).append((m.start(), m.end(), number_value(m.group())))
    texts = text.split("\n")
    copies: dict[str, list[list[tuple[int, int, int]]]] = {}  # numbered lines by their text, numbers masked
    for number, found in lines.items():
        masked = _A_BEFORE_NUMBER.sub("a", _SPELLED_COUNTER.sub("#", texts[number]))  # "an eighth", "a ninth"
        copies.setdefault(masked, []).append(found)
    counters = []
    for same in copies.values():
        for i, found in enumerate(same):
            near = [same[j] for j in (i - 1, i + 1) if 0 <= j < len(same)]
            counters += [(start, end) for k, (start, end, value) in enumerate(found)
                         if any(k < len(other) and abs(other[k][2] - value) == 1 for other in near)]
    counters.sort()
    if not counters:
        return None
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    last = 0
    for start, end in counters:
        parts += (text[last:start], "#")
        starts += range(last, start + 1)
        ends += (*range(last + 1, start + 1), end)
        last = end
    parts.append(text[last:])
    starts += range(last, len(text))
    ends += range(last + 1, len(text) + 1)
    return "".join(parts), starts, ends


_MIN_RUN_TOKENS = 8  # tokens of one stem, back to back, up to the cut (the cut one included)
_MIN_STEM = 10  # characters of that stem
_COUNTER_WORDS = "|".join((*_UNITS, *_TENS, "hundred", "thousand", *_ORDINALS[:10], "and"))
_COUNTER = re.compile(
    rf"(?:(?:(?:{_COUNTER_WORDS})[- ]?)+|{_CJK_NUMERAL_RUN}[条个章节次号位]?)[.,;:!)]*", re.I)
"""The part of a token that counts, spelled out: number words ("SeventyNine", "twenty-six"), Chinese numerals ("十二
条"). Digits number identifiers ("Day9", "col-md-offset-12", "SKU-0040") that lists give on purpose."""
_COUNTER_PART = re.compile(r"[A-Za-z-]*|[零一二三四五六七八九十百千两]*")  # a counter cut part-way: letters or numerals


def _token_run_to_cut(text: str) -> tuple[int, int, int, bool] | None:
    """A run of tokens made of one stem and a spelled-out counter, up to the cut ("#LaughterIsMyAmendmentSixtyNine
    #LaughterIsMyAmendmentSeventy #LaughterIsMyAm"): a loop whose counter no probe sees twice. As `_drift_to_cut`
    gives it. The last token is cut inside the stem or the counter (a list that ends on its last whole item,
    "…RuleNine", may be complete); a stem holding "/", "\\" or "." (paths, packages, links) or endings that are no
    counter (file names, components) make no run."""
    body = text.rstrip()
    window = body[-_MIN_RUN_TOKENS * 80:]
    pair = window.rsplit(None, 2)[-2:]  # the last two tokens first: most texts end on two unlike ones
    if len(pair) < 2 or len(os.path.commonprefix(pair)) < _MIN_STEM:
        return None
    tokens = window.split()
    if len(tokens) < _MIN_RUN_TOKENS:
        return None
    last, complete = tokens[-1], tokens[:-1]
    stem, count = complete[-1], 1
    for token in reversed(complete[:-1]):
        shared = os.path.commonprefix([stem, token])
        if len(shared) < _MIN_STEM:
            break
        stem, count = shared, count + 1
    run = complete[len(complete) - count:]
    # The counter starts where the endings do: back off from the shared prefix until every ending counts.
    while len(stem) >= _MIN_STEM and not all(_COUNTER.fullmatch(token[len(stem):]) for token in run):
        stem = stem[:-1]
    if count + 1 < _MIN_RUN_TOKENS or len(stem) < _MIN_STEM or any(c in stem for c in "/\\."):
        return None
    ending = last[len(stem):]  # a counter cut part-way is letters (or numerals) alone: "Sevent", not "Nine🎉"
    cut_in_counter = last.startswith(stem) and _COUNTER_PART.fullmatch(ending) and not _COUNTER.fullmatch(ending)
    if not (cut_in_counter or len(stem) > len(last) >= _MIN_STEM and stem.startswith(last)):
        return None
    start = len(body) - len(last)  # the cut token ends the text; the run's tokens each start with the stem
    for _ in range(count):
        start = body.rfind(stem, 0, start)
    period = (len(body) - start) // (count + 1)
    return start, len(body), period, True


_FINAL_MARKS = ".!?。！？…\"'”’」』)）]】》*_`~}>|"


def _looks_cut(text: str) -> bool:
    """Whether the text stops without ending (no final punctuation, or a word cut at its apostrophe:
    "because we don'"): a loop that runs into it was cut off."""
    body = text.rstrip()
    if len(body) > 1 and body[-1] in "'’" and body[-2].isalpha() and body[-2] not in "sS":
        return True
    return bool(body) and body[-1] not in _FINAL_MARKS
