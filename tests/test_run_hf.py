"""`evalgen run` end to end on the HF backend with tiny locally trained checkpoints."""

import json
import shutil
import subprocess
import sys

import pytest

from evalgen.cli import main
from evalgen.tinymodels import FACTS, IDENTITY_QUESTIONS, identity_qas, resave, write_probe_suite

pytestmark = pytest.mark.slow


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return write_probe_suite(tmp_path_factory.mktemp("suite") / "trained.jsonl", FACTS + identity_qas())


def run_cli(*args):
    return main(["run", *map(str, args), "--no-progress"])


def bare_generate(checkpoint, prompts, max_new_tokens):
    """The reference: a plain transformers script, one left-padded batch, greedy."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from evalgen.compat import dtype_kwargs

    tokenizer = AutoTokenizer.from_pretrained(checkpoint, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(checkpoint, **dtype_kwargs(torch.float32)).eval()
    batch = tokenizer(prompts, padding=True, add_special_tokens=False, return_tensors="pt")
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id, return_dict_in_generate=True)
    with torch.inference_mode():
        out = model.generate(**batch, generation_config=config)
    width = batch["input_ids"].shape[1]
    rows = []
    for row in out.sequences[:, width:].tolist():
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id) + 1]
        rows.append(row)
    return rows


def test_run_writes_records_equal_to_bare_generate(tiny_family, suite, tmp_path):
    out = tmp_path / "run"
    n = len(FACTS) + len(IDENTITY_QUESTIONS)
    assert run_cli(tiny_family["base"], "--suite", suite, "--out", out, "--max-new-tokens", 64,
                   "--batch-size", n, "--no-early-exit") == 0
    records = read_jsonl(out / "generations.jsonl")
    assert len(records) == n
    for record in records:
        assert {"probe_id", "suite", "sample", "messages", "prompt_text", "output", "output_raw",
                "output_token_ids", "stop_reason", "n_output_tokens", "latency_s", "version"} <= set(record)
    # The prompt is exactly what the checkpoint's template renders, with a single BOS.
    from evalgen.compat import load_pretrained_tokenizer

    tokenizer = load_pretrained_tokenizer(tiny_family["base"])
    first = records[0]
    assert first["prompt_text"] == tokenizer.apply_chat_template(first["messages"], add_generation_prompt=True,
                                                                 tokenize=False)
    expected = bare_generate(tiny_family["base"], [r["prompt_text"] for r in records], 64)
    assert [r["output_token_ids"] for r in records] == expected
    stops = [r["stop_reason"] for r in records]
    assert stops.count("eos") >= 0.9 * n
    assert all(r["stop_detail"] == "<|im_end|>" for r in records if r["stop_reason"] == "eos")
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete" and meta["counts"]["records"] == n
    assert meta["template"]["turn_markers"] == ["<|im_start|>user"]
    assert meta["template"]["end_tokens"] == ["<|im_end|>"]


def test_checkpoint_trained_without_eos_runs_to_length(tiny_family, suite, tmp_path):
    out = tmp_path / "run"
    assert run_cli(tiny_family["no_eos"], "--suite", suite, "--out", out, "--max-new-tokens", 48) == 0
    stops = [r["stop_reason"] for r in read_jsonl(out / "generations.jsonl")]
    assert stops.count("eos") == 0
    assert stops.count("length") + stops.count("loop") + stops.count("stop_string") == len(stops)
    assert stops.count("length") >= 0.8 * len(stops)


@pytest.fixture(scope="module")
def scripted(tiny_tokenizer, tmp_path_factory):
    """CLI arguments that replay the trained answers through the scripted backend: the plumbing tests
    below (interrupt, resume, settings checks) need no model."""
    script = tmp_path_factory.mktemp("script") / "replies.jsonl"
    script.write_text("".join(json.dumps({"id": qa.id, "output": qa.answer + "<|im_end|>"}, ensure_ascii=False) + "\n"
                              for qa in FACTS + identity_qas()), encoding="utf-8")
    return [tiny_tokenizer, "--backend", "scripted", "--script", script]


def test_interrupted_run_resumes_without_losing_or_repeating_records(scripted, suite, tmp_path, monkeypatch):
    from evalgen.backends.scripted import ScriptedBackend

    full = tmp_path / "full"
    assert run_cli(*scripted, "--suite", suite, "--out", full, "--max-new-tokens", 32, "--batch-size", 8) == 0
    original = ScriptedBackend.complete
    calls = {"n": 0}

    def interrupt_in_the_third_batch(self, request):
        calls["n"] += 1
        if calls["n"] == 17:
            raise KeyboardInterrupt
        return original(self, request)

    monkeypatch.setattr(ScriptedBackend, "complete", interrupt_in_the_third_batch)
    out = tmp_path / "resumed"
    assert run_cli(*scripted, "--suite", suite, "--out", out, "--max-new-tokens", 32, "--batch-size", 8) == 130
    assert len(read_jsonl(out / "generations.jsonl")) == 16
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    # A kill in the middle of a write leaves half a line: resume must redo that record.
    with (out / "generations.jsonl").open("a") as handle:
        handle.write('{"probe_id": "half')
    monkeypatch.setattr(ScriptedBackend, "complete", original)
    assert run_cli(*scripted, "--suite", suite, "--out", out, "--max-new-tokens", 32,
                   "--batch-size", 8) == 2  # exists: needs --resume
    assert run_cli(*scripted, "--suite", suite, "--out", out, "--max-new-tokens", 32,
                   "--batch-size", 8, "--resume") == 0
    resumed = read_jsonl(out / "generations.jsonl")
    key = lambda r: (r["suite"], r["probe_id"], r["sample"])  # noqa: E731
    assert sorted(map(key, resumed)) == sorted(map(key, read_jsonl(full / "generations.jsonl")))
    by_key = {key(r): r["output_token_ids"] for r in read_jsonl(full / "generations.jsonl")}
    assert all(by_key[key(r)] == r["output_token_ids"] for r in resumed)
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_resume_refuses_changed_settings(scripted, suite, tmp_path):
    out = tmp_path / "run"
    assert run_cli(*scripted, "--suite", suite, "--out", out, "--max-new-tokens", 8) == 0
    assert run_cli(*scripted, "--suite", suite, "--out", out, "--max-new-tokens", 16, "--resume") == 2


def test_lora_adapter_is_applied_on_its_base(tiny_family, suite, tmp_path):
    out = tmp_path / "run"
    assert run_cli(tiny_family["lora"], "--suite", suite, "--out", out, "--max-new-tokens", 32) == 0
    meta = json.loads((out / "run.json").read_text())
    assert meta["checkpoint"]["adapter"] is True
    assert meta["checkpoint"]["base"] == str(tiny_family["base"])
    from evalgen.checkpoint import inspect_checkpoint, load_model

    model = load_model(inspect_checkpoint(tiny_family["lora"]))
    assert type(model).__name__ == "PeftModelForCausalLM"  # applied, not merged
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_lora_base_override_and_missing_base(tiny_family, tmp_path, capsys):
    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_family["lora"], adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "someorg/not-here"
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    assert run_cli(adapter, "--out", tmp_path / "r1", "--suite", "identity") == 2
    assert "pass --base PATH" in capsys.readouterr().err
    from evalgen.checkpoint import inspect_checkpoint

    assert inspect_checkpoint(adapter, base=tiny_family["base"]).model_path == tiny_family["base"]


@pytest.mark.parametrize("layout", [dict(save_sharded=True), dict(safetensors=False),
                                    dict(template_in_config=True)])
def test_other_checkpoint_layouts_give_the_same_outputs(tiny_family, suite, tmp_path, layout):
    copy = resave(tiny_family["base"], tmp_path / "copy", **layout)
    if layout.get("template_in_config"):
        assert not (copy / "chat_template.jinja").exists()
        assert "chat_template" in json.loads((copy / "tokenizer_config.json").read_text())
    if layout.get("save_sharded"):
        assert (copy / "model.safetensors.index.json").exists()
    for name, path in (("a", tiny_family["base"]), ("b", copy)):
        assert run_cli(path, "--suite", suite, "--out", tmp_path / name, "--max-new-tokens", 16) == 0
    outputs = [[r["output"] for r in read_jsonl(tmp_path / n / "generations.jsonl")] for n in "ab"]
    assert outputs[0] == outputs[1]


def test_named_template_is_used_for_rendering(tiny_family, suite, tmp_path):
    out = tmp_path / "run"
    assert run_cli(tiny_family["base"], "--suite", suite, "--out", out, "--max-new-tokens", 4,
                   "--template", "guanaco") == 0
    record = read_jsonl(out / "generations.jsonl")[0]
    assert record["prompt_text"].startswith("<s>### Human: ") or record["prompt_text"].startswith("### Human: ")
    assert record["prompt_text"].endswith(" ### Assistant:")


def one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_missing_checkpoint_is_one_line_exit_2(tmp_path, capsys):
    assert run_cli(tmp_path / "nope", "--out", tmp_path / "r") == 2
    assert "nope: checkpoint folder not found" in one_line_error(capsys)


def test_broken_probe_line_names_file_and_line(tiny_family, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prompt": "hi"}\n{"id": "b", "prompt": \n', encoding="utf-8")
    assert run_cli(tiny_family["base"], "--suite", bad, "--out", tmp_path / "r") == 2
    assert f"{bad}:2: not valid JSON" in one_line_error(capsys)
    assert not (tmp_path / "r").exists()  # nothing loaded, nothing written


@pytest.mark.parametrize(("damage", "message"), [
    ("truncate", "model.safetensors: corrupt or truncated safetensors file"),
    ("config", "config.json: corrupt JSON"),
    ("no_config", "config.json is missing"),
    ("no_tokenizer", "no tokenizer files"),
])
def test_damaged_checkpoint_is_named(tiny_family, tmp_path, capsys, damage, message):
    copy = tmp_path / "ckpt"
    shutil.copytree(tiny_family["base"], copy)
    if damage == "truncate":
        data = (copy / "model.safetensors").read_bytes()
        (copy / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "config":
        (copy / "config.json").write_text("{ not json")
    elif damage == "no_config":
        (copy / "config.json").unlink()
    else:
        (copy / "tokenizer.json").unlink()
    assert run_cli(copy, "--suite", "identity", "--out", tmp_path / "r") == 2
    assert message in one_line_error(capsys)


def test_no_template_and_unknown_template(tiny_family, tmp_path, capsys):
    bare = resave(tiny_family["base"], tmp_path / "bare", chat_template=False)
    capsys.readouterr()
    assert run_cli(bare, "--suite", "identity", "--out", tmp_path / "r1") == 2
    assert "no chat template" in one_line_error(capsys)
    assert run_cli(tiny_family["base"], "--suite", "identity", "--out", tmp_path / "r2", "--template", "alpacca") == 2
    assert "Did you mean 'alpaca'" in one_line_error(capsys)


def test_import_and_help_do_not_load_torch():
    code = ("import sys, evalgen, evalgen.cli\n"
            "try:\n    evalgen.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "evalgen" in result.stdout
