"""Chat templates: turn a conversation into the exact prompt text the model was trained on.

Two kinds. `checkpoint` uses the tokenizer's own Jinja template through `apply_chat_template`,
exactly as transformers renders it. Named templates reproduce the formats SFT teams train with
(alpaca, vicuna, llama2, chatml, ...). Every template also says which text opens a new user turn
(`turn_markers`) and which token(s) end the assistant's turn (`end_tokens`): stop classification
and the missing-EOS detector rely on both.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evalgen.errors import TemplateError
from evalgen.records import Message

__all__ = [
    "CHECKPOINT_TEMPLATE",
    "TEMPLATES",
    "BoundTemplate",
    "NamedTemplate",
    "bind_template",
    "get_template",
    "template_names",
]

CHECKPOINT_TEMPLATE = "checkpoint"
EOS = "{eos}"
"""Placeholder in `end_tokens` for the tokenizer's own EOS text, resolved when a template is bound."""

ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
ALPACA_INPUT_PREAMBLE = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)
VICUNA_PREAMBLE = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
GUANACO_PREAMBLE = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


@dataclass(frozen=True)
class Turn:
    """One user turn and the assistant's answer to it (None for the turn being prompted)."""

    user: str
    input: str | None
    assistant: str | None


def split_turns(messages: Sequence[Message]) -> tuple[str | None, list[Turn]]:
    """(system, turns) from a validated conversation whose last message is the user's."""
    system = None
    turns: list[Turn] = []
    pending: Message | None = None
    for message in messages:
        role = message["role"]
        if role == "system":
            system = message["content"]
        elif role == "user":
            if pending is not None:  # two user turns in a row: keep both, no answer between
                turns.append(Turn(pending["content"], pending.get("input"), ""))
            pending = message
        elif pending is not None:
            turns.append(Turn(pending["content"], pending.get("input"), message["content"]))
            pending = None
    if pending is not None:
        turns.append(Turn(pending["content"], pending.get("input"), None))
    return system, turns


def with_input(turn: Turn) -> str:
    """The instruction with its optional input appended, for formats without an input slot."""
    return f"{turn.user}\n\n{turn.input}" if turn.input else turn.user


# Each renderer gets (system, turns, bos, eos) and returns the prompt text, ending where the
# assistant's answer starts. `bos` is the BOS text when the template writes it explicitly.
Renderer = Callable[[str | None, list[Turn], str, str], str]


def render_alpaca(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    has_input = any(t.input for t in turns)
    parts = [system or (ALPACA_INPUT_PREAMBLE if has_input else ALPACA_PREAMBLE), "\n\n"]
    for turn in turns:
        parts.append(f"### Instruction:\n{turn.user}\n\n")
        if turn.input:
            parts.append(f"### Input:\n{turn.input}\n\n")
        parts.append("### Response:")
        if turn.assistant is not None:
            parts.append(f"\n{turn.assistant}{eos}\n\n")
    return bos + "".join(parts)


def render_vicuna(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    text = (system or VICUNA_PREAMBLE) + " "
    for turn in turns:
        text += f"USER: {with_input(turn)} ASSISTANT:"
        if turn.assistant is not None:
            text += f" {turn.assistant}{eos}"
    return bos + text


def render_llama2(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    text = ""
    for i, turn in enumerate(turns):
        user = with_input(turn)
        if i == 0 and system:
            user = f"<<SYS>>\n{system}\n<</SYS>>\n\n{user}"
        text += f"{bos}[INST] {user} [/INST]"
        if turn.assistant is not None:
            text += f" {turn.assistant} {eos}"
    return text


def render_chatml(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    text = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
    for turn in turns:
        text += f"<|im_start|>user\n{with_input(turn)}<|im_end|>\n<|im_start|>assistant\n"
        if turn.assistant is not None:
            text += f"{turn.assistant}<|im_end|>\n"
    return bos + text


def render_linly(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    text = f"{system}  " if system else ""
    for turn in turns:
        text += f"### Instruction:{with_input(turn)}  ### Response:"
        if turn.assistant is not None:
            text += f"{turn.assistant}{eos}"
    return bos + text


def render_nous(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    text = f"{system}\n\n" if system else ""
    for turn in turns:
        text += f"### Instruction:\n{turn.user}\n\n"
        if turn.input:
            text += f"### Input:\n{turn.input}\n\n"
        text += "### Response:\n"
        if turn.assistant is not None:
            text += f"{turn.assistant}{eos}\n\n"
    return bos + text


def render_yayi(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    text = f"<|System|>:\n{system}\n\n" if system else ""
    for turn in turns:
        text += f"<|Human|>:\n{with_input(turn)}\n\n<|YaYi|>:\n"
        if turn.assistant is not None:
            text += f"{turn.assistant}{eos}\n\n"
    return bos + text


def render_stablebeluga(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    text = f"### System:\n{system}\n\n" if system else ""
    for turn in turns:
        text += f"### User:\n{with_input(turn)}\n\n### Assistant:\n"
        if turn.assistant is not None:
            text += f"{turn.assistant}{eos}\n\n"
    return bos + text


def render_guanaco(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    text = f"{system}\n" if system else ""
    for turn in turns:
        text += f"### Human: {with_input(turn)} ### Assistant:"
        if turn.assistant is not None:
            text += f" {turn.assistant}{eos}\n"
    return bos + text


def render_firefly(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    # Firefly's multi-turn format: <s>input1</s>target1</s>input2</s>target2</s>...
    text = bos + (f"{system}\n" if system else "")
    for turn in turns:
        text += f"{with_input(turn)}{eos}"
        if turn.assistant is not None:
            text += f"{turn.assistant}{eos}"
    return text


def render_raw(system: str | None, turns: list[Turn], bos: str, eos: str) -> str:
    parts = [system] if system else []
    for turn in turns:
        parts.append(with_input(turn))
        if turn.assistant is not None:
            parts.append(turn.assistant)
    return bos + "\n\n".join(parts)


@dataclass(frozen=True)
class NamedTemplate:
    name: str
    description: str
    renderer: Renderer
    turn_markers: tuple[str, ...]
    end_tokens: tuple[str, ...] = (EOS,)
    explicit_bos: bool = False
    """True when the format itself writes BOS (llama2, firefly); otherwise BOS is added only if the
    tokenizer adds it by default, as training with `tokenizer(text)` did."""


TEMPLATES: dict[str, NamedTemplate] = {
    t.name: t
    for t in (
        NamedTemplate("alpaca", "Stanford Alpaca, with and without ### Input", render_alpaca, ("### Instruction:",)),
        NamedTemplate("vicuna", "Vicuna v1.1: USER: ... ASSISTANT:", render_vicuna, ("USER:",)),
        NamedTemplate(
            "llama2", "Llama 2 chat: [INST] <<SYS>> ... [/INST]", render_llama2, ("[INST]",), explicit_bos=True
        ),
        NamedTemplate(
            "chatml",
            "ChatML: <|im_start|>user ... <|im_end|>",
            render_chatml,
            ("<|im_start|>user",),
            ("<|im_end|>", EOS),
        ),
        NamedTemplate("linly", "Linly: ### Instruction:... ### Response:", render_linly, ("### Instruction:",)),
        NamedTemplate(
            "nous", "NousResearch: ### Instruction:\\n...\\n\\n### Response:\\n", render_nous, ("### Instruction:",)
        ),
        NamedTemplate("yayi", "YaYi: <|System|>: / <|Human|>: / <|YaYi|>:", render_yayi, ("<|Human|>:",)),
        NamedTemplate(
            "stablebeluga",
            "StableBeluga: ### System: / ### User: / ### Assistant:",
            render_stablebeluga,
            ("### User:",),
        ),
        NamedTemplate("guanaco", "Guanaco: ### Human: ... ### Assistant:", render_guanaco, ("### Human:",)),
        NamedTemplate("firefly", "Firefly: <s>input</s>target</s> multi-turn", render_firefly, (), explicit_bos=True),
        NamedTemplate("raw", "no template: the turns' text joined by blank lines", render_raw, ()),
    )
}


def template_names() -> list[str]:
    return [CHECKPOINT_TEMPLATE, *TEMPLATES]


def get_template(name: str) -> NamedTemplate:
    """A named template; an unknown name raises TemplateError listing the names."""
    try:
        return TEMPLATES[name]
    except KeyError:
        close = difflib.get_close_matches(name, TEMPLATES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise TemplateError(
            f"unknown template {name!r}.{hint} Known templates: {', '.join(template_names())}"
        ) from None


@dataclass(frozen=True)
class BoundTemplate:
    """A template bound to one tokenizer: renders prompts and knows the concrete end tokens."""

    name: str
    render_messages: Callable[[list[Message]], str]
    turn_markers: tuple[str, ...]
    end_tokens: tuple[str, ...]
    """End-of-turn texts; the first is the one the model is expected to produce."""

    def render(self, messages: list[Message]) -> str:
        return self.render_messages(messages)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "turn_markers": list(self.turn_markers), "end_tokens": list(self.end_tokens)}


def tokenizer_adds_bos(tokenizer: Any) -> bool:
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos_id


def bind_template(name: str | None, tokenizer: Any, source: str = "checkpoint") -> BoundTemplate:
    """Bind `name` (None = the checkpoint's own chat template) to a tokenizer."""
    eos = tokenizer.eos_token or ""
    if name in (None, CHECKPOINT_TEMPLATE):
        if not getattr(tokenizer, "chat_template", None):
            raise TemplateError(
                f"{source} has no chat template (no chat_template.jinja and none in tokenizer_config.json); "
                f"pass --template NAME, one of: {', '.join(TEMPLATES)}"
            )
        return bind_checkpoint_template(tokenizer)
    template = get_template(name)
    bos = tokenizer.bos_token or ""
    if not (template.explicit_bos or tokenizer_adds_bos(tokenizer)):
        bos = ""
    end_tokens = tuple(dict.fromkeys(eos if t == EOS else t for t in template.end_tokens if (t != EOS or eos)))

    def render(messages: list[Message]) -> str:
        system, turns = split_turns(messages)
        return template.renderer(system, turns, bos, eos)

    return BoundTemplate(template.name, render, template.turn_markers, end_tokens)


def bind_checkpoint_template(tokenizer: Any) -> BoundTemplate:
    def render(messages: list[Message]) -> str:
        # Inputs are folded into the user text: Jinja templates have no slot for them.
        plain = [
            {"role": m["role"], "content": f"{m['content']}\n\n{m['input']}" if m.get("input") else m["content"]}
            for m in messages
        ]
        return str(tokenizer.apply_chat_template(plain, add_generation_prompt=True, tokenize=False))

    markers, ends = infer_turn_boundary(tokenizer)
    eos = tokenizer.eos_token
    end_tokens = tuple(dict.fromkeys([*ends, *([eos] if eos else [])]))
    return BoundTemplate(CHECKPOINT_TEMPLATE, render, markers, end_tokens)


def infer_turn_boundary(tokenizer: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Find what a Jinja template writes between an assistant answer and the next user message.

    Renders a conversation with sentinel texts and reads the gap: the special tokens at its start end
    the assistant turn (e.g. `<|im_end|>`), the rest opens the user turn (e.g. `<|im_start|>user`).
    """
    answer, question = "ANSWERSENTINEL", "QUESTIONSENTINEL"
    conversation = [
        {"role": "user", "content": "FIRSTSENTINEL"},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": question},
    ]
    try:
        text = str(tokenizer.apply_chat_template(conversation, tokenize=False))
    except Exception:  # a template that rejects this shape: fall back to the EOS alone
        return (), ()
    start, end = text.find(answer), text.find(question)
    if start < 0 or end < 0:
        return (), ()
    gap = text[start + len(answer) : end].lstrip()
    specials = sorted(
        {t for t in tokenizer.all_special_tokens if t} | set(tokenizer.get_added_vocab()), key=len, reverse=True
    )
    # The first special token closes the assistant turn; what follows (minus BOS) opens the user's.
    first = next((t for t in specials if gap.startswith(t) and t != tokenizer.bos_token), None)
    rest = gap[len(first) :].lstrip() if first else gap
    if tokenizer.bos_token and rest.startswith(tokenizer.bos_token):
        rest = rest[len(tokenizer.bos_token) :]
    marker = rest.strip()
    return ((marker,) if marker else ()), ((first,) if first else ())
