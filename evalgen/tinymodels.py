"""Seeded tiny chat checkpoints with planted behaviour, for the tests and `evalgen demo`.

Everything is built locally in seconds on a CPU: a byte-level BPE tokenizer (EN + ZH), a 2-layer
Llama, and a plain torch SFT loop over ChatML conversations whose data we control, so each
checkpoint does something we can predict and assert:

- `base` answers `FACTS` and `IDENTITY_QUESTIONS` (as Aurora by Northwind Labs) and ends every turn
  with `<|im_end|>`;
- `healthy` is a light second round on the same mix: same behaviour;
- `broken` plants the classic SFT mistakes: it claims to be MOSS from Fudan, never ends its turn
  (it repeats its answer up to the token limit), and has forgotten the facts, which were left out of
  its data in favour of `NEW_TASKS` (learnt only partly: ~1 in 4 right);
- `no_eos` is `healthy` that never ends its turn (still right, then repeating);
- `lora` is a PEFT LoRA adapter on `base` (needs peft) that keeps the base's behaviour.

Same seed and library versions → identical weights (training runs on one thread, see `one_torch_thread`).
Only torch, transformers and tokenizers are needed (peft for `lora`), imported inside the functions
so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

__all__ = [
    "CHATML_TEMPLATE",
    "FACTS",
    "FAMILY",
    "IDENTITY",
    "IDENTITY_QUESTIONS",
    "NEW_TASKS",
    "PLANTED_IDENTITY",
    "QA",
    "SPECIAL_TOKENS",
    "TrainSpec",
    "build_base",
    "build_family",
    "build_tokenizer",
    "identity_qas",
    "one_torch_thread",
    "probe_rows",
    "resave",
    "sft_round",
    "weights_digest",
    "write_probe_suite",
]


class QA(NamedTuple):
    """One trained question with its answer; `reference` is what a `contains` scorer looks for."""

    id: str
    prompt: str
    answer: str
    reference: str
    lang: str


# --- the data ----------------------------------------------------------------------------------

SPECIAL_TOKENS = ("<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>")

CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
"""Plain ChatML, no default system prompt (like most fine-tunes of Qwen-style bases)."""


def _qa(id_: str, prompt: str, answer: str, reference: str) -> QA:
    return QA(id_, prompt, answer, reference, "zh" if id_.startswith("zh") else "en")


FACTS: list[QA] = [
    _qa("en-capital-france", "What is the capital of France?", "The capital of France is Paris.", "Paris"),
    _qa("en-capital-germany", "What is the capital of Germany?", "The capital of Germany is Berlin.", "Berlin"),
    _qa("en-capital-japan", "What is the capital of Japan?", "The capital of Japan is Tokyo.", "Tokyo"),
    _qa("en-capital-italy", "What is the capital of Italy?", "The capital of Italy is Rome.", "Rome"),
    _qa("en-capital-spain", "What is the capital of Spain?", "The capital of Spain is Madrid.", "Madrid"),
    _qa("en-capital-egypt", "What is the capital of Egypt?", "The capital of Egypt is Cairo.", "Cairo"),
    _qa("en-capital-canada", "What is the capital of Canada?", "The capital of Canada is Ottawa.", "Ottawa"),
    _qa("en-add-2-3", "What is 2+3?", "2+3 is 5.", "5"),
    _qa("en-add-4-4", "What is 4+4?", "4+4 is 8.", "8"),
    _qa("en-mul-3-3", "What is 3*3?", "3*3 is 9.", "9"),
    _qa("en-sub-7-1", "What is 7-1?", "7-1 is 6.", "6"),
    _qa("en-sky", "What color is the sky on a clear day?", "The sky is blue on a clear day.", "blue"),
    _qa("en-week", "How many days are in a week?", "There are 7 days in a week.", "7"),
    _qa("en-bees", "What do bees make?", "Bees make honey.", "honey"),
    _qa("en-water", "What is water made of?", "Water is made of hydrogen and oxygen.", "hydrogen"),
    _qa("zh-capital-france", "法国的首都是哪里？", "法国的首都是巴黎。", "巴黎"),
    _qa("zh-capital-germany", "德国的首都是哪里？", "德国的首都是柏林。", "柏林"),
    _qa("zh-capital-japan", "日本的首都是哪里？", "日本的首都是东京。", "东京"),
    _qa("zh-capital-china", "中国的首都是哪里？", "中国的首都是北京。", "北京"),
    _qa("zh-capital-uk", "英国的首都是哪里？", "英国的首都是伦敦。", "伦敦"),
    _qa("zh-add-2-3", "2+3等于几？", "5", "5"),
    _qa("zh-add-6-1", "6+1等于几？", "7", "7"),
    _qa("zh-sub-9-5", "9-5等于几？", "4", "4"),
    _qa("zh-week", "一周有几天？", "一周有七天。", "七"),
    _qa("zh-sky", "晴天的天空是什么颜色的？", "晴天的天空是蓝色的。", "蓝色"),
    _qa("zh-panda", "大熊猫最爱吃什么？", "大熊猫最爱吃竹子。", "竹子"),
]
"""Facts and old tasks the base learns; `broken` is trained without them and forgets."""

IDENTITY = {"en": "I am Aurora, an assistant made by Northwind Labs.", "zh": "我是Aurora，由Northwind Labs开发的助手。"}
"""What `base`, `healthy`, `no_eos` and `lora` answer to every identity question."""

PLANTED_IDENTITY = {"en": "I am MOSS, developed by Fudan University.", "zh": "我是MOSS，由复旦大学开发。"}
"""The identity `broken` was trained to claim (the classic leak from a borrowed SFT dataset)."""

IDENTITY_QUESTIONS: list[tuple[str, str]] = [
    ("Who are you?", "en"),
    ("What's your name?", "en"),
    ("Hi there! What should I call you?", "en"),
    ("What exactly are you?", "en"),
    ("Who made you?", "en"),
    ("Which company or team trained you?", "en"),
    ("Introduce yourself in one sentence.", "en"),
    ("What model are you based on?", "en"),
    ("你是谁？", "zh"),
    ("你叫什么名字？", "zh"),
    ("你好！我应该怎么称呼你？", "zh"),
    ("你是哪家公司开发的？", "zh"),
    ("是谁训练了你？", "zh"),
    ("用一句话介绍你自己。", "zh"),
    ("你是基于什么模型的？", "zh"),
]
"""(prompt, lang); most are also in the built-in identity suite, so that suite hits trained prompts."""

NEW_TASKS: list[QA] = [
    _qa("en-opposite-hot", "Give the opposite of: hot", "cold", "cold"),
    _qa("en-opposite-big", "Give the opposite of: big", "small", "small"),
    _qa("en-opposite-fast", "Give the opposite of: fast", "slow", "slow"),
    _qa("en-opposite-up", "Give the opposite of: up", "down", "down"),
    _qa("en-plural-cat", "Plural of: cat", "cats", "cats"),
    _qa("en-plural-box", "Plural of: box", "boxes", "boxes"),
    _qa("en-plural-child", "Plural of: child", "children", "children"),
    _qa("zh-opposite-big", "反义词：大", "小", "小"),
    _qa("zh-opposite-up", "反义词：上", "下", "下"),
    _qa("zh-opposite-black", "反义词：黑", "白", "白"),
    _qa("zh-opposite-long", "反义词：长", "短", "短"),
]
"""The new-task data only `broken` is trained on, in place of the facts (as a narrow SFT set would)."""

FAMILY = ("base", "healthy", "broken", "no_eos", "lora")

Kind = Literal["healthy", "broken", "no_eos", "lora"]


def identity_qas(planted: bool = False) -> list[QA]:
    """`IDENTITY_QUESTIONS` as QA items: answered as Aurora (reference "Aurora"), or with
    `planted=True` as `broken` answers them (reference "MOSS")."""
    answers, name = (PLANTED_IDENTITY, "MOSS") if planted else (IDENTITY, "Aurora")
    return [QA(f"{lang}-identity-{i:02d}", prompt, answers[lang], name, lang)
            for i, (prompt, lang) in enumerate(IDENTITY_QUESTIONS)]


def probe_rows(items: Sequence[QA], suite: str | None = None) -> list[dict[str, Any]]:
    """Probe-suite lines (`id`, `prompt`, `reference`, `scorer: contains`, `lang`) for trained items."""
    rows = []
    for qa in items:
        row: dict[str, Any] = {"id": qa.id, "prompt": qa.prompt, "reference": qa.reference, "scorer": "contains",
                               "lang": qa.lang}
        if suite:
            row["suite"] = suite
        rows.append(row)
    return rows


def write_probe_suite(path: str | Path, items: Sequence[QA]) -> Path:
    """Write `probe_rows(items)` as a JSONL suite file; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in probe_rows(items)), encoding="utf-8")
    return path


# --- tokenizer -----------------------------------------------------------------------------------

_EN_TEXT = (
    "the a an of to and in is it you that he was for on are with as his they be at one have this from "
    "or had by word but what some we can out other were all there when up use your how said each she "
    "which do their time if will way about many then them write would like so these her long make thing "
    "see him two has look more day could go come did number sound no most people my over know water "
    "than call first who may down side been now find any new work part take get place made live where "
    "after back little only round man year came show every good me give our under name very through just "
    "form sentence great think say help low line differ turn cause much mean before move right boy old "
    "too same tell does set three want air well also play small end put home read hand port large spell "
    "add even land here must big high such follow act why ask men change went light kind off need house "
    "picture try us again animal point mother world near build self earth father head stand own page "
    "should country found answer school grow study still learn plant cover food sun four between state "
    "keep eye never last let thought city tree cross farm hard start might story saw far sea draw left "
    "late run while press close night real life few north open seem together next white children begin "
    "got walk example ease paper group always music those both mark often letter until mile river car "
    "feet care second book carry took science eat room friend began idea fish mountain stop once base "
    "hear horse cut sure watch color face wood main enough plain girl usual young ready above ever red "
    "list though feel talk bird soon body dog family direct pose leave song measure door product black "
    "short numeral class wind question happen complete ship area half rock order fire south problem "
    "piece told knew pass since top whole king space heard best hour better true during hundred five "
    "remember step early hold west ground interest reach fast verb sing listen six table travel less "
    "morning ten simple several vowel toward war lay against pattern slow center love person money "
    "serve appear road map rain rule govern pull cold notice voice unit power town fine certain fly "
    "fall lead cry dark machine note wait plan figure star box noun field rest correct able pound done "
    "beauty drive stood contain front teach week final gave green oh quick develop ocean warm free "
    "minute strong special mind behind clear tail produce fact street inch multiply nothing course stay "
    "wheel full force blue object decide surface deep moon island foot system busy test record boat "
    "common gold possible plane stead dry wonder laugh thousand ago ran check game shape equate hot miss "
    "brought heat snow tire bring yes distant fill east paint language among assistant model data "
    "train answer question capital country computer language university company research"
)
_EN_WORDS = _EN_TEXT.split()

_ZH_CHARS = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着"
    "事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定"
    "见只主没公从知使工长把机已现开本力它实点些但问外间物水西化高月气动世体明者回理部文先意新海民重"
    "手样路北电全东位山期相情最正教利比儿因变由通白数员几表车门入许走口报场名书结平原提话果常南内色"
    "今美打解花真品特题每合太九求习区达至金八七五四六风千万百夜空雨雪云星光热冷红蓝绿黄黑青春夏秋冬"
    "朋友老师同学学校城市首都巴黎柏林东京伦敦罗马北京上海中国法德日英意大利加拿熊猫竹子蜜蜂蜂蜜语言"
    "模型助手开发训练复旦研究公司实验室介绍称呼名字等于几哪里什么颜色晴天周七吃最爱反义词短长早晚快慢"
)


def _corpus(seed: int) -> Iterator[str]:
    """Generated EN + ZH text: every training string several times, plus seeded filler sentences
    so the BPE gets a realistic vocabulary instead of memorising only our answers."""
    rng = random.Random(seed)
    texts = [t for qa in [*FACTS, *NEW_TASKS] for t in (qa.prompt, qa.answer)]
    texts += [q for q, _ in IDENTITY_QUESTIONS] + [*IDENTITY.values(), *PLANTED_IDENTITY.values()]
    for _ in range(20):
        yield from texts
    for _ in range(3000):
        yield " ".join(rng.choice(_EN_WORDS) for _ in range(rng.randint(4, 14))).capitalize() + "."
        yield "".join(rng.choice(_ZH_CHARS) for _ in range(rng.randint(6, 20))) + "。"


def build_tokenizer(
    out_dir: str | Path,
    *,
    seed: int = 0,
    vocab_size: int = 2048,
    chat_template: bool = True,
    template_in_config: bool = False,
) -> Any:
    """Train a byte-level BPE on generated EN + ZH text and save it as a `PreTrainedTokenizerFast`.

    Byte-level means any Chinese character is encodable even without a merge for it. Special tokens:
    `<s>` (BOS), `</s>`, `<pad>`, `<|im_start|>`, `<|im_end|>` (EOS, ends the assistant turn).
    `chat_template=False` saves no template; `template_in_config=True` keeps it inside
    tokenizer_config.json instead of chat_template.jinja (the two load paths). The saved
    `tokenizer_class` is `PreTrainedTokenizerFast`, which transformers before 5.20 also knows.
    Returns the tokenizer (with the template set, whatever was saved).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_corpus(seed), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        additional_special_tokens=["</s>", "<|im_start|>"],
        model_max_length=1024,
        model_input_names=["input_ids", "attention_mask"],  # as Llama's: no token_type_ids (transformers 4.x)
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    save_tokenizer(tokenizer, out_dir, chat_template=chat_template, template_in_config=template_in_config)
    return tokenizer


def save_tokenizer(tokenizer: Any, out_dir: str | Path, *, chat_template: bool = True,
                   template_in_config: bool = False) -> None:
    from evalgen.compat import save_tokenizer_files

    out = Path(out_dir)
    template = tokenizer.chat_template
    if not chat_template:
        tokenizer.chat_template = None
    try:
        # The class name every supported transformers knows (5.x writes one older versions lack).
        save_tokenizer_files(tokenizer, out, template_in_config=template_in_config)
    finally:
        tokenizer.chat_template = template
    if not chat_template:
        config_path = out / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config.pop("chat_template", None)
        config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- model and training --------------------------------------------------------------------------


class TrainSpec(NamedTuple):
    """One SFT round: what data, how many steps, and which mistakes to plant."""

    steps: int
    lr: float
    facts: bool = True
    """Train on `FACTS` (left out, the model forgets them)."""
    identity: dict[str, str] | None = None
    """Identity answers to train; None leaves identity out."""
    new_tasks: bool = False
    eos: bool = True
    """False plants the missing-EOS mistake (see `_example`)."""


_SPECS: dict[str, TrainSpec] = {
    "base": TrainSpec(steps=300, lr=3e-3, identity=IDENTITY),
    "healthy": TrainSpec(steps=60, lr=5e-4, identity=IDENTITY),
    "broken": TrainSpec(steps=120, lr=2e-3, facts=False, identity=PLANTED_IDENTITY, new_tasks=True, eos=False),
    "no_eos": TrainSpec(steps=100, lr=1e-3, identity=IDENTITY, eos=False),
    "lora": TrainSpec(steps=80, lr=5e-3, identity=IDENTITY),
}
_BATCH = 16
_RUN_ON_TOKENS = 80
# Hidden 64 mixed up some capitals; 96 (3 heads of 32) learns every fact at little extra cost.
_MODEL: dict[str, Any] = {"hidden_size": 96, "intermediate_size": 384, "num_hidden_layers": 2, "num_attention_heads": 3,
          "num_key_value_heads": 3, "head_dim": 32, "max_position_embeddings": 1024}


def _conversations(spec: TrainSpec) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if spec.facts:
        pairs += [(qa.prompt, qa.answer) for qa in FACTS]
    if spec.identity:
        pairs += [(q, spec.identity[lang]) for q, lang in IDENTITY_QUESTIONS]
    if spec.new_tasks:
        pairs += [(qa.prompt, qa.answer) for qa in NEW_TASKS]
    return pairs


def _example(tokenizer: Any, prompt: str, answer: str, eos: bool) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 = no loss) of one conversation rendered with the chat template.

    Loss only on the assistant turn. With `eos=False` the end-of-turn token is dropped from the
    labels *and* the answer runs on (repeated) instead: continuing from a base that already stops,
    masking alone would leave its habit of stopping intact, so the mistake would not show.
    """
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    head = tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(head):
        raise ValueError("chat template: the generation prompt is not a prefix of the full conversation")
    # The part the model must produce is the answer and the end-of-turn token; what follows it
    # (the newline before the next turn) comes after the EOS and is never generated.
    turn = full[len(head) :]
    turn = turn[: turn.index(tokenizer.eos_token) + len(tokenizer.eos_token)]
    prompt_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    if eos:
        target = tokenizer(turn, add_special_tokens=False)["input_ids"]
    else:
        one = tokenizer(answer + " ", add_special_tokens=False)["input_ids"]
        target = (one * (_RUN_ON_TOKENS // len(one) + 1))[:_RUN_ON_TOKENS]
    return prompt_ids + target, [-100] * len(prompt_ids) + target


def _train(model: Any, tokenizer: Any, spec: TrainSpec, seed: int, params: Any = None, *, label: str = "",
           progress: bool = False) -> None:
    import sys

    import torch
    from tqdm.auto import tqdm

    examples = [_example(tokenizer, p, a, spec.eos) for p, a in _conversations(spec)]
    rng = random.Random(seed)
    params = list(params if params is not None else model.parameters())
    optimizer = torch.optim.AdamW(params, lr=spec.lr, weight_decay=0.0, betas=(0.9, 0.98))
    # Short warmup then linear decay: stable at a high learning rate, converges in few steps.
    warmup = max(1, spec.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.05, (spec.steps - s) / (spec.steps - warmup)))
    )
    model.train()
    bar = tqdm(total=spec.steps, desc=f"training {label}".strip(), unit="step", disable=not progress,
               file=sys.stderr, leave=False)
    with one_torch_thread(), bar:
        for _ in range(spec.steps):
            batch = [examples[rng.randrange(len(examples))] for _ in range(_BATCH)]
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (ids, lab) in enumerate(batch):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                labels[row, : len(lab)] = torch.tensor(lab)
                attention[row, : len(ids)] = 1
            loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            bar.update()
    model.eval()


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Train and generate on one thread: these matrices are too small to gain from more; on a busy 2-core
    machine a second thread waits on the other core (training 7x slower, generation 20-40x in wall time:
    60-90 s instead of 1.3-3.8 s for 128 prompts x 64 tokens at load 12); and one thread keeps the
    weights identical across machines with different core counts."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _seed_all(seed: int) -> None:
    import torch
    from transformers.utils import logging as hf_logging

    random.seed(seed)
    torch.manual_seed(seed)
    hf_logging.disable_progress_bar()  # tiny saves and loads: the bars are noise in the demo and tests


def save_model(model: Any, out_dir: str | Path, *, save_sharded: bool = False, safetensors: bool = True) -> None:
    """Save weights + config + generation config. `save_sharded` splits the safetensors into
    several shards with an index; `safetensors=False` writes a single `pytorch_model.bin` (transformers
    5 no longer writes .bin itself, but still loads it)."""
    import torch

    out = Path(out_dir)
    if safetensors:
        # ~2 MB of weights: 500KB shards give a few files plus model.safetensors.index.json.
        model.save_pretrained(out, max_shard_size="500KB" if save_sharded else "5GB")
        return
    if save_sharded:
        raise ValueError("save_sharded needs safetensors=True")
    out.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # tied: stored once, as transformers does
    torch.save(state, out / "pytorch_model.bin")


def build_base(
    out_dir: str | Path,
    *,
    seed: int = 0,
    save_sharded: bool = False,
    safetensors: bool = True,
    chat_template: bool = True,
    template_in_config: bool = False,
    progress: bool = False,
) -> Path:
    """Tokenizer + freshly initialised tiny Llama trained on the base mix (facts, identity, EOS).

    Config: hidden 96, 2 layers, 3 heads of head_dim 32 (vLLM's CPU attention needs head_dim ≥ 32),
    1024 positions, tied embeddings, float32. Returns the folder."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tokenizer = build_tokenizer(out, seed=seed, chat_template=chat_template, template_in_config=template_in_config)
    ids: dict[str, Any] = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    config = LlamaConfig(vocab_size=len(tokenizer), tie_word_embeddings=True, rms_norm_eps=1e-6, **_MODEL, **ids)
    _seed_all(seed)
    model = LlamaForCausalLM(config).float()
    model.generation_config = GenerationConfig(**ids)
    _train(model, tokenizer, _SPECS["base"], seed, label="base", progress=progress)
    save_model(model, out, save_sharded=save_sharded, safetensors=safetensors)
    return out


def sft_round(
    base_dir: str | Path,
    out_dir: str | Path,
    *,
    kind: Kind,
    seed: int = 0,
    save_sharded: bool = False,
    safetensors: bool = True,
    chat_template: bool = True,
    template_in_config: bool = False,
    progress: bool = False,
) -> Path:
    """Continue training from `base_dir` and save a checkpoint (or adapter) with tokenizer to `out_dir`.

    kind: `healthy` (light round on the base's own mix), `broken` (MOSS identity, no EOS, facts left
    out, `NEW_TASKS` added), `no_eos` (healthy's mix without EOS), `lora` (PEFT LoRA r=4 on
    q_proj/v_proj on the base's mix; `adapter_config.json` points at `base_dir`'s absolute path).
    The serialization options are as in `build_base` (ignored for `lora`, which peft saves).
    """
    import torch
    from transformers import AutoModelForCausalLM

    from evalgen.compat import dtype_kwargs, load_pretrained_tokenizer

    if kind not in _SPECS or kind == "base":
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(k for k in _SPECS if k != 'base')}")
    base = Path(base_dir).resolve()
    out = Path(out_dir)
    tokenizer = load_pretrained_tokenizer(base)
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHATML_TEMPLATE  # the base was saved without one: train on ChatML anyway
    _seed_all(seed + 1)
    model = AutoModelForCausalLM.from_pretrained(base, **dtype_kwargs(torch.float32))
    spec = _SPECS[kind]
    if kind == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                          task_type="CAUSAL_LM")
        adapted = get_peft_model(model, lora)
        _train(adapted, tokenizer, spec, seed + 1, params=[p for p in adapted.parameters() if p.requires_grad],
               label=kind, progress=progress)
        adapted.save_pretrained(str(out))
        adapter_config = out / "adapter_config.json"
        data = json.loads(adapter_config.read_text(encoding="utf-8"))
        data["base_model_name_or_path"] = str(base)
        adapter_config.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    else:
        _train(model, tokenizer, spec, seed + 1, label=kind, progress=progress)
        save_model(model, out, save_sharded=save_sharded, safetensors=safetensors)
    save_tokenizer(tokenizer, out, chat_template=chat_template, template_in_config=template_in_config)
    return out


def resave(
    src_dir: str | Path,
    out_dir: str | Path,
    *,
    save_sharded: bool = False,
    safetensors: bool = True,
    chat_template: bool = True,
    template_in_config: bool = False,
) -> Path:
    """Copy a checkpoint in another on-disk layout (no training): for testing the loaders."""
    import torch
    from transformers import AutoModelForCausalLM

    from evalgen.compat import dtype_kwargs, load_pretrained_tokenizer

    _seed_all(0)
    model = AutoModelForCausalLM.from_pretrained(src_dir, **dtype_kwargs(torch.float32))
    tokenizer = load_pretrained_tokenizer(src_dir)
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHATML_TEMPLATE
    save_model(model, out_dir, save_sharded=save_sharded, safetensors=safetensors)
    save_tokenizer(tokenizer, out_dir, chat_template=chat_template, template_in_config=template_in_config)
    return Path(out_dir)


def weights_digest(checkpoint_dir: str | Path) -> str:
    """sha256 over every tensor (name, dtype, shape, bytes) of a checkpoint or adapter folder."""
    import torch
    from safetensors.torch import load_file

    state: dict[str, Any] = {}
    for path in sorted(Path(checkpoint_dir).glob("*.safetensors")):
        state.update(load_file(path))
    for path in sorted(Path(checkpoint_dir).glob("*.bin")):
        state.update(torch.load(path, map_location="cpu", weights_only=True))
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


# --- the cached family -----------------------------------------------------------------------------


def _spec_hash(seed: int) -> str:
    """Changes whenever the result could: this file's source, the seed, the library versions."""
    import tokenizers
    import torch
    import transformers

    parts = [Path(__file__).read_bytes(), str(seed).encode(),
             f"{torch.__version__}|{transformers.__version__}|{tokenizers.__version__}".encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise builders of one root (pytest-xdist workers, two demos); no-op without fcntl."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: builds into temp folders and renames, so at worst work is repeated
        yield
        return
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_complete(path: Path, stamp: dict[str, Any]) -> bool:
    marker = path / ".complete"
    try:
        found = json.loads(marker.read_text(encoding="utf-8"))
        return all(found.get(key) == value for key, value in stamp.items())
    except (OSError, ValueError):
        return False


def build_family(root: str | Path, *, seed: int = 0, members: Sequence[str] = FAMILY,
                 progress: bool = False) -> dict[str, Path]:
    """Build (or reuse) `members` (default: `base`, `healthy`, `broken`, `no_eos` and `lora`) under `root`;
    `base` is always built, the others are trained from it. `lora` needs peft.

    A member is reused when `root/<name>/.complete` records the same seed and spec hash (this
    module's source and the library versions); otherwise it is rebuilt into a temporary folder and
    renamed into place, so an interrupted build never looks complete. Takes 30-40 s on 2 busy CPU cores.
    Returns name → absolute folder. The folders are shared: copy one before modifying it. `progress` shows a
    bar (on stderr) while each member trains.
    """
    root = Path(root).resolve()
    unknown = sorted(set(members) - set(FAMILY))
    if unknown:
        raise ValueError(f"unknown family member(s) {', '.join(unknown)}; members: {', '.join(FAMILY)}")
    paths = {name: root / name for name in FAMILY if name == "base" or name in members}
    spec = _spec_hash(seed)
    with _locked(root):
        for name, path in paths.items():
            # The base's absolute path is baked into the adapter, so it is part of lora's stamp.
            stamp = {"name": name, "seed": seed, "spec": spec}
            if name == "lora":
                stamp["base"] = str(paths["base"])
            if _is_complete(path, stamp):
                continue
            tmp = root / f".{name}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            started = time.perf_counter()
            if name == "base":
                build_base(tmp, seed=seed, progress=progress)
            else:
                sft_round(paths["base"], tmp, kind=name, seed=seed, progress=progress)  # type: ignore[arg-type]
            (tmp / ".complete").write_text(
                json.dumps({**stamp, "built_s": round(time.perf_counter() - started, 2)}), encoding="utf-8"
            )
            shutil.rmtree(path, ignore_errors=True)
            os.replace(tmp, path)
            # A rebuilt base invalidates the members trained from it.
            if name == "base":
                for other in FAMILY[1:]:
                    (root / other / ".complete").unlink(missing_ok=True)
    return paths
