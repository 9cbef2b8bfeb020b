"""The detectors' fast paths (screens, numpy rep-n, early-stopping counts) give exactly what the plain
computation gives: each is checked against the slow reference on generated text."""

from __future__ import annotations

import dataclasses
import re
import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evalgen.detectors import (
    DetectorConfig,
    DetectorContext,
    IdentityLeakConfig,
    LanguageDriftConfig,
    _text,
    degenerate,
    identity_leak,
    language_drift,
    missing_eos,
    truncation,
)
from evalgen.detectors._text import ascii_words_upto, request_text, script_units
from evalgen.detectors.identity_leak import FAMILIES
from evalgen.detectors.repetition import _ids_to_str, _rep_234, rep_n
from evalgen.records import GenerationRecord

NAMES = [name for family in FAMILIES for name in family]
NAME_PIECES = st.sampled_from(
    NAMES + [n.upper() for n in NAMES] + [n.lower() for n in NAMES] + ["iFlytek", "IFlytek", "Yield", "If ", "I am ",
     "as ", "developed by ", "我是", "由", " ", ". ", "\n", "İ", "\u212a", "aurora", "AURORA", "Au rora", "-", "4o"]
)
TEXT = st.lists(st.one_of(NAME_PIECES, st.text(max_size=8)), max_size=30).map("".join)
ASCII_TEXT = st.lists(st.one_of(NAME_PIECES, st.text(st.characters(max_codepoint=127), max_size=8)),
                      max_size=30).map("".join)
CTXS = [
    DetectorContext(identity="Aurora"),
    DetectorContext(identity="Qwen", identity_org="Alibaba Cloud"),
    DetectorContext(config=DetectorConfig(identity_leak=IdentityLeakConfig(
        extra_names=("zorp", "Blix", "xAI-Bot", "k2.Chat", "星Zero"), ignore_names=("Google",)))),
    DetectorContext(identity="Aurora", config=DetectorConfig(identity_leak=IdentityLeakConfig(
        extra_names=("@bot", "q")))),
]
CLAIM_TEXT = st.lists(st.one_of(
    NAME_PIECES, st.sampled_from(["I am ", "I'm ", "I was developed by ", "As an AI model made by ", ", I ", "me.",
                                  "created me", "我是由", "开发的", "作为", "x", "7", "_", "é", "中", "xAI-Bot",
                                  "k2.Chat", "星Zero", "Zorp", "blix", "BLIX", "@bot", "q", "@Bot"]),
    st.text(st.characters(max_codepoint=0x7f), max_size=3)), max_size=12).map("".join)


def make(output: str, prompt: str = "Explain this.", lang: str | None = None) -> GenerationRecord:
    return GenerationRecord(
        probe_id="x", suite="s", sample=0, messages=[{"role": "user", "content": prompt}], prompt_text=prompt,
        output=output, output_raw=output, output_token_ids=None, stop_reason="eos", n_output_tokens=0,
        latency_s=0.0, lang=lang,
    )


@settings(max_examples=300, deadline=None)
@given(seq=st.one_of(st.text(max_size=600), st.text(st.sampled_from("ab \n"), max_size=600),
                     st.lists(st.integers(0, 0x10FFFF), max_size=520).map(lambda ids: "".join(map(chr, ids)))))
def test_rep_234_equals_rep_n(seq: str) -> None:
    assert _rep_234(seq) == (rep_n(seq, 2), rep_n(seq, 3), rep_n(seq, 4))


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.one_of(st.integers(-3, 0x110005), st.integers(0xD7F0, 0xE010), st.integers(0, 2**40)),
                    max_size=50))
def test_ids_to_str_equals_chr_join(ids: list[int]) -> None:
    try:
        expected = "".join(map(chr, ids))
    except (ValueError, OverflowError):
        expected = "".join(chr(int(i) % 0x110000) for i in ids)
    assert _ids_to_str(ids) == expected


def _needles(plan: tuple) -> set[str]:
    return {n for _, prefix, members in plan for n in (members or (prefix,))}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(ASCII_TEXT, TEXT))
def test_identity_screens_never_hide_a_name(text: str) -> None:
    for ctx in CTXS:
        cfg = ctx.config.identity_leak
        pats = identity_leak._names_pattern(cfg.extra_names, cfg.ignore_names, ctx.identity or "",
                                            ctx.identity_org or "")
        low = text.lower()
        assert identity_leak._any_in(low, pats.lower) == any(n in low for n in _needles(pats.lower))
        for name in ("aurora", "qwen", "k2", "iris"):
            if name in low:
                assert identity_leak._may_hold_lower(text, name)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_identity_leak_same_without_screens(text: str) -> None:
    record = make(text)
    fast = [identity_leak.detect_identity_leak(record, ctx) for ctx in CTXS]
    with pytest.MonkeyPatch.context() as m:  # every screen off: the plain scans decide
        m.setattr(identity_leak, "_may_claim", lambda text, raw, screen: True)
        m.setattr(identity_leak, "_may_hold_lower", lambda text, low: True)
        m.setattr(identity_leak, "_SCREEN_CHARS", text)  # the memchr gate passes for any non-empty text
        m.setattr(identity_leak, "_any_in", lambda low, plan: any(n in low for n in _needles(plan)))
        slow = [identity_leak.detect_identity_leak(record, ctx) for ctx in CTXS]
    assert [f.to_dict() for f in fast] == [f.to_dict() for f in slow]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(CLAIM_TEXT, TEXT))
def test_claim_screen_hides_no_claimable_name(text: str) -> None:
    """Wherever the full name pattern matches a name that could be claimed (an ASCII name standing alone,
    or any non-ASCII name), the claim screen lets the text through."""
    for ctx in CTXS:
        cfg = ctx.config.identity_leak
        pats = identity_leak._names_pattern(cfg.extra_names, cfg.ignore_names, ctx.identity or "",
                                            ctx.identity_org or "")
        for start in range(len(text)):
            m = pats.full.match(text, start) if pats.full else None
            if m is None:
                continue
            name, end = m.group(0), m.end()
            alone = not (start and text[start - 1].isascii() and text[start - 1].isalnum()) and not (
                end < len(text) and text[end].isascii() and text[end].isalnum())
            if alone or not name.isascii():
                raw = text.encode("utf-8", "surrogatepass")
                assert identity_leak._may_claim(text, raw, pats.claimable), name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=CLAIM_TEXT)
def test_identity_leak_same_without_claim_screen(text: str) -> None:
    record = make(text)
    fast = [identity_leak.detect_identity_leak(record, ctx) for ctx in CTXS]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(identity_leak, "_may_claim", lambda text, raw, screen: True)
        slow = [identity_leak.detect_identity_leak(record, ctx) for ctx in CTXS]
    assert [f.to_dict() for f in fast] == [f.to_dict() for f in slow]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(ASCII_TEXT, CLAIM_TEXT).filter(str.isascii))
def test_ascii_name_patterns_match_as_the_full_ones(text: str) -> None:
    for ctx in CTXS:
        cfg = ctx.config.identity_leak
        pats = identity_leak._names_pattern(cfg.extra_names, cfg.ignore_names, ctx.identity or "",
                                            ctx.identity_org or "")
        for whole, ascii_only in ((pats.caps, pats.caps_ascii), (pats.full, pats.full_ascii)):
            assert [m.span() for m in ascii_only.finditer(text)] == [m.span() for m in whole.finditer(text)]
    assert pats.caps_ascii.pattern != pats.caps.pattern  # the CJK names are left out


SPLIT_CTXS = [*CTXS, DetectorContext(config=DetectorConfig(identity_leak=IdentityLeakConfig(
    extra_names=("Zero", "星Zero", "Zé", "AI", "Ipsum")))), DetectorContext(config=DetectorConfig(
        identity_leak=IdentityLeakConfig(extra_names=("Zero", "Zero星"))))]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(CLAIM_TEXT, TEXT, st.lists(st.sampled_from(
    ["GPT", "GPT-4", "ERNIE Bot", "01.AI", "AI", "智谱AI", "智谱", "ChatGPT", "chatgpt", "é", "Zé", "Zero", "星Zero",
     "Zero星", "星", "中", " ", "x", "清华大学", "Tsinghua", "Iflytek", "flytek", "Ipsum"]), max_size=12).map("".join)))
@example("智谱AIflytek and Iflytek")
@example("Zero星 Zero")
def test_split_name_scans_match_as_one_alternation(text: str) -> None:
    """The ASCII and the other names scanned apart give the matches of the one alternation of all names."""
    for ctx in SPLIT_CTXS:
        cfg = ctx.config.identity_leak
        pats = identity_leak._names_pattern(cfg.extra_names, cfg.ignore_names, ctx.identity or "",
                                            ctx.identity_org or "")
        for full, whole in ((False, pats.caps), (True, pats.full)):
            assert [m.span() for m in pats.finditer(text, full)] == [m.span() for m in whole.finditer(text)]


def test_default_names_scan_apart() -> None:
    """The built-in names are scanned apart (the corpus takes the fast path), not a name like "Zero星"."""
    assert identity_leak._names_pattern((), (), "", "").separable
    assert identity_leak._names_pattern(("Zero", "星Zero"), (), "", "").separable
    assert not identity_leak._names_pattern(("Zero", "Zero星"), (), "", "").separable


def test_screen_chars_cover_the_screen_words() -> None:
    assert all(any(c in word for c in identity_leak._SCREEN_CHARS) for word in identity_leak._SCREEN)


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(max_codepoint=127), max_size=700), cap=st.integers(1, 400))
def test_ascii_words_upto(text: str, cap: int) -> None:
    words = round(script_units(text, 1.0).units.get("latin", 0.0))
    assert ascii_words_upto(text, cap) == min(words, cap)


LD_CONFIGS = [LanguageDriftConfig(), LanguageDriftConfig(min_units=0.0), LanguageDriftConfig(min_units=7.0),
              LanguageDriftConfig(latin_word_units=0.0), LanguageDriftConfig(min_output_share=1.5),
              LanguageDriftConfig(min_units=3.0, latin_word_units=0.7)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=st.one_of(ASCII_TEXT, st.text(st.characters(max_codepoint=127), max_size=60)),
       prompt=st.sampled_from(["Explain how to evaluate a model.", "请解释。", "Translate into French", "x = 1"]),
       lang=st.sampled_from([None, "en", "zh"]))
def test_language_drift_same_without_fast_path(output: str, prompt: str, lang: str | None) -> None:
    record = make(output, prompt, lang)
    ctxs = [DetectorContext(config=dataclasses.replace(DetectorConfig(), language_drift=c)) for c in LD_CONFIGS]
    fast = [language_drift.detect_language_drift(record, ctx) for ctx in ctxs]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(language_drift, "_words_needed", lambda min_units, latin_word_units: None)
        slow = [language_drift.detect_language_drift(record, ctx) for ctx in ctxs]
    assert [f.to_dict() for f in fast] == [f.to_dict() for f in slow]


# ---------------------------------------------------------------- screens added for the real corpus
LINE_PIECES = st.sampled_from([
    "x = [i for i in range(3)]", "Hello world, this is a line.", "  return a % b;", "<div>", "a_b = c",
    "西瓜", "1. 西瓜", "| a | b |", "def f(x):", "    print(x)", "Step 7: Add a form.", "# comment", "{}", "", " ",
    "[link](http://x.y/z_w)", "price = 5 % 2", "if a < b and c > d:", "你好，世界。", "Save 20% and get 5% back.",
    'printf("%d%%", n);', "65. H\\_AR\\_tudize", "my\\_var = 1",  "    f(20%, 5%)",
    "  width: 100%;", "  margin: 0 10% 0 10%", "Sales rose 20%.", "(up 20%) and 5% more",
])
LINES = st.lists(st.one_of(LINE_PIECES, st.text(max_size=30)), max_size=25).map("\n".join)


def _prose_percent(line: str, i: int) -> bool:
    """A % after a digit and before words or a sentence mark ("20% of", "rose 20%.")."""
    rest = line[i + 1:]
    after = rest.lstrip(" \t")
    return bool(i and line[i - 1].isdecimal() and (
        rest[:1] in (",", ".", "!", "?") or after != rest and re.match(r"[^\W\d_]", after) is not None))


def _without_prose_symbols(line: str) -> str:
    """The line without its percentages in prose and its markdown-escaped underscores ("H\\_AR")."""
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and line[i + 1:i + 2] == "_":
            i += 2
            continue
        if not (line[i] == "%" and _prose_percent(line, i)):
            out.append(line[i])
        i += 1
    return "".join(out)


def _is_code_line_reference(line: str) -> bool:
    """The counting definition the regex screens replace."""
    from evalgen.detectors import _text

    if "](" in line:
        line = _text._MD_LINK.sub(r"\1", line)
    if "#" in line or "//" in line:
        line = _text._TRAILING_COMMENT.sub("", line)
    if not line.strip() or (not line.isascii() and _text._CJK_CHAR.search(line)):
        return False
    symbols = sum(_without_prose_symbols(line).count(c) for c in "=;{}[]<>_%")
    indent = len(line) - len(line.lstrip(" \t"))
    return bool(_text._CODE_LINE.match(line)) or symbols >= 2 or (indent >= 4 and (symbols >= 1 or "(" in line))


@settings(max_examples=400, deadline=None)
@given(line=st.one_of(LINE_PIECES, st.text(max_size=40), st.text(st.sampled_from(" =;{}[]<>_%(a#/\t5\\"), max_size=12)))
def test_is_code_line_equals_the_counting_definition(line: str) -> None:
    from evalgen.detectors._text import is_code_line

    assert is_code_line(line) == _is_code_line_reference(line)


@settings(max_examples=600, deadline=None)
@given(prompt=st.one_of(st.text(max_size=80), st.lists(st.sampled_from(
    ["Translate ", "into ", "French", "english", "请用", "中文", "回答", "say it in German", "write", " ", ".",
     "malayalam", "Tamil", "，", "泰语", "用", "写", "_", "。", "(Urdu)", "in"]),
    max_size=12).map("".join)))
@example(prompt="Say it in German.")
@example(prompt="请用，english。回答")
@example(prompt="Write the story in (Malayalam), please")
def test_language_request_screen_hides_no_request(prompt: str) -> None:
    asked, targets = language_drift.asks_for_language(prompt)
    full = list(language_drift._ASKS.finditer(prompt))
    assert asked == bool(full)
    if not full:
        assert targets == set()


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(["<b>", "</div>", "<a href='x'>", "<", ">", "\n", "x = 1;", "word", " ", "`c`",
                                      "中文", "<p\n>", "$x$"]), max_size=14).map("".join))
def test_prose_only_is_the_line_by_line_definition(text: str) -> None:
    from evalgen.detectors._text import mask_code

    lines = (language_drift._TAG.sub(" ", x) for x in language_drift._mask_math(mask_code(text)).split("\n"))
    assert language_drift._prose_only(text) == "\n".join(x for x in lines if not language_drift._code_only(x))


@settings(max_examples=300, deadline=None)
@given(key=st.text(max_size=30), k=st.integers(1, 6))
def test_has_letters_counts_letters(key: str, k: int) -> None:
    from evalgen.detectors.repetition import _has_letters

    assert _has_letters(key, k) == (sum(ch.isalpha() for ch in key) >= k)


@settings(max_examples=300, deadline=None)
@given(line=st.one_of(LINE_PIECES, st.text(max_size=40)))
def test_symbolic_counts_symbols(line: str) -> None:
    from evalgen.detectors.repetition import _URLS, _symbolic

    plain = _URLS.sub("", line) if "://" in line else line
    visible = len(plain) - plain.count(" ") - plain.count("\t")
    expected = visible > 0 and sum(not c.isalnum() and not c.isspace() or c == "_" for c in plain) * 3 >= visible
    assert _symbolic(line) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=LINES, ran_out=st.booleans())
def test_line_screen_hides_no_line_loop(text: str, ran_out: bool) -> None:
    """When the byte screen says no lines repeat enough, the exact line checks find nothing: no line three
    times back to back, no repeated block, no line that keeps coming back."""
    from evalgen.detectors.base import RepetitionConfig
    from evalgen.detectors.repetition import _block_run, _fences, _line_run, _lines_repeat, _repeated_items, _units

    cfg = RepetitionConfig()
    if _lines_repeat(text, cfg.min_segment_chars, ran_out):
        return
    units = _units(text, _fences(text), cfg.min_segment_chars)
    run = _line_run(units, cfg, text)
    assert run is None or not run[4], run  # only a run with a word changed can be there
    assert _block_run(units, min(cfg.min_repeats, cfg.min_repeats_at_limit)) is None
    items = _repeated_items(units, text, frozenset())
    assert items is None or items[1] < cfg.min_segment_repeats


def _lines_repeat_reference(text: str, min_chars: int, ran_out: bool) -> bool:
    """The plain definition the byte screen computes: keys are the lines of >= min(6, min_chars) bytes with
    digits as 0 and list marks stripped; a non-empty key three times, two such keys twice, one twice when
    the generation ran out, or two empty list items ("4.", "37.***")."""
    import re
    from collections import Counter

    if text.count("\n") < 1:
        return False
    lines = text.encode("utf-8", "surrogatepass").translate(bytes.maketrans(b"123456789", b"0" * 9)).split(b"\n")
    keys = [k for k in (line.strip(b" \t*-#>0.)(:|+") for line in lines if len(line) >= min(6, min_chars)) if k]
    if len(set(keys)) < len(keys):
        twice = [c for c in Counter(keys).values() if c > 1]
        if ran_out or len(twice) >= 2 or max(twice) >= 3:
            return True
    empty = re.compile(r"^[ \t]*0+(?:[.)]|、)[ \t*_#-]*$".encode(), re.M)
    return len(empty.findall(b"\n".join(lines))) >= 2


ITEM_PIECES = st.sampled_from(["1.", "2)", " 37.***", "4、", "5. -", "\t0.", "12. 西瓜", "a.", "1.x", "", " ", "\r"])


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(LINES, st.lists(st.one_of(ITEM_PIECES, LINE_PIECES), max_size=12).map("\n".join),
                      st.text(st.sampled_from("1.)、 \n\tab*\ud800"), max_size=40)),
       min_chars=st.integers(1, 12), ran_out=st.booleans())
def test_line_screen_equals_its_plain_definition(text: str, min_chars: int, ran_out: bool) -> None:
    from evalgen.detectors.repetition import _lines_repeat

    assert _lines_repeat(text, min_chars, ran_out) == _lines_repeat_reference(text, min_chars, ran_out)


@settings(max_examples=400, deadline=None)
@given(piece=st.one_of(LINE_PIECES, st.text(max_size=40), st.lists(st.sampled_from(
    ["Step 7:", "第3步：", "  ", "\t", "\u00a0", "\u3000", "1.", "- ", "**", "Yes", "西瓜", ".", "：", "\x1c"]),
    max_size=8).map("".join)))
def test_line_key_collapses_spaces_as_the_regex(piece: str) -> None:
    """`_key` collapses spaces with split/join; the plain computation is the regex substitution."""
    import re

    from evalgen.detectors.repetition import _KEY_END, _LABEL, _LIST_CHARS, _key

    key = piece.strip().lstrip(_LIST_CHARS).strip()
    key = _LABEL.sub("", key) if key[:1].isalpha() else key
    assert _key(piece) == re.sub(r"\s+", " ", key).lower().rstrip(_KEY_END)


FENCE_TEXT = st.lists(st.sampled_from(["```", "~~~", "`", "~", "````", " ", "  ", "\t", "\n", "\r\n", "python", "x",
                                       "中", "http://a.b", "www.x", "://", "ftp://q", "1. ", "- ", "* ", "12) ",
                                       " for code", "js:app.js", "{r}", ' title="a.py"', "=", "\r"]),
                     max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(FENCE_TEXT, st.text(max_size=60)))
def test_fence_lines_are_the_fence_line_pattern(text: str) -> None:
    expected = [(m.start(), m.end(), m.group(1), m.group(2)) for m in _text._FENCE_LINE.finditer(text)]
    assert _text.fence_lines(text) == expected


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(FENCE_TEXT, st.text(max_size=60)))
def test_url_pattern_is_the_grouped_one(text: str) -> None:
    grouped = re.compile(r"(?:https?|ftp)://[^\s<>\"'）」]+|www\.[^\s<>\"'）」]+")
    assert [m.span() for m in _text._URL.finditer(text)] == [m.span() for m in grouped.finditer(text)]


MARKER_PIECES = [
    "### Human:", "### Human", "Human:", "User:", "USER:", "用户：", "问：", "<用户>", "[Round", "<|im_start|>user",
    "<|im_end|>", "</s>", "[INST]", "[/INST]", "user", "<human>", "support>", ">", " >", "\n", " ", ":", "：", "#", "<",
    "[", "x", "Role: ", "<|endoftext|>", "<eos>",
]
MARKER_TEXT = st.lists(st.sampled_from(MARKER_PIECES), max_size=25).map("".join)
LITERALS = st.sets(st.text(st.sampled_from("ab:：<[#| "), min_size=1, max_size=5), min_size=1, max_size=6)


@settings(max_examples=400, deadline=None)
@given(literals=LITERALS, text=st.text(st.sampled_from("ab:：<[#| \n"), max_size=40))
def test_marker_screen_is_any_in(literals: set[str], text: str) -> None:
    assert missing_eos._may_hold(text, missing_eos._screen(literals)) == any(lit in text for lit in literals)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(MARKER_TEXT, st.text(max_size=60)))
def test_missing_eos_same_without_screens(text: str) -> None:
    ctxs = [DetectorContext(), DetectorContext(turn_markers=("Q:", "<|turn|>"), end_tokens=("<end>", " [STOP]"))]
    record = make(text)
    fast = [missing_eos._evidence(record, ctx) for ctx in ctxs]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(missing_eos, "_may_hold", lambda text, screen: True)
        m.setattr(missing_eos, "_LINE_ENDS_IN_TAG", re.compile(""))
        slow = [missing_eos._evidence(record, ctx) for ctx in ctxs]
    assert fast == slow


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=80), st.text(st.sampled_from("a_ 1-中\n。é"), max_size=40)))
def test_five_words_screen_counts_words(text: str) -> None:
    assert (degenerate._FIVE_WORDS.match(text) is not None) == (len(degenerate._WORD.findall(text)) > 4)


def test_wide_mark_order_is_a_permutation() -> None:
    assert sorted(degenerate._MARKS_WIDE) == sorted(degenerate.LANGUAGE_MARKS)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(MARKER_TEXT, st.text(st.sampled_from("<>[]|/sSeEoOIiNnTt 0x1A"), max_size=30)))
def test_special_token_screen_is_the_pattern(text: str) -> None:
    assert _text.has_special_token(text) == (_text.SPECIAL_TOKEN.search(text) is not None)


def _near_reference(a: str, b: str, similarity: float, min_common: int) -> bool:
    """`_near` as first written: the common start and end counted character by character."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    longest = max(la, lb)
    if min(la, lb) < similarity * longest:
        return False
    i = 0
    limit = min(la, lb)
    while i < limit and a[i] == b[i]:
        i += 1
    j = 0
    while j < limit - i and a[la - 1 - j] == b[lb - 1 - j]:
        j += 1
    return i + j >= max(similarity * longest, min_common)


@settings(max_examples=1000, deadline=None)
@given(a=st.one_of(st.text(st.sampled_from("ab c"), max_size=120), st.text(max_size=60)),
       b=st.one_of(st.text(st.sampled_from("ab c"), max_size=120), st.text(max_size=60)),
       similarity=st.sampled_from([0.0, 0.5, 0.8, 1.0]), min_common=st.integers(0, 60))
def test_near_lines_gallop_equals_character_loop(a: str, b: str, similarity: float, min_common: int) -> None:
    from evalgen.detectors.repetition import _near

    assert _near(a, b, similarity, min_common) == _near_reference(a, b, similarity, min_common)


@settings(max_examples=1000, deadline=None)
@given(text=st.one_of(st.text(st.sampled_from(list("chorusefainkHOCRSEFAINK \nſıİ\u212a副歌合唱b")), max_size=30),
                      st.text(max_size=30)))
def test_chorus_screen_hides_no_chorus(text: str) -> None:
    """The lower-case screen before the case-insensitive chorus pattern never hides a match (re.I also
    matches "ſ" for s, "ı" for i and the Kelvin sign for k)."""
    from evalgen.detectors.repetition import _CHORUS, _labels_chorus

    assert _labels_chorus(text) == (_CHORUS.search(text) is not None)


CODE_PIECES = ["```", "```python", "~~~", "`", "x = 1", "word", " ", "\n", "http://a.b/c", "www.x.org", "\t", "  ",
               "text here", "`code`", "one two ", "one two three four\n"]
CODE_TEXT = st.lists(st.sampled_from(CODE_PIECES), max_size=60).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(CODE_TEXT, st.text(st.characters(max_codepoint=127), max_size=80)))
def test_masking_lines_before_a_break_ignores_what_follows(text: str) -> None:
    masked = _text.mask_code(text)
    for cut in (i for i, c in enumerate(text) if c == "\n"):
        assert _text.mask_code(text[:cut]) == masked[:cut]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=CODE_TEXT)
def test_language_drift_same_without_head_count(text: str) -> None:
    record = make(text, prompt="Explain this in a few words, please.")
    ctxs = [DetectorContext(), DetectorContext(config=DetectorConfig(language_drift=LanguageDriftConfig(min_units=3)))]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(language_drift, "_HEAD", 12)  # a short head, so that generated text exercises it
        fast = [language_drift.detect_language_drift(record, ctx) for ctx in ctxs]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(language_drift, "_head_has_words", lambda output, need: False)
        slow = [language_drift.detect_language_drift(record, ctx) for ctx in ctxs]
    assert [f.to_dict() for f in fast] == [f.to_dict() for f in slow]


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=80), st.text(st.sampled_from("ab 中é\u3042\ud800Z9"), max_size=40)))
def test_letter_bits_are_the_byte_counts(text: str) -> None:
    raw = text.encode("utf-8", "ignore")
    cls = raw.translate(_text._CLASSES)
    assert _text._letters_and_words(raw) == (cls.count(b"a"), cls.count(b" a") + (cls[:1] == b"a"))


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(TEXT, st.text(st.sampled_from("aurAURk\u212a\u0130iI 中é\ud800"), max_size=20)),
       identity=st.sampled_from(["Aurora", "Au Rora", "Kiki", "IKI", "星火", "k"]))
def test_states_identity_is_the_lower_case_search(text: str, identity: str) -> None:
    finding = identity_leak.detect_identity_leak(make(text), DetectorContext(identity=identity))
    assert finding.details["states_identity"] == identity_leak._mentions(text, identity, text.lower())


MESSAGES = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool"]),
                                           "content": st.text(max_size=6)}), max_size=5)


@settings(max_examples=300, deadline=None)
@given(messages=MESSAGES, prompt=st.one_of(st.none(), st.text(max_size=6)))
def test_conversation_key_gives_the_turns_and_the_request(messages: list[dict], prompt: str | None) -> None:
    record = dataclasses.replace(make("x"), messages=messages, prompt_text=prompt)
    key = _text.conversation_key(record)
    hash(key)
    assert _text.turns_and_request(key) == (_text.user_turns(record), _text.request_text(record))


@settings(max_examples=400, deadline=None)
@given(text=st.text(st.sampled_from(".!?。！？\n \tab"), max_size=30), lo=st.integers(0, 30), hi=st.integers(0, 30))
def test_sentence_break_is_the_two_branch_pattern(text: str, lo: int, hi: int) -> None:
    plain = re.compile(r"[.!?。！？\n](?=\s|$)|[。！？\n]")
    assert [m.span() for m in identity_leak._SENTENCE_BREAK.finditer(text, lo, hi)] == \
        [m.span() for m in plain.finditer(text, lo, hi)]


CUE_PIECES = ["i am", "i'm", "im", "my name is", "i was", "we are both", "as an", "as", "ich bin", "my team at",
              "je suis", "soy", "sono", "mi chiamo", " ", "  ", "\n", ".", ",", "x", "é", "_", "ai", "mass", "i\tam"]
CUE_TEXT = st.lists(st.sampled_from(CUE_PIECES), max_size=12).map("".join)


@settings(max_examples=500, deadline=None)
@given(low=st.one_of(CUE_TEXT, st.text(max_size=30)))
def test_claim_cue_pattern_is_the_word_boundary_form(low: str) -> None:
    plain = re.compile(rf"(?:\b(?:{'|'.join(identity_leak._EN_CUES)})\b)(?P<mid>[^.!?\n]{{0,80}}?)\s*$")
    for pos in range(len(low) + 1):
        fast, slow = identity_leak._EN_CLAIM.search(low, pos), plain.search(low, pos)
        assert (fast and (fast.span(), fast.span("mid"))) == (slow and (slow.span(), slow.span("mid")))


def plain_cut_word(record: GenerationRecord, text: str) -> str | None:
    """truncation's mid-word check as its docstring defines it, by regex over every word, without the
    substring screens and the word-start scan."""
    m = truncation._LAST_WORD.search(text, max(0, len(text) - 40))
    if not m or m.group(0).isupper():
        return None
    word = m.group(0).lower()
    context = text[max(0, m.start() - 3000):m.start()] + "\n" + request_text(record)[-3000:]
    lowered = context.translate(str.maketrans(string.ascii_uppercase, string.ascii_lowercase))
    spans = [w.span() for w in re.finditer(rf"(?<![a-z]){re.escape(word)}[a-z]*", lowered)]
    if any(stop - start == len(word) for start, stop in spans):
        return None
    for start, stop in spans:
        rest = context[start + len(word):stop]
        rest_lower = rest.translate(str.maketrans(string.ascii_uppercase, string.ascii_lowercase))
        whole = re.search(rf"(?<![a-z]){re.escape(rest_lower)}(?![a-z])", lowered)
        if not (truncation._INFLECTION.fullmatch(rest_lower) or rest[0].isupper() or whole):
            return m.group(0)
    return None


WORD_PIECES = st.sampled_from(["th", "their", "Th", "the", "im", "Imposing", "learn", "learning", "learned", "data",
                               "dataset", "set", "textLink", "text", "cinn", "cinnamon", "a", " ", " ", ", ", ". ",
                               "\n", "'", "-", "é", "中", "x", "Y", "smal", "small", "wi", "ba", "Da",
                               "İ", "ß", "ﬁ", "K"])  # str.lower changes the length of the first three
WORD_TEXT = st.lists(st.one_of(WORD_PIECES, WORD_PIECES, WORD_PIECES, st.text(st.characters(max_codepoint=0x7f),
                                                                            max_size=3)), max_size=16).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=WORD_TEXT, last=WORD_PIECES, prompt=WORD_TEXT)
def test_mid_word_check_equals_its_plain_definition(text: str, last: str, prompt: str) -> None:
    text += last  # mostly ending on a word, where the check has something to find
    record = make(text, prompt)
    assert truncation._cut_word(record, text) == plain_cut_word(record, text)


@settings(max_examples=1000, deadline=None)
@given(token=st.one_of(st.text(max_size=12), st.text(st.characters(max_codepoint=127), max_size=12),
                       st.text(st.sampled_from("abxyzXBC bcdfg019.:/%@<>`$#{}[]*+\"'(),-_wwwhttpÃĠé中к"),
                               max_size=12),
                       st.text(st.sampled_from("xXyb.-*<`Ãé"), max_size=7)))
@example('xxxxx')
@example('bcdfg')
@example('Tx<uVtT`Rpo')
@example('www.a<b>')
@example('“x*y”')
@example('12*34')
def test_junk_equals_its_plain_definition(token: str) -> None:
    assert degenerate._junk(token) == degenerate._junk_plain(token)


ASK_PIECES = st.sampled_from([
    "Translate ", "translation", "into ", "in ", "English", "ENGLISH", "french", "please", " only", "answer ", "using ",
    "Reply in Spanish", "\u212aorean", "\u0131talian", "\u017fpanish", "\u0130talian", "中文", "翻译成", "日语",
    "用英语", "怎么说", ". ", "? ", "!", ".", "\n", " ", ",", "x", "the text", "write it", "-only", " and German",
])
ASK_TEXT = st.lists(st.one_of(ASK_PIECES, st.text(max_size=4)), max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(prompt=ASK_TEXT)
@example("Write. the text in English please")
@example("Translate into\n\nFrench. Then reply in German!")  # a request across line breaks
@example("English. Span\u0131sh please")  # "\u0131" is "i" to `re.I`, not to `str.lower`
@example("English. \u017fpanish please")
@example("\u0130\u0130.French please")  # "\u0130" lower-cases to two characters: positions shift
def test_request_scan_by_sentence_is_the_full_scan(prompt: str) -> None:
    """The sentences that hold an ask word give the matches of `_ASKS` over the whole prompt."""
    low = prompt.lower()
    words = language_drift._ASCII_ASK_WORDS if low.isascii() else language_drift._ASK_WORDS
    if not any(word in low for word in words):
        return  # (the caller's screen: no scan)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(language_drift, "_LONG_PROMPT", 0)  # every prompt takes the sentence scan
        fast = [(r.span(), r.groupdict()) for r in language_drift._requests(prompt, low, words)]
    assert fast == [(r.span(), r.groupdict()) for r in language_drift._ASKS.finditer(prompt)]


END_PIECES = st.sampled_from([
    "see www.example.com", "http://a.b/c", "https://x", "site.org", "foo.io/x y", "a-b.dev", "`code`", "</div>",
    "<br/>",
    "-->", ">", "`", "*bold*", "**strong**", "_x_", "__y__", "* a *", ":)", " :-(", ";P", "<3", "XD", "^_^", "T_T", " ",
    "\n", "\t", "\u3000", "\u2028", "word", "Let'", "it's", "e.g.", "a.b-c", "’", "-", ".", "x", "中", "é", "*", "_",
])
END_TEXT = st.lists(st.one_of(END_PIECES, st.text(max_size=3)), max_size=14).map("".join)


@settings(max_examples=1000, deadline=None)
@given(line=END_TEXT)
@example("x www.a.com\n")
@example("www.a.com \n")
@example("**a** \n")
@example("x :-(\n")
@example("</b>\n")
def test_line_end_screens_are_the_end_patterns(line: str) -> None:
    assert truncation._ends_in_url(line) == (truncation._URL_END.search(line) is not None)
    assert truncation._ends_in_emoticon(line) == (truncation._EMOTICON.search(line) is not None)
    assert truncation._ends_in_closed_tag(line) == (truncation._CLOSED_TAG.search(line) is not None)
    assert truncation._ends_in_emphasis(line) == (truncation._EMPHASIS_END.search(line) is not None)


@settings(max_examples=1000, deadline=None)
@given(text=END_TEXT)
@example("abcdefgh")
@example("ab.cdefgh\n")
@example("**" + "a" * 40 + "**")
@example("'.-ab")
def test_last_word_from_the_tail_is_the_full_search(text: str) -> None:
    fast = truncation._last_en_word(text)
    full = truncation._EN_WORD.search(text)
    assert (fast and fast.span()) == (full and full.span())


@settings(max_examples=500, deadline=None)
@given(line=st.one_of(st.text(st.characters(max_codepoint=127), max_size=30), st.text(max_size=30)))
@example("\x1c\x1d a1")
def test_prose_counts_are_the_character_tests(line: str) -> None:
    visible = [c for c in line if not c.isspace()]
    assert truncation._prose(line) == (bool(visible) and sum(c.isalpha() for c in visible) * 2 >= len(visible))


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(WORD_TEXT, st.text(st.sampled_from("aBzZ \u212a\u0130\u00c9\u03a3ß中\n"), max_size=20)))
@example("\u212a")
@example("\u0130x")
def test_ascii_lower_agrees_on_every_ascii_letter(text: str) -> None:
    """`_ascii_lower` may lower-case other letters too, but where either result holds an ASCII character
    both hold the same one, at the same position (all that `_cut_word` reads)."""
    fast, plain = truncation._ascii_lower(text), text.translate(truncation._ASCII_LOWER)
    assert len(fast) == len(plain)
    assert all(a == b for a, b in zip(fast, plain, strict=True) if a.isascii() or b.isascii())


def _without_lone_letters(text: str) -> str:
    """Each ASCII letter with no Latin letter (accented ones and combining marks included), ASCII digit or apostrophe
    on either side blanked, one by one."""
    def latin(i: int) -> bool:
        if not 0 <= i < len(text):
            return False
        ch = text[i]
        return ch.isascii() and ch.isalnum() or ch in "'’" or "\u00c0" <= ch <= "\u024f" or \
            "\u1e00" <= ch <= "\u1eff" or "\u0300" <= ch <= "\u036f"
    return "".join(" " if text[i].isascii() and text[i].isalpha() and not latin(i - 1) and not latin(i + 1)
                   else ch for i, ch in enumerate(text))


def _prompt_languages_reference(key: tuple) -> tuple:
    """`_prompt_languages_cached` as first written: the last line of every turn counted apart."""
    cfg = LanguageDriftConfig()
    turns, request = _text.turns_and_request(key)
    asked, targets = language_drift.asks_for_language(request)
    langs: set[str] = set()
    dominant = None
    for turn in turns:
        prose = language_drift._prose_only(turn.strip())
        prose = prose if prose.isascii() else _without_lone_letters(prose)
        pin = script_units(prose, cfg.latin_word_units)
        if pin.total < cfg.min_prompt_units:
            continue
        langs |= {k for k, v in pin.units.items() if v >= cfg.prompt_lang_share * pin.total}
        dominant = pin.dominant()
        last = next((line for line in reversed(prose.split("\n")) if line.strip()), "")
        ask = script_units(last, cfg.latin_word_units)
        if ask.total >= cfg.min_prompt_units and ask.dominant():
            langs.add(ask.dominant())
    if not langs and not targets:
        return [], None, asked, []
    return sorted(langs | targets), dominant, asked, sorted(targets)


TURN_PIECES = st.sampled_from(["Explain this", "请解释一下", "x = 1;", "\n", "\n\n", " ", "Что это", "上面的代码对吗？",
                               "in English", "```\ncode\n```", "`x`", "日本語で", "안녕", "A．W为K", "I'm", "F、G",
                               "nǐ hǎo", "Il y a", "Hãy giới", "don't", "3D", "A4纸"])


@settings(max_examples=400, deadline=None)
@given(turns=st.lists(st.lists(TURN_PIECES, max_size=6).map("".join), min_size=1, max_size=3))
@example(["Explain this\n请解释一下"])
def test_prompt_languages_count_a_one_line_turn_once(turns: list[str]) -> None:
    cfg = LanguageDriftConfig()
    record = dataclasses.replace(make("x"), messages=[{"role": "user", "content": t} for t in turns])
    key = _text.conversation_key(record)
    fast = language_drift._prompt_languages_cached.__wrapped__(key, cfg.latin_word_units, cfg.min_prompt_units,
                                                               cfg.prompt_lang_share)
    assert fast == _prompt_languages_reference(key)


@settings(max_examples=500, deadline=None)
@given(before=st.one_of(st.text(st.characters(max_codepoint=127), max_size=40), CLAIM_TEXT.filter(str.isascii)))
def test_chinese_cues_need_chinese(before: str) -> None:
    """`_claim_cue` skips the Chinese cues on an ASCII sentence: none of them can match there."""
    assert identity_leak._ZH_CLAIM.search(before) is None
    assert identity_leak._ZH_MADE_BY.match(before) is None
