"""`language_drift`: the answer is mostly in another language (script) than the prompt.

Script counts come from the UTF-8 bytes (see `_text.script_units`): a CJK ideograph, kana or Hangul
syllable counts 1 unit, a Latin word `latin_word_units` (1.5), letters of other alphabets half a
unit; code blocks, inline code and URLs are masked first, so technical terms in backticks and links
don't count, and English words inside a Chinese answer weigh as words, not letters.

The expected languages are the scripts with >= `prompt_lang_share` of the last user message (code
masked) plus any language it asks for ("answer in English", "翻译成日语和英语", "用中文回答") and the
record's declared `lang` (the probe's language) when the prompt has a language at all. The
output drifts when the expected languages cover < `min_output_share` of its units. Latin words
count only inside phrases of 3+ words when Latin is not expected (terms, names and role labels in a
Chinese answer are not English), and code-like lines and markup tags are dropped then too. Printed
end or template tokens ("<|endoftext|>", "</s>") are no language: blanked before counting.
Not judged: outputs with < `min_units` units, prompts with < `min_prompt_units` units, and
translation requests without a named target language.
"""

from __future__ import annotations

import re
from functools import lru_cache

from evalgen.detectors._text import (
    SPECIAL_TOKEN,
    ascii_words_upto,
    conversation_key,
    has_special_token,
    is_code_line,
    last_user_message,
    mask_code,
    script_units,
    turns_and_request,
)
from evalgen.detectors.base import DetectorContext, LanguageDriftConfig
from evalgen.detectors.calibration import calibrated, unflagged_score
from evalgen.records import Finding, GenerationRecord, Span

__all__ = ["asks_for_language", "detect_language_drift"]

NAME = "language_drift"

_LANG_SCRIPT = {
    "english": "latin", "french": "latin", "german": "latin", "spanish": "latin", "italian": "latin",
    "portuguese": "latin", "dutch": "latin", "turkish": "latin", "polish": "latin", "indonesian": "latin",
    "vietnamese": "latin", "swedish": "latin", "latin": "latin", "chinese": "zh", "mandarin": "zh",
    "cantonese": "zh", "japanese": "ja", "korean": "ko", "russian": "cyrillic", "ukrainian": "cyrillic",
    "greek": "greek", "arabic": "arabic", "hebrew": "hebrew", "hindi": "indic", "thai": "indic",
    # Scripts of U+0800-U+0FFF are one class ("indic"); Urdu and Persian are written in the Arabic script.
    "bengali": "indic", "bangla": "indic", "tamil": "indic", "telugu": "indic", "malayalam": "indic",
    "kannada": "indic", "marathi": "indic", "gujarati": "indic", "punjabi": "indic", "nepali": "indic",
    "sinhala": "indic", "sanskrit": "indic", "urdu": "arabic", "persian": "arabic", "farsi": "arabic",
    "bulgarian": "cyrillic", "kazakh": "cyrillic", "czech": "latin", "romanian": "latin", "hungarian": "latin",
    "finnish": "latin", "danish": "latin", "norwegian": "latin", "malay": "latin", "tagalog": "latin",
    "filipino": "latin", "swahili": "latin", "catalan": "latin",
    "英文": "latin", "英语": "latin", "法语": "latin", "法文": "latin", "德语": "latin", "德文": "latin",
    "西班牙语": "latin", "意大利语": "latin", "葡萄牙语": "latin", "中文": "zh", "汉语": "zh", "普通话": "zh",
    "粤语": "zh", "繁体": "zh", "简体": "zh", "文言文": "zh", "日语": "ja", "日文": "ja", "韩语": "ko", "韩文": "ko",
    "俄语": "cyrillic", "俄文": "cyrillic", "阿拉伯语": "arabic", "印地语": "indic", "泰语": "indic",
    "泰文": "indic", "越南语": "latin", "印尼语": "latin", "荷兰语": "latin", "土耳其语": "latin", "希腊语": "greek",
    "希伯来语": "hebrew", "波斯语": "arabic", "乌克兰语": "cyrillic",
}
_EN = "|".join(k for k in _LANG_SCRIPT if k.isascii())
_ZH = "|".join(sorted((k for k in _LANG_SCRIPT if not k.isascii()), key=len, reverse=True)).replace(
    "泰文", "泰文(?!化)")  # 泰文化 is Thai culture, not Thai writing
_NOT_AN_ADJECTIVE = (r"(?![ \t]+(?:nadu|polynesia|gulf|channel|empire|revolution|riviera|guiana|poetry|poems?|poets?|"
                     r"literature|culture|cuisine|food|dishes|history|people|music|songs?|art|architecture|names?|"
                     r"grammar|calendar|style|restaurants?|mythology|medicine|philosophy|tragedy|gardens?)\b)")
"""After a language's name: not a place or a thing of its culture named after it, on the same line ("in Tamil
Nadu", "in Persian poetry", "in Greek Mythology"). Any other word after it, capitalised or not, leaves the request
("Explain in Chinese Today", "Answer in Russian\nWhat is…")."""
# Requests for a language; group "lang" is the target when one is named.
_ASKS = re.compile(
    rf"\b(?:translat\w*|convert\w*|rewrite|switch\w*|change|set)\b[^.?!\n]{{0,40}}?\b(?:to|into|in)\s+(?P<l1>{_EN})\b"
    rf"{_NOT_AN_ADJECTIVE}"
    rf"|\b(?:answer\w*|respond\w*|repl\w*|write|writing|say|explain|describe|summari[sz]e|introduce|tell|output|use|"
    rf"using)\b[^.?!\n]{{0,25}}?\b(?:in|using)\s+(?P<l2>{_EN})\b{_NOT_AN_ADJECTIVE}"
    rf"|\b(?:use|speak|talk|respond|reply|answer|write)\s+(?:in\s+)?(?P<l4>{_EN})\b{_NOT_AN_ADJECTIVE}"
    # "English please", "English-only session", "(English agent conversation; ...)"
    rf"|\b(?P<l3>{_EN})(?:[\s-]+only)?\s+(?:[a-z]+\s+)?(?:only|please|translation|version|equivalent|conversation|"
    rf"session|chat|context|follow-up|prompt|question|message|request|thread|input|speaker|user)\b"
    rf"|\btranslat\w*"
    rf"|(?:翻译|译)(?:成|为|作|到)?\s*(?P<l5>{_ZH})?|[用以说讲]\s*(?P<l6>{_ZH})"
    rf"|(?P<l7>{_ZH})\s*(?:回答|回复|作答|写|表达|怎么说|如何说|版本|输出)|怎么说",
    re.I,
)
# A record's declared language (the probe's `lang`, ISO 639-1) -> script.
_LANG_CODE = {
    "en": "latin", "fr": "latin", "de": "latin", "es": "latin", "it": "latin", "pt": "latin", "nl": "latin",
    "tr": "latin", "pl": "latin", "id": "latin", "vi": "latin", "sv": "latin", "zh": "zh", "ja": "ja", "ko": "ko",
    "ru": "cyrillic", "uk": "cyrillic", "el": "greek", "ar": "arabic", "he": "hebrew", "hi": "indic", "th": "indic",
}
_ASK_WORDS = (*(k for k in _LANG_SCRIPT if k.isascii()), "translat", "译", "怎么说",
              *(k for k in _LANG_SCRIPT if not k.isascii()))
"""Every request `_ASKS` finds holds one of these (lower case): a prompt with none asks for no language."""
_ASCII_ASK_WORDS = tuple(w for w in _ASK_WORDS if w.isascii())
"""(Each `in` is a scan of its own: an ASCII prompt is only scanned for the ASCII words.)"""
_ASCII_NAMES = frozenset(k for k in _LANG_SCRIPT if k.isascii())
_CJK_ASK_WORDS = tuple(w for w in _ASK_WORDS if not w.isascii())
_CJK_ASK_MARKS = ("语", "文", "译", "怎么说", "普通话", "繁体", "简体")
"""Every word of `_CJK_ASK_WORDS` holds one of these: a prompt with none of them is spared those scans."""
_ASCII_WORD = re.compile(r"[a-z]+")
_LETTERS_ONLY = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalpha()})
_LONG_PROMPT = 400
"""Prompts at least this long are scanned for requests only in the sentences that hold an ask word."""
_SENTENCE_ENDS = ".?!"
_CASE_ODD = ("\u0131", "\u017f")
"""Dotless i and long s: `re.I` matches them as "i" and "s", but `str.lower` keeps them (the other such letters
of `_ASKS`, "İ" and the Kelvin sign, change the length of the lower-cased text or become ASCII)."""


def _requests(prompt: str, low: str, words: tuple[str, ...]) -> list[re.Match]:
    """`_ASKS.finditer(prompt)`, on a long prompt scanning only the sentences (runs without ".", "?" or "!")
    that hold an ask word of `words` in `low` (`prompt.lower()`): no request holds one of those three
    characters (so each lies in one sentence, and `re` reads the same word boundaries at a sentence's
    ends), and every request holds an ask word (`_ASK_WORDS`). `_ASKS` takes 1 ms on a 5,000-character prompt."""
    if len(prompt) < _LONG_PROMPT or len(low) != len(prompt) or any(c in prompt for c in _CASE_ODD):
        return list(_ASKS.finditer(prompt))  # (positions in `low` are those of `prompt` only when the lengths agree)
    sentences = set()
    for word in words:
        pos = low.find(word)
        while pos >= 0:
            start = max(low.rfind(c, 0, pos) for c in _SENTENCE_ENDS) + 1
            ends = [e for e in (low.find(c, pos) for c in _SENTENCE_ENDS) if e >= 0]
            end = min(ends) if ends else len(low)
            sentences.add((start, end))
            pos = low.find(word, end)  # (the rest of this sentence is scanned already)
    return [m for start, end in sorted(sentences) for m in _ASKS.finditer(prompt, start, end)]


_LIST_MORE = re.compile(rf"\s*(?:和|与|及|、|,|and|or)\s*({_EN}|{_ZH})", re.I)
_NAMES = {
    "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "latin": "Latin-script", "cyrillic": "Cyrillic",
    "greek": "Greek", "arabic": "Arabic", "hebrew": "Hebrew", "indic": "Indic",
}
_CONLANG = re.compile(
    r"(?:^|[.!?;:][ \t]*|\b(?<!why )(?<!how )(?:please|can you|could you|would you|let's|let us|help me|i want you "
    r"to|i'd like you to|now)[ \t,]+)(?:create|invent|make up|make|design|construct|come up with)[ \t]+"
    r"(?:a|an|my|your|our)[ \t]+"
    r"(?:(?:own|new|secret|fictional|constructed|fantasy|alien|artificial)[ \t]+)*(?:language|conlang)(?=[ \t]*(?:"
    r"[.,;:!?)]|$|(?:and|for|called|named|with|in which|that|which|based|from|where)\b))"
    r"|(?:^|[。！？；]|请你?|帮我|你可以|我想让你|能否|你能)(?:创造|发明|设计|构造|创建|编)一[种门个](?:全新的|你自己的|自己的|"
    r"新的?|虚构的?|秘密的?|外星)?语言(?=[，。！？；：,.;:]|$|并|和|用|叫|名为|来|吗)", re.I | re.M)
"""A request to make up a language ("Create a language … and write some sentences in it", 创造一种新的语言): its
words may be in any script, so a block of them is no third language. "language" ends its phrase (not "a language
detection function"), and the verb opens the request (not "Why did Zamenhof create a new language?", "Why would
you …"). Only the third-language check is spared: an answer mostly in an unasked language is drift all the same."""
_TAG = re.compile(r"</?[A-Za-z][^<>\n]{0,60}>")
_PHRASE = re.compile(r"(?<![A-Za-z'’-])[A-Za-z][A-Za-z'’-]*(?:[ \t,;:\"“”()/-]{1,3}[A-Za-z][A-Za-z'’-]*){2,}")
"""Three words or more of running Latin text. A phrase starts at a word's start (the lookbehind: a phrase that fails
there fails inside the word too, and trying every position of a long word was quadratic)."""
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_LONG_WORD = re.compile(r"[A-Za-z]{2,}")  # a phrase of running language holds two: "x-y)(x" is a formula's variables
_I_WORD = re.compile(r"(?<![A-Za-z'’-])I(?:['’](?:m|d|ve|ll))?(?![A-Za-z'’-])")  # ...or "I" and one more: "I choose
# C", "I'm a cat" are English
_TITLED = re.compile(r"《[^》\n]{0,80}》|“[^”\n]{0,80}”|「[^」\n]{0,80}」|\"[^\"\n]{0,80}\"|\*\*[^*\n]{0,80}\*\*")
_SMALL = frozenset(("a", "an", "the", "of", "in", "on", "and", "or", "to", "for", "with", "at", "by", "from", "de",
                    "la", "le", "du", "des", "von", "van", "der", "da", "di", "e", "y"))


def _title_case(phrase: str) -> bool:
    """A name or title ("The Shawshank Redemption", "Pirates of the Caribbean", "Don't Stop Believin'"):
    at least two words, every one capitalised except small words."""
    words = _WORD.findall(phrase)
    return len(words) >= 2 and all(w[0].isupper() or w.lower() in _SMALL for w in words)


def asks_for_language(prompt: str) -> tuple[bool, set[str]]:
    """Whether the prompt asks for an answer in some language, and the scripts of the languages it
    names as targets (empty when none is named, e.g. a bare 'translate')."""
    asked = False
    targets: set[str] = set()
    low = prompt.lower()
    # Every request names a language or translating: most prompts stop here. The prompt's ASCII words are looked
    # up in a set (one split instead of an `in` scan per language name: `_ASKS` reads the names as whole words).
    if low.isascii():
        words = _ASCII_ASK_WORDS
        if "translat" not in low and _ASCII_NAMES.isdisjoint(low.translate(_LETTERS_ONLY).split()):
            return asked, targets
    else:
        words = _ASK_WORDS
        if "translat" not in low and not (any(mark in low for mark in _CJK_ASK_MARKS) and
                                          any(word in low for word in _CJK_ASK_WORDS)) and \
                _ASCII_NAMES.isdisjoint(_ASCII_WORD.findall(low)):
            return asked, targets
    for m in _requests(prompt, low, words):
        asked = True
        for key in ("l1", "l2", "l3", "l4", "l5", "l6", "l7"):
            lang = m.group(key)
            if lang:
                targets.add(_LANG_SCRIPT[lang.lower()])
                # "翻译成日语和英语", "into French and German": every language in the list.
                pos = m.end()
                while more := _LIST_MORE.match(prompt, pos):
                    targets.add(_LANG_SCRIPT[more.group(1).lower()])
                    pos = more.end()
    return asked, targets


_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]{1,300}\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)
_COMMENT = re.compile(r"^\s*(?:#|//|--|/\*|\*|\"\"\"|\'\'\')")


def _mask_math(text: str) -> str:
    """LaTeX math ($...$, $$...$$, \\(...\\)) blanked: formulas are no language."""
    return _MATH.sub(lambda m: " " * len(m.group(0)), text) if "$" in text or "\\" in text else text


_LEAD_IN = re.compile(
    r"[ \t]*(?:[A-Z][a-z]*(?:,? [a-z]+)*,? )?[Aa]nswer(?: is)?:? \S"
    r"|[ \t]*[A-Z][a-z]+(?:,? [a-z]+)+(?::? \(?[A-Ha-h][).:：]|: [\"“'])")
"""Words leading into an answer ("Answer is: a_n = …", "Therefore, the answer is B) …"), or into an option or a
quotation after other words ("The correct one is (B): …", 'Result: "…"'); capitalised, single spaces (no two runs of
spaces to split a long gap between). Not a program's printed value ("Sorted list is: [25, 34, 64]") nor code
("for x in a: c.append(x)")."""


def _code_only(line: str) -> bool:
    """A code line (math already masked, so "Answer is: B) $T_{2}$ bacteria ..." is prose; and so is an option that
    a sentence's words lead into, its formula written without $: "Answer is: B) a_n = 3 n - 10")."""
    return is_code_line(line) and _LEAD_IN.match(line) is None


def _language_text(text: str) -> str:
    """The text with code (code-like lines, and the comments of an output that is code), math and
    markup tags blanked, titles and names (in 《》, quotes or bold, or in title case: "The Shawshank
    Redemption") and Latin words that stand alone (terms, labels) removed: what is left is the answer's
    running language."""
    kept = []
    lines = _mask_math(mask_code(text)).split("\n")
    code_like = [_code_only(line) for line in lines]  # (`_code_only` is `is_code_line`: computed once a line)
    code_lines = sum(code_like)
    # An output that is mostly code is code: its comments and docstrings are not the answer's language.
    code = code_lines * 2 >= sum(1 for line in lines if line.strip()) and code_lines >= 2
    for line, code_line in zip(lines, code_like, strict=True):
        if code_line or (code and (_COMMENT.match(line) or not _CJK_IN.search(line))):
            continue
        line = _TAG.sub(" ", line)
        line = _TITLED.sub(_drop_title, line)
        phrases = " ".join(p for p in (m.group(0) for m in _PHRASE.finditer(line))
                           if not _title_case(p) and len(_LONG_WORD.findall(p)) >= 2 - bool(_I_WORD.search(p)))
        kept.append(_WORD.sub(" ", line) + " " + phrases)
    return "\n".join(kept)


_CJK_TITLE = re.compile(r"《[^》\n]{1,80}》")
_CJK_IN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7a3]")


def _drop_title(m: re.Match) -> str:
    """A Latin title or name in 《》, quotes or bold is not running language ("《The Godfather》",
    "“Bohemian Rhapsody”"); quoted running text is ("Answer is: Option B" in quotes)."""
    inner = m.group(0)
    if _CJK_IN.search(inner):
        return inner
    return " " if inner.startswith("《") or _title_case(inner) else inner


def _prose_only(text: str) -> str:
    """A user turn without its code: fenced and inline code, URLs, LaTeX math and code-like lines (a
    turn that is only a code listing has no language of its own)."""
    lines = _TAG.sub(" ", _mask_math(mask_code(text))).split("\n")  # (one sub: a tag never spans a line break)
    return "\n".join([line for line in lines if not _code_only(line)])


_LATIN = "A-Za-z\u00c0-\u024f\u1e00-\u1eff\u0300-\u036f"  # with accented letters and combining marks: "nǐ hǎo"
_LONE_LETTER = re.compile(rf"[A-Za-z](?<![{_LATIN}0-9'’][A-Za-z])(?![{_LATIN}0-9'’])")  # (a class first: scans fast)
"""A Latin letter standing alone in a user turn (no letter, digit or apostrophe beside it: not the "t" of "don't",
the "D" of "3D") names a variable, a singer or an option ("F、G、L", "A．W为K伴奏"), not words of a language the
user writes in."""


def _prompt_languages(record: GenerationRecord, cfg: LanguageDriftConfig
                      ) -> tuple[list[str], str | None, bool, list[str]]:
    """(expected languages, the prompt's dominant script, asked for a language, named targets) over the
    whole conversation: every user turn's own languages, and the languages any user or system turn asks
    for ("translate everything I say into English" in an earlier turn still holds)."""
    # Keyed by the conversation's own strings and the three thresholds it reads: hashing the frozen config
    # itself runs Python code, and a joined request is a new string to hash.
    return _prompt_languages_cached(conversation_key(record), cfg.latin_word_units, cfg.min_prompt_units,
                                    cfg.prompt_lang_share)


@lru_cache(maxsize=4096)
def _prompt_languages_cached(
    key: tuple, latin_word_units: float, min_prompt_units: float, prompt_lang_share: float
) -> tuple[list[str], str | None, bool, list[str]]:
    """Cached because every sample of a probe has the same prompt (callers never mutate the lists)."""
    turns, request = turns_and_request(key)
    asked, targets = asks_for_language(request)
    langs: set[str] = set()
    dominant: str | None = None
    for turn in turns:
        prose = _prose_only(turn.strip())
        if not prose.isascii():  # (an English turn keeps its "a" and "I": its language is Latin either way)
            prose = _LONE_LETTER.sub(" ", prose)
        pin = script_units(prose, latin_word_units)
        if pin.total < min_prompt_units:
            continue
        langs |= {k for k, v in pin.units.items() if v >= prompt_lang_share * pin.total}
        dominant = pin.dominant()  # the last turn with a language
        # The question itself (the turn's last line of text) is in a language the user writes in, however
        # long the pasted material before it ("...SQL...\n上面的SQL语句能正确完成Task描述的需求吗？").
        last = next((line for line in reversed(prose.split("\n")) if line.strip()), "")
        ask = pin if last == prose else script_units(last, latin_word_units)  # (a one-line turn: counted)
        if ask.total >= min_prompt_units and ask.dominant():
            langs.add(ask.dominant())  # type: ignore[arg-type]
    if not langs and not targets:
        return [], None, asked, []
    # Expected: the conversation's own languages and any language it asks for.
    return sorted(langs | targets), dominant, asked, sorted(targets)


def _latin_answer(words: int, cfg: LanguageDriftConfig, details: dict) -> Finding:
    """The finding for an all-ASCII answer to a prompt that expects Latin script, as the general
    path gives it: the only script is Latin, so the share is 1 (or there is no text at all), and
    "enough text?" only needs the words counted up to `need` (`words`), not all of them."""
    details["output_lang"] = "latin" if words else None
    details["prompt_lang_share"] = 1.0
    if words * cfg.latin_word_units < cfg.min_units:
        return Finding(NAME, False, 0.0, "Too little text to judge the language.", [], details)
    return Finding(NAME, False, 0.0, "The answer is in the prompt's language.", [], details)


_HEAD = 256
"""`ascii_words_upto` counts the first 256 characters first: only they need masking when they hold enough."""


def _head_has_words(output: str, need: int) -> bool:
    """Whether the first `_HEAD` characters of `mask_code(output)` hold `need` words (then
    `ascii_words_upto(mask_code(output), need)` is `need`), masking only up to the first line break after
    them: code blocks, inline code and URLs end at a line break or run on, so the lines before it mask
    the same whatever follows."""
    cut = output.find("\n", _HEAD)
    return cut >= 0 and ascii_words_upto(mask_code(output[:cut])[:_HEAD], need) >= need


@lru_cache(maxsize=64)
def _words_needed(min_units: float, latin_word_units: float) -> int | None:
    """The fewest words (at least 1) whose units reach `min_units`; None when that is over 1000
    (then the full count is as cheap)."""
    for k in range(1001):
        if k * latin_word_units >= min_units:
            return max(k, 1)
    return None


@lru_cache(maxsize=256)
def _declared_script(lang: str | None) -> str | None:
    """The script of a record's declared language ("zh-CN", "en_US", "EN" -> its ISO 639-1 code's)."""
    return _LANG_CODE.get((lang or "").lower().split("-")[0].split("_")[0])


def detect_language_drift(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    cfg = ctx.config.language_drift
    details: dict = {"prompt_lang": None, "output_lang": None}
    langs, dominant, asked, target_list = _prompt_languages(record, cfg)
    targets = set(target_list)
    declared = _declared_script(record.lang)
    if declared and langs and declared not in langs:
        # The probe's declared language is expected too (a zh probe whose prompt is mostly code or
        # English terms is still answered in Chinese).
        langs = sorted({*langs, declared})
    if not langs:
        return Finding(NAME, False, 0.0, "The prompt has no language to compare with.", [], details)
    details["prompt_lang"] = dominant or langs[0]
    details["prompt_langs"] = list(langs)
    if asked:
        details["asked_for_language"] = sorted(targets) or True
    if not langs or (asked and not targets):
        return Finding(NAME, False, 0.0, "Not judged: no prompt language, or a translation without a target.",
                       [], details)
    output = record.output
    if has_special_token(output):
        # A printed end or template token ("…today?<|endoftext|>") is no language (`missing_eos`'s): blanked.
        output = SPECIAL_TOKEN.sub(lambda m: " " * len(m.group(0)), output)
    need = _words_needed(cfg.min_units, cfg.latin_word_units)
    latin = need if "latin" in langs and cfg.min_output_share <= 1.0 else None  # the words that are enough
    if latin and output.isascii() and _head_has_words(output, latin):
        return _latin_answer(latin, cfg, details)  # the common case: the head holds enough words
    masked = mask_code(output)
    if "《" in masked and "zh" not in langs:
        masked = _CJK_TITLE.sub(" ", masked)  # "《哈利·波特与魔法石》" naming a film to an English prompt: a title
    if latin and masked.isascii():
        return _latin_answer(ascii_words_upto(masked, latin), cfg, details)  # without the full count
    out = script_units(masked, cfg.latin_word_units)
    total = out.total
    share = sum(out.units.get(k, 0.0) for k in langs) / total if total else 1.0
    if share < cfg.min_output_share and "latin" not in langs and "latin" in out.units:
        # Before flagging, drop what is not running language: code lines, tags, lone terms and names.
        out = script_units(_language_text(output), cfg.latin_word_units)
        total = out.total
        share = sum(out.units.get(k, 0.0) for k in langs) / total if total else 1.0
    details["output_lang"] = out.dominant()
    details["prompt_lang_share"] = round(share, 4)
    if total < cfg.min_units:
        return Finding(NAME, False, 0.0, "Too little text to judge the language.", [], details)
    want = "/".join(_NAMES.get(k, k) for k in langs)
    if share >= cfg.min_output_share:
        # A block in a third script nobody asked for (a translation of the answer appended in Korean).
        # Japanese is written with kanji too: CJK ideographs are no third language in a Japanese answer.
        known = {*langs, "zh", "latin"} if "ja" in langs else {*langs, "latin"}
        third = None if out.units.keys() <= known else max(
            ((k, v) for k, v in out.units.items() if k not in known), key=lambda kv: kv[1])
        if third is None or third[1] < cfg.min_block_units or third[1] < cfg.min_block_share * total or \
                _CONLANG.search(last_user_message(record)):  # (the words of a language the user asked it to make up)
            score = 0.0 if share == 1.0 else unflagged_score(1.0 - share)  # (the common case, without the call)
            return Finding(NAME, False, score, "The answer is in the prompt's language.", [],
                           details)
        details["third_language"] = third[0]
        got = _NAMES.get(third[0], third[0])
        explanation = f"The prompt is {want} but {third[1] / total:.0%} of the answer is {got}."
        details["kind"] = "third_language"
        return Finding(NAME, True, calibrated(NAME, "third_language"), explanation,
                       [Span(0, len(record.output), "other language")], details)
    got = _NAMES.get(details["output_lang"] or "", details["output_lang"])
    explanation = f"The prompt is {want} but {1 - share:.0%} of the answer is {got}."
    text = record.output
    details["kind"] = "drift"
    return Finding(NAME, True, calibrated(NAME, "drift"), explanation, [Span(0, len(text), "other language")], details)
