"""`identity_leak`: the model claims to be, or to be made by, another assistant or company.

A name from `DEFAULT_NAMES` (+ `extra_names`, - `ignore_names`) counts only inside a self-claim in
the same sentence: "I am / I'm / my name is / call me NAME", "I was developed|created|trained|built
by NAME", "(I'm | As) an AI model developed by|from NAME", "NAME created me", "我是/我叫/我的名字是
NAME", "我是由NAME开发|训练|打造|研发的", "作为一个由NAME训练的…", "我是来自NAME的…"; the model with
another ("we are both … trained by NAME", "我们都是由NAME开发的"); a maker named through another product
("trained by the same company as ChatGPT", "… the same company, Anthropic"); the stock self-description
"As an AI language model developed by NAME," whose subject is a model of another family ("…, LaMDA
does not"). Negations ("I am not", "我不是"), comparisons ("like NAME", "与NAME不同", "similar to"),
mentions and quotes do not count. A name of the same family (`FAMILIES`: an assistant with its
makers) as the configured identity or org is never a leak; without a configured identity, claims are
reported but not flagged.
`details.states_identity` says whether the output names the configured identity (None if unset).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache, partial

from evalgen.detectors.base import DetectorContext
from evalgen.detectors.calibration import calibrated
from evalgen.records import Finding, GenerationRecord, Span

__all__ = ["DEFAULT_NAMES", "detect_identity_leak"]

NAME = "identity_leak"

FAMILIES: tuple[tuple[str, ...], ...] = (
    ("ChatGPT", "GPT-3.5", "GPT-3", "GPT-4", "GPT-4o", "GPT4", "GPT", "OpenAI"),
    ("Claude", "Anthropic"),
    ("MOSS", "复旦大学", "复旦", "Fudan"),
    ("文心一言", "文心", "ERNIE Bot", "ERNIE", "百度", "Baidu"),
    ("通义千问", "通义", "千问", "Qwen", "QianWen", "Tongyi", "阿里巴巴", "阿里云", "阿里", "Alibaba"),
    ("ChatGLM", "GLM", "智谱", "智谱AI", "Zhipu", "清华大学", "清华", "Tsinghua"),
    ("LLaMA", "Llama", "Meta"),
    ("Baichuan", "百川"),
    ("讯飞星火", "星火", "科大讯飞", "讯飞", "iFlytek"),
    ("Gemini", "Bard", "LaMDA", "PaLM", "Google", "谷歌", "DeepMind"),
    ("Kimi", "月之暗面", "Moonshot"),
    ("DeepSeek", "深度求索"),
    ("Mistral",),
    ("Yi", "零一万物", "01.AI"),
    ("Copilot", "Bing", "Microsoft", "微软"),
    ("Vicuna", "LMSYS"),
    ("Alpaca", "Stanford", "斯坦福"),
    ("MiniMax",),
    ("豆包", "字节跳动", "ByteDance"),
    ("混元", "腾讯", "Tencent"),
    ("InternLM", "书生", "上海人工智能实验室", "商汤", "SenseTime"),
)
"""Other assistants with the organisations that make them: a family that contains the configured
identity or org is the model's own."""
DEFAULT_NAMES: tuple[str, ...] = tuple(name for family in FAMILIES for name in family)
"""Other assistants and the organisations that make them."""

# Claim cues that end right before the name (text of the same sentence, lower-cased): English,
# plus the commonest French/Spanish/German/Italian forms.
_EN_CUES: tuple[str, ...] = (
    r"i\s+am", r"i'm", r"i’m", r"im", r"my\s+name\s+is", r"my\s+name's", r"call\s+me", r"i\s+was", r"i've\s+been",
    r"i\s+have\s+been", r"we\s+are\s+both", r"we're\s+both", r"we’re\s+both", r"we\s+were\s+both",
    r"we\s+both\s+(?:are|were)", r"both\s+of\s+us\s+(?:are|were)", r"as\s+an?", r"as", r"i\s+come\s+from",
    r"i\s+am\s+from", r"i'm\s+from", r"i\s+work\s+for",
    r"my\s+(?:creators?|developers?|makers?|team|company|parent\s+company|owners?)(?:\s+(?:at|from|is|are))?",
    r"je\s+suis", r"je\s+m'appelle", r"j'ai\s+été", r"soy", r"me\s+llamo", r"ich\s+bin", r"ich\s+heiße",
    r"ich\s+wurde", r"sono", r"mi\s+chiamo",
)
"""First-person cues, in the order they are tried (each starts with a letter)."""


def _word_start_alternation(alternatives: tuple[str, ...]) -> str:
    r"""`\b(?:a|b|...)` for alternatives that start with a letter, written so that `re` only tries the
    positions of their first letters: grouped by first letter (in order within a group; two alternatives
    with different first letters never both match at one position), the word boundary checked after that
    letter as "no word character before it". A pattern that starts with `\b` is tried at every position."""
    groups: dict[str, list[str]] = {}
    for alt in alternatives:
        groups.setdefault(alt[0], []).append(alt[1:])
    return "(?:" + "|".join(f"{c}(?<!\\w{c})(?:{'|'.join(rests)})" for c, rests in groups.items()) + ")"


_EN_CLAIM = re.compile(rf"(?:{_word_start_alternation(_EN_CUES)}\b)(?P<mid>[^.!?\n]{{0,80}}?)\s*$")
"""A first-person cue, then the rest of the sentence up to the name (`low` ends right before it)."""
_ADVERBS = r"(?:actually|really|just|simply|in\s+fact|indeed|now|currently|originally|officially|still|basically)"
_EN_MID_IDENTITY = re.compile(
    rf"^\s*(?:(?:an?|the|called|named|known\s+as|{_ADVERBS}|un|une|el|la|der|die|das|ein|eine)[\s,]+)*$"
    r"|^\s*(?:an?|the|un|une)\s+[^,;]{0,40}?\b(?:called|named|known\s+as|appelée?|llamado)\s+$"
)
_EN_MID_MADE = re.compile(
    r"\b(?:developed|created|trained|built|made|designed|programmed|fine-?tuned|powered|produced|released|"
    r"owned|launched|engineered|backed|provided|maintained|based|derived|créée?|développée?|entraînée?|conçue?|"
    r"creado|desarrollado|entrenado|entwickelt|erstellt|trainiert|creato|sviluppato)\s+"
    r"(?:by|at|on|from|with|par|por|von|da)\s+"
    r"(?:(?:the|a|an)\s+)?(?:(?:team|researchers|engineers|folks|people)\s+(?:at|of|from)\s+)?$"
    r"|\b(?:model|assistant|ai|chatbot|bot|product|version|member|system|program|llm|creation|variant|modèle)\b"
    r"[^,;]{0,30}?\b(?:from|of|by|de)\s+(?:the\s+)?$"
    r"|\b(?:from|at)\s+$"
)
_SAME_MAKER = re.compile(
    r"\b(?:developed|created|trained|built|made|designed|programmed|fine-?tuned|produced|released)\s+"
    r"(?:by|at|from)\s+the\s+same\s+(?:company|team|organi[sz]ation|lab|people|developers|creators|researchers|"
    r"engineers)(?:\s*[,:—–-]\s*|\s+as\s+|\s+that\s+(?:made|created|developed|built|trained)\s+)$"
)
"""A maker named through another product or after a comma: "trained by the same company as ChatGPT" (its
maker), "trained by the same company, Anthropic"."""
_AS_TEMPLATE = re.compile(
    r"^as\s+an?\s+(?:ai|artificial\s+intelligence)(?:\s+(?:language|chat|conversational))?\s+(?:model|assistant)\s+"
    r"(?:developed|created|trained|built|made|designed)\s+by\s+$"
)
"""The stock self-description "As an AI language model developed by NAME,": the model's own template."""
_SUBJECT_AFTER = re.compile(r"\s*[,，]\s*(?P<subject>[A-Z][\w.-]*)")
_EN_BLOCK = re.compile(
    r"\b(?:not|n't|never|no\s+longer|unlike|like|similar|than|different|compared|instead|rather|besides|"
    r"familiar|aware|heard|know|use|using|used|about|vs|versus|competitor|rival|alternative|such\s+as|including|"
    r"trying|going|able|happy|glad|sorry|asking|wondering|thinking|talking|referring|inspired|also|pas)\b"
)
_EN_AFTER_ME = re.compile(
    r"^['’]?s?\s*(?:has\s+|had\s+)?(?:developed|created|trained|built|made|designed|programmed)\s+me\b",
                          re.I)

_ZH_CLAIM = re.compile(
    r"(?:我是|我叫|我的名字是|我的名字叫|叫我|我由|我是由|作为|本模型|本助手|我来自|我属于|我就是|我乃|我们都是|我们都由|"
    r"我们都来自|我们俩都是)"
    r"(?P<mid>[^。！？!?\n]{0,40}?)$"
)
_ZH_MID_IDENTITY = re.compile(r"^(?:一个|一款|一名|一位|)$")
_ZH_MID_MADE = re.compile(r"(?:由|是由|被|来自|基于|出自|属于)\s*$")
_ZH_BLOCK = re.compile(r"不|没|非|像|类似|比|与|和|跟|同|而是|除了|对于|关于|使用|用过|知道|听说|喜欢|了解")
_ZH_AFTER_MADE = re.compile(
    r"^[^。！？!?\n]{0,12}?(?:开发|训练|打造|研发|研制|创建|创造|推出|发布|构建|设计|制作|提供|出品)"
)
_ZH_MADE_BY = re.compile(r"^\s*(?:由|是由)\s*$")
"""A sentence that is only "由" (or "是由") before the name: the subject is left out."""
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")
_SENTENCE_BREAK = re.compile(r"[.!?。！？\n](?:(?<=[。！？\n])|(?=\s|$))")
"""A sentence break: "。！？" or a line break, or ".!?" before a space or the end (a character set first,
so that `re` only tries the break characters; two branches would have it try every position)."""


def _holds(hay: str, needle: str) -> bool:
    """Whether `needle` occurs in `hay` as whole tokens (both lower case): an ASCII name must not touch
    another ASCII letter ("qwen" in "qwen1.5-7b" and "alibaba" in "alibaba cloud" do; "gpt" in "gogpt",
    "yi" in "yayi" and "meta" in "metaverse" do not); a CJK name of two or more characters may sit
    inside CJK text (Chinese has no spaces: "阿里" in "阿里小蜜")."""
    if not needle:
        return False
    pos = hay.find(needle)
    while pos >= 0:
        if not needle.isascii():
            return len(needle) >= 2
        before = hay[pos - 1] if pos else " "
        after = hay[pos + len(needle)] if pos + len(needle) < len(hay) else " "
        if not (before.isascii() and before.isalpha()) and not (after.isascii() and after.isalpha()):
            return True
        pos = hay.find(needle, pos + 1)
    return False


def _own(name: str, own: tuple[str, ...]) -> bool:
    """Whether a family name is the configured identity's or org's: the same name, or one holds the
    other as whole tokens."""
    low = name.lower()
    return any(o and (low == o or _holds(o, low) or _holds(low, o)) for o in own)


_MISCASED = ("chatgpt", "chatglm", "openai", "qwen", "deepseek", "claude", "gpt-")
_SCREEN = ("chat", "open", "qwen", "deep", "claude", "gpt")
"""Names models often write in lower case; only these are looked for in any case (cost)."""
_SCREEN_CHARS = "et"
"""Every `_SCREEN` word holds one of these: two memchr-speed checks rule the screen out (Chinese)."""

# Characters other than A-Z whose lower case holds an ASCII letter (all of Unicode, checked).
_LOWERS_TO = {"i": "\u0130", "k": "\u212a"}


@dataclass(frozen=True)
class _Patterns:
    """The compiled name patterns of one context (see `_names_pattern`). The names are matched as two
    alternations, the ASCII names and the others, and the matches merged as the one alternation of all
    (`caps`, `full`) finds them (`finditer`): `re` tries every alternative at each capital, and a pattern
    with CJK first characters scans ~3x slower, so an ASCII text needs only the first scan and a Chinese
    text is scanned fast twice."""

    names: frozenset[str]
    """Names as written, UPPER and Capitalized..."""
    miscased: frozenset[str]
    """...and the lower-case forms of commonly miscased names (all ASCII)."""
    caps_ascii: re.Pattern | None
    """The ASCII names of `names`."""
    wide: re.Pattern | None
    """The other names."""
    separable: bool
    """Every non-ASCII name starts with a non-ASCII character, so no match of an ASCII name (ASCII only)
    holds the start of one (else `finditer` runs the one alternation)."""
    lower: tuple[tuple[str, str, tuple[str, ...]], ...]
    """The lower-case forms as `_needle_plan` groups."""
    claimable: _ClaimScreen
    """Where a name of `full` could be claimed at all (see `_claim_screen`)."""

    @cached_property
    def full_ascii(self) -> re.Pattern | None:
        """`caps_ascii` and the lower-case forms (compiled when first needed: most texts never need them, and
        compiling takes a millisecond)."""
        return _alternation({n for n in self.names | self.miscased if n.isascii()})

    @cached_property
    def caps(self) -> re.Pattern | None:
        """All names as one alternation (for texts whose names are not `separable`)."""
        return _alternation(set(self.names))

    @cached_property
    def full(self) -> re.Pattern | None:
        """...plus the lower-case forms."""
        return _alternation(set(self.names | self.miscased))

    def finditer(self, text: str, full: bool) -> list[re.Match]:
        """`list((self.full if full else self.caps).finditer(text))`."""
        first = self.full_ascii if full else self.caps_ascii
        if text.isascii() or self.wide is None:
            return list(first.finditer(text)) if first is not None else []
        if first is None:
            return list(self.wide.finditer(text))
        if not self.separable:
            return list((self.full if full else self.caps).finditer(text))  # type: ignore[union-attr]
        # The wide matches are the one alternation's (an ASCII match never holds a wide name's first
        # character); an ASCII match is too unless it starts inside a wide one ("AI" in "智谱AI"), and
        # then the scan goes on after that one, as the one alternation's would.
        wide = list(self.wide.finditer(text))
        found: list[re.Match] = []
        i = 0
        m = first.search(text)
        while m:
            start = m.start()
            while i < len(wide) and wide[i].end() <= start:
                found.append(wide[i])
                i += 1
            if i < len(wide) and wide[i].start() < start:
                m = first.search(text, wide[i].end())  # shadowed by the wide match around it
                continue
            found.append(m)
            m = first.search(text, m.end())
        found.extend(wide[i:])
        return found


@dataclass(frozen=True)
class _ClaimScreen:
    """The names of `full` split three ways, so that one cheap pass rules out most texts. A claimed ASCII
    name stands alone (`_is_claim` rejects one with an ASCII letter or digit on either side), so a name
    that starts with a capital is looked for at the capitals of the text, as a whole token, over its
    UTF-8 bytes with capitals marked: a literal byte, which `re` jumps between."""

    marked: re.Pattern | None
    """Over the UTF-8 bytes translated by `_MARK` (capitals as 0x01, digits as 0x02): where an ASCII name
    that starts with a capital could stand as a whole token (a candidate only)."""
    exact: re.Pattern | None
    """Over the UTF-8 bytes: those names as written, as whole tokens (tried at each `marked` candidate)."""
    wide: re.Pattern | None
    """The non-ASCII names, anywhere (no token rule for them), for texts that are not ASCII."""
    starts: re.Pattern | None
    """The other ASCII names ("chatgpt", "chatGPT", "iFlytek", "01.AI"), in lower case, where they could
    start a token, over the UTF-8 bytes translated by `table`: a token boundary as NUL, the first
    characters of these names as 0x03 (in either case), other letters and digits as themselves in lower
    case, so `re` jumps between the two-byte literal starts (a match is a candidate only)."""
    head: re.Pattern | None
    """`starts` for a name at the very start of the text."""
    table: bytes
    """Lower-cases ASCII letters too, so that the bytes need no `lower()` first."""
    plan: tuple[tuple[bytes, bytes, tuple[bytes, ...]], ...]
    """Those names as a `_needle_plan`, encoded, when `starts` cannot hold them."""


def _alternation(names: set[str]) -> re.Pattern | None:
    # Grouped by first character, so `re` tries one group per position instead of every name.
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name[0], []).append(name[1:])
    if not groups:
        return None
    parts = [
        re.escape(first) + "(?:" + "|".join(re.escape(r) for r in sorted(rests, key=len, reverse=True)) + ")"
        for first, rests in sorted(groups.items())
    ]
    return re.compile("|".join(parts))


@lru_cache(maxsize=1024)
def _names_pattern(extra: tuple[str, ...], ignore: tuple[str, ...], identity: str, org: str) -> _Patterns:
    """The name patterns for a context. Capitalised names start with a capital letter or a CJK
    character, which `re` skips to quickly; lower-case forms are only searched when screened in."""
    own = (identity.lower(), org.lower())
    skip = {n.lower() for n in ignore}
    families = [*FAMILIES, *((n,) for n in extra)]
    names: set[str] = set()
    lower: set[str] = set()
    for family in families:
        if any(_own(name, own) for name in family):
            continue  # the configured identity's own family: its makers are not a leak
        for name in family:
            if not name.strip() or name.lower() in skip:
                continue
            names.add(name)
            if name.isascii():
                names.update({name.upper(), name[0].upper() + name[1:], name.capitalize()})
                low = name.lower()
                if low.startswith(_MISCASED) or name in extra:
                    lower.update({low, name[0].lower() + name[1:]})
    return _compiled(frozenset(names), frozenset(lower))


@lru_cache(maxsize=256)
def _compiled(names: frozenset[str], lower: frozenset[str]) -> _Patterns:
    """The `_Patterns` of a set of names: shared by the contexts that leave out the same families (most
    identities belong to no family), since compiling them takes milliseconds."""
    plan = _needle_plan({n for n in lower if n == n.lower()})
    wide = {n for n in names if not n.isascii()}
    screen = _claim_screen(set(names), set(lower))
    return _Patterns(names, lower, _alternation(set(names - wide)), screen.wide,
                     not any(n[0].isascii() for n in wide), plan, screen)


_MARK = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\x01\x02", b"\x01" * 26 + b"\x02" * 10 + b"\x00\x00")
"""Capitals as one marker byte and digits as another, so that a pattern over the marked bytes starts with
a literal: `re` then jumps between capitals instead of testing a character set at every position. The
marker bytes themselves, which model output may hold, become NUL so that they read as neither."""


def _claim_screen(names: set[str], lower: set[str]) -> _ClaimScreen:
    """The `_ClaimScreen` of `full` = `names` (as `caps` has them) + `lower` (the lower-case forms)."""
    ascii_names = {n for n in names | lower if n.isascii()}
    capped = sorted(n for n in ascii_names if "A" <= n[0] <= "Z")
    marked = exact = None
    if capped:
        tails: dict[bytes, set[bytes]] = {}
        for name in capped:
            mark = name.encode().translate(_MARK)
            tails.setdefault(mark[1:2], set()).add(mark[2:])
        # The capital is the literal prefix; the token rule is checked after it (a look-behind first
        # would make `re` try every position). Grouped by the byte after the capital, like `_alternation`.
        marked = re.compile(rb"\x01(?<![a-z\x01\x02]\x01)(?:" + _grouped(tails) + rb")(?![a-z\x01\x02])")
        by_first: dict[bytes, set[bytes]] = {}
        for name in capped:
            raw = name.encode()
            by_first.setdefault(raw[:1], set()).add(raw[1:])
        exact = re.compile(rb"(?<![A-Za-z0-9])(?:" + _grouped(by_first) + rb")(?![A-Za-z0-9])")
    starts, head, table, plan = _token_starts({n.lower() for n in ascii_names if not "A" <= n[0] <= "Z"})
    return _ClaimScreen(marked, exact, _alternation({n for n in names | lower if not n.isascii()}), starts, head,
                        table, plan)


def _token_starts(needles: set[str]) -> tuple[re.Pattern | None, re.Pattern | None, bytes, tuple]:
    """(`starts`, `head`, `table`, `plan`) of `_ClaimScreen` for lower-case ASCII needles."""
    if not needles:
        return None, None, b"", ()
    first = {n[0] for n in needles}
    if not all(c.isalnum() for c in first):
        return None, None, b"", _bytes_plan(needles)  # (an `extra_names` word that starts with a symbol)
    table = bytearray(b"\x00" * 256)  # not a letter or digit: a token boundary
    for b in b"abcdefghijklmnopqrstuvwxyz0123456789":
        table[b] = table[ord(chr(b).upper())] = 3 if chr(b) in first else b  # capitals as lower case
    rests = b"(?:" + b"|".join(re.escape(r) for r in sorted({n.encode().translate(table)[1:] for n in needles},
                                                            key=len, reverse=True)) + b")"
    return re.compile(b"\x00\x03" + rests), re.compile(b"\x03" + rests), bytes(table), ()


def _bytes_plan(needles: set[str]) -> tuple[tuple[bytes, bytes, tuple[bytes, ...]], ...]:
    return tuple((gate.encode(), prefix.encode(), tuple(m.encode() for m in members))
                 for gate, prefix, members in _needle_plan(needles))


def _grouped(groups: dict[bytes, set[bytes]]) -> bytes:
    return b"|".join(re.escape(k) + b"(?:" + b"|".join(re.escape(t) for t in sorted(v, key=len, reverse=True)) + b")"
                     for k, v in sorted(groups.items()))


def _may_claim(text: str, raw: bytes, screen: _ClaimScreen) -> bool:
    """False only when no name of `full` can be claimed in `text`: no ASCII name with a capital stands
    alone as a token (no ASCII letter or digit on either side: `_is_claim` rejects the others), no other
    ASCII name occurs, and no non-ASCII name occurs. `raw`: the text's UTF-8 bytes (surrogates passed)."""
    if screen.marked is not None:
        marked = raw.translate(_MARK)
        search, match = screen.marked.search, screen.exact.match  # type: ignore[union-attr]
        m = search(marked)
        while m:  # every candidate, overlapping ones too
            if match(raw, m.start()):
                return True
            m = search(marked, m.start() + 1)
    # A name in the text is in its UTF-8 bytes, and in lower case in the lower-cased bytes.
    if screen.starts is not None:
        tokens = raw.translate(screen.table)
        if screen.starts.search(tokens) or screen.head.match(tokens):  # type: ignore[union-attr]
            return True
    if screen.plan and _any_in(raw.lower(), screen.plan):  # type: ignore[arg-type]
        return True
    return screen.wide is not None and not text.isascii() and screen.wide.search(text) is not None


_BY_FREQUENCY = "etaoinsrhldcumfpgwybvkxjqz"
"""English letters, most frequent first: a needle's rarest character is the best memchr gate."""


def _needle_plan(needles: set[str]) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """`any(n in text for n in needles)` as fewer, cheaper scans: needles that contain another are
    dropped (implied), needles sharing their first four characters are looked for by their common
    prefix first, and each prefix only after its rarest character (memchr speed). Each group is
    (gate character, prefix, members: () when the prefix is the needle itself)."""
    minimal = sorted(n for n in needles if not any(m != n and m in n for m in needles))
    groups: dict[str, list[str]] = {}
    for n in minimal:
        groups.setdefault(n[:4], []).append(n)
    plan = []
    for members in groups.values():
        prefix = members[0]
        for m in members[1:]:
            while not m.startswith(prefix):
                prefix = prefix[:-1]
        gate = max(prefix, key=lambda c: _BY_FREQUENCY.find(c) if c in _BY_FREQUENCY else 99)
        plan.append((gate, prefix, tuple(members) if len(members) > 1 else ()))
    return tuple(plan)


def _any_in(text: str, plan: tuple[tuple[str, str, tuple[str, ...]], ...]) -> bool:
    """Whether any needle of a `_needle_plan` occurs in `text`."""
    return any(
        gate in text and prefix in text and (not members or any(m in text for m in members))
        for gate, prefix, members in plan
    )


def _may_hold_lower(text: str, low: str) -> bool:
    """False only when `low` (lower-cased) cannot occur in `text.lower()`: no character of the
    text lower-cases to its first character. Single-character `in` runs at memchr speed."""
    c = low[:1]
    if not c.isascii():
        return True
    return c in text or c.upper() in text or (c in _LOWERS_TO and _LOWERS_TO[c] in text)


def _sentence_start(text: str, pos: int) -> int:
    lo = max(0, pos - 120)
    start = lo
    for m in _SENTENCE_BREAK.finditer(text, lo, pos):
        start = m.end()
    return start


def _in_quote(before: str) -> bool:
    return (before.count('"') % 2 == 1 or before.count("“") > before.count("”")
            or before.count("「") > before.count("」"))


_ORGS = frozenset(n.lower() for n in (
    "OpenAI", "Anthropic", "复旦大学", "复旦", "Fudan", "百度", "Baidu", "阿里巴巴", "阿里云", "阿里", "Alibaba",
    "智谱", "智谱AI", "Zhipu", "清华大学", "清华", "Tsinghua", "Meta", "科大讯飞", "讯飞", "iFlytek", "Google", "谷歌",
    "DeepMind", "月之暗面", "Moonshot", "深度求索", "零一万物", "01.AI", "Microsoft", "微软", "LMSYS", "Stanford",
    "斯坦福", "字节跳动", "ByteDance", "腾讯", "Tencent", "上海人工智能实验室", "商汤", "SenseTime",
))
"""Makers (companies, universities, labs) as opposed to assistants: a person can work at one, so a
claim to come from one needs the model to speak of itself as an AI."""
_ORG_SUFFIX = re.compile(r"\s+(?:AI|Cloud|Research|Brain|DeepMind|Inc|LLC|Labs?|Team|PBC|Corporation|Corp|Ltd|Co|"
                         r"Group|Technologies|Technology)\b")
_PROPER_AFTER = re.compile(r"[ \t]+[A-Z][a-z]")
_AI_SELF = re.compile(r"\b(?:ai|a\.i\.|artificial intelligence|language model|llm|chatbot|assistant|model|bot)\b|"
                      r"人工智能|模型|助手|机器人|智能体|ＡＩ|AI", re.I)
_MADE_VERB = re.compile(r"\b(?:developed|created|trained|built|made|designed|programmed|fine-?tuned|engineered)\b"
                        r"|开发|训练|研发|打造|研制|创建|创造|构建|设计|制作")
_OTHER_SUBJECT = re.compile(r"\b(?:that|which|who)\s+(?!(?:was|is|were|are|has|have|had)\b)\S")
_GENERIC_AFTER = re.compile(r"[ -]?(?:architecture|family|style|technology|models?\b)", re.I)
_FIRST_PERSON_NEXT = re.compile(r"[^,，.!?\n]{0,60}[,，]\s*(?:I|I'm|I’m|I've|my|me|we|our)\b")
"""After a name: the rest of its phrase, a comma, then the model speaking of itself."""
_ZH_REPORT = re.compile(r"告诉|说|认为|觉得|介绍|解释")


def _is_claim(text: str, start: int, end: int, names: Callable[[str], list[re.Match]] | None = None) -> bool:
    """Whether the name at [start, end) is claimed by the model as itself or its maker: a first-person
    cue in the same sentence, in the model's own voice — not quoted, not negated or compared, not a
    clause about someone else ("…tell you that ChatGPT was developed by OpenAI"), and for a maker
    not a person's employer or school ("I'm the co-founder of Google", "我是来自清华大学的学生")."""
    name = text[start:end]
    if name.isascii():
        prev = text[start - 1] if start else " "
        nxt = text[end] if end < len(text) else " "
        if _ASCII_WORD.match(prev) or (nxt.isascii() and nxt.isalnum()):
            return False  # part of a longer word ("Metadata", "Yield")
        if _PROPER_AFTER.match(text, end) and not _ORG_SUFFIX.match(text, end):
            return False  # a longer proper name: "Stanford University", "Google Maps"
        if name.upper() == "GPT" and _GENERIC_AFTER.match(text, end):
            return False  # "based on the GPT architecture": a kind of model, not OpenAI's product
    claimed, cue_end = _claim_cue(text, start, end)
    if not claimed:
        return False
    s0 = _sentence_start(text, start)
    sentence = text[s0:_sentence_end(text, end)]
    mid_text = text[cue_end:start]
    if names is not None and claimed != "identity" and \
            any(m.group(0).lower() != name.lower() for m in names(mid_text)):
        return False  # another name is the subject between the cue and this one
    # "I'm from Google", "我来自清华大学": a person's employer or school, unless the model speaks as an AI.
    return not (name.lower() in _ORGS and claimed == "from" and not _AI_SELF.search(sentence))


def _sentence_end(text: str, pos: int) -> int:
    m = _SENTENCE_BREAK.search(text, pos, pos + 200)
    return m.start() if m else min(len(text), pos + 200)


_CLAUSE_START = re.compile(r"(?:^|[,;:—(]\s*|\bi,\s*)$")
_COMPARED_AS = re.compile(r"\b(?:same|such|as\s+\w+|well)\b[^,;]*\bas\s*$")


def _en_cue_claims(text: str, low: str, m: re.Match, start: int, end: int) -> str | None:
    """The kind of claim one English first-person cue match makes on the name ending at `end`, or None."""
    mid = m.group("mid") + " "
    cue = m.group(0)[: m.start("mid") - m.start()].strip()
    negated = re.search(r"\b(?:not|n't|never)\b", low[max(0, m.start() - 12):m.start()])
    if _SAME_MAKER.search(mid) and not _EN_BLOCK.search(mid) and not negated:
        return "made"  # "I was trained by the same company as ChatGPT": ChatGPT's maker is the claim
    if _EN_BLOCK.search(mid) or _OTHER_SUBJECT.search(mid) or _COMPARED_AS.search(mid) or negated:
        return None
    if cue.startswith("as"):
        if _AS_TEMPLATE.match(m.group(0)) and _CLAUSE_START.search(low[:m.start()].rstrip(" \t\"'“‘*_")):
            # "As an AI language model developed by OpenAI, LaMDA does not...": the stock self-description
            # cannot be about a subject of another family; it is the model's own (its own family's
            # subject, "..., ChatGPT is", speaks of that model).
            subject = _SUBJECT_AFTER.match(text, end)
            if subject and _family_of(subject.group("subject")) not in (None, _family_of(text[start:end])):
                return "made"
        # "As NAME, I ..." / "However, as an AI made by NAME, I ..." / "I, as an AI made by NAME, ...": the
        # cue opens a clause and the model goes on in the first person; "such as GPT-3, can", "as
        # capable as ChatGPT, I" and "As an AI made by OpenAI, ChatGPT has" speak of another model.
        opens = _CLAUSE_START.search(low[:m.start()].rstrip(" \t\"'“‘*_"))
        if not opens or not (opens.group(0).startswith("i") or _FIRST_PERSON_NEXT.match(text, end)):
            return None
    if _EN_MID_IDENTITY.match(mid):
        if cue.startswith("as"):
            return "identity"
        return "from" if re.search(r"\b(?:from|for)$", cue) else "identity"
    if _EN_MID_MADE.search(mid):
        return "made" if _MADE_VERB.search(mid) else "from"
    return None


@lru_cache(maxsize=256)
def _family_of(name: str) -> int | None:
    """The index in `FAMILIES` of the family a name belongs to (whole-name match, any case), or None."""
    low = name.lower()
    for i, family in enumerate(FAMILIES):
        if any(low == n.lower() or _holds(low, n.lower()) for n in family):
            return i
    return None


def _claim_cue(text: str, start: int, end: int) -> tuple[str | None, int]:
    """(the kind of first-person claim on the name at [start, end): "identity" (I am NAME), "made" (made
    by NAME), "from" (from NAME, a member of NAME), or None; where the text after the claiming cue starts)."""
    s0 = _sentence_start(text, start)
    before = text[s0:start]
    if _in_quote(before):
        return None, start
    after = text[end:end + 30]
    low = before.lower()
    m = _EN_CLAIM.search(low)
    while m:
        # Each first-person cue of the sentence, left to right: the first one that claims the name decides
        # ("As an AI language model, I was trained by OpenAI": "as an" does not, "i was" does).
        kind = _en_cue_claims(text, low, m, start, end)
        if kind:
            return kind, s0 + m.start("mid")
        m = _EN_CLAIM.search(low, m.start() + 1)
    if _EN_AFTER_ME.match(after):
        return (None if re.search(r"\b(?:not|n't|never)\b", low[-20:]) else "made"), s0
    if before.isascii():
        return None, s0  # the Chinese cues below are Chinese characters
    z = _ZH_CLAIM.search(before)
    if z:
        mid = z.group("mid")
        cue = z.group(0)[: len(z.group(0)) - len(mid)]
        if _ZH_BLOCK.search(mid) or _ZH_REPORT.search(mid):
            return None, s0
        if _ZH_MID_IDENTITY.match(mid):
            if cue == "作为":
                made = re.match(r"\s*[，,]|[^。！？\n]{0,12}(?:开发|训练|打造|研发)", after)
                return ("identity" if made else None), s0
            return ("from" if cue in ("我来自", "我属于") else "identity"), s0
        if _ZH_MID_MADE.search(mid):
            return ("from" if mid.rstrip().endswith(("来自", "属于", "出自")) and not _ZH_AFTER_MADE.match(after)
                    else "made"), s0
        if cue in ("我是", "我由", "我是由", "作为") and _ZH_AFTER_MADE.match(after) and mid.endswith(("由", "被")):
            return "made", s0
    elif _ZH_MADE_BY.match(before) and _ZH_AFTER_MADE.match(after):
        return "made", s0  # "由微软团队研发" answering "who trained you": the subject is left out
    return None, s0


def detect_identity_leak(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    cfg = ctx.config.identity_leak
    text = record.output
    identity = (ctx.identity or "").strip()
    org = (ctx.identity_org or "").strip()
    details: dict = {"names": [], "states_identity": None}
    low: str | None = None  # text.lower(), made at most once
    raw = text.encode("utf-8", "surrogatepass")
    if identity:
        name = identity.lower()
        if not _may_hold_lower(text, name):
            details["states_identity"] = False
        elif name.isascii() and (text.isascii() or not any(c in text for c in _LOWERS_TO.values())):
            # An ASCII name is in text.lower() exactly when its bytes are in the lower-cased UTF-8 bytes
            # (no other character lower-cases to an ASCII one): cheaper than lower-casing a wide str.
            details["states_identity"] = name.encode() in raw.lower() or _mentions_squashed(text, name)
        else:
            low = text.lower()
            details["states_identity"] = _mentions(text, identity, low)
    pats = _names_pattern(cfg.extra_names, cfg.ignore_names, identity, org)
    if not _may_claim(text, raw, pats.claimable):
        details["names"] = []
        return Finding(NAME, False, 0.0, "No claim to be another assistant.", [], details)
    full = False
    if pats.lower and any(c in text for c in _SCREEN_CHARS):
        low = text.lower() if low is None else low
        full = _any_in(low, pats.lower) and any(n in text for n in _SCREEN)
    spans: list[Span] = []
    names: list[str] = []
    if pats.names or full:
        find = partial(pats.finditer, full=full)
        for m in find(text):
            if _is_claim(text, m.start(), m.end(), find):
                spans.append(Span(m.start(), m.end(), "claimed identity"))
                if m.group(0) not in names:
                    names.append(m.group(0))
    details["names"] = names
    if not names:
        return Finding(NAME, False, 0.0, "No claim to be another assistant.", [], details)
    if not identity and not org:
        # Without a configured identity the model's own name is unknown (a distilled Qwen saying
        # "I am Qwen" is telling the truth): report the claims, don't flag them.
        return Finding(NAME, False, 0.0, f"Claims to be or to be made by {', '.join(names)}; no identity "
                       "configured to compare with.", spans, details)
    own = f" instead of {identity}" if identity else ""
    explanation = f"The output claims to be or to be made by {', '.join(names)}{own}."
    return Finding(NAME, True, calibrated(NAME, "claim"), explanation, spans, details)


def _mentions(text: str, name: str, low_text: str) -> bool:
    """Whether the text names `name` (case-insensitive, spaces optional); `low_text` = text.lower()."""
    low = name.lower()
    return low in low_text or _mentions_squashed(text, low)


def _mentions_squashed(text: str, low: str) -> bool:
    """Whether the text names `low` (a lower-case name with spaces) without its spaces."""
    squash = _squashed(low)
    return bool(squash) and squash != low and squash in re.sub(r"\s+", "", text).lower()


@lru_cache(maxsize=256)
def _squashed(name: str) -> str:
    """`name` without its spaces (cached: the identity is the same for every record of a run)."""
    return re.sub(r"\s+", "", name)
