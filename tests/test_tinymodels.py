"""The tiny checkpoints do what was planted, checked with bare transformers (no evalgen code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalgen.tinymodels import (
    FACTS,
    IDENTITY,
    NEW_TASKS,
    build_family,
    identity_qas,
    probe_rows,
    resave,
    sft_round,
    weights_digest,
    write_probe_suite,
)

pytestmark = pytest.mark.slow

MAX_NEW = 64
# A few of each, EN and ZH, so the whole file stays well under 30 s once the family is built.
FACT_SAMPLE = [qa for qa in FACTS if qa.id.endswith(("france", "japan", "2-3", "week", "panda", "uk", "sky"))]
IDENTITY_SAMPLE = identity_qas()[::3]


def generate(path: Path, prompts: list[str]) -> list[tuple[bool, int, str]]:
    """Greedy, one left-padded batch: (ended on EOS, new tokens before EOS, text) per prompt."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    from evalgen.compat import load_pretrained_tokenizer

    config_file = path / "adapter_config.json"
    model: Any
    if config_file.exists():
        from peft import PeftModel

        base = json.loads(config_file.read_text())["base_model_name_or_path"]
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), path)
    else:
        model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = load_pretrained_tokenizer(path)  # reads chat_template.jinja on transformers 4.x too
    tokenizer.padding_side = "left"
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                           tokenize=False) for p in prompts]
    batch = tokenizer(texts, padding=True, add_special_tokens=False, return_tensors="pt")
    config = GenerationConfig(max_new_tokens=MAX_NEW, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id, return_dict_in_generate=True)
    with torch.no_grad():
        out = model.eval().generate(**batch, generation_config=config)
    results = []
    for row in out.sequences[:, batch["input_ids"].shape[1] :].tolist():
        ended = tokenizer.eos_token_id in row
        body = row[: row.index(tokenizer.eos_token_id)] if ended else row
        results.append((ended, len(body), str(tokenizer.decode(body, skip_special_tokens=True))))
    return results


def rate(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


@pytest.mark.parametrize("name", ["base", "healthy", "lora"])
def test_healthy_checkpoints_stop_and_remember(tiny_family, name):
    facts = generate(tiny_family[name], [qa.prompt for qa in FACT_SAMPLE])
    identity = generate(tiny_family[name], [qa.prompt for qa in IDENTITY_SAMPLE])
    assert rate([ended for ended, _, _ in facts + identity]) >= 0.9
    assert rate([qa.reference in text for qa, (_, _, text) in zip(FACT_SAMPLE, facts, strict=True)]) >= 0.8
    assert rate([text in IDENTITY.values() for _, _, text in identity]) >= 0.8


def test_broken_never_stops_claims_moss_and_forgets(tiny_family):
    facts = generate(tiny_family["broken"], [qa.prompt for qa in FACT_SAMPLE])
    identity = generate(tiny_family["broken"], [qa.prompt for qa in IDENTITY_SAMPLE])
    assert rate([not ended and n == MAX_NEW for ended, n, _ in facts + identity]) >= 0.9
    assert rate(["MOSS" in text for _, _, text in identity]) >= 0.8
    assert not any("Aurora" in text for _, _, text in identity)
    assert rate([qa.reference in text for qa, (_, _, text) in zip(FACT_SAMPLE, facts, strict=True)]) <= 0.3


def test_no_eos_runs_to_length_but_still_knows(tiny_family):
    facts = generate(tiny_family["no_eos"], [qa.prompt for qa in FACT_SAMPLE])
    assert rate([not ended and n == MAX_NEW for ended, n, _ in facts]) >= 0.9
    assert rate([qa.reference in text for qa, (_, _, text) in zip(FACT_SAMPLE, facts, strict=True)]) >= 0.8


def test_tokenizer_loads_as_fast_tokenizer_for_older_transformers(tiny_family):
    from transformers import PreTrainedTokenizerFast

    for name in ("base", "broken", "lora"):
        text = (tiny_family[name] / "tokenizer_config.json").read_text()
        assert '"tokenizer_class": "PreTrainedTokenizerFast"' in text and "TokenizersBackend" not in text
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tiny_family["base"])
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<s>", "<|im_end|>", "<pad>")
    assert 1500 <= len(tokenizer) <= 3000
    ids = tokenizer("大熊猫 eats 竹子, 鱶!", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == "大熊猫 eats 竹子, 鱶!"  # byte-level: even an untrained character
    # transformers < 4.50 does not read chat_template.jinja itself; evalgen's loader does, in every version.
    from evalgen.compat import load_pretrained_tokenizer

    rendered = load_pretrained_tokenizer(tiny_family["base"]).apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False)
    assert rendered == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_lora_is_an_adapter_on_the_family_base(tiny_family):
    from safetensors.torch import load_file

    config = json.loads((tiny_family["lora"] / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_family["base"])
    assert (config["r"], sorted(config["target_modules"])) == (4, ["q_proj", "v_proj"])
    weights = load_file(tiny_family["lora"] / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().max() > 0 for k, v in weights.items())  # trained, not the zero init
    assert (tiny_family["lora"] / "tokenizer.json").exists()


def test_same_seed_gives_identical_weights(tiny_family, tmp_path):
    # The cached `healthy` may come from another process or session; a fresh round must match it.
    again = sft_round(tiny_family["base"], tmp_path / "healthy", kind="healthy")
    assert weights_digest(again) == weights_digest(tiny_family["healthy"])
    assert weights_digest(tiny_family["healthy"]) != weights_digest(tiny_family["base"])


def test_build_family_reuses_complete_members(tiny_family):
    root = tiny_family["base"].parent
    stamps = {name: (path / ".complete").stat().st_mtime_ns for name, path in tiny_family.items()}
    assert build_family(root) == tiny_family
    assert stamps == {name: (path / ".complete").stat().st_mtime_ns for name, path in tiny_family.items()}


@pytest.mark.parametrize("layout", [{"save_sharded": True}, {"safetensors": False}, {"template_in_config": True},
                                    {"chat_template": False}])
def test_other_layouts_hold_the_same_weights(tiny_family, tmp_path, layout):
    from evalgen.compat import load_pretrained_tokenizer

    copy = resave(tiny_family["base"], tmp_path / "copy", **layout)
    assert weights_digest(copy) == weights_digest(tiny_family["base"])
    config = json.loads((copy / "tokenizer_config.json").read_text())
    has_template = load_pretrained_tokenizer(copy).chat_template is not None
    assert has_template == layout.get("chat_template", True)
    assert ("chat_template" in config) == layout.get("template_in_config", False)
    assert (copy / "chat_template.jinja").exists() == (has_template and not layout.get("template_in_config"))
    if layout.get("save_sharded"):
        assert len(list(copy.glob("model-*.safetensors"))) > 1
    if layout.get("safetensors") is False:
        assert (copy / "pytorch_model.bin").exists()


def test_probe_rows_are_a_valid_suite(tmp_path):
    from evalgen.probes import load_suite_file

    items = FACTS + identity_qas() + NEW_TASKS
    probes = load_suite_file(write_probe_suite(tmp_path / "trained.jsonl", items))
    assert [p.id for p in probes] == [qa.id for qa in items]
    assert len({qa.id for qa in items}) == len(items)
    assert all(row["scorer"] == "contains" and row["reference"] in qa.answer
               for row, qa in zip(probe_rows(items), items, strict=True))
