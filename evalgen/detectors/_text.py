"""Text helpers shared by the detectors: code masking, the user's last message, script counts.

Everything here works on character offsets of the original string (masking keeps lengths), so
spans found on masked text point into `record.output`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter

from evalgen.records import GenerationRecord

__all__ = [
    "SPECIAL_TOKEN",
    "ScriptUnits",
    "ascii_words_upto",
    "code_regions",
    "conversation_key",
    "cut_marker",
    "fence_blocks",
    "fence_lines",
    "has_special_token",
    "in_regions",
    "is_code_line",
    "last_user_message",
    "mask_code",
    "mask_inline_code",
    "mask_urls",
    "request_text",
    "script_units",
    "turns_and_request",
    "user_turns",
]

_ANGLE_TOKENS = (
    r"<\|[^|<>\n]{1,40}\|>|<｜[^｜<>\n]{1,40}｜>|</?s>|<0x[0-9A-Fa-f]{2}>|<extra_id_\d+>|<(?:reserved|unused)_?\d+>"
    r"|<(?:unk|pad|eos|bos|mask|sep|cls|eot|eoa|eoh|start_of_turn|end_of_turn|start|end)>"
)
_BRACKET_TOKENS = r"\[(?:PAD|UNK|CLS|SEP|MASK|INST|/INST|EOS|BOS)\]"
SPECIAL_TOKEN = re.compile(_ANGLE_TOKENS + "|" + _BRACKET_TOKENS, re.I)
"""Special and template tokens as decoded text."""
_SPECIAL_SCREENS = (("<", re.compile(_ANGLE_TOKENS, re.I)), ("[", re.compile(_BRACKET_TOKENS, re.I)))
_CUT_MARKER = re.compile(r"[ \t]*\.\.\.[ \t]*\(truncated\)$")  # as published (just-eval), on the last line


def cut_marker(output: str) -> int:
    """Where the marker starts that a published result puts where it cut the output (" ... (truncated)"), or -1:
    the model's text stops there."""
    if output[-1:] != ")":
        return -1
    marker = _CUT_MARKER.search(output, max(0, len(output) - 40))
    return marker.start() if marker else -1


def has_special_token(text: str) -> bool:
    """Whether `SPECIAL_TOKEN` matches somewhere in `text`: each half of it starts with one literal
    character, which `re` jumps between (the whole pattern starts with one of two, so `re` would test
    every position), and only runs when the text holds that character (memchr)."""
    for c, pattern in _SPECIAL_SCREENS:  # noqa: SIM110 (a loop: `any` over a generator costs ~0.1 us a step)
        if c in text and pattern.search(text) is not None:
            return True
    return False

_ITEM_FENCE_INFO = r"[ \t]*(?:[A-Za-z0-9_+#.:{}-]*[A-Za-z0-9_+#.{}-](?:[ \t]+[^\s=]+=\S*)*)?[ \t\r]*$"
"""What may follow a fence that opens a list item: a language tag ("python", "js:app.js", "{r}") and attributes
('title="app.py"'), not words ("``` for code blocks", "``` 用于代码块") nor a label ("```Example:")."""
_FENCE_LINE = re.compile(
    rf"^(?:[ \t]{{0,3}}|(?:\d{{1,3}}[.)]|[-*+])[ \t]+(?=(?:`{{3,}}|~{{3,}}){_ITEM_FENCE_INFO}))"
    r"(`{3,}|~{3,})([^\n]*)$",
    re.M)
"""A fence line, at the start of a line or of a top-level list item ("1. ```python": CommonMark's code block in a
list item, the fence alone or with a language tag, not "* ``` for code blocks" in a list of markup); the
definition, `fence_lines` finds the same lines without a regex scan."""
_LIST_MARKER = re.compile(r"(?:\d{1,3}[.)]|[-*+])[ \t]+")
_ITEM_FENCE_REST = re.compile(_ITEM_FENCE_INFO)
_LANGUAGE_TAG = re.compile(r"[\w+#.-]+$")


def fence_lines(text: str) -> list[tuple[int, int, str, str]]:
    """(line start, line end, fence mark, rest of the line) of every line `_FENCE_LINE` matches, in text
    order. Found from the occurrences of ``` and ~~~ (`str.find`), not by trying the pattern at every
    position: a fence line holds one after at most 3 spaces, or after a list marker at the line's start."""
    lines = []
    n = len(text)
    for fence in ("```", "~~~"):
        p = text.find(fence)
        while p >= 0:
            start = text.rfind("\n", 0, p) + 1
            end = text.find("\n", p)
            end = n if end < 0 else end
            item = p - start > 3 or text[start:p].strip(" \t")
            if not item or _LIST_MARKER.fullmatch(text, start, p):
                q = p + 3
                while q < end and text[q] == fence[0]:
                    q += 1
                if not item or _ITEM_FENCE_REST.match(text, q, end):
                    lines.append((start, end, text[p:q], text[q:end]))
            p = text.find(fence, end)  # a later one on the same line is not at its start
    lines.sort()
    return lines


def trailing_fences(text: str) -> list[tuple[int, int, str, None]]:
    """(line start, line end, fence mark, None) of every line of code that ends in a backtick fence ("print(s)```",
    "}  ```", "# Output: 5```"): a closing fence written on the code's last line, as models do. Not a fence after a
    bare comment mark ("/// ```" of a doc test), a list item's ("1. ```"), one after an open inline code span, nor
    "~~~" (a line of chat ends so: "真好呀~~~")."""
    lines = []
    p = text.find("```")
    while p >= 0:
        start = text.rfind("\n", 0, p) + 1
        end = text.find("\n", p)
        end = len(text) if end < 0 else end
        close = len(text[p:end].rstrip(" \t\r"))
        head = text[start:p].strip()
        if text.count("`", p, p + close) == close and head and head.count("`") % 2 == 0 and \
                head.rstrip(" !") not in _COMMENT_MARKS and not _LIST_MARKER.fullmatch(head + " "):
            lines.append((start, end, text[p:p + close], None))
        p = text.find("```", end)
    return lines


_COMMENT_MARKS = frozenset(("//", "///", "//!", "*", "/*", "/**", "#", "##", "#'", ">", ">>>", "--", ";", ";;", "%",
                            "<!--"))
"""Only a comment's mark before the fence: a doc comment's fence ("/// ```", " * ```"), no code ending there."""


def fence_blocks(text: str) -> tuple[list[tuple[int, int]], bool]:
    """Fenced code blocks as [start, end) ranges (outermost only, in text order) and whether the text
    ends inside one. CommonMark's rule — a block closes on a fence line of the same character, at
    least as long as the opening one, with no info string — plus the way models write fences: inside a
    block, a fence line of the same character with a language tag ("```python" inside "````markdown")
    opens a nested block, and a fence that ends the code's last line ("print(s)```") closes the block
    (not a nested one). An unclosed block runs to the end of the text."""
    if not ("`" in text and "```" in text) and not ("~" in text and "~~~" in text):  # memchr screens first
        return [], False
    blocks: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []  # (fence character, fence length) of the open blocks
    start = 0
    for line_start, line_end, mark, rest in sorted(fence_lines(text) + trailing_fences(text), key=itemgetter(0)):
        char = mark[0]
        if rest is None:  # a fence ending a line of code
            if len(stack) == 1 and char == stack[0][0] and len(mark) >= stack[0][1]:
                stack.pop()
                blocks.append((start, line_end))
            continue
        info = rest.strip()
        if char == "`" and "`" in info:
            continue  # not a fence: an info string of a backtick fence holds no backtick
        if not stack:
            stack.append((char, len(mark)))
            start = line_start
        elif char == stack[-1][0] and not info and len(mark) >= stack[-1][1]:
            stack.pop()
            if not stack:
                blocks.append((start, line_end))
        elif char == stack[-1][0] and _LANGUAGE_TAG.match(info):
            stack.append((char, len(mark)))
    if stack:
        blocks.append((start, len(text)))
    return blocks, bool(stack)


_INLINE = re.compile(r"`[^`\n]+`")
_SCHEME_END = re.compile("://")
_WWW = re.compile(r"www\.")
"""("://" in text, as a literal pattern: `re`'s literal search is faster than `in` on short needles.)"""
_URL = re.compile(r"https?://[^\s<>\"'）」]+|ftp://[^\s<>\"'）」]+|www\.[^\s<>\"'）」]+")
"""(Each branch starts with a letter, so `re` tests only the positions of h, f and w.)"""


def code_regions(text: str) -> list[tuple[int, int]]:
    """[start, end) ranges of fenced code blocks (an unclosed fence runs to the end), inline code
    and URLs, in text order."""
    # Single-character screens first: they run at memchr speed, multi-character `in` is ~40x slower.
    backtick = "`" in text
    tilde = "~" in text and "~~~" in text
    url = ":" in text and _SCHEME_END.search(text) is not None or "." in text and _WWW.search(text) is not None
    if not (backtick or tilde or url):
        return []
    regions = fence_blocks(text)[0] if backtick or tilde else []
    # Inline code holds a backtick and a URL "://" or "www.": a pattern only runs where it can match.
    for pattern in ((_INLINE,) if backtick else ()) + ((_URL,) if url else ()):
        for m in pattern.finditer(text):
            if not in_regions(m.start(), regions):
                regions.append(m.span())
    regions.sort()
    return regions


def mask_urls(text: str) -> str:
    """The text with each URL replaced by a run of a private-use character of its own (same length, so offsets
    still hold, and no two different URLs read alike): links to one site share long prefixes by design
    ("https://open.spotify.com/playlist/37i9dQZF1DX…"), which is not text copied from earlier."""
    if not (":" in text and _SCHEME_END.search(text) or "." in text and _WWW.search(text)):
        return text
    parts: list[str] = []
    last = 0
    marks: dict[str, str] = {}  # one character per distinct URL: a link that comes back is copied text again
    for m in _URL.finditer(text):
        mark = marks.setdefault(m.group(0), chr(0xE000 + len(marks) % 6400))
        parts += (text[last:m.start()], mark * (m.end() - m.start()))
        last = m.end()
    parts.append(text[last:])
    return "".join(parts)


def in_regions(pos: int, regions: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in regions)


def mask_inline_code(line: str) -> str:
    """The line with its inline code spans (`food_x`) replaced by a word: prose that quotes code is prose."""
    return _INLINE.sub("code", line) if "`" in line else line


def mask_code(text: str) -> str:
    """The text with code and URLs replaced by spaces (same length, so offsets still hold)."""
    regions = code_regions(text)
    if not regions:
        return text
    parts: list[str] = []
    last = 0
    for a, b in regions:
        if a < last:
            a = last
        if a >= b:
            continue
        parts.append(text[last:a])
        parts.append(" " * (b - a))
        last = b
    parts.append(text[last:])
    return "".join(parts)


_CODE_LINE = re.compile(
    r"^\s*(?:def|class|import|from\s+\S+\s+import|return|elif|else:|try:|except|with|print|public|private|static|"
    r"void|function|var|let|const|#include|package|func|fn|SELECT|INSERT|echo|pip|npm|git|\}|\]|\))(?:\b|$)"
)
_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")
_ONE_SYMBOL = re.compile(r"[=;{}\[\]<>_%]")
_TWO_SYMBOLS = re.compile(r"[=;{}\[\]<>_%].*[=;{}\[\]<>_%]", re.S)
_TRAILING_COMMENT = re.compile(r"\s(?:#|//).*$")
_PROSE_SYMBOL = re.compile(r"(?<=\d)%(?=[ \t]+[^\W\d_]|[,.!?])|\\_")
"""The % and _ of prose: a percentage followed by words or a sentence mark ("100% and 1% downtime", "rose 20%."),
not CSS's "width: 100%;" or "margin: 0 10% 0 10%"; markdown's escaped underscore ("H\\_AR\\_")."""


_MD_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\s]*\)")


def is_code_line(line: str) -> bool:
    """Whether a line outside a code fence looks like source code (keyword start, code symbols,
    indented with brackets) rather than prose; lines with CJK characters never do, and a markdown
    link counts as its text."""
    if "](" in line:
        line = _MD_LINK.sub(r"\1", line)
    if "#" in line or "//" in line:
        line = _TRAILING_COMMENT.sub("", line)  # `print(x)  # 输出结果` is still code
    if not line.strip() or (not line.isascii() and _CJK_CHAR.search(line)):
        return False
    if _CODE_LINE.match(line):
        return True  # a keyword start
    # Two of = ; { } [ ] < > _ %, or indented with a bracket or one of them; a percentage ("20%") and markdown's
    # escaped "H\\_AR\\_" are prose (set aside only when a symbol test would pass: the rarer case).
    if _TWO_SYMBOLS.search(line) and ("%" not in line and "\\_" not in line or
                                      _TWO_SYMBOLS.search(_PROSE_SYMBOL.sub("", line))):
        return True
    if len(line) - len(line.lstrip(" \t")) < 4:
        return False
    return "(" in line or _ONE_SYMBOL.search(_PROSE_SYMBOL.sub("", line)) is not None


def last_user_message(record: GenerationRecord) -> str:
    """The last user turn as the user wrote it, else the rendered prompt (imported records)."""
    for message in reversed(record.messages or []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return record.prompt_text or ""


def user_turns(record: GenerationRecord) -> tuple[str, ...]:
    """Every user turn of the conversation, in order (the rendered prompt when there are no messages).
    The model's own earlier turns are not the user's words."""
    turns = tuple(str(m.get("content", "")) for m in record.messages or [] if m.get("role") == "user")
    return turns or ((record.prompt_text,) if record.prompt_text else ())


def request_text(record: GenerationRecord) -> str:
    """What the user and the system prompt asked for, over the whole conversation: the system turns and
    every user turn joined by blank lines (an earlier turn can ask for a language or a dialogue)."""
    parts = [str(m.get("content", "")) for m in record.messages or [] if m.get("role") in ("system", "user")]
    return "\n\n".join(parts) if parts else record.prompt_text or ""


def conversation_key(record: GenerationRecord) -> tuple:
    """A hashable key of what `user_turns` and `request_text` read (the system and user turns, and the
    rendered prompt), for caches keyed by the conversation: it holds the record's own strings, whose
    hashes Python keeps, where a joined `request_text` is a new string hashed anew on every call."""
    messages = record.messages
    if messages and len(messages) == 1:  # the common single turn, without a generator
        role = messages[0].get("role")
        parts = ((role, str(messages[0].get("content", ""))),) if role in ("system", "user") else ()
        return parts, record.prompt_text
    return (tuple((m.get("role"), str(m.get("content", ""))) for m in messages or []
                  if m.get("role") in ("system", "user")), record.prompt_text)


def turns_and_request(key: tuple) -> tuple[tuple[str, ...], str]:
    """(`user_turns`, `request_text`) of a record from its `conversation_key`."""
    parts, prompt_text = key
    turns = tuple(content for role, content in parts if role == "user") or ((prompt_text,) if prompt_text else ())
    return turns, "\n\n".join(content for _, content in parts) if parts else prompt_text or ""


# One byte class per UTF-8 byte, so script counts are a translate plus a few counts at C speed:
# a = ASCII letter, h = lead byte of U+4000-U+9FFF (CJK ideographs), j = lead of U+3000-U+3FFF (kana,
# CJK punctuation), x = lead byte of another script (told apart by `_RARE` only when present),
# space = the rest, continuation bytes included (so a Latin word after a CJK character still starts
# after a space).
_RARE_LEADS = {
    **{b: "k" for b in range(0xEA, 0xEE)},  # U+A000-U+DFFF: Hangul syllables
    **{b: "y" for b in range(0xD0, 0xD4)},  # Cyrillic
    0xCE: "g", 0xCF: "g", 0xD7: "e", 0xE0: "i",  # Greek, Hebrew, U+0800-U+0FFF (Indic, Thai)
    **{b: "r" for b in range(0xD8, 0xDC)},  # Arabic
}


def _table(rare_as: str | None) -> bytes:
    table = bytearray(b" " * 256)
    for b in range(256):
        if 65 <= b <= 90 or 97 <= b <= 122:
            table[b] = ord("a")
        elif 0xE4 <= b <= 0xE9:
            table[b] = ord("h")
        elif b == 0xE3:
            table[b] = ord("j")
        elif b in _RARE_LEADS:
            table[b] = ord(rare_as or _RARE_LEADS[b])
    return bytes(table)


_CLASSES = _table("x")
_RARE = _table(None)
_RARE_NAMES = (("k", "ko"), ("y", "cyrillic"), ("g", "greek"), ("r", "arabic"), ("e", "hebrew"), ("i", "indic"))


@dataclass
class ScriptUnits:
    """How much text of each script: CJK/Hangul characters count 1, a Latin word `word_units`,
    letters of other alphabets 1/3 (about one word per 3 letters, weighted like Latin).

    (Not frozen: a frozen dataclass sets each field through `object.__setattr__`, which doubles the cost of
    making one, and nothing changes it.)"""

    units: dict[str, float]
    letters: int
    """CJK characters + letters of any alphabet: the 'is there enough text' measure."""

    @property
    def total(self) -> float:
        return sum(self.units.values())

    def dominant(self) -> str | None:
        if not self.units:
            return None
        return max(self.units.items(), key=lambda kv: kv[1])[0]


_LETTER_BIT = bytes(1 if 65 <= b <= 90 or 97 <= b <= 122 else 0 for b in range(256))


def _letters_and_words(raw: bytes) -> tuple[int, int]:
    """(ASCII letters, Latin words) in UTF-8 bytes: `_CLASSES`' a's and the a's after a non-a (a word starts
    at a letter after a non-letter; in valid UTF-8 a letter never follows a lead byte). As one big integer
    with one bit per letter byte, both are a bit count (two `bytes.count` passes cost more)."""
    n = int.from_bytes(raw.translate(_LETTER_BIT), "big")
    return n.bit_count(), (n & ~(n >> 8)).bit_count()


def script_units(text: str, latin_word_units: float = 1.5) -> ScriptUnits:
    """Count text per script: 'zh' (CJK ideographs), 'ja' (kana), 'ko' (Hangul), 'latin',
    'cyrillic', 'greek', 'arabic', 'hebrew', 'indic'. Pass text with code already masked."""
    raw = text.encode("utf-8", "ignore")
    cls = raw.translate(_CLASSES)
    units: dict[str, float] = {}
    letters, words = _letters_and_words(raw) if 97 in cls else (0, 0)  # b"a" as an int: `in` is a memchr
    if letters:
        units["latin"] = words * latin_word_units
    if raw.isascii():
        return ScriptUnits(units, letters)
    han = cls.count(b"h")
    j = cls.count(b"j")
    if j > 0.15 * (han + j):
        # Many U+3000-U+3FFF characters: more than CJK punctuation, so count the kana.
        kana = raw.count(b"\xe3\x81") + raw.count(b"\xe3\x82") + raw.count(b"\xe3\x83")
        if kana:
            units["ja"] = float(kana)
            letters += kana
    if han:
        units["zh"] = float(han)
        letters += han
    if 120 in cls:  # b"x" (a bytes needle costs 4x more than an int one)
        rare = raw.translate(_RARE)
        for key, name in _RARE_NAMES:
            n = rare.count(key.encode())
            if n:
                units[name] = n * (1.0 if name == "ko" else latin_word_units / 3.0)
                letters += n
    return ScriptUnits(units, letters)


def ascii_words_upto(text: str, cap: int) -> int:
    """min(cap, number of Latin words in an ASCII `text`), counted as `script_units` counts them
    (a letter after a non-letter starts a word) but stopping at `cap`: callers that only compare the
    count with a threshold skip the full count, which is slow on dense text (branchy C loop)."""
    # Word starts in a prefix are word starts of the whole text: try a short head first.
    for part in (text[:256], text) if len(text) > 256 else (text,):
        cls = part.encode("ascii").translate(_CLASSES)
        words = 1 if cls[:1] == b"a" else 0
        pos = 0
        while words < cap:
            pos = cls.find(b" a", pos) + 1
            if not pos:
                break
            words += 1
        if words >= cap:
            return cap
    return words
