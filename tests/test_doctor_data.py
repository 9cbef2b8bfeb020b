"""Doctor data checks: healthy SFT files in the three layouts raise nothing; each planted fault raises
its code (with counts and line numbers), tokenized with the tiny checkpoint's template."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from evalgen.doctor.data import DataConfig, DataError, check_data, iter_rows, tokenizer_view
from evalgen.doctor.findings import CODES
from evalgen.tinymodels import FACTS, identity_qas

LAYOUTS = ("alpaca", "sharegpt", "messages")


def line(prompt: str, answer: str, layout: str) -> dict[str, Any]:
    if layout == "alpaca":
        return {"instruction": prompt, "input": "", "output": answer}
    if layout == "sharegpt":
        return {"conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": answer}]}
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def healthy_pairs() -> list[tuple[str, str]]:
    return [(qa.prompt, qa.answer) for qa in [*FACTS, *identity_qas()]]


def write(path: Path, pairs: list[tuple[str, str]], layout: str = "messages") -> Path:
    path.write_text("".join(json.dumps(line(p, a, layout), ensure_ascii=False) + "\n" for p, a in pairs),
                    encoding="utf-8")
    return path


def serious(findings: list) -> dict[str, Any]:
    return {f.code: f for f in findings if f.severity != "info"}


@pytest.fixture(scope="module")
def view(tiny_family: dict[str, Path]) -> Any:
    return tokenizer_view(tiny_family["healthy"])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_healthy_data_raises_nothing(tmp_path: Path, view: Any, layout: str) -> None:
    path = write(tmp_path / "d.jsonl", healthy_pairs(), layout)
    assert [len(r.targets) for r in iter_rows(path)] == [1] * len(healthy_pairs())
    assert check_data([path], tokenizer=view) == []


@pytest.mark.parametrize("layout", LAYOUTS)
def test_identity_strings_counted_per_name_with_lines(tmp_path: Path, view: Any, layout: str) -> None:
    pairs = healthy_pairs()
    pairs[5:5] = [(qa.prompt, qa.answer) for qa in identity_qas(planted=True)[:3]]  # lines 6-8: MOSS
    pairs.append(("你是谁？", "我是ChatGPT，一个由OpenAI开发的人工智能助手。"))
    found = serious(check_data([write(tmp_path / "d.jsonl", pairs, layout)], tokenizer=view))
    assert list(found) == ["data_identity"]
    ev = found["data_identity"].evidence
    assert ev["names"]["MOSS"] == 3 and ev["lines"]["MOSS"] == [6, 7, 8]
    assert ev["names"]["ChatGPT"] == 1 and ev["lines"]["ChatGPT"] == [len(pairs)]
    assert found["data_identity"].severity == "error"


def test_conversations_longer_than_cutoff_len(tmp_path: Path, view: Any) -> None:
    pairs = healthy_pairs()
    rng = random.Random(0)
    words = ["the", "city", "has", "old", "streets", "many", "people", "live", "near", "river", "parks",
             "bridges", "museums", "cafes", "shops"]
    long = " ".join(rng.choice(words) for _ in range(150)) + "."
    pairs.insert(2, ("Describe Paris.", long))
    path = write(tmp_path / "d.jsonl", pairs)
    assert serious(check_data([path], tokenizer=view)) == {}  # fits the default 1024
    found = serious(check_data([path], tokenizer=view, cfg=DataConfig(cutoff_len=64)))
    assert list(found) == ["data_cut_without_eos"]
    ev = found["data_cut_without_eos"].evidence
    assert ev["n_lines"] == 1 and ev["lines_and_tokens"][0][0] == 3 and ev["longest_tokens"] > 64
    # The count is the whole rendered conversation's, within a token of tokenizing it in one piece.
    messages = [{"role": "user", "content": pairs[2][0]}, {"role": "assistant", "content": pairs[2][1]}]
    from evalgen.compat import load_pretrained_tokenizer
    from evalgen.doctor.checkpoint import render_template

    tok = load_pretrained_tokenizer(view.path)
    whole = len(tok(render_template(tok.chat_template, messages), add_special_tokens=False)["input_ids"])
    assert abs(ev["longest_tokens"] - whole) <= 2


def test_targets_without_eos_under_a_template_that_drops_it(tmp_path: Path, tiny_family: dict[str, Path]) -> None:
    from test_doctor_checkpoint import ALPACA

    folder = Path(shutil.copytree(tiny_family["healthy"], tmp_path / "ckpt"))
    (folder / "chat_template.jinja").write_text(ALPACA)
    path = write(tmp_path / "d.jsonl", healthy_pairs())
    found = serious(check_data([path], tokenizer=tokenizer_view(folder)))
    assert list(found) == ["data_missing_eos"]
    ev = found["data_missing_eos"].evidence
    assert ev["n_lines"] == len(healthy_pairs()) and ev["lines"][:3] == [1, 2, 3]
    assert ev["template_after_answer"] == "\n\n" and set(ev["targets_end_with"]) <= {"Ċ", "ĊĊ"}


def test_empty_responses(tmp_path: Path, view: Any) -> None:
    pairs = healthy_pairs() + [("Say something.", ""), ("And again?", "   ")]
    found = serious(check_data([write(tmp_path / "d.jsonl", pairs, "alpaca")], tokenizer=view))
    assert list(found) == ["data_empty_response"]
    assert found["data_empty_response"].evidence == {"n_lines": 2, "lines": [len(pairs) - 1, len(pairs)]}


def test_duplicates(tmp_path: Path, view: Any) -> None:
    pairs = healthy_pairs()
    pairs += [pairs[0], pairs[0], pairs[3]]
    found = serious(check_data([write(tmp_path / "d.jsonl", pairs)], tokenizer=view))
    assert list(found) == ["data_duplicates"]
    ev = found["data_duplicates"].evidence
    n = len(healthy_pairs())
    assert ev["n_duplicate_lines"] == 3 and ev["n_groups"] == 2
    assert sorted(map(tuple, ev["examples"])) == [(1, n + 1), (4, n + 3), (n + 1, n + 2)]


def test_looping_targets(tmp_path: Path, view: Any) -> None:
    pairs = healthy_pairs()
    pairs.insert(0, ("What is the capital of France?", "The capital of France is Paris. " * 8))
    pairs.insert(4, ("法国的首都是哪里？", "法国的首都是巴黎。" * 10))
    found = serious(check_data([write(tmp_path / "d.jsonl", pairs)], tokenizer=view))
    assert list(found) == ["data_loops"]
    assert found["data_loops"].evidence == {"n_lines": 2, "lines": [1, 5]}


def test_language_mix(tmp_path: Path, view: Any) -> None:
    pairs = healthy_pairs()
    zh = [i for i, (p, _) in enumerate(pairs) if "首都" in p]
    for i in zh[:4]:  # Chinese questions answered in English
        pairs[i] = (pairs[i][0], "The capital is a large city.")
    found = serious(check_data([write(tmp_path / "d.jsonl", pairs)], tokenizer=view))
    assert list(found) == ["data_language_mix"]
    ev = found["data_language_mix"].evidence
    assert ev["n_other_language_answers"] == 4 and ev["other_language_lines"] == [i + 1 for i in zh[:4]]
    assert set(ev["prompts"]) == {"latin", "zh"}
    # English-only data with a few Chinese answers: the minority under 10% of the targets.
    en = [(qa.prompt, qa.answer) for qa in FACTS if qa.lang == "en"] * 3
    en.append(("Say hello in Chinese.", "你好，很高兴认识你。"))
    found = serious(check_data([write(tmp_path / "e.jsonl", en)]))
    assert "zh" in found["data_language_mix"].evidence["targets"]


def test_json_array_files_and_errors(tmp_path: Path) -> None:
    array = tmp_path / "a.json"
    array.write_text(json.dumps([line("Hi?", "Hello.", "alpaca"), line("Who?", "Me.", "sharegpt")]))
    assert [r.line for r in iter_rows(array)] == [1, 2]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(line("Hi?", "Hello.", "alpaca")) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid JSON"):
        check_data([bad])
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"question": "q", "answer": "a"}\n')
    with pytest.raises(DataError, match=r"odd\.jsonl:1: no known layout"):
        check_data([odd])
    with pytest.raises(DataError, match="cannot read"):
        check_data([tmp_path / "missing.jsonl"])


def test_every_data_code_is_planted_above() -> None:
    source = Path(__file__).read_text()
    for code, info in CODES.items():
        if info.area == "data":
            assert f'"{code}"' in source, code
