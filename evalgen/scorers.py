"""Task scorers: did a probe with a reference get the right answer?

Each scorer is a pure function `(output, reference, options) -> TaskScore` registered once in
`SCORERS`. `score_task(record)` wraps the result as a `Finding` named "task" so the report can show
it beside the detectors; `task_correct(record)` is the bare verdict the comparison counts.
Thresholds and tolerances come from the `[scorers]` section of `evalgen.toml` (`scorer_options`).
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from evalgen.errors import ConfigError, ProbeError
from evalgen.records import Finding, GenerationRecord

__all__ = [
    "SCORERS",
    "ScorerOptions",
    "TaskScore",
    "chrf",
    "extract_choice",
    "extract_number",
    "get_scorer",
    "parse_chinese_number",
    "score_task",
    "scorer_options",
    "sentence_bleu",
    "task_correct",
    "tokenize",
]

Reference = str | list[str] | None


@dataclass(frozen=True)
class ScorerOptions:
    """Knobs of the scorers, set in `[scorers]` of evalgen.toml."""

    bleu_threshold: float = 0.3
    """Sentence BLEU (0-1) at or above which a translation counts as correct."""
    chrf_threshold: float = 0.5
    """chrF (0-1) at or above which a translation counts as correct."""
    numeric_abs_tol: float = 1e-6
    numeric_rel_tol: float = 1e-4
    """A number matches when |got - want| <= max(abs_tol, rel_tol * |want|)."""


@dataclass(frozen=True)
class TaskScore:
    """One scorer's verdict: correct or not, a score in [0, 1] (higher is better), what it read."""

    correct: bool
    score: float
    extracted: str | None


def scorer_options(section: Mapping[str, Any] | None) -> ScorerOptions:
    """Validate the `[scorers]` section of evalgen.toml (a dict; None or {} gives the defaults)."""
    section = dict(section or {})
    valid = [f.name for f in fields(ScorerOptions)]
    values: dict[str, float] = {}
    for key, value in section.items():
        if key not in valid:
            hint = difflib.get_close_matches(key, valid, n=1)
            maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"[scorers] unknown key {key!r}{maybe}; valid keys: {', '.join(valid)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"[scorers] {key} must be a non-negative number, got {value!r}")
        values[key] = float(value)
    return replace(ScorerOptions(), **values)


# --- text normalisation -------------------------------------------------------------------------

_TRAILING_PUNCT = " \t\n.,;:!?。，；：！？、\"'`“”‘’"


def _norm(text: str) -> str:
    """NFKC (full-width → ASCII), casefold, collapse whitespace, drop surrounding punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", text).strip(_TRAILING_PUNCT)


def _as_list(reference: Reference) -> list[str]:
    if reference is None:
        return []
    return [reference] if isinstance(reference, str) else [str(r) for r in reference]


# --- exact / contains / regex -------------------------------------------------------------------


def _exact(output: str, reference: Reference, options: ScorerOptions) -> TaskScore:
    got = _norm(output)
    ok = any(got == _norm(ref) for ref in _as_list(reference))
    return TaskScore(ok, float(ok), got)


def _contains(output: str, reference: Reference, options: ScorerOptions) -> TaskScore:
    text = _norm(output)
    for ref in _as_list(reference):
        want = _norm(ref)
        # Word boundaries only where the reference starts/ends with a word character, so "cat"
        # is not found in "concatenate" but "巴黎" is found in "首都是巴黎。".
        left = r"(?<![a-z0-9])" if re.match(r"[a-z0-9]", want) else ""
        right = r"(?![a-z0-9])" if re.search(r"[a-z0-9]$", want) else ""
        match = re.search(left + re.escape(want) + right, text)
        if want and match:
            return TaskScore(True, 1.0, match.group(0))
    return TaskScore(False, 0.0, None)


def _regex(output: str, reference: Reference, options: ScorerOptions) -> TaskScore:
    for pattern in _as_list(reference):
        try:
            match = re.search(pattern, output)
        except re.error as exc:
            raise ProbeError(f"regex reference {pattern!r} does not compile ({exc}); fix the probe") from exc
        if match:
            return TaskScore(True, 1.0, match.group(0))
    return TaskScore(False, 0.0, None)


# --- choice -------------------------------------------------------------------------------------

# An explicit answer statement; the last one in the text wins (models reason, then conclude).
# A bare "option C" is not a statement: "the answer is B, because option C is wrong" picks B.
# Case-insensitive words, but the label itself must be upper case ("the answer is a bit ...").
_CHOICE_STATEMENT = (
    r"(?i:(?:answer|choice|option)\s*(?:(?:is|would be|should be|will be)\s*:?|=|:)\s*(?:option\s*)?"
    r"|i (?:would )?(?:choose|pick|select|go with)\s*(?:option\s*)?)"
    r"|(?:正确答案|答案|正确选项)\s*(?:应该|应当|应)?\s*(?:是|为)?\s*:?\s*(?:选项)?"
    r"|(?:选择|选)\s*(?:选项)?"
)


def extract_choice(text: str, labels: str = "ABCD") -> str | None:
    """The option label a free answer picks, or None.

    Looks for an answer statement ("the answer is (B)", "答案是B", "选B。"), then for an answer that
    starts with the label ("B", "(B)", "B. Paris"), then for a lone label in brackets. A capital
    letter that merely starts a sentence ("A dog is ...") is never read as a choice.
    """
    text = unicodedata.normalize("NFKC", text).strip()
    cls = "[" + re.escape(labels) + "]"
    # The label must not run on into a word: "B" and "B." count, "Because" does not.
    end = r"(?![A-Za-z0-9])"
    found = None
    # Markdown emphasis ("**B**") and brackets may wrap the label.
    pattern = rf"(?:{_CHOICE_STATEMENT})\s*[*_]*[(\[【]?\s*({cls}){end}"
    for match in re.finditer(pattern, text):
        found = match.group(1)
    if found:
        return found
    lead = re.match(rf"[*_]*[(\[【]?\s*({cls})\s*(?:[)\]】.:、,*_-]|\s[-–—]|$)", text)
    if lead:
        return lead.group(1)
    alone = re.fullmatch(rf"[(\[]?\s*([{re.escape(labels.lower())}])\s*[)\].]?", text)
    if alone:
        return alone.group(1).upper()
    brackets = re.findall(rf"[(\[【]\s*({cls})\s*[)\]】]", text)
    return brackets[-1] if brackets else None


def _choice_labels(want: str) -> str:
    """A..D (or 1..4), widened to the reference label when a probe has more options."""
    if want.isdigit():
        return "".join(str(i) for i in range(1, max(4, int(want)) + 1))
    last = max("D", want)
    return "".join(chr(c) for c in range(ord("A"), ord(last) + 1))


def _choice(output: str, reference: Reference, options: ScorerOptions) -> TaskScore:
    wants = []
    for ref in _as_list(reference):
        ref = unicodedata.normalize("NFKC", ref).strip().upper()
        match = re.match(r"[(\[]?\s*([A-Z]|[1-9])(?![A-Z0-9])", ref)
        if not match:
            raise ProbeError(f"choice reference {ref!r} is not an option label like 'B' or '2'; fix the probe")
        wants.append(match.group(1))
    got = extract_choice(output, _choice_labels(max(wants)))
    ok = got is not None and got in wants
    return TaskScore(ok, float(ok), got)


# --- numeric ------------------------------------------------------------------------------------

_ZH_DIGITS = {**{ch: i for i, ch in enumerate("零一二三四五六七八九")}, "〇": 0, "两": 2}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10**4, "亿": 10**8}
_ZH_NUM = "[零〇一二两三四五六七八九十百千万亿]+(?:点[零〇一二三四五六七八九]+)?"


def parse_chinese_number(text: str) -> float:
    """十二 → 12, 一百零五 → 105, 两千 → 2000, 三点五 → 3.5, 二零二四 → 2024, 一亿二千万 → 1.2e8."""
    whole, _, frac = text.partition("点")
    if whole and not any(ch in _ZH_UNITS or ch in _ZH_BIG for ch in whole):
        # Digit by digit, as in years and phone numbers.
        value = float("".join(str(_ZH_DIGITS[ch]) for ch in whole))
    else:
        total = wan = section = number = 0
        for ch in whole:
            if ch in _ZH_DIGITS:
                number = _ZH_DIGITS[ch]
            elif ch in _ZH_UNITS:
                section += (number or 1) * _ZH_UNITS[ch]  # a bare 十 means 一十
                number = 0
            elif ch == "万":
                wan = (section + number or 1) * 10**4
                section = number = 0
            elif ch == "亿":
                total = (total + wan + section + number or 1) * 10**8
                wan = section = number = 0
        value = float(total + wan + section + number)
    if frac:
        value += float("0." + "".join(str(_ZH_DIGITS[ch]) for ch in frac))
    return value


_ARABIC = (
    r"(?P<sign>(?<![\w.])[-−])?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*/\s*(?P<den>\d+)(?![\d.]))?"
    r"(?P<big>\s*[万亿])?"
)
# A lone 一 is usually a word ("一样", "一起", "统一"), not a number; used only if nothing else.
# A bare unit (百, 千, 万, 亿) is a word part too: 千米 (km), 千克 (kg), 百分之 (percent).
_NUMBER = re.compile(rf"{_ARABIC}|(?P<zh>{_ZH_NUM})")


def extract_number(text: str) -> float | None:
    """The last number in a text: Arabic (with thousands commas, decimals, fractions, 万/亿) or
    Chinese numerals. "The total is 1,250 dollars" → 1250; "小明还剩9个苹果。" → 9."""
    text = unicodedata.normalize("NFKC", text)
    values: list[float] = []
    weak: list[float] = []
    for match in _NUMBER.finditer(text):
        if match.group("zh"):
            zh = match.group("zh")
            if set(zh) <= set("百千万亿"):
                continue
            (weak if zh == "一" else values).append(parse_chinese_number(zh))
            continue
        value = float(match.group("num").replace(",", ""))
        if match.group("den"):
            den = float(match.group("den"))
            if den == 0:
                continue
            value /= den
        if match.group("big"):
            value *= _ZH_BIG[match.group("big").strip()]
        if match.group("sign"):
            value = -value
        values.append(value)
    if values:
        return values[-1]
    return weak[-1] if weak else None


def _numeric(output: str, reference: Reference, options: ScorerOptions) -> TaskScore:
    got = extract_number(output)
    for ref in _as_list(reference):
        want = extract_number(ref)
        if want is None:
            raise ProbeError(f"numeric reference {ref!r} holds no number; fix the probe")
        tol = max(options.numeric_abs_tol, options.numeric_rel_tol * abs(want))
        if got is not None and abs(got - want) <= tol:
            return TaskScore(True, 1.0, _fmt(got))
    return TaskScore(False, 0.0, None if got is None else _fmt(got))


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


# --- bleu / chrf --------------------------------------------------------------------------------

# CJK characters one by one (no word segmenter needed), words and numbers whole, punctuation alone.
_CJK = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
_WORD = rf"(?:(?!{_CJK})[^\W_])+"
_TOKEN = re.compile(rf"{_CJK}|{_WORD}(?:'{_WORD})?|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Tokens for BLEU: each Chinese character, each English word or number, each punctuation mark."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text))


def sentence_bleu(hypothesis: str, references: list[str]) -> float:
    """Sentence BLEU in [0, 1] with NIST smoothing; n-gram order capped at the hypothesis length."""
    from nltk.translate.bleu_score import SmoothingFunction
    from nltk.translate.bleu_score import sentence_bleu as nltk_bleu

    hyp = tokenize(hypothesis)
    refs = [tokenize(r) for r in references]
    if not hyp or not any(refs):
        return 0.0
    # BLEU-4 on a three-token answer is all smoothing; uniform weights up to the order that exists.
    order = min(4, len(hyp))
    weights = tuple([1.0 / order] * order)
    return float(nltk_bleu(refs, hyp, weights=weights, smoothing_function=SmoothingFunction().method3))


def chrf(hypothesis: str, references: list[str], max_order: int = 6, beta: float = 2.0) -> float:
    """chrF (Popović 2015) in [0, 1]: character n-gram F-beta with whitespace ignored, n ≤ 6, β = 2,
    precision and recall averaged over the orders both sides have. Best reference wins. A few
    lines here instead of a sacrebleu dependency; figures may differ from sacrebleu's slightly."""
    hyp = re.sub(r"\s+", "", unicodedata.normalize("NFKC", hypothesis))
    best = 0.0
    for ref_text in references:
        ref = re.sub(r"\s+", "", unicodedata.normalize("NFKC", ref_text))
        precisions, recalls = [], []
        for n in range(1, max_order + 1):
            h = Counter(hyp[i : i + n] for i in range(len(hyp) - n + 1))
            r = Counter(ref[i : i + n] for i in range(len(ref) - n + 1))
            if not h or not r:
                continue
            matched = sum((h & r).values())
            precisions.append(matched / sum(h.values()))
            recalls.append(matched / sum(r.values()))
        if not precisions:
            continue
        p, r_ = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
        if p + r_ > 0:
            best = max(best, (1 + beta**2) * p * r_ / (beta**2 * p + r_))
    return best


def _bleu(output: str, reference: Reference, options: ScorerOptions) -> TaskScore:
    score = sentence_bleu(output, _as_list(reference))
    return TaskScore(score >= options.bleu_threshold, score, None)


def _chrf(output: str, reference: Reference, options: ScorerOptions) -> TaskScore:
    score = chrf(output, _as_list(reference))
    return TaskScore(score >= options.chrf_threshold, score, None)


# --- json ---------------------------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)


def _json(output: str, reference: Reference, options: ScorerOptions) -> TaskScore:
    """Valid JSON as the whole answer or inside a ``` fence; the reference lists required keys.
    JSON buried in prose does not count: emitting clean JSON is the behaviour under test."""
    fenced = _FENCE.search(output)
    candidate = (fenced.group(1) if fenced else output).strip()
    try:
        value = json.loads(candidate)
    except ValueError:
        return TaskScore(False, 0.0, None)
    required = _as_list(reference)
    if not required:
        return TaskScore(True, 1.0, candidate)
    present = sum(key in value for key in required) if isinstance(value, dict) else 0
    return TaskScore(present == len(required), present / len(required), candidate)


# --- registry -----------------------------------------------------------------------------------

ScorerFn = Callable[[str, Reference, ScorerOptions], TaskScore]

SCORERS: dict[str, ScorerFn] = {
    "exact": _exact,
    "contains": _contains,
    "regex": _regex,
    "choice": _choice,
    "numeric": _numeric,
    "bleu": _bleu,
    "chrf": _chrf,
    "json": _json,
}
"""Every task scorer by the name probes use in their `scorer` field."""

NEEDS_REFERENCE = frozenset(SCORERS) - {"json"}


def get_scorer(name: str) -> ScorerFn:
    """The scorer registered as `name`; ProbeError with a close-match suggestion otherwise."""
    if name not in SCORERS:
        hint = difflib.get_close_matches(name, SCORERS, n=1)
        maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ProbeError(f"unknown scorer {name!r}{maybe}; valid scorers: {', '.join(SCORERS)}")
    return SCORERS[name]


def _run(record: GenerationRecord, options: ScorerOptions | None) -> TaskScore | None:
    # No scorer: not a task probe. Backend error: nothing the model said, so not a wrong answer.
    if record.scorer is None or record.stop_reason == "error":
        return None
    try:
        fn = get_scorer(record.scorer)
    except ProbeError as exc:
        raise ProbeError(f"probe {record.suite}/{record.probe_id}: {exc}") from None
    if record.scorer in NEEDS_REFERENCE and not _as_list(record.reference):
        raise ProbeError(
            f"probe {record.suite}/{record.probe_id}: scorer {record.scorer!r} needs a reference; "
            "add one to the probe or drop its scorer"
        )
    return fn(record.output, record.reference, options or ScorerOptions())


def score_task(record: GenerationRecord, options: ScorerOptions | None = None) -> Finding | None:
    """The task verdict as a Finding named "task" (flagged = wrong; Finding.score = 1 - score so
    that higher is worse like every detector), or None for records without a scorer."""
    result = _run(record, options)
    if result is None:
        return None
    score = min(1.0, max(0.0, result.score))
    if math.isnan(score):
        score = 0.0
    verdict = "correct" if result.correct else "wrong"
    read = f", read {result.extracted!r}" if result.extracted is not None else ""
    return Finding(
        detector="task",
        flagged=not result.correct,
        score=1.0 - score,
        explanation=f"{record.scorer}: {verdict} (score {score:.3f}{read})",
        details={"correct": result.correct, "score": score, "extracted": result.extracted},
    )


def task_correct(record: GenerationRecord, options: ScorerOptions | None = None) -> bool | None:
    """True/False for records with a scorer, None otherwise (and for backend errors)."""
    result = _run(record, options)
    return None if result is None else result.correct
