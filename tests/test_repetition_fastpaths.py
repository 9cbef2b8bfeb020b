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
    """Without skip ranges `find_loop` searches the probes with `map`; a skip range that holds no probe
    (the plain per-probe loop) gives the same loop and recurrence."""
    args = (3.0, min_len, max_period, stride, probe)
    fast = find_loop(text, *args, tail_repeats=tail_repeats)
    plain = find_loop(text, *args, skip=[(-1, -1)], tail_repeats=tail_repeats)
    assert fast == plain


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
