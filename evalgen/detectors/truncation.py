"""`truncation`: the model ended its turn itself but the text stops mid-sentence.

Only records with stop_reason `eos` (or `unknown`, imported) are judged; a `length` stop is the
`missing_eos` detector's business. Only the tail is read. In order:

1. a cut multibyte character (U+FFFD) at the end, or an unclosed code fence  -> truncated;
2. the last line is complete structure (closing fence, heading, table row, URL, emoji,
   sentence-final punctuation, a closing phrase like "Hope this helps" / "祝你好运") -> complete,
   except a list item or line that ends in a dangling function word;
3. a dangling function word at the end (EN: and/the/of/to/...; ZH: 这/的/和/但/在/...), a trailing
   comma or hyphen, or an unclosed bracket/quote in the last line -> truncated;
4. an unpunctuated final sentence of >= `min_tail_words` words / `min_tail_cjk` CJK characters that
   has opened a second clause (a comma), or >= `long_tail_words` / `long_tail_cjk` -> truncated.
Structure opened at the very end with nothing after it (an unclosed fence, a bare "###" or bullet,
an opening tag) is truncated even in a short output. With stop_reason `unknown`, an output whose
last 16 characters occurred earlier is a looping tail cut by a limit, not judged.
Outputs shorter than `min_output_chars` are normal short answers. A last line that only opens a chat
turn ("USER:", "### Human:") is a made-up turn (`missing_eos`), not a cut sentence.
"""

from __future__ import annotations

import re
import unicodedata

from evalgen.detectors._text import is_code_line
from evalgen.detectors.base import DetectorContext
from evalgen.records import Finding, GenerationRecord, Span

__all__ = ["detect_truncation"]

NAME = "truncation"
_TAIL = 600  # characters read from the end

_FINAL = set(".!?。！？…‼⁇⁈⁉;；~～")
_CLOSED = set("\"'”’」』）)]】》")  # a closing quote or bracket ends a sentence too
_OPEN_CLOSE = (("(", ")"), ("（", "）"), ("[", "]"), ("【", "】"), ("“", "”"), ("「", "」"), ("『", "』"), ("《", "》"))
_DANGLING_EN = frozenset(
    [
        "a", "an", "the", "and", "or", "but", "nor", "because", "although", "though", "whereas", "whether", "if",
        "unless", "until", "of", "to", "at", "for", "with", "from", "into", "onto", "between", "through", "during",
        "without", "within", "among", "against", "toward", "towards", "via", "including", "such", "as", "than", "my",
        "your", "our", "their", "its", "his", "her", "whose", "e.g", "i.e"
    ]
)
# Single characters that cannot end a Chinese sentence, and two-character words that can.
_DANGLING_ZH = frozenset("这那的和但在是因而与及或把被对从向给让将就也都还并且如若虽即等以之其该各每为于跟同比")
_COMPLETE_ZH = frozenset((
    "存在", "现在", "所在", "实在", "自在", "不在", "正在", "好的", "是的", "对的", "真的", "我的", "你的", "他的",
    "她的", "它的", "有的", "目的", "总是", "就是", "还是", "而已", "罢了", "等等", "之类", "如此", "以上", "以下",
    "为止", "之一", "而言", "不同", "相同", "之后", "以后", "之前", "以前", "其他", "其它", "其中", "即可", "足以",
    "可以", "所以然", "你们的", "我们的", "方向", "原因", "参与", "总和", "不对", "来不及", "目的",
))
_CLOSING = re.compile(
    r"^(?:hope (?:this|that|it) helps|i hope|good luck|best(?: regards| wishes)?|regards|cheers|thanks|thank you|"
    r"enjoy|happy|have (?:a|fun)|let me know|feel free|take care|sincerely|yours|"
    r"祝|希望(?:对你|对您|能|这)|谢谢|感谢|加油|欢迎|如有|有问题|以上)",
    re.I,
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)、]|[a-zA-Z][.)]|[（(]\d+[)）]|[一二三四五六七八九十]+、)\s*")
_HEADING = re.compile(r"^\s*(?:#{1,6}\s|\*\*[^*]+\*\*:?$|__[^_]+__:?$)")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
# Structure opened at the very end with nothing after it: a bare heading marker or bullet, an
# opening tag, a tag cut before its ">".
_OPENING_END = re.compile(
    r"(?:^|\n)[ \t]*(?:#{1,6}|[-*+•]|\d+[.)])[ \t]*$|<(?P<tag>[A-Za-z][\w:-]*)(?:\s[^<>]*)?>\s*$|<[A-Za-z/][^<>\s]*$"
)
_LOOP_PROBE = 16
# A last line that only opens a chat turn ("USER:", "### Human:", "用户：") is a made-up turn cut by a stop
# string: the answer before it ended; that is `missing_eos`'s finding, not a cut sentence.
_TURN_LABEL = re.compile(
    r"^(?:#{1,3}\s*)?(?:user|human|assistant|system|bot|gpt|instruction|input|response|用户|助手|问|答)\s*[:：]$", re.I
)
_BARE_NUMBER = re.compile(r"[ \t]*\d+[.)][ \t]*$")
_CLAUSE = re.compile(r"[，,;；、]")
_URL_END = re.compile(r"(?:https?://|www\.)\S+$")
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'’.-]*$")
_WORDS = re.compile(r"[A-Za-z0-9]+")
_CJK = re.compile(r"[\u3400-\u9fff\uac00-\ud7a3\u3040-\u30ff]")
_SENT_END = re.compile(r"[.!?。！？…;；](?=[\s\"'”’」』）)\]*_]*(?:\s|$))|[。！？]")


def _is_emoji(ch: str) -> bool:
    return ord(ch) >= 0x1F000 or unicodedata.category(ch) == "So" or 0x2600 <= ord(ch) <= 0x27BF


def _ok(reason: str, details: dict) -> Finding:
    details["reason"] = reason
    return Finding(NAME, False, 0.0, f"Ends completely ({reason.replace('_', ' ')}).", [], details)


def _cut(start: int, end: int, reason: str, explanation: str, score: float, details: dict) -> Finding:
    details["reason"] = reason
    return Finding(NAME, True, score, explanation, [Span(start, end, reason.replace("_", " "))], details)


def _dangling(segment: str) -> str | None:
    """The dangling function word at the end of a segment, if any."""
    stripped = segment.rstrip()
    if not stripped:
        return None
    last = stripped[-1]
    if "\u4e00" <= last <= "\u9fff":
        if stripped[-2:] in _COMPLETE_ZH or stripped[-3:] in _COMPLETE_ZH:
            return None
        return last if last in _DANGLING_ZH else None
    m = _EN_WORD.search(stripped)
    if m:
        word = m.group(0).lower().rstrip(".")
        if word in _DANGLING_EN and len(stripped) > len(word) and m.group(0) != "A":  # "vitamin A"
            return word
    return None


def detect_truncation(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    cfg = ctx.config.truncation
    details: dict = {"reason": None}
    if record.stop_reason not in ("eos", "unknown"):
        return Finding(NAME, False, 0.0, f"Not judged: the generation ended by {record.stop_reason}.", [], details)
    full = record.output
    text = full.rstrip()
    end = len(text)
    if not text.strip():
        return _ok("empty", details)
    base = max(0, end - _TAIL)
    tail = text[base:]

    if "\ufffd" in tail[-3:]:
        return _cut(end - 1, end, "cut_character", "The output ends in a cut multibyte character.", 1.0, details)
    if ("`" in text or "~" in text) and ("```" in text or "~~~" in text):
        fences = re.findall(r"^[ \t]*(?:```|~~~)", text, re.M)
        if len(fences) % 2:
            start = max(text.rfind("```"), text.rfind("~~~"))
            return _cut(max(0, start), end, "unclosed_code_block", "The output ends inside an unclosed code block.",
                        1.0, details)
    last_nl = text.rfind("\n")
    core = text.rstrip("*_`~ \t") or text
    if (core[-1] in _FINAL or core[-1] in _CLOSED) and not _BARE_NUMBER.match(text, last_nl + 1):
        return _ok("punctuation", details)  # the common case, decided from the last characters
    short_tail = text[-80:]
    opened = _OPENING_END.search(short_tail)
    if opened and not (opened.group("tag") and f"</{opened.group('tag')}" in short_tail[opened.end():]):
        start = end - len(short_tail) + opened.start()
        shown = opened.group(0).strip()
        return _cut(start, end, "empty_opening", f"The output ends on {shown!r} with nothing after it.",
                    1.0, details)
    if len(text.strip()) < cfg.min_output_chars:
        return _ok("short_answer", details)
    if record.stop_reason == "unknown" and end > 2 * _LOOP_PROBE and text.find(text[-_LOOP_PROBE:]) < end - _LOOP_PROBE:
        # The last words occurred before: a looping tail cut by some limit, not a model-chosen end.
        return _ok("looping_tail", details)

    line_start = text.rfind("\n") + 1
    line = text[line_start:]
    stripped_line = line.strip()
    if re.match(r"^(?:```|~~~)", stripped_line):
        return _ok("code_block", details)
    if is_code_line(line) or re.search(r"`[^`\n]+`$|</[A-Za-z][\w:-]*>$|/>$", stripped_line):
        return _ok("code_line", details)
    last = text[-1]
    core = text.rstrip("*_`~ \t") or text
    final = core[-1]
    if final in _FINAL or final in _CLOSED:
        return _ok("punctuation", details)
    if final in ":：" and _TURN_LABEL.match(stripped_line):
        return _ok("turn_marker", details)
    if final in ":：" and not _LIST_ITEM.match(line) and not _HEADING.match(line):
        # "Here are the steps:" and nothing after it: the announced content never came.
        return _cut(line_start, end, "dangling_colon", "The output ends with a colon that announces missing text.",
                    0.8, details)
    if _is_emoji(last) or _is_emoji(final):
        return _ok("emoji", details)
    if _URL_END.search(stripped_line):
        return _ok("url", details)
    if _TABLE_ROW.match(line):
        return _ok("table_row", details)

    # The last segment: text after the last sentence end in the last line.
    seg_start = line_start
    for m in _SENT_END.finditer(line):
        seg_start = line_start + m.end()
    segment = text[seg_start:].strip()
    seg_start = end - len(segment) if segment else seg_start
    word = _dangling(segment)
    if word and len(text.strip()) >= cfg.min_output_chars:
        details["dangling"] = word
        return _cut(seg_start, end, "dangling_word", f"The output stops on the dangling word {word!r}.", 1.0, details)
    if final in ",，、-–—(（[【“「『《" and len(segment) > 1:
        return _cut(seg_start, end, "mid_sentence", f"The output stops on {final!r}, mid-sentence.", 0.9, details)
    for op, cl in _OPEN_CLOSE:
        if line.count(op) > line.count(cl) and op != cl:
            pos = line.rfind(op)
            if pos >= 0 and not any(c in _FINAL for c in line[pos:]):
                return _cut(line_start + pos, end, "unclosed_bracket", f"The output ends with an unclosed {op!r}.",
                            0.9, details)
    if line.count('"') % 2 and not any(c in _FINAL for c in line[line.rfind('"'):]):
        pos = line.rfind('"')
        return _cut(line_start + pos, end, "unclosed_quote", "The output ends inside an unclosed quote.", 0.8, details)
    if _HEADING.match(line):
        return _ok("heading", details)
    if _LIST_ITEM.match(line):
        return _ok("list_item", details)
    if _CLOSING.match(segment.lstrip("*_ ")):
        return _ok("closing_phrase", details)

    words = len(_WORDS.findall(segment))
    cjk = len(_CJK.findall(segment))
    punctuated_before = bool(_SENT_END.search(text, base, seg_start)) if seg_start > base else False
    details.update(tail_words=words, tail_cjk=cjk)
    long_enough = words >= cfg.long_tail_words or cjk >= cfg.long_tail_cjk
    prose = words >= cfg.min_tail_words or cjk >= cfg.min_tail_cjk
    # A final sentence that has opened a second clause but not closed is cut; a lone clause with no
    # period ("我是一个AI助手") is usually a complete statement.
    if long_enough or (prose and punctuated_before and _CLAUSE.search(segment)):
        return _cut(seg_start, end, "mid_sentence", "The output stops mid-sentence without final punctuation.",
                    0.7, details)
    return _ok("short_final_line", details)
