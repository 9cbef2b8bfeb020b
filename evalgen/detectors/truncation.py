"""`truncation`: the model ended its turn itself but the text stops abruptly, unfinished.

Only records with stop_reason `eos` (or `unknown`, imported) are judged; a `length` stop is the
`missing_eos` detector's business. Only the end of the text is read, in this order:

1. a cut multibyte character (U+FFFD) at the end, or the text ends inside a fenced code block
   (fences parsed as CommonMark does, with nesting as models write it: ```` ```` ```` around ```` ``` ````)
   -> truncated. Closing horizontal rules (`---`, `***`, `___`) are set aside: the text before them is judged;
2. the last line ends with sentence-final punctuation or a closing quote/bracket -> complete, except
   a word cut at an apostrophe ("Let'": no plural possessive, no opening quote);
3. structure opened at the very end with nothing after it: a bare heading marker, bullet or list
   number, an opening tag (not a void element such as `<br>`), a tag or attribute cut before its `>`
   -> truncated, even in a short output;
4. the last line is code: complete unless the statement is open (more brackets opened than closed,
   or it ends on an operator, comma, dot, backslash or opening bracket) -> truncated;
5. a table row that stops before its closing `|` under rows that have one -> truncated (cut mid-cell);
6. complete endings: a chat-turn label (`missing_eos`'s finding), an emoji, a URL, a closed tag
   (`</html>`), a table row, a closing phrase ("Hope this helps", "祝你好运"); a colon that announces
   content that never came -> truncated;
7. a dangling function word (EN: the/and/of/to/per/which/every/despite…, a degree adverb "extremely", a modal
   "should"/"could" not after its subject, "…and then", a contracted "is" ("it's", "let's"), "a more <adj>",
   a subject pronoun "we"/"they" after a lowercase word or right after a determiner and its noun — "all the
   things we"; ZH: 这/的/和/但/在…, minus words that end sentences: 存在, 现在, 好的…), a word cut mid-way that the
   text spells longer ("…shoots th" beside "their"; an inflection or derivation — "learn"/"learning" — is no
   cut), a trailing comma, hyphen or operator, or an unclosed bracket (list numbering "3)" closes none) or
   quote in a prose line -> truncated (list items too: a list cut mid-item). Before a printed end-of-turn
   token (`</s>`) only these signs count: the model chose to stop there, so an unpunctuated last sentence is
   complete;
8. prose: a final unpunctuated segment of >= `min_tail_words` words / `min_tail_cjk` CJK characters
   that follows a finished sentence on the same line (a paragraph that stops mid-sentence), or one of
   >= `long_tail_words` / `long_tail_cjk` -> truncated (`main_clause_missing` where it opened a subordinate
   clause, "If…", and stopped before its main clause; a Chinese one is not cut where a modal particle closes
   it, 吧/呢/吗/啊…). A line on its own without final punctuation — a title, a list item, a poem, song or play
   line ("End of Act I"), a signature or sign-off, a complete last sentence lacking only its period ("5 months,
   $-2503 left over") — is complete, except a conclusion stopped a few words after its opener ("In conclusion,
   a comprehensive", "总之，最后几秒") and a line that repeats an earlier line but stops short of it mid-phrase
   (-> truncated).
Also complete: a quotation's attribution after a dash ('"…" - Christian D. Larson, Your Forces and How to Use Them',
"——鲁迅《故乡》"), a last record of comma-separated short fields under records of as many (the lines a user asked
for), and a document left in an open fence that ends on a whole sign-off sentence ("Thank you."). Invisible
characters at the end and a publisher's " ... (truncated)" marker are set aside first.
Outputs shorter than `min_output_chars` are normal short answers. With stop_reason `unknown`, an
output whose last 16 characters occurred earlier is a looping tail cut by a limit (`missing_eos`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from evalgen.detectors._text import (
    SPECIAL_TOKEN,
    cut_marker,
    fence_blocks,
    fence_lines,
    is_code_line,
    last_user_message,
    mask_inline_code,
    request_text,
    user_turns,
)
from evalgen.detectors.base import DetectorContext
from evalgen.detectors.calibration import calibrated
from evalgen.detectors.degenerate import detect_degenerate
from evalgen.detectors.missing_eos import runaway, turn_evidence
from evalgen.detectors.repetition import asks_for_song, ends_in_loop, rewrites_itself
from evalgen.records import Finding, GenerationRecord, Span

__all__ = ["detect_truncation"]

NAME = "truncation"
_TAIL = 600  # characters read from the end

# (and the full stops of Armenian, Devanagari, Urdu, Ethiopic, Burmese and Tibetan, and Arabic's "?")
_FINAL = set(".!?。！？…‼⁇⁈⁉;；~～．｡") | set("։।॥۔؟።။།")
_CLOSED = set("\"'”’」』）)]】》")  # a closing quote or bracket ends a sentence too
_OPEN_CLOSE = (("(", ")"), ("（", "）"), ("[", "]"), ("【", "】"), ("“", "”"), ("「", "」"), ("『", "』"), ("《", "》"))
_DANGLING_EN = frozenset(
    [
        "a", "an", "the", "and", "or", "but", "nor", "because", "although", "though", "whereas", "whether", "if",
        "unless", "until", "of", "to", "at", "for", "with", "from", "into", "onto", "between", "through", "during",
        "without", "within", "among", "against", "toward", "towards", "via", "including", "such", "as", "than", "my",
        "your", "our", "their", "its", "his", "whose", "e.g", "i.e", "per", "which", "whom", "whereby", "very",
        "is", "are", "was", "were", "we", "they", "he", "she", "i",
        # A determiner that needs its noun, prepositions and a conjunction that never close a clause, degree
        # adverbs that need their adjective ("…is not extremely"), modals that need their verb (see _MODAL).
        "every", "despite", "regarding", "unlike", "amongst", "versus", "vs", "whilst", "extremely", "incredibly",
        "relatively", "should", "would", "could", "shall", "cannot",
    ]
)
_CLAUSE_WORDS = frozenset(("the", "a", "an", "to", "is", "are", "was", "were", "be", "will", "can", "may", "must",
                           "should", "would", "could", "need", "needs"))
_OPEN_ENDS = _DANGLING_EN | {"in", "on", "before", "after", "that", "by"}
_CJK_MODAL = re.compile(r"能够|需要|应该|可以|必须|确保")
# One of these alone after a finished sentence ("… name it "setCameraPosition". In") opened the next one.
_OPENERS = _DANGLING_EN - {"i", "a"} | {"in", "on"}
# A modal ends a clause only after its subject pronoun ("if you would", "as one should"): "…the team should".
_MODAL = frozenset(("should", "would", "could", "shall", "cannot"))
_MODAL_OK = frozenset(("i", "you", "we", "they", "he", "she", "it", "one", "who", "that", "which", "what", "so",
                       "than", "as", "not", "never"))
_COPULA = frozenset(("is", "are", "was", "were"))
# "what our projections were", "where the station is": a wh-word and the clause's own subject (not "what matters is")
_WH_CLAUSE = re.compile(r"(?:^|\s)(?:what|how|who|where|whatever|wherever)\s+(?:the|a|an|our|your|their|my|his|her|its"
                        r"|this|that|these|those|we|you|they|he|she|it|i)\s", re.I)
# "what we had hoped for", "what we had looked forward to": the wh-word is the object of the preposition left at the
# end, right after its clause's subject and verb (not "how the data is used for": "how" is no object; not "what we
# are going to", "what you need for": a verb's infinitive or object is still to come)
_WH_STRANDED = re.compile(
    r"(?:^|\s)(?:what|whatever|who|whom|which)\s+(?:(?:we|you|they|he|she|i|it|people)\s+|"
    r"(?:you|we|they)['’](?:re|ve)\s+|i['’][mv]\s+)"
    r"(?:(?:had|have|has|were|was|are|am|is|been|always|really|all)\s+){0,2}"
    r"(?:[a-z]{3,}(?:ed|ing)\s+(?:for|with|from|of|at|into|through|forward\s+to)"
    r"|(?:referring|talking|listening|alluding|responding|replying)\s+to)$", re.I)
_SUBJECT = frozenset(("we", "they", "he", "she", "i"))  # a subject pronoun waits for its verb...
# ...except after an auxiliary or a comparison: "Who am I", "so do we", "neither can they", "taller than he".
_SUBJECT_OK = frozenset(("am", "is", "are", "was", "were", "do", "does", "did", "have", "has", "had", "can",
                         "could", "will", "would", "shall", "should", "may", "might", "must", "than", "as"))
# "...as it is", "that is", "what they were": a copula after these ends a phrase.
_COPULA_OK = frozenset(("it", "that", "as", "this", "there", "here", "what", "who", "where", "how", "they", "we",
                        "you", "he", "she", "i", "which", "things", "is"))
# Single characters that cannot end a Chinese sentence, and words ending in them that can.
_DANGLING_ZH = frozenset("这那的和但在是因而与及或把被对从向给让将就都还并且如若虽即等以之其该各每为于跟同比有")
# Two-character words that leave a sentence open: prepositions, conjunctions, demonstratives.
_DANGLING_ZH2 = frozenset((
    "通过", "根据", "按照", "关于", "对于", "由于", "因为", "所以", "但是", "而且", "如果", "虽然", "即使", "以及",
    "并且", "或者", "这个", "那个", "这些", "那些", "一些", "一个", "每个", "以便", "为了", "除了", "包括", "例如",
    "比如", "数百", "数千", "数万", "几百", "几千", "几万", "上百", "上千", "上万",
    "因此", "于是", "从而", "然而", "而是",
))
_COMPLETE_ZH = frozenset((
    "存在", "现在", "所在", "实在", "自在", "不在", "正在", "好的", "是的", "对的", "真的", "我的", "你的", "他的",
    "她的", "它的", "有的", "目的", "总是", "就是", "还是", "而已", "罢了", "等等", "之类", "如此", "以上", "以下",
    "为止", "之一", "而言", "不同", "相同", "之后", "以后", "之前", "以前", "其他", "其它", "其中", "即可", "足以",
    "可以", "所以然", "你们的", "我们的", "方向", "原因", "参与", "总和", "不对", "来不及", "所有", "没有", "拥有",
    "具有", "只有", "还有", "都有", "仍有", "共有", "享有", "固有", "特有", "稀有", "富有", "应有", "现有", "含有",
    "占有", "持有", "私有", "公有", "国有", "唯有", "也有", "尚有", "必有", "各有", "少有", "罕有", "会有", "未有",
))
_CLOSING = re.compile(
    r"^(?:hope (?:this|that|it) helps|i hope|good luck|best(?: regards| wishes)?|regards|cheers|thanks|thank you|"
    r"enjoy|happy|have (?:a|fun)|let me know|feel free|take care|sincerely|yours|"
    r"(?:(?:kind|warm|warmest|kindest) regards|all the best|with love|see you|talk soon|stay safe|(?:good)?bye|"
    r"the end)\b|"
    r"if you have (?:any )?(?:other |further |more )?(?:questions|concerns)|"
    r"如果(?:你|您)(?:还)?有(?:任何)?(?:其他)?(?:问题|疑问)|"
    r"祝|希望(?:对你|对您|能|这)|谢谢|感谢|加油|欢迎|如有|有问题|以上|此致|再见)",
    re.I,
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)、]|[a-zA-Z][.)]|[（(]\d+[)）]|[一二三四五六七八九十]+、)\s*")
_HEADING = re.compile(r"^\s*(?:#{1,6}\s|\*\*[^*]+\*\*:?$|__[^_]+__:?$)")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+\S")
_EMPTY_FENCE = re.compile(r"^`{3,}[\w+#.-]*`{3,}$")
_RULE = re.compile(r"(?:\n[ \t]*(?:-[ \t]*){3,}|\n[ \t]*(?:\*[ \t]*){3,}|\n[ \t]*(?:_[ \t]*){3,})$")
_VOID = frozenset(("br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track",
                   "wbr", "param", "!doctype", "!--",
                   "noinput", "nooutput"))  # Alpaca's placeholders for an empty input or output: no tag opened
# Structure opened at the very end with nothing after it: a bare heading marker, bullet, number or opening
# bracket alone on its line ("(" before a song's next section label), an opening tag, a tag or attribute
# cut before its ">".
_OPENING_END = re.compile(
    r"(?:^|\n)[ \t]*(?:#{1,6}|[-*+•]|\d+[.)]|[(\[（【「『“])[ \t]*$"
    r"|<(?P<tag>[A-Za-z][\w:-]*)(?:\s[^<>]*)?>\s*$"
    r"|<(?P<cut>[A-Za-z][\w:-]*)(?:\s[^<>]*)?$|</[A-Za-z][\w:-]*$"
)
_ASKS_USER = re.compile(
    r"(?:^|[.!?]\s+)[\W_]*(?:please\s+)?(?:(?:choose|select|pick|enter|type)\s+(?:(?:an?|your)\s+(?:\w+\s+){0,2}?"
    r"(?:option|choice|answer|move|guess|number|letter|action|path|selection)|one)|make\s+your\s+(?:choice|move|guess))"
    r"\s*(?:\([^)\n]{0,60}\))?\s*[:：]$"
    r"|(?:^|[.!?]\s+)[\W_]*your\s+(?:choice|answer|move|guess|response|input|option|selection|reply)\s*[:：]$"
    r"|(?:^|[。！？]\s*)[\W_]*(?:请(?:选择|输入|回答|作答|回复)(?:你的|您的)?(?:答案|选项|选择)?|你的(?:选择|答案|回答))\s*[:：]$",
    re.I,
)
"""A line that hands the turn to the user ("Choose an option:", "Your move:", "请选择："): a colon that
announces their answer, not missing text ("Type the following command:" announces text)."""
# A last line that only opens a chat turn ("USER:", "### Human:", "用户：") is a made-up turn cut by a stop
# string: the answer before it ended; that is `missing_eos`'s finding, not a cut sentence.
_TURN_LABEL = re.compile(
    r"^(?:#{1,3}\s*)?(?:user|human|assistant|system|bot|gpt|instruction|input|response|用户|助手|问|答)\s*[:：]$", re.I
)
# Chinese modal particles that close a sentence ("…开始吧", "…对吗", "…好啊"): lacking only its 。, not cut.
_FINAL_PARTICLE = frozenset("吧呢吗嘛啊呀哦啦呗咯")
_CLAUSE = re.compile(r"[，,;；、]")
_BARE_NUMBER = re.compile(r"[ \t]*\d+[.)][ \t]*$")
_URL_END = re.compile(r"(?:https?://|www\.)\S+$|\b[\w-]+\.(?:com|org|net|io|ai|dev|cn|co|edu|gov)(?:/\S*)?$")
_SHORTCODE_END = re.compile(r"(?:^|\s):[a-z0-9_+-]+:$")  # ":thumbsup:", as chat apps write emojis
_EMOTICON = re.compile(r"(?:^|\s)(?:[:;=8][-']?[()DPpOo3/\\|\]\[]|<3|XD|xD|\^_\^|T_T)$")
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'’.-]*$")
_EN_WORD_STRING = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'’.-"  # what `_EN_WORD` runs through
# A subject pronoun right after a determiner and its noun opens a relative clause ("the way you [do it]",
# "the things we"), unlike "thank you", "for you", "the two of you".
_CONTACT_CLAUSE = re.compile(r"\b(?:the|a|an|this|these|those|any|every|each|some)\s+[a-z]+\s+(?:you|we|they)$")
_NEXT_STEP = re.compile(r"(?<!\bnow )\b(?:and|or|but) then$", re.I)
# A contracted "is" never ends a clause ("…that it's", "let's"); a possessive may ("at my aunt's").
_CONTRACTION_END = re.compile(r"(?:^|\s)(?:it|that|there|here|what|who|where|how|let|he|she)['’]s$", re.I)
_DEGREE_END = re.compile(r"\b(?:a|an)\s+(?:more|less|most|very)\s+[a-z]+(?:\s+(?:and|or)\s+[a-z]+)?$")
_WORDS = re.compile(r"[A-Za-z0-9]+")
_ALPHA_WORDS = re.compile(r"[A-Za-z]+")
_CJK = re.compile(r"[\u3400-\u9fff\uac00-\ud7a3\u3040-\u30ff]")
_SENT_END = re.compile(r"[.!?。！？…;；](?=[\s\"'”’」』）)\]*_]*(?:\s|$))|[。！？；]")
_LIST_NUMBER = re.compile(r"\s*(?:\d+|[a-zA-Z]|[ivxIVX]+)[.)]\s")
_EMPHASIS_END = re.compile(r"(\*{1,2}|_{1,2})[^*_\n]*\S\1\s*$")
_CLOSED_TAG = re.compile(r"`[^`\n]+`$|</[A-Za-z][\w:-]*>$|/>$|-->$")
_CODE_OPEN_END = re.compile(r"(?:[=+\-*/%&|^,.(\[{\\<]|\b(?:and|or|not|return|in|is|lambda|new)\b)$")
_OPERATOR_END = set("+=×÷")
_MATH_SPAN = re.compile(r"\$(?=\S)[^$\n]+(?<=\S)\$(?!\d)")  # TeX's inline math; "$5 (or $10" is money
_END_TOKEN = re.compile(r"</s>|<\|(?:endoftext|im_end|eot_id|end|eos)\|>|<(?:eos|eot|end|end_of_turn)>|\[EOS\]", re.I)


def _last_en_word(text: str) -> re.Match | None:
    """`_EN_WORD.search(text)` reading only the end of the text: a match runs to the end through word characters
    only, so it starts in the run of them that ends the text (found by `rstrip`, in C); the search to "$" from the
    start otherwise tries every position (quadratic on a long run of letters that does not end the text)."""
    body = text[:-1] if text.endswith("\n") else text  # ("$" matches before a last line break too)
    lo = len(body.rstrip(_EN_WORD_STRING))
    return _EN_WORD.search(text, lo) if lo < len(body) else None


# The patterns that end in "$" are tried at every position of a long line; these screens read its end first.
def _ends_in_emoticon(line: str) -> bool:
    """`_EMOTICON.search(line)`: a match is at most 4 characters (a space and 3) before a final line break."""
    return _EMOTICON.search(line, max(0, len(line) - 5)) is not None


def _ends_in_closed_tag(line: str) -> bool:
    """`_CLOSED_TAG.search(line)`: every branch ends in "`" or ">"."""
    return line.endswith(("`", ">", "`\n", ">\n")) and _CLOSED_TAG.search(line) is not None


def _is_tag(word: str) -> bool:
    return len(word) > 1 and word[0] == "#" and word[1].isalpha()


def _ends_in_tags(segment: str) -> bool:
    """Whether the text ends in a tweet's tags: two or more ("#applynow #spookyseason"), the last one perhaps split
    in two ("#company news"), not issue numbers ("#12 and #13 are fixed") nor a sentence after the tags."""
    words = segment.split()
    if len(words) < 2 or sum(map(_is_tag, words[-4:])) < 2:
        return False
    return _is_tag(words[-1]) or _is_tag(words[-2]) and len(words[-1]) <= (4 if _CJK.search(words[-1]) else 8)


_TITLE_WORD = r"[A-Z][\w'’-]*"
_TITLE_AFTER_COLON = re.compile(
    rf"[:：]\s*{_TITLE_WORD}(?:\s+(?:{_TITLE_WORD}|a|an|the|of|in|on|and|or|to|for|with|at|by|from)){{1,12}}"
    rf"\s+{_TITLE_WORD}\s*$"
)
"""A title in title case after a colon that ends the text: 3+ words, each capitalised but the small words."""
_NAMES_A_TITLE = re.compile(
    r"\b(?:guide|article|book|post|video|titled|called|named|chapter|paper|blog|course|recipe|podcast|episode|film|"
    r"movie|song|album|title|series|novel|story|website|page|tutorial|read)s?\b|指南|文章|书|视频|标题|教程|课程|博客",
    re.I)
_NO_TITLE_END = frozenset(("The", "Of", "That", "You", "Before", "To", "And", "A", "An", "In", "For", "With", "At",
                           "By", "From", "Or", "On", "Is", "Are", "Your", "Our", "Its", "This", "When", "If"))


def _ends_in_title(segment: str) -> bool:
    """Whether the text ends in a title it announces: title-case words after a colon, the words before the colon
    naming a title ("Check out our guide for more tips: How To Make The Perfect Pancake"), the last word one a
    title ends on (not "The", "You", "Before": "Note: The Results Show That The" is cut)."""
    title = _TITLE_AFTER_COLON.search(segment)
    return title is not None and segment.split()[-1] not in _NO_TITLE_END and \
        _NAMES_A_TITLE.search(segment, 0, title.start()) is not None


def _ends_in_emphasis(line: str) -> bool:
    """`_EMPHASIS_END.search(line)`: the closing "*" or "_" is followed by spaces only."""
    return line.rstrip().endswith(("*", "_")) and _EMPHASIS_END.search(line) is not None


def _ends_in_url(line: str) -> bool:
    """`_URL_END.search(line)`, tried only in the last run of non-space characters (before a final line
    break, where "$" also matches): a match holds no space and ends there."""
    body = line[:-1] if line.endswith("\n") else line
    if not body or body[-1].isspace():
        return False
    last = body.rsplit(None, 1)[-1]
    return _URL_END.search(line, len(body) - len(last)) is not None


def _is_emoji(ch: str) -> bool:
    return ord(ch) >= 0x1F000 or unicodedata.category(ch) == "So" or 0x2600 <= ord(ch) <= 0x27BF


def _ok(reason: str, details: dict) -> Finding:
    details["reason"] = reason
    return Finding(NAME, False, 0.0, f"Ends completely ({reason.replace('_', ' ')}).", [], details)


def _cut(start: int, end: int, reason: str, explanation: str, strength: float, details: dict) -> Finding:
    """A truncation finding; `strength` is the rule's own certainty (kept in details), the score the
    calibrated precision of the rule."""
    details["reason"] = reason
    details["strength"] = strength
    return Finding(NAME, True, calibrated(NAME, reason), explanation, [Span(start, end, reason.replace("_", " "))],
                   details)


def detect_truncation(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    finding = _judge(record, ctx)
    if not finding.flagged:
        return finding
    if record.stop_reason == "unknown" and (ends_in_loop(record, ctx) or runaway(record)):
        # No finish reason and a loop that runs to the end: cut off by a limit while looping
        # (`missing_eos` and `repetition`), not a turn the model ended mid-sentence.
        return _ok("looping_tail", {"reason": None})
    turn = turn_evidence(record, ctx)
    if turn is not None and finding.details["reason"] == "fragment":
        return _ok("made_up_turn", {"reason": None})  # "… Human: Who feeds him? AI Assistant": a role label
    if turn is not None and turn < record.output.rstrip().rfind("\n"):
        # The model ran on into a made-up turn (or printed an end token) before its last line: it did
        # not end its turn (`missing_eos`), and where that made-up text stops is not where its answer did.
        return _ok("made_up_turn", {"reason": None})
    if finding.details["reason"] not in ("empty_opening", "unclosed_code_block") and \
            detect_degenerate(record, ctx).flagged:
        return _ok("no_answer", {"reason": None})  # garbage or symbols: no answer to be cut (`degenerate`)
    return finding


def _rstrip_invisible(text: str) -> str:
    """The text without what ends it unseen: spaces, and format characters `str.strip` keeps (a zero-width space or
    joiner, a soft hyphen, a direction mark: Unicode's Cf) or an emoji's variation selector and keycap."""
    text = text.rstrip()
    if not text or text[-1].isascii():
        return text  # the common case: a visible ASCII character ends it
    end = len(text)
    while end:
        ch = text[end - 1]
        if not (ch.isspace() or ch in "\ufe0f\u20e3" or not ch.isascii() and unicodedata.category(ch) == "Cf"):
            break
        end -= 1
    return text[:end] if end < len(text) else text


def _without_escaped_breaks(text: str) -> str:
    """The text before a run of two or more line breaks printed as escapes ("…招安。\\n\\n"): the model wrote its
    line breaks as text. One escape may be the answer ("a newline is written as \\n")."""
    body, escapes = text, 0
    while body.endswith(("\\n", "\\r", "\\t")):
        body = body[:-2].rstrip()
        escapes += 1
    return body if escapes >= 2 and body else text


def _is_result(after: str) -> bool:
    """Whether the text after an equation's last " = " is a result (a value and its unit: at most 10 words or 15 CJK
    characters), not a sentence that goes on ("6 x 4 = 24 square meters, and then we divide the garden…")."""
    return len(_WORDS.findall(after)) <= 10 and len(_CJK.findall(after)) <= 15


_OPTION_LABEL = re.compile(r"[ \t]*(?:\(?[A-Ha-h1-9][).．、]|[A-Ha-h][.．、:：])")


_LETTER_OPTION = re.compile(r"[ \t]*\(?([A-Ha-h])[).．、:：]")


def _is_option(request: str, line_start: int) -> bool:
    """Whether the prompt's line at `line_start` is a lettered option: one of 3 or more lines in a row labeled by
    consecutive letters (A, B, C …). Numbered blanks to fill ("1. The best way is to") and the lines of a
    dialogue (A: / B:, or A: / B: / A:) are no options."""
    return line_start in _option_lines(request)


@lru_cache(maxsize=256)
def _option_lines(request: str) -> frozenset[int]:
    """The starts of the prompt's option lines (`_is_option`), each group read once per prompt."""
    found: set[int] = set()
    group: list[tuple[int, int]] = []  # (line start, letter) of the lettered lines in a row so far
    start = 0
    for line in (*request.split("\n"), ""):  # (an empty last line closes the last group)
        label = _LETTER_OPTION.match(line)
        letter = ord(label.group(1).upper()) if label else 0
        if not (label and group and letter == group[-1][1] + 1):
            if len(group) >= 3:
                found.update(pos for pos, _ in group)
            group = []
        if label:
            group.append((start, letter))
        start += len(line) + 1
    return frozenset(found)


def _quotes_line_end(segment: str, request: str, options_only: bool = False) -> bool:
    """Whether the segment's last 8-24 characters end a line of the user's turns that stands as a unit: an option
    ("(D)…比较困难"), or a paragraph followed by a blank line or nothing (with `options_only`: a lettered option
    among others, nothing else). An option quoted as given ends where the prompt ends it; a hard-wrapped line of a
    passage does not end a sentence. Chinese is compared without spaces too: "以及易于仍然然而" quotes the option
    "(C)以及   易于   仍然   然而"."""
    if _quoted_line_end(segment, request, options_only):
        return True
    tail = segment[-24:]
    return _CJK.search(tail) is not None and (" " in tail or " " in request or "\u3000" in request) and \
        _quoted_line_end(_SPACES.sub("", segment[-48:]), _spaceless(request), options_only)


_SPACES = re.compile(r"[ \t\u3000]+")


@lru_cache(maxsize=64)
def _spaceless(request: str) -> str:
    return _SPACES.sub("", request)


def _quoted_line_end(segment: str, request: str, options_only: bool) -> bool:
    tail = segment[-24:].strip()
    if len(tail) < 8:
        return False
    at = request.find(tail)
    while at >= 0:
        end = at + len(tail)
        if request[end:end + 1] in ("", "\n"):
            line_start = request.rfind("\n", 0, at) + 1
            next_nl = request.find("\n", end + 1)
            after = request[end + 1:next_nl if next_nl >= 0 else len(request)]  # the prompt's next line
            if options_only:
                unit = _is_option(request, line_start)
            else:
                unit = _OPTION_LABEL.match(request, line_start) or end == len(request) or not after.strip() or \
                    _OPTION_LABEL.match(after)
            if unit:
                return True
        at = request.find(tail, at + 1)
    return False


_EMPTY_FIELD = re.compile(r"[ \t]*[^\W\d_](?:[^\W\d_]|[ '-]){0,30}[:：][ \t]*")
"""A form field left empty: a short label of words ("Date Subscribed: ", "备注："), no number ("Day 2:", "第二天：")."""
_ANNOUNCES = re.compile(r"\b(?:here|following|below|these|steps|follows)\b|以下|如下|下面", re.I)
_TEMPLATE_ASKED = re.compile(r"template|form\b|fill[- ]in|blank|模板|表格|表单|填写", re.I)


def _empty_fields(text: str, line_start: int, request: str) -> int:
    """How many of the (up to 2) non-blank lines just before the last one are empty fields of a form the user asked
    for ("Date Cancelled: " to "design a template…"): a form left to fill in, not headings or announcements whose
    text never came ("Day 1: / Day 2:", "Pros: / Cons:")."""
    if not _TEMPLATE_ASKED.search(request):
        return 0
    lines = [line for line in text[max(0, line_start - 400):max(0, line_start - 1)].split("\n") if line.strip()]
    return sum(_EMPTY_FIELD.fullmatch(line) is not None and len(line.split()) <= 4 and not _ANNOUNCES.search(line)
               for line in lines[-2:])


def _dangling(segment: str) -> str | None:
    """The dangling function word at the end of a segment, if any."""
    stripped = segment.rstrip()
    if not stripped:
        return None
    last = stripped[-1]
    if "\u4e00" <= last <= "\u9fff":
        if stripped[-2:] in _DANGLING_ZH2 and len(stripped) > 2:
            return stripped[-2:]
        if stripped[-2:] in _COMPLETE_ZH or stripped[-3:] in _COMPLETE_ZH:
            return None
        return last if last in _DANGLING_ZH and len(stripped) > 1 else None
    m = _last_en_word(stripped)
    if m:
        word = m.group(0).lower().rstrip(".")
        if word in _DANGLING_EN and len(stripped) > len(word) and m.group(0) != "A":  # "vitamin A"
            before = stripped[:m.start()].split()
            if word in _COPULA and (not before or before[-1].lower().strip(",;:\"'") in _COPULA_OK
                                    or _WH_CLAUSE.search(" ".join(before[-5:]))):
                return None  # "...as it is", "what our projections were"
            if word in _SUBJECT and not (before and before[-1].islower() and before[-1] not in _SUBJECT_OK):
                return None  # "Act I, Scene I": a numeral; "so do I", "than we": complete; "… and we": cut
            if word in _MODAL and before and before[-1].lower().strip(",;:\"'") in _MODAL_OK:
                return None
            if word in ("for", "with", "from", "of", "at", "into", "through", "to") and \
                    _WH_STRANDED.search(" ".join([*before[-7:], word])) and not _main_clause_missing(segment):
                return None  # (not "If you know what you're looking for": the main clause never came)
            return word
        tail = stripped[-48:]  # the last few words, whole (a search to "$" reads the whole segment)
        if len(stripped) > 48:
            tail = tail[tail.find(" ") + 1:]
        if _NEXT_STEP.search(tail):
            return "then"  # "…and then": the next step never came (not "now and then")
        if _CONTACT_CLAUSE.search(tail):
            return word  # "…all the things we": a relative clause whose verb never came
        if _CONTRACTION_END.search(tail):
            return m.group(0)  # "let's", "that it's": the clause waits for its verb or complement
        if (degree := _DEGREE_END.search(tail)):
            return degree.group(0)  # "a more advanced": an adjective after "a more" lacks its noun
    return None


def _prose(line: str) -> bool:
    """Whether a line reads as prose: letters (or CJK) are at least half of its visible characters."""
    if line.isascii():  # counted by deleting bytes (C speed) instead of a test per character
        raw = line.encode()
        visible, letters = len(raw.translate(None, _ASCII_SPACES)), len(raw.translate(None, _ASCII_NON_LETTERS))
    else:
        visible_chars = [c for c in line if not c.isspace()]
        visible, letters = len(visible_chars), sum(c.isalpha() for c in visible_chars)
    return bool(visible) and letters * 2 >= visible


_ASCII_SPACES = bytes(b for b in range(128) if chr(b).isspace())
_ASCII_NON_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())


_IDENTIFIER = re.compile(r"[A-Za-z_]\w")


def _open_code(line: str) -> bool:
    """Whether a code line leaves its statement open: more brackets opened than closed, or it ends on
    an operator, a comma, a dot, a backslash or an opening bracket. Lines without an identifier (ASCII
    art such as ` > ^ <`) hold no statement."""
    code = line.rstrip()
    if not code or not _IDENTIFIER.search(code):
        return False
    opened = sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
    return opened > 0 or bool(_CODE_OPEN_END.search(code))


_OPEN_SINGLE = re.compile(r"(?:^|[\s(\[“\"])['‘](?=\w)")


def _cut_apostrophe(line: str) -> bool:
    """"Let'" / "don'": a word cut right after its apostrophe — not a plural possessive ("students'"),
    not a dropped g ("goin'"), not the end of a quote opened with ' or ‘."""
    if not line.endswith(("'", "’")) or len(line) < 2 or not line[-2].isalpha():
        return False
    body = line[:-1]
    word = _last_en_word(body)
    if word and word.group(0).lower().endswith(("s", "in")):
        return False
    return not _OPEN_SINGLE.search(body)


_ABBREVIATIONS = frozenset(("mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "inc", "ltd",
                            "co", "fig", "approx", "prof", "gen", "rev", "vol"))
_WORD_BEFORE_DOT = re.compile(r"(?:^|[^\w.])([A-Za-z]{1,6}(?:\.[A-Za-z]{1,6})*)$")


def _abbreviation(line: str, dot: int) -> bool:
    """Whether the period at `dot` ends an initial or a common abbreviation ("L.E. Starlighter", "Dr. Watson",
    "e.g. this"), not a sentence. (A sentence rarely ends on a capital letter alone: "…vitamin A." reads as one.)"""
    word = _WORD_BEFORE_DOT.search(line[max(0, dot - 16):dot])
    if word is None:
        return False
    token = word.group(1)
    return token.lower() in _ABBREVIATIONS or all(len(part) == 1 and part.isupper() for part in token.split("."))


# A list item that names its subject and stops before the verb ("* The function", "* 这个函数") after items that are
# sentences: a determiner and one noun ("4. The dog barks" is a sentence, "4. Your turn" an item of its own, and after
# a singular determiner a word in a single "s" is a verb: "4. This helps"); in Chinese, a demonstrative and up to
# three characters none of which says something of it ("这个菜很好吃" has its predicate, "该怎么办" asks).
_SUBJECT_ONLY = re.compile(r"(?:(?:The|These|Those)[ \t]+[a-z][\w-]*"
                           r"|(?:A|An|This|Each|Every)[ \t]+[a-z][\w-]*(?<![^s]s)"
                           r"|(?:这个|那个|这些|那些|每个|该)[^\W\d_很不是都也会可真太有在好怎如]{1,3})[ \t]*$")
_PIPELESS_DELIMITER = re.compile(r"^[ \t]*:?-{3,}:?(?:[ \t]*\|[ \t]*:?-{3,}:?)+[ \t]*$", re.M)


def _pipeless_row(text: str, last_nl: int, line: str) -> bool:
    """Whether the last line is a whole row of a table of three columns or more written without outer pipes
    ("Writing | Wrote a letter | …" under a "--- | --- | ---" line, as GitHub's tables allow): as many cells as the
    rows above it, its last cell no more than twice as long as the longest above it (a row cut inside its last cell
    has all its bars, and a cell that runs on into a paragraph is such a cut)."""
    bars = line.count("|")
    if bars < 2 or line.lstrip().startswith("|") or last_nl <= 0:
        return False
    delimiters = list(_PIPELESS_DELIMITER.finditer(text, 0, last_nl))
    if not delimiters:
        return False
    rows = text[delimiters[-1].end():last_nl].strip("\n").split("\n")  # this table's rows, above the last
    if not rows or any(row.count("|") != bars for row in rows):
        return False
    longest = max(len(row.rsplit("|", 1)[1].strip()) for row in rows)
    return len(line.rsplit("|", 1)[1].strip()) <= 2 * longest


def _record_row(text: str, last_nl: int, line: str) -> bool:
    """Whether the last line is a whole record of comma-separated fields under records of as many fields, as a
    user asks for ("main character, book, author, year", one book per line): two lines or more above it, none of
    them ending a sentence, each with the same number of ", " or "，" (2 or more) as the last, every last field short
    (a record whose last field runs on into a sentence is prose; one cut inside a short last field is not seen)."""
    comma = ", " if line.count(", ") >= 2 else "，"
    commas = line.count(comma)
    if commas < 2 or last_nl <= 0 or text[last_nl - 1:last_nl] == "\n":
        return False  # (a line after a blank line starts a paragraph of its own)
    start = text.rfind("\n\n", 0, last_nl) + 2 if "\n\n" in text[:last_nl] else 0
    rows = text[start:last_nl].strip("\n").split("\n")  # this paragraph's lines, above the last
    if len(rows) < 2 or any(row.count(comma) != commas or row.rstrip()[-1:] in _FINAL for row in rows):
        return False
    return all(_short_field(row.rsplit(comma, 1)[1]) for row in (*rows, line))


_FIELD = re.compile(
    r"[ \t]*(?:[-*+][ \t]+)?(?:\*\*|__)?[^\W\d_][^:：*_\n]{0,30}(?:\*\*|__)?[:：](?:\*\*|__)?[ \t]*(\S[^\n]*)")
"""A field line: a short label (bold or not), its colon and a value ("**Priority:** High", "Due Date: 2023-03-28")."""


def _field_run(text: str, last_nl: int, line: str) -> bool:
    """Whether the last line is the last field of a record's fields ("**Due Date:** 2023-03-28 / **Priority:** High /
    **Issue Type:** New Employee Onboarding"): it and the two non-blank lines above it are field lines, every value
    short and none ending a sentence (a field whose value runs on into sentences is prose: "- **Description**:
    Integration of digital technologies into sports" under descriptions that end with periods was cut)."""
    last = _FIELD.match(line)
    if last is None or last_nl <= 0:
        return False
    above = [row for row in text[max(0, last_nl - 400):last_nl].split("\n") if row.strip()][-2:]
    fields = [_FIELD.match(row) for row in above]
    if len(above) < 2 or None in fields:
        return False
    values = [m.group(1).rstrip() for m in (*fields, last)]  # type: ignore[union-attr]
    return all(_short_field(v) and v[-1] not in _FINAL for v in values) and _names_a_value(values[-1])


def _names_a_value(value: str) -> bool:
    """Whether a field's value names something ("New Employee Onboarding", "Sprint 4 of 2023", 人力资源部招聘与培训组)
    rather than opens a clause ("Ensure the new employee", "Employee completes onboarding before", 确保新员工能够): no
    article, auxiliary or modal, no function word last, no Chinese modal verb or dangling last character."""
    words = _WORDS.findall(value.lower())  # (with numbers: "Sprint 4 of 2023" ends on a number)
    if any(w in _CLAUSE_WORDS for w in words) or words and words[-1] in _OPEN_ENDS:
        return False
    return not _CJK_MODAL.search(value) and value[-1] not in _DANGLING_ZH


def _short_field(field: str) -> bool:
    """A record's field, not a sentence: four words or fewer ("1997", "J.R.R. Tolkien"), or 12 CJK characters."""
    return len(_WORDS.findall(field)) <= 4 and len(_CJK.findall(field)) <= 12


_ATTRIBUTION = re.compile(r"[\"”’'」』]?[ \t]*(?:[-–—―]{1,2}|——)[ \t]*[A-Z\u4e00-\u9fff《]")
_CJK_TITLE = re.compile(r"《[^》《\n]*》")  # (no "《" inside: a run of them must not cost its square)
_LOWER_WORDS = re.compile(r"(?<![A-Za-z'’.])[a-z]+\b")
_TITLE_SMALL = frozenset(("a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "from", "by", "with", "at",
                          "de", "la", "von", "van", "der"))


def _attribution(text: str, seg_start: int, segment: str) -> bool:
    """Whether the last segment names who said the quotation before it: '"…obstacle." - Christian D. Larson, Your
    Forces and How to Use Them', "“…”——鲁迅《故乡》" (a dash, then a name or title after a finished quotation; not a
    story going on: lower-case words other than a title's small ones, a "，" or "。", more than 8 Chinese characters
    outside a 《title》, 12 beside one)."""
    before = text[:seg_start].rstrip(" \t")
    if not segment or _ATTRIBUTION.match(segment) is None or not (before[-1:] in _CLOSED or before[-1:] in _FINAL) \
            or len(segment) > 200 or len(_WORDS.findall(segment)) > 12 or "，" in segment or "。" in segment or \
            len(_CJK.findall(_CJK_TITLE.sub("", segment))) > (12 if "《" in segment else 8):
        return False
    # A name or a title: its lower-case words are a title's small words ("Your Forces and How to Use Them"), not a
    # story going on ("— Then she turned away and walked").
    return all(w in _TITLE_SMALL for w in _LOWER_WORDS.findall(segment)) and \
        any(q in text[max(0, seg_start - 400):seg_start + 1] for q in "\"”」』")


_BOLD_LABEL = re.compile(r"(?m)^[ \t]*(?:[-*+][ \t]+|\d{1,3}[.)][ \t]+|#{1,6}[ \t]+)?(\*\*|__)[^*_\n]{1,80}\1")
"""A line opening with a closed bold label ("- **Partnership:**", "### 11. **Avoiding Bias:**"); literal-free, so it
is searched only in the 2,000 characters before a last line that opens one."""
_BOLD_LEAD = re.compile(r"^(?:[-*+][ \t]+|\d{1,3}[.)][ \t]+|>[ \t]*)")  # a bullet, a number, a quote mark


def _bold_line(line: str) -> bool:
    """Whether a line is one bold span ("**Therefore, … a<sub>n</sub> = 9n - 4**"): its closing "**" is markup,
    no operator."""
    body = _BOLD_LEAD.sub("", line, count=1)
    return len(body) > 4 and body[:2] in ("**", "__") and body.endswith(body[:2]) and body.count(body[:2]) == 2 and \
        body[-3] not in ":："  # ("**Step 2: Substitute x = 30 - y:**" heads what never came)


_SECTION = re.compile(r"[ \t]*[(\[（【]?(?:verse|chorus|pre-chorus|bridge|outro|intro|hook|refrain|主歌|副歌|桥段|尾声)"
                      r"[ \t]*\d{0,2}[ \t]*[)\]）】:：]", re.I)
"""A song's section label ("(Outro)", "Verse 3:", "【副歌】"); not "Chorus explained:" or "Introduction:"."""


def _verse(text: str, last_nl: int) -> bool:
    """Whether the text ends in verse: its last stanza (the lines after the last blank line) opens with a song's
    section label ("(Outro) As the decade closes…", "【尾声】" on its own line), or is two lines or more, most of them
    of at most 20 words or 40 CJK characters. Prose after a song ("…then explain the chords") ends in a paragraph:
    one long line."""
    gap = text.rfind("\n\n", 0, last_nl + 1)
    start = gap + 2 if gap >= 0 else 0
    if _SECTION.match(text, start) or _SECTION.match(text, last_nl + 1):
        return True
    lines = [line for line in text[start:].split("\n") if line.strip()]
    short = sum(len(line.split()) <= 20 and len(_CJK.findall(line)) <= 40 for line in lines)
    return len(lines) >= 2 and short * 3 >= len(lines) * 2


_STROKES = frozenset(" -=+|_/\\#*~.:<>^'`\"")  # (and box drawing, U+2500-U+257F)


def _drawn(line: str) -> bool:
    """Whether a line is part of a drawing or a border ("------+" closing an ASCII house): three characters or more,
    all strokes, so its "+" or "=" joins strokes, not terms ("🍌 + 🍊 =" is an equation of emoji)."""
    return len(line) >= 3 and all(c in _STROKES or "\u2500" <= c <= "\u257f" for c in line)


def _open_bold(line: str, text: str, line_start: int) -> bool:
    """Whether the last line opens a bold label and never closes it ("**Researcher's", "- **Monitoring and
    Evaluation:") where the lines before close theirs ("- **Partnership:** …"): a label cut before its closing "**"
    (six words or fewer, 12 CJK characters). Not a label and its short value ("**Answer: B", a closing "**"
    forgotten), "**kwargs", a blank to fill ("___"), nor a bold line in a text whose lines bold nothing."""
    if "**" not in line and "__" not in line:
        return False  # (most last lines reach here: no regex for them)
    body = _BOLD_LEAD.sub("", line, count=1)
    mark = body[:2]
    if mark not in ("**", "__") or not body[2:3] or body[2] in "*_" or body[2].isspace() or body[2].islower() or \
            body.count(mark) != 1:
        return False  # ("**kwargs", "___" a blank: a lower-case word or a third mark opens no label)
    colon = max(body.find(":"), body.find("："))
    value = body[colon + 1:].strip() if colon >= 0 else ""
    if value and len(value.split()) <= 3 and len(_CJK.findall(value)) <= 6 or len(body.split()) > 6 or \
            len(_CJK.findall(body)) > 12:
        return False  # a label and its short value ("**Answer: B"), or a bold sentence: its closing "**" forgotten
    return _BOLD_LABEL.search(text, max(0, line_start - 2000), line_start) is not None


def _punctuated_items(text: str, last_nl: int) -> bool:
    """Whether most of the (up to 3) list items before the last line end with sentence punctuation."""
    items = ended = 0
    pos = last_nl
    while pos > 0 and items < 3:
        start = text.rfind("\n", 0, pos) + 1
        line = text[start:pos].rstrip()
        pos = start - 1
        if not line.strip() or line.lstrip().startswith(("**", "__")):
            continue  # a bold label heads items ("**Cool Down (2 minutes)**"): it is none of them
        if not _LIST_ITEM.match(line):
            break
        items += 1
        core = line.rstrip("*_` \t\"'”’」』")  # a quotation's end counts by the period inside it
        ended += bool(core) and core[-1] in _FINAL  # "(I-10)" closes a note, not the item
    return items > 0 and ended * 2 > items


_ITEM_NUMBER = re.compile(r"[ \t]*(\d+)[.)][ \t]")
_LABELED_ITEM = re.compile(r"[ \t]*\d+[.)][ \t]+([^:：\n]{1,60})[:：][ \t]*(\S[^\n]*)")


def _label_without_text(text: str, line_start: int, line: str) -> bool:
    """"6. Neutron leakage" at the end, where the two items numbered just before it (5., 4.) each gave "Label: a
    sentence or more" and the last line is about as short as their labels: this item's text never came. A longer
    last item ("4. Drink plenty of water" after "1. Sleep: …") is an item of its own, complete."""
    number = _ITEM_NUMBER.match(line)
    if number is None or ":" in line or "：" in line or int(number.group(1)) < 3:
        return False
    label = line[number.end():].strip()
    longest = 0
    for previous in (int(number.group(1)) - 1, int(number.group(1)) - 2):
        lines = re.findall(rf"^[ \t]*{previous}[.)][ \t][^\n]*", text[:max(0, line_start - 1)], re.M)
        item = _LABELED_ITEM.fullmatch(lines[-1]) if lines else None  # the last such line: this list's item
        if item is None or len(item.group(2)) < 40:
            return False
        longest = max(longest, len(item.group(1).strip()))
    return 0 < len(label) < 1.5 * longest


def _open_triple_quote(text: str) -> int:
    """Where the code string that the text ends inside opens (`x = ` and three quotes, never closed), or -1:
    an odd number of triple quotes whose last one follows code on its line (an assignment, a call) or a
    code line."""
    for quote in ('"""', "'''"):
        if quote in text and text.count(quote) % 2:
            pos = text.rfind(quote)
            line_start = text.rfind("\n", 0, pos) + 1
            head = text[line_start:pos].rstrip()
            if head.count(quote[0]) % 2:
                continue  # '"result = ""' + '"': an empty string quoted in prose, the last quote closing the quotation
            prev = text[text.rfind("\n", 0, max(0, line_start - 1)) + 1:max(0, line_start - 1)]
            if head.endswith(("=", "(", ",", "\\")) or (not head and is_code_line(prev)):
                return pos
    return -1


def _stray_fence(text: str, start: int) -> bool:
    """Whether the fence at `start`, left open, is the closing fence of code that began without one: a bare
    fence (no language) after code lines, followed by nothing or only by prose lines whose last one ends a
    sentence."""
    line_end = text.find("\n", start)
    if text[start:line_end if line_end >= 0 else len(text)].strip().strip("`~"):
        return False
    before = [line for line in text[:start].split("\n")[-5:] if line.strip()]
    after = [line for line in text[line_end + 1:].split("\n") if line.strip()] if line_end >= 0 else []
    if len(before) < 2 or before[-1].rstrip().endswith((":", "：")) or not is_code_line(before[-1]):
        return False
    if not after:
        # The last line: it closes the code above it, two lines of code or a comment and code ("Update the
        # `__init__` method as follows:" above it opens a block; its name does not make it code)
        return is_code_line(before[-2]) or before[-2].lstrip().startswith(("# ", "// "))
    return is_code_line(before[-2]) and _finished_prose(after)


def _closed_by_model(text: str, blocks: list[tuple[int, int]]) -> bool:
    """Whether the block left open at the end (the last of `blocks`) is an artefact of pairing fences: the
    model's last fence is bare and nothing follows it but prose whose last line ends a sentence, and either
    that fence came after the open block's own (same-length fences read as nested, "```markdown … ```html …
    ```") or the pairs are out of phase (a block before holds the model's narration).
    Cut inside a block, an output stops on code or mid-sentence; one fence opened over a finished paragraph
    ("Run it and you will see:\n```\nHello, World!") stays a cut."""
    start = blocks[-1][0]
    line_start, line_end, _mark, rest = fence_lines(text)[-1]
    if line_start < start or rest.strip():
        return False
    after = [line for line in text[line_end + 1:].split("\n") if line.strip()]
    if not after:
        # (or the bare fence opened nothing: it doubles the fence that closed the block just before it)
        return line_start > start or len(blocks) >= 2 and not text[blocks[-2][1]:start].strip()
    if not _finished_prose(after):
        return False
    return line_start > start or _out_of_phase(text, blocks[:-1])


def _prose_after_open_fence(text: str, start: int) -> bool:
    """Whether the block opened at `start` and never closed holds code (or a table: two lines or more) and then
    ends in a paragraph of the model's own prose: after a blank line, unindented lines (16 characters or more),
    none of them code, a comment or a statement, the last one ending a sentence ("Remember to adjust the columns
    to your needs. Happy tracking!"). The model left out the closing fence and finished its answer. Cut inside its
    code, a block stops on code; an indented comment or docstring is no such paragraph, nor the text of a document
    or string written in the block (markdown, a config file's values, a heredoc, LaTeX with an environment still
    open, a docstring or template literal never closed, a letter in a bare fence)."""
    line_end = text.find("\n", start)
    if line_end < 0 or text[start:line_end].strip().strip("`~").lower() in _PROSE_BLOCKS:
        return False  # a document the model writes in the block ("```markdown"): its own paragraphs are prose
    body = text[line_end + 1:]
    gap = body.rfind("\n\n")
    if gap < 0 or "<<" in body or body.count("\\begin{") > body.count("\\end{") or body.count('"""') % 2 or \
            body.count("'''") % 2 or mask_inline_code(body).count("`") % 2:
        return False  # a heredoc, a LaTeX environment, a docstring or a template literal left open: still inside
    if sum(is_code_line(line) or line.lstrip().startswith("|") for line in body[:gap].split("\n")) < 2:
        return False  # no code or table before the paragraph: a letter, a story, a README in a bare fence
    lines = body[gap:].strip("\n").split("\n")
    if any(line[:1].isspace() or line.startswith(_COMMENT_STARTS) or line.rstrip().endswith((";", "{", "}"))
           for line in lines):
        return False  # indented, a comment, or a statement ('console.log("你好！");' holds CJK, so is no code line)
    return sum(len(line) for line in lines) >= 16 and _finished_prose(lines)


def _finished_prose_block(text: str, start: int) -> bool:
    """Whether the block opened at `start` and never closed is a document of three lines or more — markdown or
    text by its fence's name, or at most one line in ten of code — whose last sentence signs off ("… before
    creating the ticket. Thank you.", "希望对你有帮助。"): the model's closing words, the closing fence left out.
    A document that stops after any other finished paragraph may go on (a letter before its sign-off, a README)."""
    line_end = text.find("\n", start)
    if line_end < 0:
        return False
    lines = [line for line in text[line_end + 1:].split("\n") if line.strip()]
    if len(lines) < 3 or not _finished_prose(lines[-1:]):
        return False
    last_sentence = _AFTER_SENTENCE.split(lines[-1].strip().rstrip("。！？.!?"))[-1]
    if not _SIGN_OFF.fullmatch(last_sentence.strip("*_ ")):
        return False
    return text[start:line_end].strip().strip("`~").lower() in _TEXT_BLOCKS or \
        sum(map(is_code_line, lines)) * 10 <= len(lines)


_AFTER_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*")
_SIGN_OFF = re.compile(
    r"(?:thank you(?: (?:all|so much|very much))?|thanks(?: again)?|best(?: regards| wishes)?|(?:kind|warm|warmest|"
    r"kindest) regards|regards|cheers|sincerely|yours(?: truly| sincerely)?|good luck|all the best|take care|"
    r"hope (?:this|that|it) helps|enjoy|谢谢(?:大家|您|你)?|感谢(?:大家|您|你)?|祝(?:你|您|大家)[^，,。！？\n]{1,10}|"
    r"此致敬礼|"
    r"希望(?:这|以上内容)?(?:对(?:你|您)|能)有(?:所)?帮助)", re.I)
"""A sign-off that is a whole last sentence ("Thank you.", "Best wishes.", "祝大家周末愉快！"), not a sentence that
opens like one ("Thank you for taking the time …", "I hope this email finds you well.")."""
_TEXT_BLOCKS = frozenset(("markdown", "md", "text", "txt", "plaintext"))


_COMMENT_STARTS = ("#", "//", "/*", "--", "<!--", ";", "%")
_PROSE_BLOCKS = frozenset(("markdown", "md", "text", "txt", "plaintext", "latex", "tex", "rst", "html", "xml",
                           "prolog", "cobol", "inform7", "yaml", "yml", "toml", "ini", "cfg", "conf", "properties"))


def _finished_prose(lines: list[str]) -> bool:
    """Whether the lines are prose, none of them code (inline code quoted in a sentence, "`food_x`", is prose),
    the last one ending a sentence."""
    masked = [mask_inline_code(line) for line in lines]
    return all(_prose(line) and not is_code_line(line) for line in masked) and lines[-1].rstrip()[-1] in _FINAL


def _out_of_phase(text: str, blocks: list[tuple[int, int]]) -> bool:
    """Whether the closed `blocks` look paired out of phase: one of them holds the model's own narration, a
    prose line announcing what comes next ("And here's the output:"), which it writes outside its fences."""
    for a, b in blocks:
        for line in text[a:b].split("\n")[1:-1]:
            line = line.rstrip()
            if line[-1:] in (":", "：") and _prose(line) and not is_code_line(line):
                return True
    return False


def _cut_repeat(text: str, line: str, last_nl: int) -> bool:
    """Whether the last line is an earlier line of the text stopped short: the earlier one goes on from
    where this one ends, mid-phrase (a letter, digit, CJK character or another word next, not a comma or a
    period, so a refrain's first half is not a cut)."""
    body = line.strip(" \t*_#>-")
    if len(body) < 8 or (len(_WORDS.findall(body)) < 3 and len(_CJK.findall(body)) < 6):
        return False
    pos = text.find(line)
    while 0 <= pos < last_nl:
        nxt = text[pos + len(line):pos + len(line) + 2]
        if (pos == 0 or text[pos - 1] == "\n") and (nxt[:1].isalnum() or nxt[:1] == " " and nxt[1:2].strip()):
            return True
        pos = text.find(line, pos + 1)
    return False


_LAST_WORD = re.compile(r"(?<![A-Za-z'’-])[A-Za-z]{2,}$")
# What a word grows by when inflected or derived ("use" -> "used", "assist" -> "assistant"): a last word that
# is the stem of an earlier word may be a whole word; one that only an unrelated longer word begins with is cut.
_INFLECTION = re.compile(
    r"(?:s|es|e?d|ings?|e?rs?|e?st|i?ly|th|e?n|ness|ments?|al|ally|ity|ities|ions?|ations?|ics?|ical|ish|"
    r"i[sz](?:e|ed|es|ing)|ful|less|ous|ive|able|ible|ism|ists?|ians?|ance|ence|ants?|ents?|ship|hood|wards?|"
    r"like|y|ies|ier|iest|ure|age|e)"
)
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
"""Lower-cases ASCII only: `str.lower` may change a text's length ("İ" becomes two characters), and the
positions found in the lowered text index the original."""
_PROMPT_CHARS = 3000


def _ascii_lower(text: str) -> str:
    """`text.translate(_ASCII_LOWER)` where the callers read it the same (ASCII letters at the same
    positions): `str.lower`, unless it changes the length or makes a letter ASCII ("İ", the Kelvin sign);
    a translate table costs a dictionary lookup per character of a text that is not ASCII."""
    lowered = text.lower()
    if text.isascii() or len(lowered) == len(text) and "\u212a" not in text:
        return lowered
    return text.translate(_ASCII_LOWER)


def _word_starts(lowered: str, stem: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each word of `lowered` (lower-cased text) that begins with `stem`, in text order."""
    pos = lowered.find(stem)
    while pos >= 0:
        if pos == 0 or lowered[pos - 1] not in _LOWER:
            stop = pos + len(stem)
            while stop < len(lowered) and lowered[stop] in _LOWER:
                stop += 1
            yield pos, stop
        pos = lowered.find(stem, pos + len(stem))


def _occurs_whole(lowered: str, word: str) -> bool:
    return any(stop - start == len(word) for start, stop in _word_starts(lowered, word))


def _cut_word(record: GenerationRecord, text: str) -> str | None:
    """The last word when it is cut mid-word, as the text shows it: the word never occurs whole in the text
    or the prompt, but a longer word does begin with it and goes on with more than an ending ("…shoots th"
    beside "their", "Traits: Im" beside "imposing", "Velvet Under" beside "Underground"). Without a lexicon a
    cut word the text never spells whole ("…very smal"), or one that is a word itself ("…virtual assist"
    beside "assistant"), stays unseen."""
    m = _LAST_WORD.search(text, max(0, len(text) - 40))
    if not m or m.group(0).isupper():
        return None
    word = m.group(0).lower()
    # What the user wrote, not the rendered prompt: template tokens ("<|im_start|>") would spell words.
    context = text[max(0, m.start() - 3000):m.start()] + "\n" + request_text(record)[-_PROMPT_CHARS:]
    lowered = _ascii_lower(context)
    if word not in lowered or f" {word} " in lowered or f" {word}," in lowered or f" {word}." in lowered:
        return None  # no longer word begins with it, or it occurs whole (the common cases, found fast)
    longer = []
    for start, stop in _word_starts(lowered, word):
        if stop - start == len(word):
            return None  # the word occurs whole: it is a word
        longer.append(context[start + len(word):stop])
    for rest in longer:
        # Not an ending, not a word glued on ("textLink") or compounded ("dataset" beside "set").
        rest_lower = rest.translate(_ASCII_LOWER)
        if not (_INFLECTION.fullmatch(rest_lower) or rest[0].isupper() or _occurs_whole(lowered, rest_lower)):
            return m.group(0)
    return None


# A sentence that opens with a subordinate clause ("If …", "Although …", "In summary, while …").
_SUBORDINATE_OPEN = re.compile(
    r"^(?:(?:and|but|so|also|finally|however|then|now|still|yet|in (?:summary|conclusion|short)|overall|"
    r"to (?:summari[sz]e|sum up))\b,?\s+)?"
    r"(?:if|when|whenever|although|though|because|since|unless|until|once|whereas|while|whilst|even if|"
    r"even though|as long as|as soon as)\s",
    re.I,
)
# What a main clause after the subordinate one shows: a subject pronoun or determiner first, or a finite
# auxiliary, copula or modal somewhere ("…, you can order", "…, the match is cancelled").
_MAIN_CLAUSE = re.compile(
    r"^\s*(?:i|you|we|they|he|she|it|there|this|that|these|those|the|a|an|my|your|our|their|its|his|her|one|"
    r"some|many|most|all|each|every|no|[A-Z]\w*)\b|\b(?:am|is|are|was|were|be|been|has|have|had|do|does|did|"
    r"can|could|will|would|shall|should|may|might|must)\b"
)


def _main_clause_missing(segment: str) -> bool:
    """Whether the last sentence opens a subordinate clause and stops before its main clause came: no comma
    after the opener ("If you want answers that matter in a real conversation"), or none of the comma-separated
    parts after it reads as a clause ("In summary, while it is possible to run smaller, cheaper models")."""
    opener = _SUBORDINATE_OPEN.match(segment.lstrip("\"'“‘*_-–—> "))
    if not opener:
        return False
    parts = re.split(r"[,;:—–]", segment[opener.end():])
    return not any(_MAIN_CLAUSE.search(part) for part in parts[1:])


# A concluding sentence is opened and stops before it says anything: "In conclusion, a comprehensive".
_CONCLUSION = re.compile(
    r"^(?:in conclusion|in summary|to summari[sz]e|to sum up|overall|总之|总的来说|综上所述|总而言之)"
    r"\s*[,，:：]\s*",
    re.I,
)


def _judge(record: GenerationRecord, ctx: DetectorContext) -> Finding:
    cfg = ctx.config.truncation
    details: dict = {"reason": None}
    if record.stop_reason not in ("eos", "unknown"):
        return Finding(NAME, False, 0.0, f"Not judged: the generation ended by {record.stop_reason}.", [], details)
    full = record.output
    text = _rstrip_invisible(full)
    if text.endswith(("\\n", "\\r", "\\t")):
        text = _without_escaped_breaks(text)
    ended_by_token = False
    if text.endswith((">", "]")) and (token := SPECIAL_TOKEN.search(text, max(0, len(text) - 40))) and \
            token.end() == len(text):
        # A printed end token is `missing_eos`'s: judge the text before it.
        text = _rstrip_invisible(text[:token.start()])
        ended_by_token = bool(_END_TOKEN.fullmatch(token.group(0)))
    if text[-1:] == ")" and (marker := cut_marker(text)) >= 0:
        text = text[:marker].rstrip()  # the publisher's mark where it cut the output: judge the model's text
    end = len(text)
    if not text.strip():
        return _ok("empty", details)

    if "\ufffd" in text[-3:]:
        return _cut(end - 1, end, "cut_character", "The output ends in a cut multibyte character.", 1.0, details)
    last_nl = text.rfind("\n")
    core = text.rstrip("*_`~ \t") or text
    if (core[-1] in _FINAL or core[-1] in _CLOSED) and not (last_nl > 0 and _BARE_NUMBER.match(text, last_nl + 1)) and \
            not ("`" in text or "~" in text) and not (core[-1] in "'’" and _cut_apostrophe(core)):
        return _ok("punctuation", details)  # the common case, decided from the last characters
    if core[-1] == ":" and len(core) > 1 and "\u0531" <= core[-2] <= "\u0587":
        return _ok("punctuation", details)  # Armenian text ends its sentences with ":" for "։" (U+0589)
    blocks, open_block = fence_blocks(text)
    if open_block and _stray_fence(text, blocks[-1][0]):
        open_block = False  # code whose opening fence was never written, closed by this one; prose follows
        blocks = blocks[:-1]
    if open_block and (_closed_by_model(text, blocks) or _prose_after_open_fence(text, blocks[-1][0])
                       or _finished_prose_block(text, blocks[-1][0])):
        open_block = False  # the answer went on past its code and finished: a closing fence left out, no cut
        blocks = blocks[:-1]
    if open_block:
        start = blocks[-1][0]
        return _cut(start, end, "unclosed_code_block", "The output ends inside an unclosed code block.", 1.0, details)
    if blocks and blocks[-1][1] >= end:
        return _ok("code_block", details)
    string = _open_triple_quote(text)
    if string >= 0:
        return _cut(string, end, "unclosed_string", "The output stops inside a triple-quoted string of code.", 0.8,
                    details)
    if text.endswith(("-", "*", "_")) and (rule := _RULE.search(text)):
        text = text[:rule.start()].rstrip()  # a closing horizontal rule: judge the text before it
        end = len(text)
        if not text.strip():
            return _ok("rule", details)
        last_nl = text.rfind("\n")
        core = text.rstrip("*_`~ \t") or text
    if (core[-1] in _FINAL or core[-1] in _CLOSED) and not (last_nl > 0 and _BARE_NUMBER.match(text, last_nl + 1)):
        if core[-1] in "'’" and _cut_apostrophe(core[core.rfind("\n") + 1:]):
            return _cut(max(0, end - 20), end, "mid_word", "The output stops mid-word, at an apostrophe.", 0.9,
                        details)
        return _ok("punctuation", details)
    short_tail = text[-120:]
    opened = _OPENING_END.search(short_tail) if last_nl > 0 or not _BARE_NUMBER.fullmatch(text) else None
    if opened:
        tag = (opened.group("tag") or opened.group("cut") or "").lower()
        closed_later = opened.group("tag") and f"</{opened.group('tag')}" in short_tail[opened.end():]
        if not closed_later and tag not in _VOID and not opened.group(0).rstrip().endswith("/>"):
            start = end - len(short_tail) + opened.start()
            shown = opened.group(0).strip()[:40]
            return _cut(start, end, "empty_opening", f"The output ends on {shown!r} with nothing after it.",
                        1.0, details)
    if len(text.strip()) < cfg.min_output_chars:
        return _ok("short_answer", details)

    line_start = last_nl + 1
    line = text[line_start:]
    stripped_line = line.strip()
    if _ends_in_closed_tag(stripped_line):
        return _ok("closed_tag", details)
    if _ends_in_emoticon(stripped_line):
        return _ok("emoticon", details)  # "simply not enough :("
    table_line = stripped_line.startswith("|")
    prev_line = text[text.rfind("\n", 0, max(0, last_nl)) + 1:max(0, last_nl)].strip() if table_line else ""
    if table_line and _TABLE_ROW.match(line) and _TABLE_ROW.match(prev_line):
        return _ok("table_row", details)  # a whole row after a row, though its "|", "**" and "[…]" read as code
    if is_code_line(line) and not _bold_line(stripped_line):
        if _open_code(line):
            return _cut(line_start, end, "code_cut", "The output stops inside a code statement.", 0.8, details)
        return _ok("code_line", details)
    final = core[-1]
    if _EMPTY_FENCE.match(stripped_line):
        return _cut(line_start, end, "empty_code_block", "The output ends on an empty code block.", 0.8, details)
    if table_line:
        if not prev_line.startswith("|") and last_nl > 0 and any(c.isalnum() for c in stripped_line):
            # (a header names its columns: a row of pipes and spaces alone is ASCII art)
            # A table header and nothing after it: the table never came.
            return _cut(line_start, end, "table_header_only", "The output ends on a table header with no rows.",
                        0.8, details)
        if _TABLE_ROW.match(line):
            return _ok("table_row", details)
        if prev_line.startswith("|") and prev_line.endswith("|"):
            return _cut(line_start, end, "table_row_cut", "The output stops inside a table row, mid-cell.", 0.9,
                        details)
    if final in ":：" and _TURN_LABEL.match(stripped_line):
        return _ok("turn_marker", details)
    if final in ":：" and _ASKS_USER.search(stripped_line):
        return _ok("asks_user", details)  # "Choose an option:" in a game or quiz: the user's turn comes next
    if final in ":：" and _empty_fields(text, line_start, last_user_message(record)) >= 2 and \
            _EMPTY_FIELD.fullmatch(stripped_line) and not _ANNOUNCES.search(stripped_line):
        return _ok("form", details)  # "Date Cancelled: \n\nNotes:": a form whose fields are left to fill in
    if final == ":" and _SHORTCODE_END.search(stripped_line, max(0, len(stripped_line) - 40)):
        return _ok("emoji", details)  # ":relieved: :thumbsup:": the colon closes an emoji's name
    if final in ":：" and not _LIST_ITEM.match(line) and not _HEADING.match(line):
        # "Here are the steps:" and nothing after it: the announced content never came.
        return _cut(line_start, end, "dangling_colon", "The output ends with a colon that announces missing text.",
                    0.8, details)
    if _is_emoji(text[-1]) or _is_emoji(final):
        return _ok("emoji", details)
    if _ends_in_url(stripped_line):
        return _ok("url", details)

    # The last segment: text after the last sentence end in the last line (list numbering is no end).
    seg_start = line_start
    numbering = _LIST_NUMBER.match(line)
    for m in _SENT_END.finditer(line, numbering.end() if numbering else 0):
        if line[m.start()] == "." and _abbreviation(line, m.start()):
            continue  # "J.R.R. Tolkien", "Dr. Watson": a name goes on
        seg_start = line_start + m.end()
    segment = text[seg_start:].strip()
    seg_start = end - len(segment) if segment else seg_start
    # A paragraph: the line holds a substantial finished part before the unpunctuated segment.
    before = text[line_start + (numbering.end() if numbering else 0):seg_start]
    before_words, before_cjk = len(_WORDS.findall(before)), len(_CJK.findall(before))
    sentence_before = seg_start > line_start and (
        before_words >= 2 * cfg.min_tail_words
        or before_cjk + before_words * cfg.min_tail_cjk / max(1, cfg.min_tail_words) >= 2 * cfg.min_tail_cjk
    )
    users = "\n".join(user_turns(record))
    if _quotes_line_end(segment, users, options_only=True):
        return _ok("quoted", details)  # "A: …准备的": the option quoted as the prompt ends it, whatever its last word
    word = _dangling(segment)
    if word:
        details["dangling"] = word
        return _cut(seg_start, end, "dangling_word", f"The output stops on the dangling word {word!r}.", 1.0, details)
    if (word := _cut_word(record, text)) and _prose(line):
        details["cut_word"] = word
        return _cut(end - len(word), end, "mid_word", f"The output stops mid-word ({word!r}).", 0.8, details)
    if final in ",，、-–—(（[【“「『《" and len(segment) > 1 or final in _OPERATOR_END and not _drawn(stripped_line):
        return _cut(seg_start, end, "open_clause", f"The output stops on {final!r}, mid-sentence.", 0.9, details)
    bracketed = line[numbering.end():] if numbering else line  # "3)" numbers an item, closes nothing
    if "$" in bracketed:  # math holds half-open intervals: "$\\left(\\frac{13}{6}, \\frac{8}{3}\\right]$"
        bracketed = _MATH_SPAN.sub("", bracketed)
    for op, cl in _OPEN_CLOSE:
        if bracketed.count(op) > bracketed.count(cl):
            pos = line.rfind(op)
            inside = line[pos + 1:]
            if pos >= 0 and not any(c in _FINAL for c in inside) and any(c.isalnum() for c in inside):
                return _cut(line_start + pos, end, "unclosed_bracket", f"The output ends with an unclosed {op!r}.",
                            0.9, details)
    quoted = line.replace('"""', "   ")  # triple quotes named in prose open no quotation
    if _prose(line) and quoted.count('"') % 2 and not any(c in _FINAL for c in quoted[quoted.rfind('"'):]):
        pos = quoted.rfind('"')
        return _cut(line_start + pos, end, "unclosed_quote", "The output ends inside an unclosed quote.", 0.8,
                    details)
    if _TURN_LABEL.match(stripped_line.rstrip(":：") + ":"):
        return _ok("turn_marker", details)  # "### Instruction" cut before its colon: a made-up turn (missing_eos)
    if numbering and _label_without_text(text, line_start, line):
        return _cut(line_start, end, "empty_item", "The output ends on a list item's label; its text never came.",
                    0.8, details)
    if _MD_HEADING.match(line):
        # "#### 193", "## Conclusion" and nothing after: the announced section never came.
        return _cut(line_start, end, "empty_heading", "The output ends on a heading with nothing after it.", 0.8,
                    details)
    if _HEADING.match(line):
        return _ok("heading", details)
    if _ends_in_emphasis(line):
        return _ok("emphasis", details)  # "*smiles with a hint of mischief*", "**Good luck!**"
    if line.count("#") >= 2 and _ends_in_tags(segment):
        return _ok("hashtags", details)
    if _ends_in_title(segment):
        return _ok("title", details)  # "Check out our guide: How To Make The Perfect Pancake"
    if _CLOSING.match(segment.lstrip("*_ ")):
        return _ok("closing_phrase", details)
    if " = " in segment and _is_result(segment[segment.rfind(" = ") + 3:]):
        return _ok("formula", details)  # "1:00 PM Pacific Time - 8 hours = 9:00 AM, Asia/Taipei Time": a result line
    if _quotes_line_end(segment, users):
        return _ok("quoted", details)  # "答：(D)…比较困难", a paragraph of the prompt quoted as it ends

    if _pipeless_row(text, last_nl, line) or _record_row(text, last_nl, line) or _field_run(text, last_nl, line):
        return _ok("table_row", details)
    if _attribution(text, seg_start, segment):
        return _ok("attribution", details)  # '"Believe in yourself …" - Christian D. Larson, Your Forces and …'
    words = len(_WORDS.findall(segment))
    cjk = len(_CJK.findall(segment))
    details.update(tail_words=words, tail_cjk=cjk)
    long_enough = words >= cfg.long_tail_words or cjk >= cfg.long_tail_cjk
    # Mixed Chinese and English ("GitHub是一个全球性的平台"): a word weighs as much as a few characters.
    word_cjk = cfg.min_tail_cjk / max(1, cfg.min_tail_words)
    prose = words >= cfg.min_tail_words or cjk + words * word_cjk >= cfg.min_tail_cjk
    if item := _LIST_ITEM.match(line):
        # A list item is cut when it stops unpunctuated where the items before it end with a period
        # (enumerations "shoulder pads, gloves, pants" and titles end without one in lists that do so), and so is
        # one that named its subject there and stopped ("* The function").
        cut = (prose or _SUBJECT_ONLY.match(line, item.end()) is not None) and _punctuated_items(text, last_nl)
    else:
        cut = (words >= 2 * cfg.min_tail_words or cjk >= 2 * cfg.min_tail_cjk) and bool(_CLAUSE.search(segment)) \
            and bool(_SENT_END.search(text, max(0, end - _TAIL), seg_start))
    # A paragraph whose last sentence stops without an end is cut, and so is a long sentence that has
    # opened a further clause; a line on its own without a final period (a title, a poem line, a short
    # last sentence lacking its period) is complete.
    if ended_by_token:
        # The model printed its end-of-turn token right here: it meant to stop, so an unpunctuated last
        # sentence is a complete one lacking its period ("…without testing first</s>"); only the signs
        # above (a dangling word, a comma, an open bracket, quote or statement) show a cut.
        return _ok("end_token", details)
    if (long_enough or (prose and sentence_before) or cut) and cjk > words:
        # A Chinese sentence that stops unpunctuated is cut: Chinese answers end their paragraphs with 。, so
        # its absence is itself evidence (14 of 15 such flags were cuts in the labeled samples) — unless a
        # modal particle closes the sentence ("…我们开始吧").
        if segment[-1] in _FINAL_PARTICLE:
            return _ok("final_particle", details)
        if _verse(text, last_nl) and asks_for_song(last_user_message(record)):
            return _ok("song", details)  # a song's or poem's lines end without marks, its last line too
        return _cut(seg_start, end, "mid_sentence_cjk", "The output stops mid-sentence without final punctuation.",
                    0.7, details)
    if long_enough or (prose and sentence_before) or cut:
        # An English sentence that stops unpunctuated is often complete but for its period ("…will help
        # cultivate their imagination"), yet reading it as complete missed more cuts than it spared complete
        # sentences (recall 0.95 -> 0.87 in-sample, lower held out): it stays a cut (`mid_sentence`, scored
        # apart), named more surely where it opened a subordinate clause that never reached its main clause.
        if _main_clause_missing(segment):
            return _cut(seg_start, end, "main_clause_missing", "The output stops inside a subordinate clause, "
                        "before its main clause.", 0.8, details)
        if _verse(text, last_nl) and asks_for_song(last_user_message(record)):
            return _ok("song", details)  # a song's or poem's lines end without periods, its last line too
        return _cut(seg_start, end, "mid_sentence", "The output stops mid-sentence without final punctuation.", 0.7,
                    details)
    opener = _CONCLUSION.match(stripped_line.lstrip("*_ "))
    after = stripped_line.lstrip("*_ ")[opener.end():] if opener else ""
    if after and not _CLOSING.match(after) and (
        2 <= len(_ALPHA_WORDS.findall(after)) < cfg.min_tail_words and not _CJK.search(after)
        or 2 <= len(_CJK.findall(after)) < cfg.min_tail_cjk and not _WORDS.search(after)
    ):
        return _cut(line_start, end, "conclusion_cut", "The output stops a few words into its conclusion.", 0.8,
                    details)
    if _cut_repeat(text, line, last_nl) and not asks_for_song(last_user_message(record)):
        # (in the song or poem the user asked for, a refrain may come back shorter: "Another line of code")
        return _cut(line_start, end, "repeated_line_cut", "The last line stops short of the same line written "
                    "earlier.", 0.8, details)
    lead = segment.lstrip("\"'”’ ")
    if sentence_before and (len(_ALPHA_WORDS.findall(segment)) >= 2 or cjk or segment.lower() in _OPENERS) \
            and lead[:1] not in "#-–—(（[" and not segment.isupper():
        # "… at Harvard. She published", "… 现在，让我们来深入了解爵士乐的音乐特点。爵": a few words after a
        # finished sentence in the same paragraph, too short to be a sentence of their own (not a signature,
        # an attribution "- Albert Einstein", a hashtag or an all-caps tag).
        return _cut(seg_start, end, "fragment", "The output stops a few words into a new sentence.", 0.7, details)
    if _open_bold(stripped_line, text, line_start) and not (
            record.stop_reason == "unknown" and line.startswith(("**", "__")) and rewrites_itself(record, ctx)):
        # (a title opened on its own after answers rewritten again and again, no finish reason: the next version's,
        # cut in that loop, `repetition`'s and `missing_eos`'s)
        return _cut(line_start, end, "open_emphasis", "The output stops inside a bold span it opened.", 0.8, details)
    return _ok("list_item" if _LIST_ITEM.match(line) else "short_final_line", details)
