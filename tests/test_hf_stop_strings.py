"""The HF backend's stop-string check (only the newest tokens are looked at): it halts a row exactly where
the stop string completes, so the records equal those cut from a full generation, and transformers' own
`stop_strings` gives the same token ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalgen.backends.base import BackendSetup, GenerationSettings, Request, classify_stop
from evalgen.backends.hf import HFBackend

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
