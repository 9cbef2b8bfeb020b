"""Stop reasons come from the token ids: end ids, stop strings, the limit, early exit."""

from hypothesis import given, settings
from hypothesis import strategies as st

from evalgen.backends.base import classify_stop, loop_period

END = {9: "</s>", 8: "<|im_end|>"}
PAD = 0
VOCAB = {1: "a", 2: "b", 3: "#", 4: "H", 5: ":", 8: "<|im_end|>", 9: "</s>", 0: "<pad>"}


def decode(ids, skip_special):
    return "".join(VOCAB[i] for i in ids if not (skip_special and i in (0, 8, 9)))


def test_eos_records_which_end_token_and_drops_padding():
    c = classify_stop(0, [1, 2, 8, 0, 0], END, [], 5, decode)
    assert (c.stop_reason, c.stop_detail, c.token_ids, c.output, c.output_raw) == ("eos", "<|im_end|>", [1, 2, 8],
                                                                                     "ab", "ab")


def test_length_when_no_end_and_no_stop_string():
    c = classify_stop(0, [1, 2, 1, 2], END, ["#H:"], 4, decode)
    assert (c.stop_reason, c.stop_detail, c.token_ids) == ("length", "max_new_tokens=4", [1, 2, 1, 2])


def test_stop_string_wins_even_when_padding_equals_eos():
    # The row stopped at "#H:" and was padded with the EOS id: that EOS was never generated.
    c = classify_stop(0, [1, 3, 4, 5, 9, 9], END, ["#H:"], 6, decode)
    assert (c.stop_reason, c.stop_detail, c.token_ids, c.output) == ("stop_string", "#H:", [1, 3, 4, 5], "a#H:")


def test_loop_when_early_exit_cut_it():
    c = classify_stop(0, [1, 2, 1, 2], END, [], 10, decode, looped=True)
    assert (c.stop_reason, c.stop_detail) == ("loop", None)


def test_printed_end_token_text_is_not_an_eos():
    vocab_text = {**VOCAB, 6: "</", 7: "s>"}
    c = classify_stop(0, [1, 6, 7, 2], END, [], 4, lambda ids, s: "".join(vocab_text[i] for i in ids))
    assert c.stop_reason == "length" and "</s>" in c.output


def test_loop_period_is_conservative():
    assert loop_period([5, 6, 7] * 20, min_repeats=12, min_tokens=30, max_period=10) == 3
    assert loop_period([1] * 10 + [5, 6, 7] * 5, min_repeats=12, min_tokens=30, max_period=10) is None
    assert loop_period(list(range(100)), min_repeats=3, min_tokens=10, max_period=20) is None


def plain_loop_period(ids: list[int], min_repeats: int, min_tokens: int, max_period: int) -> int | None:
    """loop_period's definition: the first period whose tail of max(p × repeats, min_tokens) ids is periodic."""
    for period in range(1, max_period + 1):
        need = max(period * min_repeats, min_tokens)
        if need > len(ids):
            return None
        tail = ids[len(ids) - need:]
        if tail[period:] == tail[:-period]:
            return period
    return None


units = st.tuples(st.lists(st.integers(0, 3), min_size=1, max_size=9), st.integers(1, 14))
loopy_ids = st.lists(units, max_size=6).map(lambda parts: [i for unit, copies in parts for i in unit * copies])


@settings(max_examples=500, deadline=None)
@given(loopy_ids, st.integers(1, 5), st.integers(0, 40), st.integers(1, 12))
def test_loop_period_skips_only_periods_that_cannot_fire(ids: list[int], repeats: int, min_tokens: int,
                                                          max_period: int) -> None:
    assert loop_period(ids, repeats, min_tokens, max_period) == plain_loop_period(ids, repeats, min_tokens, max_period)
