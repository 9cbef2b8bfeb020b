"""Hugging Face Hub ids (`ORG/NAME[@REVISION]`) through a local Hub cache the tests lay out themselves
(models--ORG--NAME/refs/<revision> → snapshots/<commit>/...), offline: nothing here reaches a hub."""

import json
import shutil
import subprocess
import sys

import pytest

from evalgen.cli import main
from evalgen.hub import parse_hub_id

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def lay_out_cache(cache, repo, snapshots, refs):
    """A Hub cache folder as huggingface_hub writes it: refs name commits, snapshots hold the files."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    for commit, source in snapshots.items():
        shutil.copytree(source, folder / "snapshots" / commit, ignore=shutil.ignore_patterns(".complete"))
    (folder / "refs").mkdir(parents=True)
    for ref, commit in refs.items():
        (folder / "refs" / ref).write_text(commit)
    return folder


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, tiny_family):
    cache = tmp_path / "hf-cache"
    lay_out_cache(cache, "northwind/tiny-chat", {COMMIT_A: tiny_family["base"], COMMIT_B: tiny_family["healthy"]},
                  {"main": COMMIT_A, "v2": COMMIT_B})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def suite(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"id": "cap", "prompt": "What is the capital of France?", "reference": "Paris",
                                "scorer": "contains"}) + "\n" + json.dumps({"id": "who", "prompt": "Who are you?"})
                    + "\n", encoding="utf-8")
    return path


def run_cli(*args):
    return main(["run", *map(str, args), "--no-progress", "--max-new-tokens", "16"])


def outputs(folder):
    return [json.loads(line)["output_token_ids"] for line in (folder / "generations.jsonl").read_text().splitlines()]


def test_parse_hub_id():
    assert parse_hub_id("Qwen/Qwen2.5-0.5B-Instruct") == ("Qwen/Qwen2.5-0.5B-Instruct", None)
    assert parse_hub_id("org/name@v1.2") == ("org/name", "v1.2")
    assert parse_hub_id("org/name@" + COMMIT_A) == ("org/name", COMMIT_A)
    for not_an_id in ("name", "a/b/c", "/abs/path", "./rel/x", "../x/y", "org/na me", "org/"):
        assert parse_hub_id(not_an_id) is None, not_an_id


@pytest.mark.slow
def test_hub_id_resolves_through_the_cache_and_is_recorded(hub_cache, tiny_family, tmp_path):
    s = suite(tmp_path)
    assert run_cli("northwind/tiny-chat", "--suite", s, "--out", tmp_path / "hub") == 0
    assert run_cli(tiny_family["base"], "--suite", s, "--out", tmp_path / "local") == 0
    assert outputs(tmp_path / "hub") == outputs(tmp_path / "local")
    meta = json.loads((tmp_path / "hub" / "run.json").read_text())
    assert meta["checkpoint"]["hub"] == {"id": "northwind/tiny-chat", "revision": "main", "commit": COMMIT_A}
    assert meta["checkpoint"]["path"].endswith(f"snapshots/{COMMIT_A}")

    assert run_cli("northwind/tiny-chat@v2", "--suite", s, "--out", tmp_path / "v2") == 0
    meta = json.loads((tmp_path / "v2" / "run.json").read_text())
    assert meta["checkpoint"]["hub"] == {"id": "northwind/tiny-chat", "revision": "v2", "commit": COMMIT_B}


@pytest.mark.slow
def test_a_local_folder_wins_over_a_hub_id(hub_cache, tiny_family, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_family["healthy"], tmp_path / "northwind" / "tiny-chat")
    s = suite(tmp_path)
    assert run_cli("northwind/tiny-chat", "--suite", s, "--out", tmp_path / "r") == 0
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert "hub" not in meta["checkpoint"] and meta["checkpoint"]["path"] == "northwind/tiny-chat"


@pytest.mark.slow
def test_an_adapter_whose_base_is_a_hub_id(hub_cache, tiny_family, tmp_path):
    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_family["lora"], adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "northwind/tiny-chat"
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    s = suite(tmp_path)
    assert run_cli(adapter, "--suite", s, "--out", tmp_path / "a") == 0
    assert run_cli(tiny_family["lora"], "--suite", s, "--out", tmp_path / "b") == 0
    assert outputs(tmp_path / "a") == outputs(tmp_path / "b")
    meta = json.loads((tmp_path / "a" / "run.json").read_text())
    assert meta["checkpoint"]["base"].endswith(f"snapshots/{COMMIT_A}")


def test_neither_a_folder_nor_in_the_cache_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert run_cli("nobody/nothing-here", "--suite", suite(tmp_path), "--out", tmp_path / "r") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "nobody/nothing-here: not a local folder and not in the Hugging Face cache" in err
    assert "HF_HUB_OFFLINE is set" in err
    assert not (tmp_path / "r").exists()


def test_a_fresh_process_honours_the_environment(tiny_tokenizer, tmp_path):
    """HF_HUB_CACHE / HF_HUB_OFFLINE as set for the command (huggingface_hub reads them at import time;
    evalgen at each call). Here the Hub id names the tokenizer of a replayed (scripted) run."""
    cache = tmp_path / "cache"
    lay_out_cache(cache, "northwind/tok", {COMMIT_A: tiny_tokenizer}, {"main": COMMIT_A})
    script = tmp_path / "script.jsonl"
    script.write_text(json.dumps({"id": "cap", "output": "Paris.<|im_end|>"}) + "\n"
                      + json.dumps({"id": "who", "output": "Aurora.<|im_end|>"}) + "\n", encoding="utf-8")
    env_run = [sys.executable, "-m", "evalgen", "run", "northwind/tok", "--backend", "scripted", "--script",
               str(script), "--suite", str(suite(tmp_path)), "--out", str(tmp_path / "r"), "--no-progress"]
    import os

    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(env_run, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["tokenizer"] == f"northwind/tok@{COMMIT_A}"
    missing = subprocess.run([*env_run[:4], "northwind/other", *env_run[5:-3], "--out", str(tmp_path / "r2"),
                              "--no-progress"], capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "northwind/other: not a local folder" in missing.stderr
