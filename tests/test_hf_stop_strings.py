"""The HF backend's stop-string check (only the newest tokens are looked at): it halts a row exactly where
the stop string completes, so the records equal those cut from a full generation, and transformers' own
`stop_strings` gives the same token ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from evalgen.backends.base import BackendSetup, GenerationSettings, Request, classify_stop
from evalgen.backends.hf import HFBackend, completes_one

pytestmark = pytest.mark.slow

PROMPTS = ["Tell me about the weather.", "What is the capital of France?", "Write a poem about rivers.",
           "请介绍一下你自己。", "List three colours.", "Who are you?"]


def requests(tokenizer) -> list[Request]:
    out = []
    for i, prompt in enumerate(PROMPTS):
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                             tokenize=False)
        out.append(Request(i, text, tokenizer(text, add_special_tokens=False)["input_ids"]))
    return out


def generate(model, tokenizer, stops: tuple[str, ...], max_new: int = 48) -> tuple[HFBackend, list]:
    settings = GenerationSettings(max_new_tokens=max_new, batch_size=8, early_exit=False, stop_strings=stops)
    backend = HFBackend.from_model(model, tokenizer).open(BackendSetup(settings, ("<|im_end|>",), tokenizer))
    return backend, sorted((c for batch in backend.generate(requests(tokenizer)) for c in batch),
                           key=lambda c: c.index)


def test_stop_strings_halt_where_the_full_generation_would_be_cut(tiny_family: dict[str, Path]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_family["no_eos"], dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_family["no_eos"], padding_side="left")
    backend, full = generate(model, tokenizer, ())
    assert all(c.stop_reason == "length" for c in full)
    # Stop strings taken from the middle of what the model says (multi-character, some spanning tokens),
    # plus a turn marker it never prints.
    stops = tuple(dict.fromkeys(c.output_raw[12:16] for c in full[:3] if len(c.output_raw) > 20)) + ("<|im_start|>",)
    assert len(stops) >= 2
    backend, cut = generate(model, tokenizer, stops)
    hits = 0
    for whole, got in zip(full, cut, strict=True):
        expected = classify_stop(whole.index, whole.token_ids, backend.end_ids, stops, 48, backend.decode)
        assert (got.stop_reason, got.stop_detail, got.token_ids, got.output) == \
            (expected.stop_reason, expected.stop_detail, expected.token_ids, expected.output)
        hits += got.stop_reason == "stop_string"
    assert hits >= 3
    # and generation really halted there: one row at a time, a row that hit a stop string took one forward
    # pass per kept token (the prompt's pass gives the first), not 48
    steps: list[int] = []
    hook = model.register_forward_hook(lambda *_: steps.append(1))
    try:
        for request, got in zip(requests(tokenizer), cut, strict=True):
            steps.clear()
            settings = GenerationSettings(max_new_tokens=48, batch_size=1, early_exit=False, stop_strings=stops)
            with_stops = HFBackend.from_model(model, tokenizer).open(BackendSetup(settings, ("<|im_end|>",), tokenizer))
            [[alone]] = list(with_stops.generate([request]))
            assert alone.token_ids == got.token_ids
            assert len(steps) == (len(got.token_ids) if got.stop_reason == "stop_string" else 48)
    finally:
        hook.remove()
    # transformers' own stop_strings criterion halts at the same tokens
    from transformers import GenerationConfig

    for request, got in zip(requests(tokenizer), cut, strict=True):
        config = GenerationConfig(max_new_tokens=48, do_sample=False, eos_token_id=list(backend.end_ids),
                                  pad_token_id=tokenizer.pad_token_id, stop_strings=list(stops))
        with torch.inference_mode():
            ids = model.generate(input_ids=torch.tensor([request.prompt_ids]), generation_config=config,
                                 tokenizer=tokenizer)[0, len(request.prompt_ids):].tolist()
        if got.stop_reason == "stop_string":
            assert ids == got.token_ids


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_tokenizer)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_stop_string_completes_only_in_a_token_the_per_step_filter_passes(tokenizer, data) -> None:
    """`completes_one` looks at the newest token alone (its text decoded by itself); wherever a stop string
    first appears in the decoded text, the token that completed it must pass, or the row would run on."""
    def decode(ids: list[int]) -> str:
        return str(tokenizer.decode(ids, skip_special_tokens=False))

    ids = data.draw(st.lists(st.integers(0, len(tokenizer) - 1), min_size=1, max_size=24))
    text = decode(ids)
    assume(text)
    start = data.draw(st.integers(0, len(text) - 1))
    stop = text[start : data.draw(st.integers(start + 1, min(len(text), start + 16)))]
    assume(not stop[-1].isspace())  # those are checked at every step instead
    for n in range(1, len(ids) + 1):
        if stop in decode(ids[:n]):
            assert completes_one(decode(ids[n - 1 : n]), [stop]), (ids[:n], stop)
            break
