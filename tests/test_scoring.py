"""The scoring API: batch equals per-record, the scores file round-trips, imports validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.errors import ProbeError, RunFolderError
from evalgen.records import Finding, GenerationRecord
from evalgen.scoring import (
    ScoreLine,
    read_scores,
    records_from_external,
    score_folder,
    score_record,
    score_records,
    write_scores,
)

CTX = DetectorContext(turn_markers=("### Human:",), end_tokens=("</s>",), identity="Aurora", identity_org="Acme")

OUTPUTS = [
    ("Photosynthesis turns light into chemical energy. " * 3, "Explain photosynthesis.", "eos"),
    ("Photosynthesis is " + "the process the process " * 20, "Explain photosynthesis.", "length"),
    ("综上所述，各方对此持不同的看法，但普遍认为这", "总结一下", "eos"),
    ("Sure.\n### Human: and then?", "Hi", "eos"),
    ("我是MOSS，由复旦大学开发。", "你是谁？", "eos"),
    ("光合作用是植物利用光能的过程。", "What is photosynthesis?", "eos"),
    ("42", "What is 6 x 7?", "eos"),
    ("", "Say nothing.", "unknown"),
]


def records() -> list[GenerationRecord]:
    return [
        GenerationRecord(
            probe_id=f"p{i}", suite="mix", sample=i % 2, messages=[{"role": "user", "content": prompt}],
            prompt_text=prompt, output=out, output_raw=out, output_token_ids=None, stop_reason=stop,
            n_output_tokens=0, latency_s=0.0,
        )
        for i, (out, prompt, stop) in enumerate(OUTPUTS)
    ]


def test_batch_equals_per_record() -> None:
    recs = records()
    batch = score_records(recs, CTX)
    assert len(batch) == len(recs)
    for record, line in zip(recs, batch, strict=True):
        assert line.findings == {name: detect(record, CTX) for name, detect in DETECTORS.items()}
        assert line.findings == score_record(record, CTX).findings
    flags = [line.flags for line in batch]
    assert flags[1]["repetition"] and flags[1]["missing_eos"]
    assert flags[2]["truncation"] and flags[3]["missing_eos"] and flags[4]["identity_leak"]
    assert flags[5]["language_drift"] and not any(flags[6].values())


def test_score_line_keys_and_roundtrip(tmp_path: Path) -> None:
    lines = score_records(records(), CTX)
    lines[0].extra["task_correct"] = True  # a task scorer's key travels beside the detectors'
    path = tmp_path / "scores.jsonl"
    write_scores(path, lines)
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert list(first)[:5] == ["id", "suite", "sample", "flags", "findings"]
    assert set(first["flags"]) == set(DETECTORS) == set(first["findings"])
    assert first["task_correct"] is True
    for name, finding in lines[0].findings.items():
        assert first["findings"][name] == finding.to_dict()
    back = read_scores(path)
    assert [b.to_dict() for b in back] == [line.to_dict() for line in lines]
    assert isinstance(back[0].findings["repetition"], Finding)


def test_read_scores_errors(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="not found"):
        read_scores(tmp_path / "missing.jsonl")
    bad = tmp_path / "scores.jsonl"
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"scores.jsonl:1"):
        read_scores(bad)


def test_records_from_external(tmp_path: Path) -> None:
    path = tmp_path / "outside.jsonl"
    rows = [
        {"id": "a", "prompt": "Hi", "output": "Hello!", "finish_reason": "stop"},
        {"id": "b", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q?"}],
         "output": "A", "finish_reason": "length", "output_token_ids": [1, 2], "sample": 3, "suite": "x",
         "reference": "A", "scorer": "exact"},
        {"id": 7, "prompt": "Hi", "output": "Hey", "finish_reason": None},
        {"id": "d", "messages": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
                                 {"role": "user", "content": "Q2", "name": "dropped"}], "output": "A2"},
        {"id": "e", "messages": [{"role": "system", "content": "Be brief."}], "output": "?"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    a, b, c, d, e = records_from_external(path)
    assert (a.suite, a.sample, a.stop_reason, a.prompt_text, a.output_raw) == ("outside", 0, "eos", "Hi", "Hello!")
    assert (b.suite, b.sample, b.stop_reason, b.prompt_text) == ("x", 3, "length", "Q?")
    assert b.output_token_ids == [1, 2] and b.reference == "A" and b.scorer == "exact"
    assert c.probe_id == "7" and c.stop_reason == "unknown"
    assert d.prompt_text == "Q2" and d.messages == [{"role": "user", "content": "Q1"},
                                                    {"role": "assistant", "content": "A1"},
                                                    {"role": "user", "content": "Q2"}]
    assert e.prompt_text == "" and e.messages == [{"role": "system", "content": "Be brief."}]


@pytest.mark.parametrize("line,message", [
    ("not json", "not valid JSON"),
    ('{"prompt": "x", "output": "y"}', "missing field 'id'"),
    ('{"id": "a", "output": "y"}', "'prompt' or a 'messages'"),
    ('{"id": "a", "prompt": "x"}', "'output'"),
    ('{"id": "a", "prompt": "x", "output": "y", "finish_reason": "eos"}', "finish_reason"),
    ('{"id": "a", "prompt": "x", "output": "y", "output_token_ids": ["1"]}', "output_token_ids"),
    ('{"id": "a", "messages": [{"role": "user"}], "output": "y"}', "messages"),
    ('{"id": "a", "messages": "hi", "output": "y"}', "messages"),
    ('{"id": "a", "messages": [{"role": "user", "content": "x"}, "hi"], "output": "y"}', "messages"),
    ('{"id": "a", "messages": [{"role": 1, "content": "x"}], "output": "y"}', "messages"),
    ('[1, 2]', "JSON object"),
])
def test_records_from_external_errors(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "ok", "prompt": "x", "output": "y"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ProbeError, match=rf"bad.jsonl:2: .*{message}"):
        records_from_external(path)


def test_score_folder(tmp_path: Path) -> None:
    src = tmp_path / "gens.jsonl"
    src.write_text(json.dumps({"id": "a", "prompt": "你是谁？", "output": "我是MOSS，由复旦大学开发。",
                               "finish_reason": "stop"}) + "\n", encoding="utf-8")
    lines = score_folder(src, tmp_path / "out", CTX)
    assert lines[0].flags["identity_leak"]
    gens = (tmp_path / "out" / "generations.jsonl").read_text(encoding="utf-8").splitlines()
    assert GenerationRecord.from_dict(json.loads(gens[0])).output.startswith("我是MOSS")
    assert read_scores(tmp_path / "out" / "scores.jsonl")[0].id == "a"
    assert isinstance(lines[0], ScoreLine)
