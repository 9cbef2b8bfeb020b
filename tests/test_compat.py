"""evalgen.compat: the same behaviour on transformers 4.46 and 5.x (CI runs this file on both)."""

import json
import shutil

import pytest

from evalgen.compat import (
    apply_chat_template_ids,
    dtype_kwargs,
    generation_config,
    load_pretrained_tokenizer,
    transformers_version,
)

CHATML_HI = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_version_is_supported():
    assert transformers_version() >= (4, 46)


def test_dtype_keyword_follows_the_version():
    import torch

    kwargs = dtype_kwargs(torch.bfloat16)
    assert list(kwargs.values()) == [torch.bfloat16]
    assert list(kwargs) == (["dtype"] if transformers_version() >= (4, 56) else ["torch_dtype"])


@pytest.mark.parametrize("layout", ["jinja", "in_config", "tokenizers_backend_class"])
def test_tokenizer_layouts_written_by_any_version_load_with_their_template(tiny_tokenizer, tmp_path, layout):
    folder = tmp_path / "tok"
    shutil.copytree(tiny_tokenizer, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    if layout == "in_config":  # older saves keep the template inside tokenizer_config.json
        config["chat_template"] = (folder / "chat_template.jinja").read_text()
        (folder / "chat_template.jinja").unlink()
    if layout == "tokenizers_backend_class":  # what transformers >= 5.20 writes
        config["tokenizer_class"] = "TokenizersBackend"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = load_pretrained_tokenizer(folder)
    assert tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                         tokenize=False) == CHATML_HI
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<pad>")
    ids = apply_chat_template_ids(tokenizer, [{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    assert ids == tokenizer(CHATML_HI, add_special_tokens=False)["input_ids"]
    assert all(type(i) is int for i in ids)


def test_generation_config_pins_what_decides_the_output():
    greedy = generation_config(max_new_tokens=8, do_sample=False, eos_token_id=[1], pad_token_id=2)
    assert (greedy.max_new_tokens, greedy.do_sample, greedy.num_beams, greedy.repetition_penalty) == (8, False, 1, 1.0)
    assert greedy.no_repeat_ngram_size == 0
    sampled = generation_config(max_new_tokens=8, do_sample=True, temperature=0.7, top_p=0.9)
    assert (sampled.top_k, sampled.temperature, sampled.top_p) == (0, 0.7, 0.9)


@pytest.mark.slow
def test_a_models_generation_config_does_not_change_greedy_outputs(tiny_family, tmp_path):
    """A checkpoint whose generation_config.json asks for a repetition penalty (as many SFT checkpoints
    do) gives the same records: evalgen decodes with its own settings on every backend and version."""
    from evalgen.backends.base import GenerationSettings
    from evalgen.runner import RunOptions, run
    from evalgen.tinymodels import FACTS, write_probe_suite

    copy = tmp_path / "penalised"
    shutil.copytree(tiny_family["base"], copy)
    config = json.loads((copy / "generation_config.json").read_text())
    config.update(repetition_penalty=1.5, no_repeat_ngram_size=2, top_k=5, do_sample=True, temperature=0.3)
    (copy / "generation_config.json").write_text(json.dumps(config))
    suite = write_probe_suite(tmp_path / "facts.jsonl", FACTS[:8])
    runs = [run(RunOptions(checkpoint=str(c), suites=[str(suite)], out=str(tmp_path / n), backend="hf",
                           generation=GenerationSettings(max_new_tokens=24), progress=False, teacher_forced=False))
            for n, c in (("a", tiny_family["base"]), ("b", copy))]
    assert [r.output_token_ids for r in runs[0].records] == [r.output_token_ids for r in runs[1].records]
