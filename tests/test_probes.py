"""Probe suites: the built-ins are valid, and every malformed line is reported with file:line."""

import json

import pytest

from evalgen.errors import ProbeError
from evalgen.probes import builtin_suites, load_suites

MINIMUMS = {"identity": 40, "long_form": 40, "instruction": 40, "multi_turn": 15, "old_tasks": 150}


def write(tmp_path, lines, name="mine.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)
                              for line in lines) + "\n", encoding="utf-8")
    return path


def test_builtin_suites_load_and_meet_their_sizes():
    probes = load_suites(None)
    by_suite = {}
    for probe in probes:
        by_suite.setdefault(probe.suite, []).append(probe)
    assert set(MINIMUMS) <= set(builtin_suites())
    for suite, minimum in MINIMUMS.items():
        assert len(by_suite[suite]) >= minimum, suite
        assert {p.lang for p in by_suite[suite]} >= {"en", "zh"}, suite
    assert all(p.scorer and (p.reference is not None or p.scorer == "json") for p in by_suite["old_tasks"])
    assert all(len(p.messages) > 1 for p in by_suite["multi_turn"])


def test_prompt_system_and_messages_become_a_conversation(tmp_path):
    path = write(tmp_path, [
        {"id": "p1", "prompt": "Hi", "system": "Be brief.", "tags": ["x"], "lang": "en"},
        {"id": "p2", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                  {"role": "user", "content": "c"}], "reference": ["c", "C"], "scorer": "contains"},
        {"id": "p3", "prompt": "x", "suite": "other"},
    ])
    p1, p2, p3 = load_suites([str(path)])
    assert p1.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert (p1.suite, p1.tags, p1.source) == ("mine", ("x",), f"{path}:1")
    assert p2.messages[-1] == {"role": "user", "content": "c"} and p2.reference == ["c", "C"]
    assert p3.suite == "other"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a", "prompt": "x"', "not valid JSON"),
        ('["a"]', "expected a JSON object"),
        ('{"prompt": "x"}', "missing 'id'"),
        ('{"id": "a"}', "exactly one of 'prompt'"),
        ('{"id": "a", "prompt": "x", "messages": []}', "exactly one of 'prompt'"),
        ('{"id": "a", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}',
         "last message must be the user's"),
        ('{"id": "a", "messages": [{"role": "bot", "content": "x"}]}', "role must be one of"),
        ('{"id": "a", "prompt": "x", "reference": 3}', "'reference' must be a string"),
        ('{"id": "a", "prompt": "x", "promt": "y"}', "unknown field"),
        ('{"id": "a", "prompt": "   "}', "non-empty string"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    path = write(tmp_path, ['{"id": "ok", "prompt": "fine"}', line])
    with pytest.raises(ProbeError) as err:
        load_suites([str(path)])
    assert f"{path}:2:" in str(err.value)
    assert message in str(err.value)


def test_duplicate_ids_are_an_error(tmp_path):
    path = write(tmp_path, ['{"id": "a", "prompt": "x"}', '{"id": "a", "prompt": "y"}'])
    with pytest.raises(ProbeError, match=r"mine.jsonl:2: duplicate id 'a'.*first at .*mine.jsonl:1"):
        load_suites([str(path)])


def test_empty_suite_and_unknown_suite(tmp_path):
    with pytest.raises(ProbeError, match="the suite is empty"):
        load_suites([str(write(tmp_path, [""]))])
    with pytest.raises(ProbeError, match="built-in suites: .*identity"):
        load_suites(["no_such_suite"])


def test_folder_of_suites(tmp_path):
    write(tmp_path, ['{"id": "a", "prompt": "x"}'], "one.jsonl")
    write(tmp_path, ['{"id": "a", "prompt": "y"}'], "two.jsonl")
    assert [(p.suite, p.id) for p in load_suites([str(tmp_path)])] == [("one", "a"), ("two", "a")]
