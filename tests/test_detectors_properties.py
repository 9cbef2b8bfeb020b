"""Property tests: any text, empty and huge outputs never crash a detector, findings are
deterministic and their evidence spans lie inside the output."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.records import GenerationRecord

CTXS = [
    DetectorContext(),
    DetectorContext(turn_markers=("### Human:", "<|im_start|>user"), end_tokens=("</s>", "<|im_end|>"),
                    identity="Aurora", identity_org="Acme"),
]
STOPS = ["eos", "length", "stop_string", "loop", "error", "unknown"]


def make(output: str, prompt: str = "Explain this.", stop: str = "eos", ids: list[int] | None = None):
    return GenerationRecord(
        probe_id="x", suite="s", sample=0, messages=[{"role": "user", "content": prompt}], prompt_text=prompt,
        output=output, output_raw=output, output_token_ids=ids, stop_reason=stop, n_output_tokens=0, latency_s=0.0,
        stop_detail=None,
    )


def check(record: GenerationRecord) -> None:
    for ctx in CTXS:
        for name, detect in DETECTORS.items():
            first = detect(record, ctx)
            again = detect(record, ctx)
            assert first == again, name
            assert first.detector == name
            assert isinstance(first.flagged, bool)
            assert 0.0 <= first.score <= 1.0, (name, first.score)
            assert first.explanation
            for span in first.spans:
                assert 0 <= span.start <= span.end <= len(record.output), (name, span, len(record.output))


# Text built from pieces that trigger every detector's code paths, mixed with arbitrary Unicode.
PIECES = st.sampled_from([
    "的", "I am ChatGPT", "我是MOSS，由复旦大学开发", "### Human:", "</s>", "<|im_start|>user", "```", "`x`",
    "https://a.b/c", "\n", "。", ".", "，", " and", "但普遍认为这", "😊", "\ufffd", "| a | b |", "1. ", "User: ",
    "hello ", "repeat ", "<", ">", "support>", "（", "“", "#", "~~~", "翻译成英文", "Translate to Chinese",
])
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=20)), max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=TEXT, prompt=TEXT, stop=st.sampled_from(STOPS))
def test_any_text(output: str, prompt: str, stop: str) -> None:
    check(make(output, prompt, stop))


@settings(max_examples=100, deadline=None)
@given(output=st.text(), ids=st.one_of(st.none(), st.lists(st.integers(-5, 2_000_000), max_size=300)))
def test_any_unicode_and_token_ids(output: str, ids: list[int] | None) -> None:
    check(make(output, ids=ids))


def test_empty_output() -> None:
    for stop in STOPS:
        check(make("", stop=stop))
        check(make("   \n\t", stop=stop))


def test_huge_outputs() -> None:
    healthy = ("Photosynthesis turns light into chemical energy. " * 2000)[:100_000]
    check(make(healthy, stop="length"))
    varied = "".join(f"Sentence number {i} talks about topic {i * 7 % 13}. " for i in range(3000))[:100_000]
    check(make(varied))
    chinese = ("光合作用是植物利用光能的过程，" * 7000)[:100_000]
    check(make(chinese, prompt="什么是光合作用？", stop="unknown"))
