"""Task scorers on realistic English and Chinese answers, right and wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalgen.errors import ConfigError, ProbeError
from evalgen.records import GenerationRecord
from evalgen.scorers import (
    SCORERS,
    ScorerOptions,
    chrf,
    extract_choice,
    extract_number,
    get_scorer,
    parse_chinese_number,
    score_task,
    scorer_options,
    sentence_bleu,
    task_correct,
    tokenize,
)

OPTS = ScorerOptions()


def record(output: str, scorer: str | None, reference: str | list[str] | None, **kw: object) -> GenerationRecord:
    fields: dict[str, object] = {
        "probe_id": "p1",
        "suite": "old_tasks",
        "sample": 0,
        "messages": [{"role": "user", "content": "q"}],
        "prompt_text": "q",
        "output": output,
        "output_raw": output,
        "output_token_ids": None,
        "stop_reason": "eos",
        "n_output_tokens": 5,
        "latency_s": 0.1,
        "reference": reference,
        "scorer": scorer,
    }
    fields.update(kw)
    return GenerationRecord(**fields)  # type: ignore[arg-type]


def correct(scorer: str, output: str, reference: str | list[str] | None) -> bool:
    return SCORERS[scorer](output, reference, OPTS).correct


# --- choice ---


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("答案是：B", "B"),
        ("答案是B。", "B"),
        ("选B。", "B"),
        ("我选择 D 选项", "D"),
        ("正确答案为（C）", "C"),
        ("I think both A and C are wrong; the answer is B", "B"),
        ("The answer is (B).", "B"),
        ("The correct answer is **D**.", "D"),
        ("Answer: C", "C"),
        ("B. Paris", "B"),
        ("B) Saturn", "B"),
        ("B", "B"),
        ("b", "B"),
        ("Saturn (B)", "B"),
        ("答案是B，因为选项C是错的", "B"),  # a later "option C" mention is not the answer
        ("Ｂ．巴黎", "B"),  # full-width
    ],
)
def test_extract_choice_reads_the_picked_option(text: str, label: str) -> None:
    assert extract_choice(text) == label


@pytest.mark.parametrize(
    "text",
    [
        "A dog is a mammal, so it is the one.",  # a capital that starts a sentence is no answer
        "I don't know.",
        "The answer is a bit tricky.",  # lower-case "a" after "answer is" is the article
        "",
    ],
)
def test_extract_choice_finds_nothing_in_answers_without_a_label(text: str) -> None:
    assert extract_choice(text) is None


def test_choice_scorer_with_digit_labels_and_a_reference_beyond_d() -> None:
    assert correct("choice", "答案是3", "3")
    assert not correct("choice", "答案是2", "3")
    assert correct("choice", "The answer is E.", "E")  # labels widen to the reference's


def test_choice_reference_must_be_a_label() -> None:
    with pytest.raises(ProbeError, match="option label"):
        correct("choice", "B", "Paris")


# --- numeric ---


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("小明还剩9个苹果。", 9),
        ("一百零五", 105),
        ("The total is 1,250 dollars", 1250),
        ("答案是十二。", 12),
        ("三点五", 3.5),
        ("两千", 2000),
        ("First 3 + 4 = 7, then 7 × 6 = 42. So the answer is 42.", 42),
        ("She spends $15.50 in total.", 15.5),
        ("The temperature is -5 degrees.", -5),
        ("He has 3/4 of the pie left.", 0.75),
        ("一样多，一共12个", 12),  # the word 一样 is not the number one
        ("中国面积约960万平方千米", 9_600_000),  # 千 of 千米 (km) is no number
        ("增长了百分之五十", 50),
        ("１２３", 123),  # full-width digits
    ],
)
def test_extract_number_takes_the_final_number(text: str, value: float) -> None:
    assert extract_number(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("一百零五", 105),
        ("一千零一十", 1010),
        ("一万五千", 15000),
        ("一亿二千万", 120_000_000),
        ("二零二四", 2024),
        ("三点一四", 3.14),
        ("零", 0),
    ],
)
def test_parse_chinese_number(text: str, value: float) -> None:
    assert parse_chinese_number(text) == pytest.approx(value)


def test_numeric_scorer_tolerance_and_negatives() -> None:
    assert correct("numeric", "The train travels 280 km.", "280")
    assert not correct("numeric", "It is about 0.33", "1/3")  # 1e-4 relative is tighter than that
    assert SCORERS["numeric"]("It is about 0.33", "1/3", ScorerOptions(numeric_rel_tol=0.02)).correct
    assert not correct("numeric", "The total is 1,251 dollars", "1250")
    assert not correct("numeric", "I cannot compute that.", "1250")
    assert correct("numeric", "小明还剩九个苹果", ["9", "nine"])


def test_numeric_reference_without_a_number_is_a_probe_error() -> None:
    with pytest.raises(ProbeError, match="holds no number"):
        correct("numeric", "9", "nine")


# --- exact / contains / regex ---


def test_exact_ignores_case_whitespace_and_end_punctuation() -> None:
    assert correct("exact", "  Paris. ", "paris")
    assert correct("exact", "巴黎。", "巴黎")
    assert not correct("exact", "It is Paris.", "Paris")


def test_contains_respects_word_boundaries_and_lists() -> None:
    assert correct("contains", "The capital of France is Paris.", "Paris")
    assert correct("contains", "法国的首都是巴黎。", ["Paris", "巴黎"])
    assert not correct("contains", "I like to concatenate strings.", "cat")
    assert not correct("contains", "The capital is Lyon.", ["Paris", "巴黎"])


def test_regex_scorer_and_a_broken_pattern() -> None:
    ref = "(?<![A-Za-z])Au(?![a-z])"
    assert correct("regex", "The symbol for gold is Au.", ref)
    assert not correct(
        "regex", "The symbol for gold is Ag (silver is Au-like? no, Aug).", "(?<![A-Za-z])Au(?![A-Za-z-])"
    )
    with pytest.raises(ProbeError, match="does not compile"):
        correct("regex", "x", "([unclosed")


# --- bleu / chrf ---


def test_tokenize_splits_chinese_by_character_and_english_by_word() -> None:
    assert tokenize("I don't like 中文abc, ok?") == ["I", "don't", "like", "中", "文", "abc", ",", "ok", "?"]


def test_bleu_exact_translation_is_one_and_unrelated_is_low() -> None:
    ref = "I get up at seven o'clock every morning."
    assert sentence_bleu(ref, [ref]) == pytest.approx(1.0)
    assert sentence_bleu("The stock market fell sharply today.", [ref]) < 0.1
    close = sentence_bleu("I get up at seven every morning.", [ref])
    assert 0.3 < close < 1.0
    assert sentence_bleu("我每天早上七点起床。", ["我每天早上七点起床。"]) == pytest.approx(1.0)
    assert sentence_bleu("", [ref]) == 0.0


def test_bleu_scorer_takes_the_best_of_several_references() -> None:
    refs = ["My phone is out of battery.", "My phone's battery is dead.", "My phone has run out of battery."]
    assert correct("bleu", "My phone's battery is dead.", refs)
    assert not correct("bleu", "I like green apples.", refs)


def test_chrf_against_a_hand_computed_case() -> None:
    # "ab" vs "abc": 1-grams P=1, R=2/3; 2-grams P=1, R=1/2; no 3-grams in the hypothesis.
    # P=1, R=7/12, F2 = 5·P·R / (4·P + R) = 7/11.
    assert chrf("ab", ["abc"]) == pytest.approx(7 / 11)
    assert chrf("the cat sat", ["the cat sat"]) == pytest.approx(1.0)
    assert chrf("xyz", ["abc"]) == 0.0
    assert correct("chrf", "I get up at seven every morning.", "I get up at seven o'clock every morning.")
    assert correct("chrf", "他每天早上七点钟起床。", "他每天早上七点起床。")
    assert not correct("chrf", "今天天气很好。", "他每天早上七点起床。")


# --- json ---


def test_json_scorer_accepts_fenced_json_and_checks_required_keys() -> None:
    fenced = 'Here you go:\n```json\n{"title": "1984", "author": "George Orwell", "year": 1949}\n```'
    keys = ["title", "author", "year"]
    assert correct("json", fenced, keys)
    assert correct("json", '{"name": "Maria", "age": 34, "city": "Lisbon"}', ["name", "age", "city"])
    partial = SCORERS["json"]('{"title": "1984"}', keys, OPTS)
    assert not partial.correct and partial.score == pytest.approx(1 / 3)
    assert not correct("json", "{'title': '1984'}", keys)  # Python dict syntax is not JSON
    assert not correct("json", '```json\n{"title": "1984", "author": ', keys)  # cut off
    assert not correct("json", 'The JSON is {"title": "1984"} as asked.', None)  # buried in prose
    assert correct("json", "[1, 2, 3]", None)


# --- registry and the record-level API ---


def test_unknown_scorer_names_valid_ones_and_suggests() -> None:
    with pytest.raises(ProbeError) as info:
        get_scorer("numerc")
    message = str(info.value)
    assert "'numeric'" in message and "did you mean" in message and "exact, contains" in message
    with pytest.raises(ProbeError, match="probe old_tasks/p1"):
        task_correct(record("B", "multiple_choice", "B"))


def test_score_task_finding_and_task_correct() -> None:
    finding = score_task(record("小明还剩9个苹果。", "numeric", "9"))
    assert finding is not None
    assert finding.detector == "task" and not finding.flagged and finding.score == 0.0
    assert finding.details == {"correct": True, "score": 1.0, "extracted": "9"}
    wrong = score_task(record("I think it is C.", "choice", "B"))
    assert wrong is not None and wrong.flagged and wrong.details["extracted"] is None
    assert task_correct(record("The answer is (C).", "choice", "C")) is True
    assert task_correct(record("hello", None, None)) is None
    assert task_correct(record("", "numeric", "9", stop_reason="error")) is None  # backend failure
    with pytest.raises(ProbeError, match="needs a reference"):
        task_correct(record("9", "numeric", None))


def test_scorer_options_validation() -> None:
    assert scorer_options({"bleu_threshold": 0.5}).bleu_threshold == 0.5
    assert scorer_options(None) == ScorerOptions()
    with pytest.raises(ConfigError, match="did you mean 'bleu_threshold'"):
        scorer_options({"bleu_treshold": 0.5})
    with pytest.raises(ConfigError, match="non-negative number"):
        scorer_options({"chrf_threshold": "high"})


def test_every_builtin_reference_scores_itself_correct() -> None:
    """A probe whose own reference fails its scorer can never be passed: catch that in the data."""
    probes = Path(__file__).resolve().parents[1] / "probes"
    checked = 0
    for path in sorted(probes.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            probe = json.loads(line)
            if probe.get("scorer") in (None, "regex", "json"):
                continue
            ref = probe["reference"]
            answer = ref if isinstance(ref, str) else ref[-1]
            assert correct(probe["scorer"], answer, ref), (path.name, probe["id"])
            checked += 1
    if checked == 0:
        pytest.skip("no built-in probes with references")


# --- robustness: no model output may crash a scorer ---

_MESSY = st.text(
    alphabet=st.sampled_from(
        list('0123456789.,/-−+ 万亿千百十点零〇一二两三四五六七八九个答案是选ABCDabcd()（）:：*\n`{}"[]')
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(text=_MESSY)
def test_scorers_never_raise_on_messy_output(text: str) -> None:
    value = extract_number(text)
    assert value is None or isinstance(value, float)
    assert extract_choice(text) in (None, "A", "B", "C", "D")
    for name, ref in SAMPLE_REFERENCES.items():
        result = SCORERS[name](text, ref, OPTS)
        assert 0.0 <= result.score <= 1.0


SAMPLE_REFERENCES: dict[str, str | list[str]] = {
    "exact": "42",
    "contains": ["B", "二"],
    "regex": r"\d+",
    "choice": "B",
    "numeric": "1,250",
    "bleu": "答案是B",
    "chrf": "答案是B",
    "json": ["a"],
}
