"""Fast paths of the `repetition` detector give exactly what their plain form gives, on generated text
that loops, nearly loops, or does not."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalgen.detectors.repetition import (
    _NAME_COUNTER,
    _SENTENCE,
    _SENTENCE_END,
    _sentences,
    _symbolic,
    _zero_name_counters,
    _zeros,
    find_loop,
)

UNITS = st.sampled_from(["abc ", "你好！", "The cat sat. ", "12. 西瓜\n", "| a | b |\n", "----", "  ", "\n", "x = 1;\n",
                         "🎂", "ha", "Step 3: mix\n", "...", "0", "é", "```\n"])
LOOPY = st.lists(st.tuples(st.one_of(UNITS, st.text(max_size=12)), st.integers(1, 12)), max_size=14).map(
    lambda parts: "".join(unit * times for unit, times in parts))
TEXT = st.one_of(LOOPY, st.text(max_size=400), st.text(st.sampled_from("ab -\n|0"), max_size=300))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT, min_len=st.sampled_from([8, 20, 40]), stride=st.sampled_from([8, 16, 128]),
       max_period=st.sampled_from([5, 40, 400]), probe=st.sampled_from([6, 16]),
       tail_repeats=st.sampled_from([None, 2.0]))
def test_find_loop_fast_path_equals_the_probe_loop(text: str, min_len: int, stride: int, max_period: int,
                                                   probe: int, tail_repeats: float | None) -> None:
    """A skip range that holds no probe (each probe then checked against it) gives the same loop and
    recurrence as no skip range."""
    args = (3.0, min_len, max_period, stride, probe)
    fast = find_loop(text, *args, tail_repeats=tail_repeats)
    plain = find_loop(text, *args, skip=[(-1, -1)], tail_repeats=tail_repeats)
    assert fast == plain


def _recurrence_reference(s: str, min_len: int, stride: int, probe: int, skip: list[tuple[int, int]]) -> float:
    """The recurrence by its definition: a probe every `step` characters; letterless probes (rules and
    numbers among them) and probes in `skip` ranges are not counted; a counted probe recurs when its text
    occurs again after its start."""
    from evalgen.detectors.repetition import _BLANK, _MIN_PROBES

    n = len(s)
    w = min(probe, max(1, min_len // 3))
    if n < max(min_len, 2 * w):
        return 0.0
    step = max(8, min(stride, (n - w) // _MIN_PROBES))
    counted = [i for i in range(0, n - w, step) if s[i:i + w].strip(_BLANK) and not any(x <= i < y for x, y in skip)]
    recurring = [i for i in counted if s.find(s[i:i + w], i + 1) >= 0]
    return len(recurring) / len(counted) if counted else 0.0


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT, min_len=st.sampled_from([8, 20, 40]), stride=st.sampled_from([8, 16, 128]),
       probe=st.sampled_from([6, 16]), fenced=st.booleans())
def test_recurrence_is_the_share_of_counted_probes_found_again(text: str, min_len: int, stride: int, probe: int,
                                                               fenced: bool) -> None:
    """The probe loop's screens (a window that starts outside `_BLANK` is not letterless) count the probes the
    definition counts."""
    skip = [(len(text) // 3, len(text) // 2)] if fenced else []
    assert find_loop(text, 3.0, min_len, 400, stride, probe, skip=skip)[1] == \
        _recurrence_reference(text, min_len, stride, probe, skip)


@settings(max_examples=1500, deadline=None)
@given(unit=st.text("ab", min_size=1, max_size=5), copies=st.integers(1, 12), prefix=st.text("abc", max_size=8),
       suffix=st.text("abc", max_size=8), at=st.integers(0, 200), period=st.integers(1, 12),
       min_repeats=st.sampled_from([2.0, 2.5, 3.0]), min_len=st.sampled_from([1, 8, 20]))
def test_long_run_screen_equals_the_run(unit: str, copies: int, prefix: str, suffix: str, at: int, period: int,
                                        min_repeats: float, min_len: int) -> None:
    """The two compares before the gallops drop only runs that are too short: the same runs as measuring
    every candidate run, on periodic text whose runs fall just short of or just reach the thresholds."""
    from evalgen.detectors.repetition import _long_run, _run

    s = prefix + unit * copies + suffix
    p = period if period < len(s) else len(s) // 2 or 1
    if p >= len(s):
        return
    i = at % (len(s) - p)
    a, b = _run(s, i, p)
    plain = (a, b) if b - a >= min_len and b - a >= min_repeats * p else None
    assert _long_run(s, i, p, min_repeats, min_len) == plain


def test_memo_keys_the_thresholds_not_the_config_object() -> None:
    """The remembered finding follows the thresholds: equal configs in new objects share it, a config with
    other thresholds (asked right after, for the same record) gets its own."""
    from evalgen.detectors import DetectorConfig, DetectorContext
    from evalgen.detectors.base import RepetitionConfig
    from evalgen.detectors.repetition import detect_repetition
    from evalgen.records import GenerationRecord

    output = "Intro line here.\n" + "The same sentence comes back again.\n" * 4 + "End."
    record = GenerationRecord(
        probe_id="x", suite="s", sample=0, messages=[{"role": "user", "content": "Tell me."}], prompt_text="Tell me.",
        output=output, output_raw=output, output_token_ids=None, stop_reason="eos", n_output_tokens=0, latency_s=0.0,
    )

    def ctx(**thresholds: float) -> DetectorContext:
        return DetectorContext(config=DetectorConfig(repetition=RepetitionConfig(**thresholds)))

    assert detect_repetition(record, ctx()).flagged
    assert detect_repetition(record, ctx()) is detect_repetition(record, ctx())
    assert not detect_repetition(record, ctx(min_repeats=9, min_near_repeats=9, min_segment_repeats=9,
                                             min_code_repeats=9, min_short_repeats=9)).flagged
    assert detect_repetition(record, ctx()).flagged


def test_memo_keys_the_turns_not_their_joined_text() -> None:
    """A system turn asking for ten copies plus a user turn holding the sentence joins to the same request text as
    one user turn holding both; only in the second did the user ask for copies, so seven copies are a loop in the
    first and not in the second, whichever is scored first."""
    from evalgen.detectors import DetectorContext
    from evalgen.detectors.repetition import detect_repetition
    from evalgen.records import GenerationRecord

    output = "I will keep going with this sentence now. " * 7

    def record(messages: list[dict[str, str]]) -> GenerationRecord:
        return GenerationRecord(probe_id="x", suite="s", sample=0, messages=messages, prompt_text="", output=output,
                                output_raw=output, output_token_ids=None, stop_reason="eos", n_output_tokens=0,
                                latency_s=0.0)

    ask, sentence = "Repeat the sentence I give you ten times.", "I will keep going"
    system_asks = record([{"role": "system", "content": ask}, {"role": "user", "content": sentence}])
    user_asks = record([{"role": "user", "content": f"{ask}\n\n{sentence}"}])
    for first, second in ((system_asks, user_asks), (user_asks, system_asks)):
        ctx = DetectorContext()
        assert [detect_repetition(r, ctx).flagged for r in (first, second)] == [first is system_asks,
                                                                                second is system_asks]


CJK_LINE = st.text(st.one_of(st.characters(min_codepoint=0x4DB0, max_codepoint=0x5010),
                             st.characters(min_codepoint=0x9FF0, max_codepoint=0xA010),
                             st.sampled_from("，。：、“”《》（）！？=+-_*#/ \t\u3000\ud800abc123é😀"),
                             st.characters(max_codepoint=0x2FFF)), max_size=60)


@settings(max_examples=500, deadline=None)
@given(line=st.one_of(CJK_LINE, st.text(max_size=40), st.text(st.sampled_from("䷀中文鿿\u9ffd。_a1 é😀"), max_size=20)))
def test_symbolic_screen_for_cjk_lines_counts_symbols(line: str) -> None:
    """The byte bound that clears lines of Chinese prose gives what counting the symbols gives."""
    from evalgen.detectors.repetition import _URLS

    plain = _URLS.sub("", line) if "://" in line else line
    visible = len(plain) - plain.count(" ") - plain.count("\t")
    expected = visible > 0 and sum(not c.isalnum() and not c.isspace() or c == "_" for c in plain) * 3 >= visible
    assert _symbolic(line) == expected


@settings(max_examples=500, deadline=None)
@given(line=st.one_of(st.text(st.sampled_from("。！？!?；;. \t\n\u3000ab中"), max_size=40), st.text(max_size=60)))
def test_sentence_cuts_equal_the_lookbehind_pattern(line: str) -> None:
    """Long lines are cut into sentences from the sentence marks: the pieces and cut positions are the ones
    the lookbehind pattern gives."""
    assert _sentences(line) == _SENTENCE.split(line)
    assert [m.end() for m in _SENTENCE_END.finditer(line)] == [m.end() for m in _SENTENCE.finditer(line)]


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(st.sampled_from("ab_ 1２3²½٣\n.-中"), max_size=30), st.text(max_size=60)))
def test_name_counters_zeroed_as_the_lookbehind_pattern(text: str) -> None:
    """Counters in names ("cityOrder7", "tree_12") become zeros exactly where the lookbehind pattern puts them."""
    assert _zero_name_counters(text) == _NAME_COUNTER.sub(_zeros, text)


def _copies_reference(text: str, fences: list[tuple[int, int]], request: str, min_share: float, min_match: int
                      ) -> tuple[float, int, int, bool, bool, int]:
    """`_copies` in its plain form: every piece the quarter screen lets through walked window by window to its
    end."""
    from evalgen.detectors.repetition import _CHUNK, _PROBE, _chunks, _piece_cover

    copied = pieces = 0
    first = -1
    third = last = False
    longest_run = run = 0
    prev_end = -1  # where the copied piece before ends: a run goes on over blank text only
    for a, b in _chunks(text, fences):
        quarter = (b - a - _PROBE) // 4
        if a == 0 or b - a < _PROBE or all(text.find(text[c:c + _PROBE], 0, a) < 0
                                           for c in (a + quarter, a + 2 * quarter, a + 3 * quarter)):
            continue
        covered, longest = _piece_cover(text, a, b, request, min_match, 0)  # walked to its end
        if covered >= min_share * (b - a):
            copied += b - a
            pieces += 1
            first = a if first < 0 else first
            third = third or text.count(text[longest[0]:longest[1]], 0, a) >= 2
            last = len(text.rstrip()) - b < _CHUNK
            gap = "".join(ch for i, ch in enumerate(text[prev_end:a], prev_end)
                          if not any(x <= i < y for x, y in fences))  # fenced code is no piece: it joins a run
            run = run + 1 if prev_end >= 0 and gap.strip() == "" else 1
            prev_end = b
            longest_run = max(longest_run, run)
    return copied / max(1, len(text)), pieces, first, third, last, longest_run


DRIFTING = st.lists(st.tuples(st.sampled_from(["The tree grows tall near the river bank. ", "树在河边长得很高。",
                                                "cityOrder7 = load(city, 7)\n", "a new sentence about other things. ",
                                                "\n", "Item: ", "x" * 20]), st.integers(1, 6)), max_size=12).map(
    lambda parts: "".join(unit * times for unit, times in parts))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(DRIFTING, LOOPY, st.text(max_size=300)), min_share=st.sampled_from([0.5, 0.8, 1.0]),
       min_match=st.sampled_from([16, 32]), request=st.sampled_from(["", "The tree grows tall near the river bank."]))
def test_copies_early_stop_equals_the_full_walk(text: str, min_share: float, min_match: int, request: str) -> None:
    """Stopping once a piece cannot reach its share gives what walking every piece to its end gives."""
    from evalgen.detectors.repetition import _copies, _fences

    fences = _fences(text)
    assert _copies(text, fences, request, min_share, min_match) == \
        _copies_reference(text, fences, request, min_share, min_match)


def test_printable_keys_hold_no_whitespace_but_the_space() -> None:
    """`_key` skips collapsing spaces for a printable key without "  ": every whitespace character other than
    " " is unprintable (a control or separator character)."""
    import sys

    assert [c for c in range(sys.maxunicode + 1) if chr(c).isspace() and chr(c).isprintable() and c != 32] == []


@settings(max_examples=1000, deadline=None)
@given(a=st.one_of(st.text(st.sampled_from("ab c"), max_size=120), st.text(max_size=60)),
       b=st.one_of(st.text(st.sampled_from("ab c"), max_size=120), st.text(max_size=60)),
       similarity=st.sampled_from([0.0, 0.5, 0.8, 1.0]), min_common=st.integers(0, 60))
def test_different_near_lines_hold_min_common_characters(a: str, b: str, similarity: float, min_common: int) -> None:
    """`_line_run` calls `_near` on two different keys only when both hold `min_common` characters: shorter
    ones are never near."""
    from evalgen.detectors.repetition import _near

    if a != b and (len(a) < min_common or len(b) < min_common):
        assert not _near(a, b, similarity, min_common)


REQUEST_PIECES = st.sampled_from([
    "repeat", "REPEAT", "Over and over", "again and again", "3 times", "ten TIMES", "tımes", "tİmes", "timeſ", "ſong",
    "\u212aing", "重复", "复述", "三遍", "5次", "write", "Compose", "make", "sing", "turn", "a song", "poems",
    "the lyrics", "lyrıcs", "rap", "verses", "写一首歌", "诗歌", "歌词", "词", ".", "\n", " ", "x", "é"])
REQUEST = st.one_of(st.lists(REQUEST_PIECES, max_size=10).map("".join),
                    st.lists(REQUEST_PIECES, max_size=10).map(" ".join), st.text(max_size=40))


@settings(max_examples=1000, deadline=None)
@given(prompt=REQUEST)
def test_request_screens_hide_no_request(prompt: str) -> None:
    """The word screens before the case-insensitive request patterns never hide a match (re.I also matches
    "ı", "İ", "ſ" and the Kelvin sign to ASCII letters)."""
    from evalgen.detectors.repetition import _REPEAT_REQUEST, _SONG_REQUEST, _requested_repeats, asks_for_song

    assert asks_for_song(prompt) == (_SONG_REQUEST.search(prompt) is not None)
    if _requested_repeats(prompt) is None:
        assert _REPEAT_REQUEST.search(prompt) is None


@settings(max_examples=300, deadline=None)
@given(tail=st.lists(st.sampled_from([
    "seven", "Seventeen", "twenty-one", "one", "someone", "often", "十七", "一个", "三", " ", ",", "\n",
    "Let's try again with", "FIRST", "x"]), max_size=12).map("".join))
def test_counts_in_words_is_two_spelled_numbers(tail: str) -> None:
    """The screen of the drift search's second try: two different numbers of `_SPELLED_COUNTER` in the tail."""
    from evalgen.detectors.repetition import _SPELLED_COUNTER, _counts_in_words

    assert _counts_in_words(tail) == (len({m.group().lower() for m in _SPELLED_COUNTER.finditer(tail)}) >= 2)


def test_counters_are_compared_with_lines_that_mask_alike() -> None:
    """A literal "#" masks like a number: lines alike once masked may hold different counts of numbers."""
    from evalgen.detectors.repetition import _words_counted_collapsed

    collapsed, starts, ends = _words_counted_collapsed("Day # one\nDay two three\nDay # four\n")
    assert collapsed == "Day # #\nDay # three\nDay # four\n"  # one, two: a counter; three has no counterpart
    assert len(starts) == len(ends) == len(collapsed)
