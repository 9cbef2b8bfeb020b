"""`missing_eos`: the model did not end its turn.

- `length`: stop_reason `length` (max_new_tokens reached while still going) or `loop` (cut early
  because the tail was looping), or stop_reason `unknown` (imported) with a text that ends inside a
  loop (two back-to-back copies over 40+ characters reaching the end, or half the text recurring), or
  that runs away to its cut (`runaway`: it ends in a run of a few characters or blank lines, or it
  stops unfinished, its tail compresses like a loop, and the line it stops in began twice before);
- `fake_turn`: stop_reason `stop_string` on a turn marker, or the output runs on into a made-up
  next user turn: plain markers ("### Human:", "User:", "### Instruction:" ...) count at the start
  of a line or right after a finished sentence, a role tag alone on a line ("support>", "<human>"),
  a bare "user"/"human" line followed by text (special tokens stripped on decoding), a marker cut at
  the very end ("<START", "<|im_"), special markers ("<|im_start|>user", "[INST]", "[/INST]",
  "<start_of_turn>user" ...) anywhere;
- `end_token_text`: the output prints an end-of-turn token as text ("</s>", "<|im_end|>" ...).
Markers inside code blocks, inline code or quotes of the prompt's own words are ignored, so an
answer that explains a chat format is not flagged. The span starts where the fake turn or the
printed token starts; `details.kind` is the first problem in the text (else `length`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from evalgen.detectors._text import (
    SPECIAL_TOKEN,
    code_regions,
    fence_blocks,
    in_regions,
    last_user_message,
    request_text,
)
from evalgen.detectors.base import DetectorContext
from evalgen.detectors.calibration import calibrated
from evalgen.detectors.repetition import ends_in_loop, number_value
from evalgen.records import Finding, GenerationRecord, Span

__all__ = ["END_TOKENS", "LINE_MARKERS", "SPECIAL_MARKERS", "detect_missing_eos", "runaway", "turn_evidence"]

NAME = "missing_eos"

LINE_MARKERS: tuple[str, ...] = (
    "### Human:", "### User:", "### Instruction:", "### Input:", "### Response:", "### Assistant:", "Human:", "User:",
    "USER:", "HUMAN:",
    "<|Human|>:", "[Round", "<用户>", "用户：", "问：",
)
"""Text that opens a turn when it starts a line (a user's; or the answer's header, "### Response:", "### Assistant:",
after an answer: a turn the model made up was in between)."""
SPECIAL_MARKERS: tuple[str, ...] = (
    "<|im_start|>user", "<|im_start|>system", "<|im_start|>assistant", "[INST]", "<|user|>", "<|assistant|>",
    "<|system|>", "<start_of_turn>user", "<start_of_turn>model", "<|start_header_id|>", "<reserved_106>",
    "<|Human|>", "<|Assistant|>", "<｜User｜>", "<｜Assistant｜>", "<|User|>", "[/INST]",
)
"""Template tokens that open a turn wherever they appear."""
END_TOKENS: tuple[str, ...] = (
    "</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<eos>", "<end_of_turn>", "<|end_of_text|>",
    "<|eom_id|>", "<｜end▁of▁sentence｜>", "<eoa>", "<eoh>",
)
"""End-of-turn tokens that should never appear as text."""
_ROLES = frozenset([
    "user", "human", "assistant", "bot", "support", "response", "system", "model", "customer", "agent", "gpt",
    "ai"
])
_BARE_MARKERS = ("### Human", "### User", "### Instruction", "### Input")
"""Alpaca/Vicuna markers that a stop string cut before their colon."""
_CUT_MARKER = re.compile(r"<\|?[A-Za-z_]+\|?$")
# A chat template whose special tokens were stripped on decoding leaves the role name alone on a line
# ("...\nuser\n那你能帮我查一下天气预报吗？"): a user turn the model made up.
_BARE_ROLE_LINE = re.compile(r"\n(?:user|human|User|Human|USER|HUMAN)[ \t]*\n(?=[ \t]*\S)")


@lru_cache(maxsize=64)
def _patterns(
    turn_markers: tuple[str, ...], end_tokens: tuple[str, ...]
) -> tuple[re.Pattern, re.Pattern, frozenset, _Screen, _Screen]:
    """(plain-marker pattern, special-marker-or-end-token pattern, end tokens, a screen for each pattern)
    for a context, compiled once. Both patterns are alternations of literals, so `re` skips positions
    by first character."""
    plain: set[str] = set(_BARE_MARKERS)
    special: set[str] = set(SPECIAL_MARKERS)
    for marker in (*LINE_MARKERS, *turn_markers):
        marker = marker.strip()
        if marker:
            # Markers that look like template tokens match anywhere; words like "User:" only where a
            # turn could start.
            (special if marker.startswith(("<|", "<｜", "[INST", "<start_of_turn>")) else plain).add(marker)
    ends = frozenset(t for t in (*END_TOKENS, *end_tokens) if t.strip())
    return _alternation(plain), _alternation(special | ends), ends, _screen(plain), _screen(special | ends)


_Screen = tuple[tuple[str, re.Pattern], ...]
_ANCHORS = ":："
"""Rare characters a marker is looked for at ("User:" at its colon): `re` jumps between them."""


def _screen(literals: set[str]) -> _Screen:
    """`any(lit in text for lit in literals)` as a few scans that each start with a literal character
    (which `re` jumps between; a pattern whose first character is one of several tests every position):
    each literal is anchored at its first colon, else at its first character, the characters before the
    anchor looked behind. Each scan comes with its anchor, which the text must hold (a memchr first)."""
    minimal = {lit for lit in literals if not any(other != lit and other in lit for other in literals)}
    groups: dict[str, set[str]] = {}
    for lit in minimal:
        k = min((lit.find(c) for c in _ANCHORS if c in lit), default=0)
        behind = "(?<=" + re.escape(lit[:k + 1]) + ")" if k else ""
        groups.setdefault(lit[k], set()).add(behind + re.escape(lit[k + 1:]))
    return tuple((anchor, re.compile(re.escape(anchor) + "(?:" + "|".join(sorted(rests)) + ")"))
                 for anchor, rests in sorted(groups.items()))


def _may_hold(text: str, screen: _Screen) -> bool:
    """Whether any literal of a `_screen` occurs in `text`."""
    for anchor, pattern in screen:  # noqa: SIM110 (a loop: `any` over a generator costs ~0.1 us a step)
        if anchor in text and pattern.search(text):
            return True
    return False


def _alternation(literals: set[str]) -> re.Pattern:
    """Literals grouped by first character (longest first), so `re` tries one group per position."""
    groups: dict[str, list[str]] = {}
    for lit in literals:
        groups.setdefault(lit[0], []).append(lit[1:])
    return re.compile("|".join(
        re.escape(first) + "(?:" + "|".join(re.escape(r) for r in sorted(rests, key=len, reverse=True)) + ")"
        for first, rests in sorted(groups.items())
    ))


def _turn_can_start(text: str, pos: int) -> bool:
    """Whether a plain marker at `pos` opens a turn: at a line start (after spaces, '>' or '*') or
    right after a finished sentence — not after list numbering or a bullet ("2. User:", "* **User:**" head
    an entity of a data model, a list item)."""
    i = pos
    while i > 0 and text[i - 1] in " \t>*":
        i -= 1
    if i == 0 or text[i - 1] == "\n":
        return not _STAR_BULLET.match(text, i, pos)  # "* **User:** John Doe": a list item, as after "-"
    if text[i - 1] not in ".!?。！？)":
        return False
    before = text[text.rfind("\n", 0, i) + 1:i - 1].strip(" \t>*#-")
    return not (len(before) <= 3 and before.isalnum()) and text[i - 1] != ")"


_STAR_BULLET = re.compile(r"[ \t>]*\*[ \t]")


_DIALOGUE_REQUEST = re.compile(  # ("script", "dialog" at a word's start, "description" asks for none; after CJK too)
    r"(?<![A-Za-z])(?:dialog|script)|conversation|screenplay|transcript|chat ?log|role-?play|interview|skit|\bplay\b|"
    r"scene|"
    r"podcast|对话|对白|剧本|台词|采访|访谈|聊天记录|小品|相声|情景",
    re.I,
)
_CODE_SCRIPT = re.compile(r"(?<![A-Za-z])(?:python|bash|shell|js|javascript|typescript|powershell|lua|ruby|perl|php|"
                          r"sql|node|batch|cmd|applescript|apps|autohotkey|groovy|gradle|npm|deploy(?:ment)?|build|"
                          r"install(?:ation)?|startup|cron|backup)\s+script|<script", re.I)
_LABEL_LINE = re.compile(r"^[ \t>*#]*([A-Za-z\u4e00-\u9fff][\w '\u4e00-\u9fff.-]{0,24}?)[ \t*]*[:：]", re.M)
_SCRIPT_MARK = re.compile(r"\b(?:Act|ACT) [IVX1-9]+\b|\b(?:Scene|SCENE) [IVX1-9]+\b|\[Enter\b|\bEnter \w+ and \w+|"
                          r"^(?:Characters|Cast|Dramatis Personae)\s*:|第[一二三四五六七八九十0-9]+幕", re.M)
"""An output that is itself a play or script: its role labels are characters' lines."""


@lru_cache(maxsize=1024)
def _prompt_roles(request: str) -> tuple[bool, frozenset[str]]:
    """(the conversation asks for a dialogue, script or transcript; the role labels its own turns use,
    lower case with the colon and no space before it: "User : hi" gives "user:")."""
    roles = frozenset(m.group(1).strip().lower() + ":" for m in _LABEL_LINE.finditer(request))
    asked = [m.group(0).lower() for m in _DIALOGUE_REQUEST.finditer(request)]
    if set(asked) == {"script"} and len(_CODE_SCRIPT.findall(request)) >= len(asked):
        asked = []  # every "script" a program ("a bash script to back up my folder"), not a play
    return bool(asked), roles


_LINE_ENDS_IN_TAG = re.compile(r">[^\S\n]*(?:\n|\Z)")
"""A line whose last visible character is ">": what a role-tag line needs (`>` is the literal prefix)."""


def _role_tag_line(text: str) -> int:
    """Start of the first line that is only a role tag ("support>", "<human>"), or -1."""
    pos = text.find(">")
    while pos >= 0:
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        line = text[start:end if end >= 0 else len(text)]
        word = line.strip()
        if word.endswith(">") and word.lstrip("<").rstrip(">").lower() in _ROLES:
            return start + len(line) - len(line.lstrip())
        pos = text.find(">", end + 1) if end >= 0 else -1  # the next line's: a line is read once, however many ">"
    return -1


def turn_evidence(record: GenerationRecord, ctx: DetectorContext) -> int | None:
    """Where the output first runs on into a made-up turn or prints an end-of-turn token (what
    `missing_eos` reports as `fake_turn` or `end_token_text`), or None."""
    found = _evidence(record, ctx)
    return found[0][0] if found else None


def _evidence(record: GenerationRecord, ctx: DetectorContext) -> list[tuple[int, str, str]]:
    """(position, kind, marker) of the first fake turn and the first printed end token in the text."""
    cfg = ctx.config.missing_eos
    text = record.output
    plain, special, ends, plain_screen, special_screen = _patterns(
        tuple(ctx.turn_markers) + cfg.extra_turn_markers, tuple(ctx.end_tokens) + cfg.extra_end_tokens
    )
    found: list[tuple[int, str, str]] = []
    regions: list[tuple[int, int]] | None = None
    answer_context: tuple[int, str, frozenset[str]] | None = None
    headers = 0
    roles: tuple[bool, frozenset[str]] | None = None
    # Plain markers ("User:", "### Human:") where a turn could start, not in code, not quoted from
    # the user's own message.
    for m in plain.finditer(text) if _may_hold(text, plain_screen) else ():
        word = m.group(0)
        if not _turn_can_start(text, m.start()):
            continue
        if word in _BARE_MARKERS and text[m.end():m.end() + 1] not in ("", "\n", ":", "："):
            continue
        if word == "### Response:" and not text[:m.start()].strip():
            continue  # the model echoed its own answer header; a re-opening needs an answer before it
        if word == "### Assistant:":
            if answer_context is None:
                answer_context = _answer_context(text, record)
            headers += 1
            if headers > _MAX_HEADERS or not _answer_before(text, m.start(), answer_context):
                continue  # a header over the model's own answer (a run of bare headers is read no further)
        if regions is None:
            regions = code_regions(text)
        if in_regions(m.start(), regions):
            continue
        if _heads_a_list(text, m.end()):
            continue  # "User:" over a list of fields: an entity of a data model, not a turn
        if roles is None:
            roles = _prompt_roles(request_text(record))
        plain_role = word.endswith((":", "：")) and not word.startswith(("#", "<", "["))
        if word.endswith((":", "：")) and (word.replace(" ", "").lower() in roles[1] or (roles[0] and plain_role)):
            continue  # the conversation's own role labels, or the dialogue it asked for
        if plain_role and _SCRIPT_MARK.search(text):
            continue  # a role in the play or script the output is ("Act I. Scene I. Enter Program and User.")
        found.append((m.start(), "fake_turn", word))
        break
    # Template tokens: a turn opener anywhere is a fake turn; an end token is printed text.
    kinds: set[str] = set()
    body_end = -1  # the end of the text without its trailing spaces, once a token in code asks
    for m in special.finditer(text) if _may_hold(text, special_screen) else ():
        kind = "end_token_text" if m.group(0) in ends else "fake_turn"
        if kind in kinds:
            continue
        if regions is None:
            regions = code_regions(text)
        if in_regions(m.start(), regions):
            # (a token alone on the last line is the model's own, in a block it left open too: "print('hi')\n</s>";
            # in a template quoted in a block, "<s>[INST] … [/INST] Hello!\n</s>", it is quoted)
            body_end = body_end if body_end >= 0 else len(text.rstrip())
            if not (m.end() == body_end and _alone_after_code(text, m.start())):
                continue
        found.append((m.start(), kind, m.group(0)))
        kinds.add(kind)
        if len(kinds) == 2:
            break
    if ">" in text and _LINE_ENDS_IN_TAG.search(text):
        pos = _role_tag_line(text)
        if pos >= 0:
            found.append((pos, "fake_turn", text[pos:text.find(">", pos) + 1]))
    bare = _BARE_ROLE_LINE.search(text)
    if bare:
        if regions is None:
            regions = code_regions(text)
        if not in_regions(bare.start(), regions):
            found.append((bare.start() + 1, "fake_turn", bare.group(0).strip()))
    if "<" in text[-40:]:
        cut = _CUT_MARKER.search(text, max(0, len(text) - 40))
        if cut:
            found.append((cut.start(), "fake_turn", cut.group(0)))
    if record.stop_reason == "stop_string":
        marker = (record.stop_detail or "").strip()
        if not marker or plain.match(marker) or special.match(marker) or marker in ctx.turn_markers:
            pos = text.find(marker) if marker else -1
            found.append((pos if pos >= 0 else len(text), "fake_turn", marker))
    return sorted(found)


_ANSWER_WINDOW = 2000  # characters read before a header (a bound: a run of headers must not cost its square)...
_MAX_HEADERS = 8  # ...nor its number times the window
_HEADER_PREFIX = re.compile(r"#{1,6}[ \t]*(?:Response|Assistant)[ \t]*:[ \t]*")


def _answer_before(text: str, pos: int, context: tuple[int, str, frozenset[str]]) -> bool:
    """Whether the model answered before the "### Assistant:" at `pos`: in the 2,000 characters before it, two lines
    or 40 characters of text outside its reasoning and outside headings, that are not the user's last message
    restated (whole lines of it, or half of it or more). A header over the model's first answer ("Sure! Here is my
    answer.\n\n### Assistant:") re-opens nothing. `context`: `_answer_context`'s."""
    reasoning_end, asked, asked_lines = context
    if reasoning_end >= pos:
        return False  # inside the model's reasoning
    low = max(0, pos - _ANSWER_WINDOW)
    if low > max(0, reasoning_end) and text[low - 1] != "\n":
        low = text.find("\n", low, pos) + 1 or pos  # from a line's start ("sistant:" is no answer)
    low = max(low, reasoning_end)
    said = []
    for line in text[low:pos].split("\n"):
        line = line.strip()
        if line.startswith("#"):
            header = _HEADER_PREFIX.match(line)
            line = line[header.end():] if header else ""  # a heading says nothing; "### Assistant: …" does
        if line:
            said.append(line)
    words = " ".join(" ".join(said).split())
    if len(said) < 2 and len(words) < 40 or all(line in asked_lines for line in said):
        return False  # too little to be an answer, or whole lines of the user's message restated
    return words not in asked or 2 * len(words) < len(asked)  # ("Paris" in "…France? Paris or Lyon?" answers)


def _answer_context(text: str, record: GenerationRecord) -> tuple[int, str, frozenset[str]]:
    """What `_answer_before` reads of a record, found once: where a reasoning block that opens the text ends (the
    text's end when it never closes; -1 for none), the user's last message with its spaces collapsed, and its lines."""
    reasoning_end = -1
    if text.lstrip().startswith("<think>"):
        closed = text.find("</think>")
        reasoning_end = closed + len("</think>") if closed >= 0 else len(text)
    asked = last_user_message(record)
    return reasoning_end, " ".join(asked.split()), frozenset(line.strip() for line in asked.split("\n"))


_LIST_START = re.compile(r"[ \t]*(?:[-*+•]|\d+[.)])[ \t]")


def _alone_after_code(text: str, pos: int) -> bool:
    """Whether the token at `pos` stands alone on its line and the open block it ends holds no other template token
    (a quoted template: "<s>[INST] Hi [/INST] Hello!\n</s>", HTML's "<s>$20\n</s>")."""
    line_start = text.rfind("\n", 0, pos) + 1
    if text[line_start:pos].strip():
        return False
    fence = max(text.rfind("```", 0, line_start), text.rfind("~~~", 0, line_start))
    return SPECIAL_TOKEN.search(text, max(0, fence), line_start) is None


def _heads_a_list(text: str, end: int) -> bool:
    """Whether a marker ending at `end` closes its line and the next non-empty line is a list item."""
    nl = text.find("\n", end)
    if nl < 0 or text[end:nl].strip(" \t*"):
        return False
    nxt = nl + 1
    while nxt < len(text) and text[nxt] == "\n":
        nxt += 1
    return bool(_LIST_START.match(text, nxt))


RUNAWAY_MIN_CHARS = 800
"""A runaway tail is judged only on outputs at least this long..."""
RUNAWAY_MAX_RATIO = 0.25
"""...whose last 3,000 characters compress (zlib) to at most this share of their size (healthy prose: 0.35-0.6)..."""
RUNAWAY_MIN_COPIES = 2
"""...and whose cut last line (its first 40 characters; its last 40 characters when the line is shorter than 8)
occurred this many times before."""
_FINISHED = frozenset(".!?。！？…;；\"'”’」』）)]】》>`|*")


_VERSIONS = re.compile(
    r"\b(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten) (?:(?:more|other|different|alternative|possible|new"
    r"|separate) )*(?:answers|versions|solutions|implementations|programs|scripts|approaches|options|variants|"
    r"variations|alternatives|ways|methods)\b"
    r"|(?<![A-Za-z0-9_+.])([两三四五六七八九十\d]{1,2})[ \t]*[个种份套]?"
    r"(?:版本|方案|解法|写法|实现|回答|答案|方法|方式)", re.I)
"""A number of versions asked for ("Show all three answers", "three different approaches", "给出三种解法"); not
"Python3实现" or an option's value before the next line. (Numbers of other things match too — "the 4 options below"
— and count only where the output holds as many fenced blocks: `_last_of_versions`.)"""


def _versions_asked(request: str) -> int:
    """How many versions of one answer the user asked for, 0 for none."""
    return max((number_value(m.group(1) or m.group(2)) for m in _VERSIONS.finditer(request)), default=0)


def _last_of_versions(text: str, request: str) -> bool:
    """Whether the text is versions of code the user asked for, cut in the last of them: fenced blocks (two or more,
    the last left open), at most two a version (its code and a run line), for no more versions than asked ("Show all
    three answers" and the third, cut in its code: the copies before it were asked for, not a runaway)."""
    blocks, open_block = fence_blocks(text)
    return open_block and 2 <= len(blocks) <= 2 * _versions_asked(request)


_SPACES = re.compile(r"\s+")
_TABLE_RULE = re.compile(r"\|[ :]*-{3,}")
_BLANKS = frozenset(" \t\r\n\u3000\xa0")


def _junk_tail(text: str) -> bool:
    """Whether a text ends in a run of a few characters: its last 40 visible characters hold at most 4
    different ones ("🎂🎂🎂…", "| | ||| |", "1\nt\nt\n1"), outside a table's rule row; or half of its last 400
    characters are line breaks (a run of blank lines)."""
    tail = text[-400:]
    if tail.count("\n") * 2 >= len(tail):
        return True
    if len(set(text[-40:]) - _BLANKS) > 4:
        return False  # the common case, decided from a set of 40 characters
    visible = _SPACES.sub("", tail)[-40:]
    if len(visible) < 20 or len(set(visible)) > 4:
        return False
    last_line = text[text.rfind("\n") + 1:]
    return not _TABLE_RULE.search(last_line)


def runaway(record: GenerationRecord) -> bool:
    """Whether an output without a finish reason (200+ characters) was cut off while running on: it ends
    in a run of a few characters or of blank lines (`_junk_tail`); or it stops unfinished, its tail
    compresses like a loop, and the line it stops in (or its last 40 characters) began twice or more
    before, never as a whole line: a struct whose field names grow, blocks that repeat with a
    counter, a list that keeps coming back to one item, cut mid-way. Looser than `repetition`'s loop (it
    needs no exact back-to-back copies), so it only speaks of the end of a text the limit cut."""
    text = record.output.rstrip()
    n = len(text)
    if record.stop_reason != "unknown" or n < 200:
        return False
    if _junk_tail(text):
        return True
    if n < RUNAWAY_MIN_CHARS or text[-1] in _FINISHED:
        return False
    start = text.rfind("\n") + 1
    line = text[start:].strip()
    numbering = _LIST_START.match(line)
    line = line[numbering.end():] if numbering else line  # "41. 西瓜：…": the item, not its new number
    probe = line[:40] if len(line) >= 8 else ""
    # A line cut a few characters in ("  atomic_int"): its last 40 characters, across the line break.
    copies = text.count(probe, 0, start) if probe else text.count(text[-40:], 0, n - 40)
    if copies < RUNAWAY_MIN_COPIES:
        return False  # (first: it rules out most texts, and the test below then needs no scan)
    if "```" in text and _last_of_versions(text, last_user_message(record)):
        return False
    if text.find(text[start:] + "\n", 0, start) >= 0:
        return False  # the last line is a whole line written before ("Sudoku puzzle"): nothing was cut mid-way
    import zlib

    tail = text[-3000:].encode("utf-8", "surrogatepass")
    return len(zlib.compress(tail, 6)) <= RUNAWAY_MAX_RATIO * len(tail)


def detect_missing_eos(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    text = record.output
    found = _evidence(record, ctx)  # (sorted)
    stop = record.stop_reason
    if not found and (stop == "eos" or stop == "unknown" and not ends_in_loop(record, ctx) and not runaway(record)):
        # The common case, without the lists below.
        return Finding(NAME, False, 0.0, "The model ended its turn.", [], {"kind": None, "kinds": []})
    kinds = [k for _, k, _ in found]
    looping = False
    if record.stop_reason in ("length", "loop"):
        kinds.append("length" if record.stop_reason == "length" else "loop")
    elif record.stop_reason == "unknown" and (ends_in_loop(record, ctx) or runaway(record)):
        # No finish reason, but the text ends inside a loop: it was cut by a limit, not ended.
        looping = True
        kinds.append("length")
    details: dict = {"kind": kinds[0] if kinds else None, "kinds": list(dict.fromkeys(kinds))}
    if not kinds:
        return Finding(NAME, False, 0.0, "The model ended its turn.", [], details)
    spans = [Span(pos, min(len(text), pos + max(1, len(marker))), kind) for pos, kind, marker in found]
    first = found[0] if found else None
    if first and first[1] == "fake_turn":
        details["marker"] = first[2]
        explanation = f"The output runs on into a made-up turn ({first[2].strip()!r}) at character {first[0]}."
    elif first:
        details["token"] = first[2]
        explanation = f"The output prints the end token {first[2]!r} as text at character {first[0]}."
    elif looping:
        details["inferred"] = True
        explanation = "No finish reason, but the output ends inside a loop: it was cut off, not ended."
    elif record.stop_reason == "length":
        explanation = f"The generation hit the token limit ({record.n_output_tokens} tokens) without ending its turn."
    else:
        explanation = "The generation was cut early because it was looping."
    return Finding(NAME, True, calibrated(NAME, details["kind"]), explanation, spans, details)
