"""Text helpers shared by the detectors: code masking, the user's last message, script counts.

Everything here works on character offsets of the original string (masking keeps lengths), so
spans found on masked text point into `record.output`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evalgen.records import GenerationRecord

__all__ = [
    "ScriptUnits",
    "code_regions",
    "in_regions",
    "is_code_line",
    "last_user_message",
    "mask_code",
    "script_units",
]

_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.S | re.M)
_INLINE = re.compile(r"`[^`\n]+`")
_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"'）」]+|www\.[^\s<>\"'）」]+")


def code_regions(text: str) -> list[tuple[int, int]]:
    """[start, end) ranges of fenced code blocks (an unclosed fence runs to the end), inline code
    and URLs, in text order."""
    if "`" not in text and "~~~" not in text and "://" not in text and "www." not in text:
        return []  # the common case costs three scans at C speed
    regions = [m.span() for m in _FENCE.finditer(text)]
    if "`" in text or "://" in text or "www." in text:
        for pattern in (_INLINE, _URL):
            for m in pattern.finditer(text):
                if not in_regions(m.start(), regions):
                    regions.append(m.span())
    regions.sort()
    return regions


def in_regions(pos: int, regions: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in regions)


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
_TRAILING_COMMENT = re.compile(r"\s(?:#|//).*$")


def is_code_line(line: str) -> bool:
    """Whether a line outside a code fence looks like source code (keyword start, code symbols,
    indented with brackets) rather than prose; lines with CJK characters never do."""
    line = _TRAILING_COMMENT.sub("", line)  # `print(x)  # 输出结果` is still code
    if not line.strip() or any("\u3400" <= ch <= "\u9fff" for ch in line):
        return False
    symbols = sum(line.count(c) for c in "=;{}[]<>_%")
    indent = len(line) - len(line.lstrip(" \t"))
    return bool(_CODE_LINE.match(line)) or symbols >= 2 or (indent >= 4 and (symbols >= 1 or "(" in line))


def last_user_message(record: GenerationRecord) -> str:
    """The last user turn as the user wrote it, else the rendered prompt (imported records)."""
    for message in reversed(record.messages or []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return record.prompt_text or ""


# One byte class per UTF-8 byte, so script counts are a translate plus a few counts at C speed:
# a = ASCII letter, c = continuation byte, h = lead byte of U+4000-U+9FFF (CJK ideographs),
# k = lead of U+A000-U+DFFF (Hangul syllables), y = Cyrillic, g = Greek, r = Arabic, e = Hebrew,
# i = U+0800-U+0FFF (Indic, Thai), j = U+3000-U+3FFF (kana, CJK punctuation), space = the rest.
def _byte_classes() -> bytes:
    table = bytearray(b" " * 256)
    for b in range(256):
        if 65 <= b <= 90 or 97 <= b <= 122:
            table[b] = ord("a")
        elif 0x80 <= b <= 0xBF:
            table[b] = ord("c")
        elif 0xE4 <= b <= 0xE9:
            table[b] = ord("h")
        elif 0xEA <= b <= 0xED:
            table[b] = ord("k")
        elif 0xD0 <= b <= 0xD3:
            table[b] = ord("y")
        elif b in (0xCE, 0xCF):
            table[b] = ord("g")
        elif 0xD8 <= b <= 0xDB:
            table[b] = ord("r")
        elif b == 0xD7:
            table[b] = ord("e")
        elif b == 0xE0:
            table[b] = ord("i")
        elif b == 0xE3:
            table[b] = ord("j")
    return bytes(table)


_CLASSES = _byte_classes()


@dataclass(frozen=True)
class ScriptUnits:
    """How much text of each script: CJK/Hangul characters count 1, a Latin word `word_units`,
    letters of other alphabets 1/3 (about one word per 3 letters, weighted like Latin)."""

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


def script_units(text: str, latin_word_units: float = 1.5) -> ScriptUnits:
    """Count text per script: 'zh' (CJK ideographs), 'ja' (kana), 'ko' (Hangul), 'latin',
    'cyrillic', 'greek', 'arabic', 'hebrew', 'indic'. Pass text with code already masked."""
    raw = text.encode("utf-8", "ignore")
    cls = raw.translate(_CLASSES)
    units: dict[str, float] = {}
    letters = 0
    ascii_letters = cls.count(b"a")
    if ascii_letters:
        # A word starts at a letter after a non-letter (the byte before is space or a continuation).
        words = (b" " + cls).count(b" a") + cls.count(b"ca")
        units["latin"] = words * latin_word_units
        letters += ascii_letters
    if raw.isascii():
        return ScriptUnits(units, letters)
    han = cls.count(b"h")
    if han:
        units["zh"] = float(han)
        letters += han
    if cls.count(b"j"):
        kana = raw.count(b"\xe3\x81") + raw.count(b"\xe3\x82") + raw.count(b"\xe3\x83")
        if kana:
            units["ja"] = float(kana)
            letters += kana
    for key, name in ((b"k", "ko"), (b"y", "cyrillic"), (b"g", "greek"), (b"r", "arabic"), (b"e", "hebrew"),
                      (b"i", "indic")):
        n = cls.count(key)
        if n:
            weight = 1.0 if name == "ko" else latin_word_units / 3.0
            units[name] = n * weight
            letters += n
    return ScriptUnits(units, letters)
