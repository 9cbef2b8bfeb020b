"""`missing_eos`: the model did not end its turn.

- `length`: stop_reason `length` (max_new_tokens reached while still going) or `loop` (cut early
  because the tail was looping), or stop_reason `unknown` (imported) with a text that ends inside a
  loop (two back-to-back copies over 40+ characters reaching the end, or half the text recurring);
- `fake_turn`: stop_reason `stop_string` on a turn marker, or the output runs on into a made-up
  next user turn: plain markers ("### Human:", "User:", "### Instruction:" ...) count at the start
  of a line or right after a finished sentence, a role tag alone on a line ("support>", "<human>"),
  a marker cut at the very end ("<START", "<|im_"), special markers ("<|im_start|>user", "[INST]", "<start_of_turn>user" ...) anywhere;
- `end_token_text`: the output prints an end-of-turn token as text ("</s>", "<|im_end|>" ...).
Markers inside code blocks, inline code or quotes of the prompt's own words are ignored, so an
answer that explains a chat format is not flagged. The span starts where the fake turn or the
printed token starts; `details.kind` is the first problem in the text (else `length`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from evalgen.detectors._text import code_regions, in_regions, last_user_message
from evalgen.detectors.base import DetectorContext
from evalgen.detectors.repetition import find_loop
from evalgen.records import Finding, GenerationRecord, Span

__all__ = ["END_TOKENS", "LINE_MARKERS", "SPECIAL_MARKERS", "detect_missing_eos"]

NAME = "missing_eos"

LINE_MARKERS: tuple[str, ...] = (
    "### Human:", "### User:", "### Instruction:", "### Input:", "Human:", "User:", "USER:", "HUMAN:",
    "<|Human|>:", "[Round", "<用户>", "用户：", "问：",
)
"""Text that opens a user turn when it starts a line."""
SPECIAL_MARKERS: tuple[str, ...] = (
    "<|im_start|>user", "<|im_start|>system", "<|im_start|>assistant", "[INST]", "<|user|>", "<|assistant|>",
    "<|system|>", "<start_of_turn>user", "<start_of_turn>model", "<|start_header_id|>", "<reserved_106>",
    "<|Human|>", "<|Assistant|>", "<｜User｜>", "<｜Assistant｜>", "<|User|>",
)
"""Template tokens that open a turn wherever they appear."""
END_TOKENS: tuple[str, ...] = (
    "</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<eos>", "<end_of_turn>", "<|end_of_text|>",
    "<|eom_id|>", "<｜end▁of▁sentence｜>", "<eoa>", "<eoh>",
)
"""End-of-turn tokens that should never appear as text."""
_ROLES = "user|human|assistant|bot|support|response|system|model|customer|agent|gpt|ai"
# A plain marker must be followed by text or a line end to be a turn, not "User: field" prose.
_AFTER_PLAIN = r"(?=[ \t]*\S|[ \t]*$)"


@lru_cache(maxsize=64)
def _patterns(turn_markers: tuple[str, ...], end_tokens: tuple[str, ...]) -> tuple[re.Pattern, re.Pattern | None]:
    """(turn pattern, end-token pattern) for a context; compiled once per context."""
    plain: list[str] = []
    special: list[str] = list(SPECIAL_MARKERS)
    for marker in (*LINE_MARKERS, *turn_markers):
        marker = marker.strip()
        if not marker:
            continue
        # Markers that look like template tokens match anywhere; words like "User:" at a line start.
        (special if marker.startswith(("<|", "<｜", "[INST", "<start_of_turn>")) else plain).append(marker)
    plain_alt = "|".join(re.escape(m) for m in sorted(set(plain), key=len, reverse=True))
    special_alt = "|".join(re.escape(m) for m in sorted(set(special), key=len, reverse=True))
    turn = re.compile(
        # A plain marker opens a line, or follows a finished sentence on the same line.
        rf"(?:^|(?<=\n)|(?<=[.!?。！？][ \t])|(?<=[.!?。！？]))[ \t>*]*(?:{plain_alt}){_AFTER_PLAIN}"
        # "### Instruction" cut before its colon by a stop string, at the end of a line.
        rf"|(?:^|(?<=\n))[ \t]*###[ \t]*(?:Human|User|Instruction|Input)[ \t]*(?=\n|$)"
        # A role tag alone on a line ("support>", "<human>"), or a marker cut at the very end ("<START").
        rf"|(?:^|(?<=\n))[ \t]*<?(?:{_ROLES})>[ \t]*(?=\n|$)|<\|?[A-Za-z_]+\|?$"
        rf"|{special_alt}"
    )
    ends = [t for t in (*END_TOKENS, *end_tokens) if t.strip()]
    end = re.compile("|".join(re.escape(t) for t in sorted(set(ends), key=len, reverse=True))) if ends else None
    return turn, end


def _first(pattern: re.Pattern, text: str, regions: list[tuple[int, int]] | None, prompt: str) -> int:
    for m in pattern.finditer(text):
        start = m.start() + (len(m.group(0)) - len(m.group(0).lstrip(" \t>*")))
        if regions and in_regions(start, regions):
            continue
        # A plain marker ("User:") the user wrote in their message is being discussed, not opened.
        word = m.group(0).strip(" \t>*")
        if prompt and word.endswith((":", "：")) and word in prompt:
            continue
        return start
    return -1


def _looping_tail(text: str) -> bool:
    """Whether the text ends inside back-to-back repetition (two copies or more, 40+ characters)."""
    if len(text) < 80 or text.find(text[-16:]) >= len(text) - 16:
        return False  # cheap screen: the last 16 characters must occur earlier
    loop, recurrence = find_loop(text, 2.0, 40)
    return bool(loop and loop[1] >= len(text.rstrip())) or recurrence >= 0.5


def detect_missing_eos(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    cfg = ctx.config.missing_eos
    text = record.output
    turn, end = _patterns(
        tuple(ctx.turn_markers) + cfg.extra_turn_markers, tuple(ctx.end_tokens) + cfg.extra_end_tokens
    )
    found: list[tuple[int, str, str]] = []
    screen_turn = ":" in text or "：" in text or "<" in text or "[" in text or ">" in text or "#" in text
    if screen_turn or ctx.turn_markers or cfg.extra_turn_markers:
        prompt = last_user_message(record) if record.messages else ""
        regions: list[tuple[int, int]] | None = None
        hit = turn.search(text)
        if hit:
            regions = code_regions(text)
            pos = _first(turn, text, regions, prompt)
            if pos >= 0:
                found.append((pos, "fake_turn", text[pos:pos + 40].split("\n")[0]))
        if end is not None and end.search(text):
            if regions is None:
                regions = code_regions(text)
            pos = _first(end, text, regions, prompt)
            if pos >= 0:
                m = end.match(text, pos)
                found.append((pos, "end_token_text", m.group(0) if m else ""))
    if record.stop_reason == "stop_string":
        detail = record.stop_detail or ""
        if not detail.strip() or turn.search(detail.strip()) or detail.strip() in ctx.turn_markers:
            pos = text.find(detail) if detail.strip() else -1
            found.append((pos if pos >= 0 else len(text), "fake_turn", detail))
    kinds = [k for _, k, _ in sorted(found)]
    looping = False
    if record.stop_reason in ("length", "loop"):
        kinds.append("length" if record.stop_reason == "length" else "loop")
    elif record.stop_reason == "unknown" and _looping_tail(text):
        # No finish reason, but the text ends inside a loop: it was cut by a limit, not ended.
        looping = True
        kinds.append("length")
    details: dict = {"kind": kinds[0] if kinds else None, "kinds": list(dict.fromkeys(kinds))}
    if not kinds:
        return Finding(NAME, False, 0.0, "The model ended its turn.", [], details)
    spans = [Span(pos, min(len(text), pos + max(1, len(marker))), kind) for pos, kind, marker in sorted(found)]
    first = sorted(found)[0] if found else None
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
    return Finding(NAME, True, 1.0, explanation, spans, details)
