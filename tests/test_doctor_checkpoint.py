"""Doctor checkpoint checks: each code on a tiny checkpoint with one planted fault (config, tokenizer,
template or weights edited), and the healthy tiny family raising no warning or error."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from evalgen.doctor.checkpoint import check_checkpoint, quick_checkpoint_check, template_format
from evalgen.doctor.findings import CODES, exit_code

ALPACA = ("{% for m in messages %}{% if m['role'] == 'user' %}### Instruction:\n{{ m['content'] }}\n\n### Response:\n"
          "{% else %}{{ m['content'] }}\n\n{% endif %}{% endfor %}")
OWN_END = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|eot|>' + '\n' }}"
           "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def codes(folder: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in check_checkpoint(folder):
        out.setdefault(f.code, []).append(f)
    return out


def serious(folder: Path) -> set[str]:
    return {f.code for f in check_checkpoint(folder) if f.severity != "info"}


@pytest.fixture()
def ckpt(tiny_family: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the healthy tiny checkpoint to plant a fault in."""
    return Path(shutil.copytree(tiny_family["healthy"], tmp_path / "ckpt"))


def edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2))


def tokenizer(folder: Path):  # noqa: ANN201 - a transformers tokenizer
    from evalgen.compat import load_pretrained_tokenizer

    return load_pretrained_tokenizer(folder)


@pytest.mark.parametrize("member", ["base", "healthy", "broken", "no_eos", "lora"])
def test_healthy_family_raises_nothing(tiny_family: dict[str, Path], member: str) -> None:
    # broken/no_eos misbehave because of their training data, which a checkpoint check cannot see.
    found = check_checkpoint(tiny_family[member])
    assert [(f.code, f.severity) for f in found] == [("template_format", "info")]
    assert found[0].evidence["format"] == "chatml" and found[0].evidence["end_token"] == "<|im_end|>"
    assert exit_code(found) == 0


def test_eos_mismatch(ckpt: Path) -> None:
    tok = tokenizer(ckpt)
    other = tok.convert_tokens_to_ids("</s>")
    edit_json(ckpt / "generation_config.json", eos_token_id=other)
    (f,) = codes(ckpt)["eos_mismatch"]
    assert f.severity == "error" and f.path.endswith("generation_config.json")
    assert f.evidence["template_end_token"] == "<|im_end|>" and f.evidence["generation_eos_token_id"] == other
    assert "missing_eos" in f.detectors and exit_code([f]) == 1
    # A list holding the end-of-turn id is fine.
    edit_json(ckpt / "generation_config.json", eos_token_id=[other, tok.eos_token_id])
    assert "eos_mismatch" not in codes(ckpt)


def test_pad_is_eos(ckpt: Path) -> None:
    from evalgen.tinymodels import save_tokenizer

    tok = tokenizer(ckpt)
    tok.pad_token = tok.eos_token
    save_tokenizer(tok, ckpt)
    (f,) = codes(ckpt)["pad_is_eos"]
    assert f.severity == "warning" and f.evidence["pad_token"] == "<|im_end|>"
    assert f.evidence["pad_token_id"] == tok.eos_token_id


def test_no_chat_template(ckpt: Path) -> None:
    (ckpt / "chat_template.jinja").unlink()
    found = codes(ckpt)
    assert list(found) == ["no_chat_template"] and found["no_chat_template"][0].severity == "warning"


def test_template_format_and_eos_not_in_template(ckpt: Path) -> None:
    (ckpt / "chat_template.jinja").write_text(ALPACA)
    found = codes(ckpt)
    assert found["template_format"][0].evidence["format"] == "alpaca"
    (f,) = found["eos_not_in_template"]
    assert f.severity == "error" and f.evidence["after_answer"] == "\n\n### Instruction:\n"
    assert "eos_mismatch" not in found and "special_token_missing" not in found
    assert template_format("{{ messages[0]['content'] }}") is None
    assert template_format("<|start_header_id|>user<|end_header_id|>") == "llama3"


def test_special_token_missing(ckpt: Path) -> None:
    (ckpt / "chat_template.jinja").write_text(OWN_END)
    found = codes(ckpt)
    (f,) = found["special_token_missing"]
    assert list(f.evidence["tokens"]) == ["<|eot|>"] and len(f.evidence["tokens"]["<|eot|>"]) > 1  # its pieces
    assert "eos_not_in_template" in found  # the turn now ends with <|eot|>, which is not the EOS


def test_embedding_size_mismatch(ckpt: Path) -> None:
    from evalgen.tinymodels import save_tokenizer

    tok = tokenizer(ckpt)
    rows = json.loads((ckpt / "config.json").read_text())["vocab_size"]
    tok.add_tokens(["<|tool|>"], special_tokens=True)
    save_tokenizer(tok, ckpt)  # the classic mistake: tokens added, embeddings never resized
    (f,) = codes(ckpt)["embedding_size_mismatch"]
    assert f.evidence["rows"] == rows and f.evidence["tokenizer_size"] == rows + 1
    assert f.path.endswith("model.safetensors")


def test_config_vocab_size_disagrees(ckpt: Path) -> None:
    rows = json.loads((ckpt / "config.json").read_text())["vocab_size"]
    edit_json(ckpt / "config.json", vocab_size=rows + 64)
    (f,) = codes(ckpt)["embedding_size_mismatch"]
    assert f.evidence["config_vocab_size"] == rows + 64


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_nan_weights(ckpt: Path, dtype: str) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    path = ckpt / "model.safetensors"
    state = {k: v.to(getattr(torch, dtype)) for k, v in load_file(path).items()}
    assert "nan_weights" not in codes(ckpt)
    name = next(k for k in state if k.endswith("layers.1.mlp.down_proj.weight"))
    state[name][3, 5] = float("nan")
    state[name][0, 0] = float("inf")
    save_file(state, path, metadata={"format": "pt"})
    (f,) = codes(ckpt)["nan_weights"]
    assert f.evidence["tensors"] == {name: 2} and f.severity == "error"


def test_generation_config_suspicious(ckpt: Path) -> None:
    edit_json(ckpt / "generation_config.json", repetition_penalty=1.3, max_new_tokens=16, temperature=0.7)
    (f,) = codes(ckpt)["generation_config_suspicious"]
    assert f.evidence == {"repetition_penalty": 1.3, "max_new_tokens": 16, "ignored_under_greedy": {"temperature": 0.7}}


def test_adapter_base_mismatch(tiny_family: dict[str, Path], tiny_tokenizer: Path, tmp_path: Path) -> None:
    from doctor_fixtures import run_tiny_trainer

    other = run_tiny_trainer(tiny_tokenizer, tmp_path / "other", steps=2, save_steps=2, eval_steps=2) / "checkpoint-2"
    adapter = Path(shutil.copytree(tiny_family["lora"], tmp_path / "adapter"))
    assert serious(adapter) == set()
    edit_json(adapter / "adapter_config.json", base_model_name_or_path=str(other))
    (f,) = codes(adapter)["adapter_base_mismatch"]
    layers = f.evidence["layers"]
    assert f.severity == "error" and layers and all(v == {"adapter_in": 96, "base_in": 32} or "adapter_out" in v
                                                     or v == "no such layer in the base" for v in layers.values())
    edit_json(adapter / "adapter_config.json", base_model_name_or_path="org/not-here")
    (g,) = codes(adapter)["adapter_base_mismatch"]
    assert g.severity == "warning"


def test_every_checkpoint_code_is_planted_above() -> None:
    source = Path(__file__).read_text()
    for code, info in CODES.items():
        if info.area == "checkpoint":
            assert f'"{code}"' in source, code


def test_quick_check_is_fast(tiny_family: dict[str, Path]) -> None:
    quick_checkpoint_check(tiny_family["healthy"])  # imports warm
    began = time.perf_counter()
    quick_checkpoint_check(tiny_family["base"])
    assert time.perf_counter() - began < 0.5


def test_xml_text_in_a_template_is_no_special_token(ckpt: Path) -> None:
    # Qwen2.5-style: the tools branch writes "<tools></tools>" as text; only rendered <...> tokens count.
    with_tools = ("{% if tools %}{{ '<|im_start|>system\nYou may call functions in <tools></tools> tags."
                  "<|im_end|>\n' }}{% endif %}" + (ckpt / "chat_template.jinja").read_text())
    (ckpt / "chat_template.jinja").write_text(with_tools)
    assert serious(ckpt) == set()
    gemma = ("{% for m in messages %}{{ '<start_of_turn>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
             "{% endfor %}")
    (ckpt / "chat_template.jinja").write_text(gemma)
    (f,) = codes(ckpt)["special_token_missing"]
    assert list(f.evidence["tokens"]) == ["<start_of_turn>"]
