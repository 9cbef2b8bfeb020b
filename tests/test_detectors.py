"""Table tests: realistic English and Chinese outputs, positives and hard negatives, per detector."""

from __future__ import annotations

import pytest

from evalgen.detectors import DETECTORS, DetectorConfig, DetectorContext, get_detector, run_detectors
from evalgen.errors import ConfigError
from evalgen.records import GenerationRecord


def rec(output: str, prompt: str = "Tell me about it.", stop: str = "eos", ids: list[int] | None = None,
        stop_detail: str | None = None) -> GenerationRecord:
    return GenerationRecord(
        probe_id="p1", suite="s", sample=0, messages=[{"role": "user", "content": prompt}], prompt_text=prompt,
        output=output, output_raw=output, output_token_ids=ids, stop_reason=stop, n_output_tokens=len(output) // 4,
        latency_s=0.0, stop_detail=stop_detail,
    )


CTX = DetectorContext()
ID_CTX = DetectorContext(identity="Aurora", identity_org="Acme Labs")

GOOD_PARA = (
    "Photosynthesis is the process by which green plants turn light into chemical energy. "
    "Chlorophyll absorbs mostly red and blue light, and the energy splits water molecules. "
)
ZH_PARA = "光合作用是绿色植物利用光能把二氧化碳和水转化为有机物的过程。叶绿素主要吸收红光和蓝光。"

# ---------------------------------------------------------------- repetition
REPETITION = [
    ("loop after a good paragraph", GOOD_PARA + "The answer is yes. " * 20, "eos", True),
    ("token run 的的的", "这个问题的答案是" + "的" * 60, "length", True),
    ("zh sentence loop without spaces", ZH_PARA + "我们需要更多的数据来训练模型。" * 8, "length", True),
    ("paragraph loop at the limit, two copies", GOOD_PARA + ("In summary, plants need light, water and carbon "
     "dioxide to make sugar, and they release oxygen as a by-product of the reaction. ") * 2, "length", True),
    ("numbered lines with the same item",
     "步骤如下：\n" + "".join(f"{i}. 打开设置页面，然后点击确定按钮。\n" for i in range(1, 9)), "eos", True),
    ("numbered list with different items", "Steps:\n1. Install Python 3.11 from python.org.\n2. Create a venv with "
     "python -m venv .venv.\n3. Activate it and run pip install -r requirements.txt.\n4. Start the server with "
     "make run.\n5. Open http://localhost:8000 in a browser.", "eos", False),
    ("markdown table", "| Model | Params | Score |\n|---|---|---|\n| A | 7B | 61.2 |\n| B | 13B | 64.9 |\n"
     "| C | 34B | 70.1 |\n| D | 70B | 74.3 |\n| E | 180B | 77.0 |", "eos", False),
    ("python code with similar lines", "```python\nleft = [x for x in arr if x < pivot]\nmiddle = [x for x in arr "
     "if x == pivot]\nright = [x for x in arr if x > pivot]\nresult = quick_sort(left) + middle + "
     "quick_sort(right)\n```", "eos", False),
    ("poem with a refrain", "The river runs to the sea,\nThe hills stand still and free,\nAnd I will wait for thee.\n\n"
     "The winter comes with snow,\nThe fires burn and glow,\nAnd I will wait for thee.\n\nThe spring returns "
     "with rain,\nThe fields grow green again,\nAnd I will wait for thee.", "eos", False),
    ("list items repeating with the counter", "Steps:\nStep 1: Create a website.\nStep 2: Add a logo.\nStep 3: Add a "
     "blog.\nStep 4: Add a contact form.\nStep 5: Add a contact form.\nStep 6: Add a contact form.", "unknown", True),
    ("lines repeating with one word changed", "I looked at the clock.\n" + "".join(
        f"I looked at the {n} one. It read \"It's a beautiful night tonight. Look outside.\"\n"
        for n in ("second", "third", "fourth", "fifth")), "unknown", True),
    ("parallel list items of one template", "景点：\n1. 海南岛：这是海南最著名的景点之一，拥有美丽的沙滩和热带雨林。\n"
     "2. 亚龙湾：这是海南最著名的海滩之一，拥有柔软的沙滩和清澈的海水。\n3. 南山寺：这是海南最著名的佛教寺庙之一，"
     "拥有精美的建筑和悠久的历史。", "eos", False),
    ("times table", "7 x 1 = 7\n7 x 2 = 14\n7 x 3 = 21\n7 x 4 = 28\n7 x 5 = 35\n7 x 6 = 42", "eos", False),
    ("horizontal rule and zeros", GOOD_PARA + "\n" + "-" * 60 + "\n" + "[0, 0, 0, 0, 0, 0]", "eos", False),
    ("very short", "42", "eos", False),
    ("healthy zh prose", ZH_PARA * 1 + "因此，植物对地球上的生命至关重要。", "eos", False),
]


@pytest.mark.parametrize("name,output,stop,expected", REPETITION, ids=[c[0] for c in REPETITION])
def test_repetition(name: str, output: str, stop: str, expected: bool) -> None:
    f = DETECTORS["repetition"](rec(output, stop=stop), CTX)
    assert f.flagged is expected, f
    for s in f.spans:
        assert 0 <= s.start <= s.end <= len(output)


def test_repetition_reports_unit_count_and_start() -> None:
    output = GOOD_PARA + "I will help you. " * 10
    f = DETECTORS["repetition"](rec(output, stop="length"), CTX)
    assert f.flagged and f.details["kind"] == "loop"
    assert f.details["unit"].strip() in {"I will help you.", "will help you. I", "help you. I will"} or \
        "help you" in f.details["unit"]
    assert f.details["repeats"] >= 9
    assert f.spans[0].start <= len(GOOD_PARA) + 1
    assert f.details["rep_on"] == "chars" and f.details["rep_4"] > 0.3


def test_repetition_on_token_ids() -> None:
    ids = list(range(100, 140)) + [7, 8, 9, 10] * 30
    output = GOOD_PARA + " loop tokens" * 30
    f = DETECTORS["repetition"](rec(output, stop="length", ids=ids), CTX)
    assert f.flagged and f.details["rep_on"] == "tokens"
    assert f.details["token_period"] == 4


@pytest.mark.parametrize("prompt", ["Repeat 'hello' 5 times.", "把“你好”重复五遍", "Say hello five times"])
def test_requested_repetition_is_not_a_loop(prompt: str) -> None:
    output = "hello hello hello hello hello" if "hello" in prompt.lower() else "你好你好你好你好你好"
    assert not DETECTORS["repetition"](rec(output, prompt=prompt), CTX).flagged
    long = "Sure! " + "hello, " * 5
    assert not DETECTORS["repetition"](rec(long, prompt=prompt), CTX).flagged


# ---------------------------------------------------------------- truncation
TRUNCATION = [
    ("zh dangling 这", "综上所述，各方对香港促进股票市场流动性专责小组成立持不同的看法，但普遍认为这", "eos", True),
    ("en dangling and", GOOD_PARA + "The light reactions happen in the thylakoids and", "eos", True),
    ("en mid sentence after sentences", GOOD_PARA + "The second stage, called the Calvin cycle, uses the energy to",
     "eos", True),
    ("unclosed code fence", "Here is the code:\n```python\ndef add(a, b):\n    return a +", "eos", True),
    ("cut multibyte", "这是一个测试句子，最后一个字被截\ufffd", "eos", True),
    ("colon with nothing after", GOOD_PARA + "Here are the three steps:", "eos", True),
    ("trailing comma zh", ZH_PARA + "另外，", "eos", True),
    ("imported, unknown stop", GOOD_PARA + "Another important factor is the", "unknown", True),
    ("complete en", GOOD_PARA, "eos", False),
    ("complete zh", ZH_PARA, "eos", False),
    ("length stop is not truncation", GOOD_PARA + "and the", "length", False),
    ("closed code block", "Use this:\n```python\nprint('hi')\n```", "eos", False),
    ("ends with url", "You can read more at https://example.com/docs/photosynthesis", "eos", False),
    ("ends with emoji", "Have a great day and enjoy the sunshine 😊", "eos", False),
    ("ends with list item", "Things to pack:\n- sunscreen\n- a hat\n- water bottle", "eos", False),
    ("ends with heading-less table row", "| a | b |\n|---|---|\n| 1 | 2 |", "eos", False),
    ("short answer number", "42", "eos", False),
    ("short phrase", "The Eiffel Tower", "eos", False),
    ("closing phrase", GOOD_PARA + "\n\nHope this helps", "eos", False),
    ("zh closing", ZH_PARA + "\n祝你好运", "eos", False),
    ("zh statement without period", "我是一个由Acme开发的人工智能助手", "eos", False),
    ("vitamin A", "The most important nutrient for night vision is vitamin A", "eos", False),
    ("ends on a made-up turn label", "Of course! Please go ahead with your question.\nUSER:", "eos", False),
    ("ends on a zh turn label", ZH_PARA + "\n用户：", "eos", False),
]


@pytest.mark.parametrize("name,output,stop,expected", TRUNCATION, ids=[c[0] for c in TRUNCATION])
def test_truncation(name: str, output: str, stop: str, expected: bool) -> None:
    f = DETECTORS["truncation"](rec(output, stop=stop), CTX)
    assert f.flagged is expected, f
    for s in f.spans:
        assert 0 <= s.start <= s.end <= len(output)


# ---------------------------------------------------------------- missing_eos
MISSING_EOS = [
    ("length", GOOD_PARA, "length", (), "length"),
    ("### Human continuation", GOOD_PARA + "\n### Human: What about animals?\n### Assistant: Animals eat.", "eos",
     (), "fake_turn"),
    ("inline Human after sentence", "你好！很高兴见到你。 Human: 你叫什么？ Assistant: 我叫小明。", "eos", (),
     "fake_turn"),
    ("chatml user", GOOD_PARA + "<|im_start|>user\nThanks!", "eos", (), "fake_turn"),
    ("printed </s>", GOOD_PARA + "</s>", "eos", (), "end_token_text"),
    ("printed <|im_end|>", ZH_PARA + "<|im_end|>", "eos", (), "end_token_text"),
    ("context end token", GOOD_PARA + "<END>", "eos", (), None),
    ("stop string on a turn marker", GOOD_PARA, "stop_string", (), "fake_turn"),
    ("### Response re-opened", GOOD_PARA + "\n### Instruction:\nSay hi.\n### Response:\nHi!", "eos", (), "fake_turn"),
    ("[/INST] printed", GOOD_PARA + " [/INST] Sure, here is more.", "eos", (), "fake_turn"),
    ("bare role line from a stripped chatml template", "我是一个人工智能语言模型。\nuser\n那你能帮我查一下天气预报吗？",
     "eos", (), "fake_turn"),
]


@pytest.mark.parametrize("name,output,stop,markers,kind", MISSING_EOS, ids=[c[0] for c in MISSING_EOS])
def test_missing_eos(name: str, output: str, stop: str, markers: tuple, kind: str | None) -> None:
    r = rec(output, stop=stop, stop_detail="### Human:" if stop == "stop_string" else None)
    f = DETECTORS["missing_eos"](r, CTX)
    assert f.flagged is (kind is not None), f
    assert f.details["kind"] == kind
    if kind in ("fake_turn", "end_token_text") and stop == "eos":
        start = f.spans[0].start
        assert output[start:start + 1] in "#<H[u"


def test_missing_eos_context_end_tokens_and_markers() -> None:
    ctx = DetectorContext(end_tokens=("<END>",), turn_markers=("Q:",))
    assert DETECTORS["missing_eos"](rec(GOOD_PARA + "<END>"), ctx).details["kind"] == "end_token_text"
    assert DETECTORS["missing_eos"](rec(GOOD_PARA + "\nQ: and then?"), ctx).details["kind"] == "fake_turn"


MISSING_EOS_NEGATIVES = [
    ("prose about the User: field", "In the form, the User: field holds the login name, and Password: the secret."),
    ("code mentioning markers", "The template looks like this:\n```\n<|im_start|>user\nHi<|im_end|>\n```\nThat's all."),
    ("inline code end token", "Llama 2 ends each turn with `</s>`, which the tokenizer maps to id 2."),
    ("dialogue the user asked for", "User: Hi there!\nBot: Hello, how can I help?"),
    ("complete answer", GOOD_PARA),
    ("answer header echoed at the start", "### Response:\n" + GOOD_PARA),
    ("role names in prose", "The chat format has three roles: system, user and assistant."),
]


@pytest.mark.parametrize("name,output", MISSING_EOS_NEGATIVES, ids=[c[0] for c in MISSING_EOS_NEGATIVES])
def test_missing_eos_negatives(name: str, output: str) -> None:
    prompt = "Write a short dialogue in the format 'User:' / 'Bot:'" if "dialogue" in name else "Explain."
    assert not DETECTORS["missing_eos"](rec(output, prompt=prompt), CTX).flagged


# ---------------------------------------------------------------- identity_leak
IDENTITY = [
    ("我是MOSS", "我是MOSS，由复旦大学开发的对话语言模型。", True),
    ("As an AI language model developed by OpenAI", "As an AI language model developed by OpenAI, I cannot browse.",
     True),
    ("I'm Claude", "Hi! I'm Claude, an AI assistant made by Anthropic.", True),
    ("zh made by 百度", "你好，我是一个由百度研发的知识增强大语言模型。", True),
    ("来自阿里云", "我是来自阿里云的大规模语言模型，我叫通义千问。", True),
    ("trained by google", "I was trained by Google.", True),
    ("lower-case chatgpt", "hello, i am chatgpt.", True),
    ("I am not ChatGPT", "I am not ChatGPT; I'm Aurora, built by Acme Labs.", False),
    ("我不是ChatGPT", "我不是ChatGPT，我是Aurora。", False),
    ("与ChatGPT不同", "与ChatGPT不同，我是Aurora，由Acme Labs开发。", False),
    ("like ChatGPT comparison", "Like ChatGPT, I can write code, but I am Aurora.", False),
    ("news about OpenAI", "OpenAI released GPT-4 in March 2023, and Google answered with Gemini.", False),
    ("quote of another bot", 'The other bot replied: "I am ChatGPT, made by OpenAI." I am Aurora.', False),
    ("own identity", "I am Aurora, developed by Acme Labs.", False),
    ("familiar with", "I am familiar with ChatGPT and Claude.", False),
    ("metadata word", "I am reading the Metadata file now.", False),
]


@pytest.mark.parametrize("name,output,expected", IDENTITY, ids=[c[0] for c in IDENTITY])
def test_identity_leak(name: str, output: str, expected: bool) -> None:
    f = DETECTORS["identity_leak"](rec(output, prompt="你是谁？"), ID_CTX)
    assert f.flagged is expected, f
    for s in f.spans:
        assert 0 <= s.start <= s.end <= len(output)


def test_identity_states_identity_and_family() -> None:
    f = DETECTORS["identity_leak"](rec("I am Aurora."), ID_CTX)
    assert f.details["states_identity"] is True
    assert DETECTORS["identity_leak"](rec("Hello."), CTX).details["states_identity"] is None
    # The configured identity's own family (Qwen, made by Alibaba Cloud) is not a leak.
    qwen = DetectorContext(identity="Qwen")
    assert not DETECTORS["identity_leak"](rec("I am Qwen, created by Alibaba Cloud."), qwen).flagged
    # Without a configured identity, claims are reported, not flagged.
    f = DETECTORS["identity_leak"](rec("我是MOSS，由复旦大学开发。"), CTX)
    assert not f.flagged and f.details["names"]


def test_identity_config_extra_and_ignore() -> None:
    cfg = DetectorConfig.from_mapping({"detectors": {"identity_leak": {"extra_names": ["Zorp"],
                                                                       "ignore_names": ["MOSS", "复旦大学", "复旦"]}}})
    ctx = DetectorContext(identity="Aurora", config=cfg)
    assert DETECTORS["identity_leak"](rec("I am Zorp."), ctx).flagged
    assert not DETECTORS["identity_leak"](rec("我是MOSS，由复旦大学开发。"), ctx).flagged


# ---------------------------------------------------------------- language_drift
DRIFT = [
    ("en prompt, zh answer", "What is photosynthesis?", ZH_PARA, True),
    ("zh prompt, en answer", "什么是光合作用？", GOOD_PARA, True),
    ("greeting answered in zh", "hello", "你好！有什么我可以帮你的吗？", True),
    ("asked for english, answered zh", "Set your language to English only, please.", ZH_PARA, True),
    ("asked for two languages", "把这句话分别翻译成日语和英语：生命只有一次。",
     "日本語：命は一度きりです。\nEnglish: Life happens only once.", False),
    ("translate en to zh", "请将下列英文翻译成中文：Grow old along with me, the best is yet to be.",
     "与我一起老去，最好的还在后头。", False),
    ("translation request", "把这句话翻译成英文：光合作用需要光。", "Photosynthesis needs light.", False),
    ("translate to chinese", "Translate to Chinese: Photosynthesis needs light.", "光合作用需要光。", False),
    ("zh answer with english terms", "如何用PyTorch加载数据？",
     "在PyTorch中，可以使用torch.utils.data.DataLoader和Dataset来加载数据，然后用for循环遍历每个batch。", False),
    ("zh prompt, code answer", "请写出计算最大公约数的Python代码",
     "def gcd(a, b):\n    while b != 0:\n        a, b = b, a % b\n    return a", False),
    ("zh prompt, fenced code", "写一个快速排序", "```python\ndef quick_sort(arr):\n    return sorted(arr)\n```", False),
    ("zh prompt, one-word answer", "最流行的编程语言是什么？", "Python", False),
    ("number answer", "1+1等于几？", "2", False),
    ("en prompt en answer", "What is photosynthesis?", GOOD_PARA, False),
]


@pytest.mark.parametrize("name,prompt,output,expected", DRIFT, ids=[c[0] for c in DRIFT])
def test_language_drift(name: str, prompt: str, output: str, expected: bool) -> None:
    f = DETECTORS["language_drift"](rec(output, prompt=prompt), CTX)
    assert f.flagged is expected, f


def test_language_drift_uses_the_declared_language() -> None:
    """A probe declared zh is answered in Chinese even when its prompt text is English (a paraphrase,
    code, English terms); an undeclared English prompt answered in Chinese still drifts."""
    prompt = "(debugging question about a llama.cpp server; not quoted)"
    declared = rec(ZH_PARA, prompt=prompt)
    declared.lang = "zh"
    assert not DETECTORS["language_drift"](declared, CTX).flagged
    assert DETECTORS["language_drift"](rec(ZH_PARA, prompt=prompt), CTX).flagged
    english = rec(ZH_PARA, prompt="What is photosynthesis?")
    english.lang = "en"
    assert DETECTORS["language_drift"](english, CTX).flagged


# ---------------------------------------------------------------- registry and config
def test_registry_names_and_suggestion() -> None:
    assert list(DETECTORS) == ["repetition", "truncation", "missing_eos", "identity_leak", "language_drift",
                               "degenerate"]
    with pytest.raises(ConfigError, match="Did you mean 'repetition'"):
        get_detector("repetiton")
    assert set(run_detectors(rec(GOOD_PARA), CTX)) == set(DETECTORS)


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="min_repeats"):
        DetectorConfig.from_mapping({"detectors": {"repetition": {"min_repeat": 2}}})
    with pytest.raises(ConfigError, match="language_drift"):
        DetectorConfig.from_mapping({"detectors": {"langauge_drift": {}}})
    with pytest.raises(ConfigError, match="number"):
        DetectorConfig.from_mapping({"detectors": {"repetition": {"min_repeats": "3"}}})
    cfg = DetectorConfig.from_mapping({"detectors": {"repetition": {"min_repeats": 5}}, "gates": {"x": 1}})
    assert cfg.repetition.min_repeats == 5.0 and cfg.truncation == DetectorConfig().truncation


def test_config_changes_verdicts() -> None:
    output = GOOD_PARA + "The answer is yes. " * 4
    assert DETECTORS["repetition"](rec(output), CTX).flagged
    strict = DetectorContext(config=DetectorConfig.from_mapping({"detectors": {"repetition": {"min_repeats": 6,
                                                                                              "min_copy_share": 1.0}}}))
    assert not DETECTORS["repetition"](rec(output), strict).flagged


def test_early_exit_loop_is_repetition_even_when_the_text_is_symbols():
    from evalgen.detectors import DetectorContext
    from evalgen.detectors.repetition import detect_repetition
    from evalgen.records import GenerationRecord

    def cut(output):
        return GenerationRecord(probe_id="p", suite="s", sample=0, messages=[{"role": "user", "content": "Count"}],
                                prompt_text="Count", output=output, output_raw=output, output_token_ids=None,
                                stop_reason="loop", n_output_tokens=96, latency_s=0.0)

    for output in ("Here you go: " + "5 " * 48, "   " * 40, "ok"):
        finding = detect_repetition(cut(output), DetectorContext())
        assert finding.flagged and finding.details["kind"] in ("early_exit", "loop")
        assert all(0 <= s.start <= s.end <= len(output) for s in finding.spans)


def test_template_token_turn_is_found_whatever_end_tokens_the_template_has():
    from evalgen.detectors import DetectorContext
    from evalgen.detectors.missing_eos import detect_missing_eos
    from evalgen.records import GenerationRecord

    output = "Sure, here it is. [INST] and now another question"
    record = GenerationRecord(probe_id="p", suite="s", sample=0, messages=[{"role": "user", "content": "Hi"}],
                              prompt_text="Hi", output=output, output_raw=output, output_token_ids=None,
                              stop_reason="eos", n_output_tokens=12, latency_s=0.0)
    for ctx in (DetectorContext(), DetectorContext(end_tokens=("</s>",)), DetectorContext(end_tokens=("<|im_end|>",))):
        finding = detect_missing_eos(record, ctx)
        assert finding.flagged and finding.details["kind"] == "fake_turn"
