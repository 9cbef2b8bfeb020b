"""`degenerate`: there is no answer at all — nothing, only symbols, only template tokens, or garbage.

Kinds (`details.kind`), the first that applies:
- `empty`: the output is empty or whitespace only (a checkpoint with NaN weights gives only these);
- `template_tokens`: only special or template tokens (`<|im_end|>`, `</s>`, `<unk>`, `[PAD]`, `<0x0A>`,
  the context's end tokens and turn markers) and whitespace;
- `empty` also covers outputs of invisible characters only (zero-width space, BOM);
- `symbols`: no letter, digit or CJK character at all: punctuation, symbols, emoji; or symbol noise
  around a few words (at most `NOISE_MAX_WORDS` words, under `NOISE_MAX_SHARE` of the visible
  characters, one symbol making half of them: a table header over thousands of dashes,
  "❌ ❌ Letter? ❌ ❌"). Symbols are an answer when the user's turns ask for emoji, ASCII art, a
  drawing or symbols, or use emoji;
- `empty_code_block`: only code fences with nothing inside them ("```python\n```": asked for code, none came);
- `fragments`: scattered single characters, one per line, among them a Chinese particle that never
  stands alone ("的\n社");
- `garbage`: random-token garbage: at least `min_garbage_tokens` tokens, none of the common words
  and sentence marks that any running text has (`LANGUAGE_MARKS`: " the ", " and ", "的", "。", ". " …;
  text with two different ones is language), and at least `garbage_share` of the tokens are junk —
  scripts mixed inside one token (other than CJK with Latin or digits), Latin letters mixed with
  symbols (`<>$%@^{}=~|#&*+[]` and backticks: two, or one between letters),
  byte-level BPE or mojibake markers (Ġ, Ċ, ▁, Ã), or lower-case Latin runs of 5+ letters without
  a vowel. Outputs with code (a fence, or a third of the lines code-like) or LaTeX formulas are never garbage,
  nor the tokens of a notation the user asked for (ABC music, chess).
A short valid answer ("4", "Yes.", "是的"), a refusal, code, a loop of real words (`repetition`) or an
answer in another language (`language_drift`) is not degenerate.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from evalgen.detectors._text import SPECIAL_TOKEN, is_code_line, request_text, user_turns
from evalgen.detectors.base import DetectorContext
from evalgen.detectors.calibration import calibrated, unflagged_score
from evalgen.records import Finding, GenerationRecord, Span

__all__ = ["LANGUAGE_MARKS", "detect_degenerate"]

NAME = "degenerate"

LANGUAGE_MARKS: tuple[str, ...] = (
    " the ", " and ", " of ", " to ", " is ", " a ", " in ", " you ", " I ", ". ", ", ", "? ",
    " de ", " la ", " und ", " et ", " и ", " в ",
    "的", "是", "了", "在", "我", "你", "不", "。", "，", "の", "は", "に", "を", "、", "는", "이", "다",
)
"""Text that holds two different of these is running language, never garbage."""
_MARKS_WIDE = ("。", "，", *(m for m in LANGUAGE_MARKS if m not in "。，"))
"""`LANGUAGE_MARKS` in the order to look for them in a text that is not ASCII (only how many are found
counts): a Chinese text stops at the first two."""
_ALNUM = re.compile(r"[^\W_]")
_ROLE_LABEL = re.compile(r"^[ \t]*(?:user|human|assistant|bot|ai|gpt|system|[A-Z][a-z]{1,15})[ \t]*[:：]", re.M | re.I)
_EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]")
_ART_REQUEST = re.compile(
    r"emoji|emoticon|ascii|\bart\b|draw|diagram|picture|figure|symbol|punctuation"
    r"|表情|颜文字|絵文字|字符画|画|符号|标点",
    re.I,
)
_NOTATION_REQUEST = re.compile(
    r"\b(?:ABC|music(?:al)?|chess|sheet|staff)[ -]notation\b|\b(?-i:FEN|PGN)\b|ABC记谱|乐谱|简谱|棋谱", re.I)
_NOTATION_TOKEN = re.compile(r"[A-Ga-gz0-9|/:,'\[\]_^=.~-]+|[pnbrqkPNBRQK1-8/]+")
"""A tune or a position in the notation the user asks for (ABC music "|D2D2D2|", chess FEN "rnbqkb1r/8"): its tokens
are no garbage; mojibake and tokens mixing scripts still are."""
_FENCE_ONLY = re.compile(r"[ \t]*(?:`{3,}|~{3,})[\w+#.-]*[ \t]*$")
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_ODD = frozenset("<>`$%@^{}=~|\\#&*+[]")
_EDGE = "\"'“”‘’«»()[]{}<>.,;:!?*_#>|`~-—–…。，、；：！？（）【】《》「」『』"
_BPE_MARKS = re.compile(r"[ĠĊĉ▁]|Ã.|â\u0080|Â[\u00a0-\u00bf]")
_NUMBER = re.compile(r"^[+\-]?[\d.,:/%x×*^]+$")
_URLISH = re.compile(r"^(?:https?://|www\.|[\w.+-]+@[\w-]+\.)|^[\w./-]+\.(?:com|org|net|io|py|js|html|md)$")


def _script(ch: str) -> str:
    """A coarse script class of one letter."""
    o = ord(ch)
    if o < 0x250:
        return "latin"
    if 0x370 <= o < 0x400:
        return "greek"
    if 0x400 <= o < 0x530:
        return "cyrillic"
    if 0x590 <= o < 0x600:
        return "hebrew"
    if 0x600 <= o < 0x780:
        return "arabic"
    if 0x900 <= o < 0xE80:
        return "indic"
    if 0x3040 <= o < 0x3100:
        return "kana"
    if 0x3400 <= o < 0xA000 or 0xF900 <= o < 0xFB00:
        return "cjk"
    if 0xAC00 <= o < 0xD7B0 or 0x1100 <= o < 0x1200:
        return "hangul"
    return "other"


_CJK_FRIENDS = frozenset({"cjk", "kana", "latin"})
_CJK = frozenset({"cjk", "kana", "hangul"})


def _junk(token: str) -> bool:
    """Whether one whitespace-separated token is a fragment that belongs to no language (`_junk_plain`;
    an ASCII token is decided without the per-character script set: its letters are all Latin and it
    holds no BPE marker, so only the symbol and vowel rules are left)."""
    core = token.strip(_EDGE)
    if not core.isascii():
        return _junk_plain(core)
    if core.isalpha():  # letters only: no symbol, so junk is a long lower-case run without a vowel
        return len(core) >= 5 and core.islower() and not any(v in core for v in "aeiouy") and \
            not _NUMBER.match(core)  # ("xxxxx" reads as a number)
    odd = sum(c in _ODD for c in core)
    symbols = odd >= 2 or (odd and core[0].isalpha() and core[-1].isalpha())
    if not symbols and not (len(core) >= 5 and core.islower() and not any(v in core for v in "aeiouy")):
        return False
    # Junk by its symbols or its missing vowels, if it has a letter and is no number or link.
    return core.lower() != core.upper() and not _NUMBER.match(core) and not _URLISH.match(core)


def _junk_plain(token: str) -> bool:
    """The definition of `_junk`, character by character."""
    core = token.strip(_EDGE)
    if not core or _NUMBER.match(core) or _URLISH.match(core):
        return False
    if _BPE_MARKS.search(core):
        return True
    scripts = {_script(c) for c in core if c.isalpha()}
    if not scripts:
        return False  # symbols or digits only: neither language nor junk
    if len(scripts) > 1 and not scripts <= _CJK_FRIENDS:
        return True  # "ificaciónуказ", "터indu"
    if scripts & _CJK:
        return False  # CJK runs hold punctuation and Latin terms; their fragments cannot be told from words
    odd = sum(c in _ODD for c in core)
    if odd >= 2 or (odd and core[0].isalpha() and core[-1].isalpha()):
        return True  # letters mixed with symbols: "Tx<uVtT`Rpo", "$Hjig%CB@@>"
    return core.isascii() and core.islower() and len(core) >= 5 and not any(v in core for v in "aeiouy")


@lru_cache(maxsize=4096)
def _symbols_welcome(request: str) -> bool:
    """Whether the user's turns ask for emoji, ASCII art, a drawing or symbols, or use emoji themselves
    (cached: every sample of a probe asks the same)."""
    return bool(_ART_REQUEST.search(request) or _EMOJI.search(request))


_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")
NOISE_MAX_WORDS = 4
"""Symbol noise: at most this many words (runs of letters or digits)..."""
_FIVE_WORDS = re.compile(rf"[\W_]*+(?:[^\W_]++[\W_]*+){{{NOISE_MAX_WORDS + 1}}}")
"""More than `NOISE_MAX_WORDS` words (`_WORD` matches), in one match from the start (possessive: linear)."""
NOISE_MAX_SHARE = 0.2
"""...making less than this share of the visible characters, in an output of at least `NOISE_MIN_CHARS`..."""
NOISE_MIN_CHARS = 30
"""...of which one symbol makes at least half."""
_PARTICLES = frozenset("的了着过们吗呢吧啊地得之所")
"""Chinese characters that only attach to a word: alone, they are never an answer."""


def _symbol_noise(text: str) -> float | None:
    """The share of letters and digits among the visible characters when the output is symbols around at
    most `NOISE_MAX_WORDS` words ("| Player | Overview |" over thousands of dashes, "❌ ❌ Letter? ❌"), else
    None. The word count stops early, so running text costs a few matches."""
    if len(text) < NOISE_MIN_CHARS or _FIVE_WORDS.match(text):
        return None
    words = 0
    letters = 0
    for m in _WORD.finditer(text):
        words += 1
        if words > NOISE_MAX_WORDS:
            return None
        letters += len(m.group(0))
    visible = len(text) - sum(len(m.group(0)) for m in _SPACE.finditer(text))
    if visible < NOISE_MIN_CHARS or not words or letters >= NOISE_MAX_SHARE * visible:
        return None
    top = max(set(text) - set(" \t\r\n"), key=text.count)
    if text.count(top) * 2 < visible:
        return None  # a drawing or a gauge ("[#####-----] 50%"), not one symbol run on and on
    return round(letters / visible, 4)


def _fragments(text: str) -> bool:
    """Scattered single characters, one per line, among them a particle that never stands alone ("的\n社")."""
    if len(text) > 30 or "\n" not in text:
        return False
    tokens = text.split()
    return 2 <= len(tokens) <= 8 and all(len(t) == 1 for t in tokens) and \
        any(t in _PARTICLES for t in tokens)


def _found(kind: str, explanation: str, strength: float, text: str, details: dict) -> Finding:
    details["kind"] = kind
    details["strength"] = strength
    return Finding(NAME, True, calibrated(NAME, kind), explanation, [Span(0, len(text), kind.replace("_", " "))],
                   details)


_LATEX_MATH = re.compile(r"\$[^$\n]{0,200}?\\[A-Za-z]{2,}[^$\n]{0,200}?\$")
"""A formula written in LaTeX ("$\\mathrm{SiO}_{3}$"): its commands and braces are notation, not token garbage."""


def detect_degenerate(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    cfg = ctx.config.degenerate
    text = record.output
    details: dict = {"kind": None}
    stripped = text.strip()
    if stripped and stripped[0] in _INVISIBLE or stripped[-1:] in _INVISIBLE:
        stripped = stripped.strip(_INVISIBLE).strip()  # zero-width spaces, BOM: nothing visible
    if not stripped:
        what = "empty" if not text else "whitespace only" if not text.strip() else "invisible characters only"
        return _found("empty", f"The output is {what}: there is no answer.", 1.0, text, details)
    if stripped[0] in "<[" or ctx.end_tokens and any(t and t in stripped for t in ctx.end_tokens):
        rest = SPECIAL_TOKEN.sub(" ", stripped)
        for token in (*ctx.end_tokens, *ctx.turn_markers, *cfg.extra_tokens):
            if token.strip():
                rest = rest.replace(token.strip(), " ")
        if not rest.strip():
            return _found("template_tokens", "The output is only special or template tokens.", 1.0, text, details)
    if stripped[:3] in ("```", "~~~") and all(_FENCE_ONLY.match(line) for line in stripped.split("\n") if line.strip()):
        return _found("empty_code_block", "The output is only code fences with nothing inside them.", 0.9, text,
                      details)
    if not _ALNUM.search(stripped):
        if _symbols_welcome(request_text(record)):
            return Finding(NAME, False, 0.0, "Symbols the user asked for (emoji, ASCII art, a drawing).", [],
                           details)
        return _found("symbols", f"The output is only symbols or punctuation ({stripped[:20]!r}).", 0.9, text,
                      details)
    noise = _symbol_noise(stripped)
    if noise is not None and not _symbols_welcome(request_text(record)):
        details["alnum_share"] = noise
        return _found("symbols", f"The output is symbol noise around a few words ({noise:.0%} letters or "
                      "digits).", 0.8, text, details)
    if _fragments(stripped):
        return _found("fragments", f"The output is scattered single characters ({stripped[:20]!r}).", 0.8, text,
                      details)
    # Garbage needs many tokens and no sign of running language: most outputs stop at the first marks.
    marks = 0
    for mark in LANGUAGE_MARKS if text.isascii() else _MARKS_WIDE:
        if mark in text:
            marks += 1
            if marks >= 2:
                return Finding(NAME, False, 0.0, "The output is running text.", [], details)
    if _ROLE_LABEL.search(stripped):
        # Role labels of made-up turns ("User: ____ / Joi: ____") around nothing are no answer either.
        bare = _ROLE_LABEL.sub(" ", stripped)
        if bare.strip() and not _ALNUM.search(bare) and not _symbols_welcome(request_text(record)):
            return _found("symbols", "The output is only symbols between role labels.", 0.9, text, details)
    tokens = stripped.split()
    if len(tokens) < cfg.min_garbage_tokens or "```" in text or "~~~" in text:
        return Finding(NAME, False, 0.0, "Not garbage: too few tokens, or code.", [], details)
    if "$" in text and _LATEX_MATH.search(text):
        return Finding(NAME, False, 0.0, "Not garbage: formulas ($\\mathrm{Na}_{2}$).", [], details)
    lines = [line for line in stripped.split("\n") if line.strip()]
    if sum(map(is_code_line, lines)) * 3 >= len(lines):
        return Finding(NAME, False, 0.0, "Not garbage: code.", [], details)
    junk_tokens = [(token, n) for token, n in Counter(tokens).items() if _junk(token)]  # each distinct token once
    if junk_tokens and _NOTATION_REQUEST.search("\n".join(user_turns(record))):
        junk_tokens = [(token, n) for token, n in junk_tokens if not _NOTATION_TOKEN.fullmatch(token)]
    share = sum(n for _, n in junk_tokens) / len(tokens)
    details["junk_share"] = round(share, 4)
    if share < cfg.garbage_share:
        return Finding(NAME, False, unflagged_score(share), "The tokens are words, numbers or symbols.", [], details)
    return _found("garbage", f"{share:.0%} of the {len(tokens)} tokens are fragments of no language "
                  "(random-token garbage).", round(min(1.0, 0.5 + share / 2), 4), text, details)
