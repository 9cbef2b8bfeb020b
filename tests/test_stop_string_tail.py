"""`StopStringTail` step by step on a made-up vocabulary, against the plain rule: a row is done from the step at
which a stop string first appears in its generated text. Most steps take the fast path (every newest token
already known not to complete a stop string: the flags of the step before are returned), so a fast path that
skips a row it should look at, or forgets a row it stopped, fails here."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evalgen.backends.hf import StopStringTail

PROMPT_WIDTH = 3
ALPHABET = "ab<|> "  # a stop string ending in a space is checked every step


def criterion_flags(criterion: StopStringTail, prompt_token: int, rows: list[list[int]]) -> list[list[bool]]:
    """The criterion's flags after each generated column, called as `generate` calls it."""
    import torch

    return [criterion(torch.tensor([[prompt_token] * PROMPT_WIDTH + row[:n] for row in rows]), None).tolist()
            for n in range(1, len(rows[0]) + 1)]


def plain_flags(rows: list[list[int]], vocabulary: list[str], stops: list[str]) -> list[list[bool]]:
    def text(ids: list[int]) -> str:
        return "".join(vocabulary[t] for t in ids)

    return [[any(s in text(row[:n]) for s in stops) for row in rows] for n in range(1, len(rows[0]) + 1)]


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_flags_follow_the_plain_rule_over_batches_that_share_what_they_learned(data) -> None:
    vocabulary = data.draw(st.lists(st.text(ALPHABET, min_size=1, max_size=3), min_size=2, max_size=8))
    prompt_token = len(vocabulary)  # never generated, and never to be read
    stops = data.draw(st.lists(st.text(ALPHABET, min_size=1, max_size=4), min_size=1, max_size=2))

    def decode(ids: list[int], skip_special: bool) -> str:
        assert prompt_token not in ids, "the prompt was decoded"
        return "".join(vocabulary[t] for t in ids)

    may_end: dict[int, bool] = {}  # what the backend keeps from one batch to the next
    cleared: set[int] | None = set() if data.draw(st.booleans()) else None  # kept beside it, or rebuilt per batch
    for _ in range(3):
        steps = data.draw(st.integers(1, 12))
        rows = data.draw(st.lists(st.lists(st.integers(0, len(vocabulary) - 1), min_size=steps, max_size=steps),
                                  min_size=1, max_size=4))
        criterion = StopStringTail(stops, PROMPT_WIDTH, decode, may_end, cleared)
        assert criterion_flags(criterion, prompt_token, rows) == plain_flags(rows, vocabulary, stops)
