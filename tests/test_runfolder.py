"""The run folder keeps every finished record through kills, failures and odd characters."""

import pytest

from evalgen.errors import RunFolderError
from evalgen.records import GenerationRecord
from evalgen.runfolder import RunFolder, read_generations


def record(probe_id, output="ok", stop_reason="eos"):
    return GenerationRecord(probe_id=probe_id, suite="s", sample=0, messages=[{"role": "user", "content": "q"}],
                            prompt_text="q", output=output, output_raw=output, output_token_ids=[1, 2],
                            stop_reason=stop_reason, n_output_tokens=2, latency_s=0.1)


def test_resume_drops_a_half_written_line_and_failed_records(tmp_path):
    folder = RunFolder(tmp_path)
    folder.append([record("a"), record("b", "", "error"), record("c")])
    with folder.generations_path.open("a") as handle:
        handle.write('{"probe_id": "d", "sui')
    resumed = RunFolder(tmp_path, resume=True)
    assert sorted(k[1] for k in resumed.done) == ["a", "c"]  # b failed: retried; d was cut: redone
    assert [r.probe_id for r in read_generations(folder.generations_path)] == ["a", "c"]


def test_line_separators_inside_outputs_survive_a_round_trip(tmp_path):
    tricky = "line\u2028separator\u2029paragraph\u0085next\rreturn"
    folder = RunFolder(tmp_path)
    folder.append([record("a", tricky), record("b")])
    assert [r.output for r in read_generations(folder.generations_path)] == [tricky, "ok"]
    assert set(RunFolder(tmp_path, resume=True).done) == {("s", "a", 0), ("s", "b", 0)}


def test_existing_folder_needs_resume_and_a_corrupt_middle_line_is_named(tmp_path):
    folder = RunFolder(tmp_path)
    folder.append([record("a")])
    with pytest.raises(RunFolderError, match="pass --resume"):
        RunFolder(tmp_path)
    text = folder.generations_path.read_text()
    folder.generations_path.write_text("{broken\n" + text)
    with pytest.raises(RunFolderError, match=r"generations.jsonl:1: corrupt record"):
        RunFolder(tmp_path, resume=True)
