"""Every named template renders the exact text its format prescribes, with its turn markers and end tokens."""

import pytest

from evalgen.errors import TemplateError
from evalgen.templates import TEMPLATES, bind_template, get_template, split_turns


class PlainTokenizer:
    """Just what templates read from a tokenizer; `adds_bos` mimics Llama-style tokenizers."""

    def __init__(self, adds_bos: bool = True) -> None:
        self.bos_token, self.eos_token, self.bos_token_id = "<s>", "</s>", 1
        self.adds_bos = adds_bos
        self.chat_template = None

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": ([1] if self.adds_bos and add_special_tokens else []) + [5]}


SYSTEM = {"role": "system", "content": "You are Aurora."}
Q1 = {"role": "user", "content": "Hi"}
A1 = {"role": "assistant", "content": "Hello!"}
Q2 = {"role": "user", "content": "你是谁？"}

EXPECTED = {
    "alpaca": (
        "<s>You are Aurora.\n\n### Instruction:\nHi\n\n### Response:\nHello!</s>\n\n"
        "### Instruction:\n你是谁？\n\n### Response:"
    ),
    "vicuna": (
        "<s>You are Aurora. USER: Hi ASSISTANT: Hello!</s>USER: 你是谁？ ASSISTANT:"
    ),
    "llama2": "<s>[INST] <<SYS>>\nYou are Aurora.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 你是谁？ [/INST]",
    "chatml": (
        "<s><|im_start|>system\nYou are Aurora.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        "Hello!<|im_end|>\n<|im_start|>user\n你是谁？<|im_end|>\n<|im_start|>assistant\n"
    ),
    "linly": "<s>You are Aurora.  ### Instruction:Hi  ### Response:Hello!</s>### Instruction:你是谁？  ### Response:",
    "nous": (
        "<s>You are Aurora.\n\n### Instruction:\nHi\n\n### Response:\nHello!</s>\n\n"
        "### Instruction:\n你是谁？\n\n### Response:\n"
    ),
    "yayi": (
        "<s><|System|>:\nYou are Aurora.\n\n<|Human|>:\nHi\n\n<|YaYi|>:\nHello!</s>\n\n"
        "<|Human|>:\n你是谁？\n\n<|YaYi|>:\n"
    ),
    "stablebeluga": (
        "<s>### System:\nYou are Aurora.\n\n### User:\nHi\n\n### Assistant:\nHello!</s>\n\n"
        "### User:\n你是谁？\n\n### Assistant:\n"
    ),
    "guanaco": "<s>You are Aurora.\n### Human: Hi ### Assistant: Hello!</s>\n### Human: 你是谁？ ### Assistant:",
    "firefly": "<s>You are Aurora.\nHi</s>Hello!</s>你是谁？</s>",
    "raw": "<s>You are Aurora.\n\nHi\n\nHello!\n\n你是谁？",
}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_named_template_renders_multi_turn_exactly(name):
    bound = bind_template(name, PlainTokenizer())
    assert bound.render([SYSTEM, Q1, A1, Q2]) == EXPECTED[name]


def test_every_named_template_has_an_expected_rendering():
    assert set(EXPECTED) == set(TEMPLATES)


def test_alpaca_with_input_uses_the_input_preamble_and_slot():
    bound = bind_template("alpaca", PlainTokenizer(adds_bos=False))
    text = bound.render([{"role": "user", "content": "Translate to French.", "input": "Good morning"}])
    assert text == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n### Instruction:\nTranslate to French.\n\n"
        "### Input:\nGood morning\n\n### Response:"
    )


def test_bos_only_where_the_tokenizer_adds_it_unless_the_format_writes_it():
    no_bos = PlainTokenizer(adds_bos=False)
    assert not bind_template("chatml", no_bos).render([Q1]).startswith("<s>")
    assert bind_template("llama2", no_bos).render([Q1]).startswith("<s>[INST]")
    assert bind_template("firefly", no_bos).render([Q1]) == "<s>Hi</s>"


@pytest.mark.parametrize(
    ("name", "marker", "end"),
    [("chatml", "<|im_start|>user", "<|im_end|>"), ("guanaco", "### Human:", "</s>"), ("llama2", "[INST]", "</s>"),
     ("yayi", "<|Human|>:", "</s>"), ("vicuna", "USER:", "</s>"), ("alpaca", "### Instruction:", "</s>")],
)
def test_templates_declare_turn_markers_and_end_tokens(name, marker, end):
    bound = bind_template(name, PlainTokenizer())
    assert marker in bound.turn_markers
    assert end in bound.end_tokens


def test_unknown_template_lists_names_and_suggests_a_close_one():
    with pytest.raises(TemplateError, match="Did you mean 'chatml'.*Known templates: checkpoint, alpaca"):
        get_template("chatlm")


def test_missing_checkpoint_template_suggests_names():
    with pytest.raises(TemplateError, match="no chat template.*--template NAME, one of: alpaca"):
        bind_template(None, PlainTokenizer(), source="ckpt/")


def test_split_turns_keeps_two_user_turns_in_a_row():
    system, turns = split_turns([Q1, Q2])
    assert system is None
    assert [(t.user, t.assistant) for t in turns] == [("Hi", ""), ("你是谁？", None)]
