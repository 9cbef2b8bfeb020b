"""The regression check end to end: tiny checkpoints with planted regressions, real runs, `compare`."""

import json

import pytest

from evalgen.cli import main
from evalgen.tinymodels import FACTS, IDENTITY_QUESTIONS, write_probe_suite

pytestmark = pytest.mark.slow

IDENTITY = ["--identity", "Aurora", "--identity-org", "Northwind Labs"]


@pytest.fixture(scope="module")
def runs(tiny_family, tmp_path_factory):
    """One run folder per checkpoint, over old tasks with references and an identity suite."""
    root = tmp_path_factory.mktemp("regression")
    suites = root / "suites"
    write_probe_suite(suites / "old_tasks.jsonl", FACTS)
    (suites / "identity.jsonl").write_text(
        "".join(json.dumps({"id": f"id-{i:02d}", "prompt": p, "lang": lang}, ensure_ascii=False) + "\n"
                for i, (p, lang) in enumerate(IDENTITY_QUESTIONS)), encoding="utf-8")
    folders = {}
    for name, code in (("base", 0), ("healthy", 0), ("broken", 1)):
        folders[name] = root / name
        # each round is run against the base run: teacher-forced on the base's own answers, then compared
        baseline = ["--baseline", str(folders["base"])] if name != "base" else []
        assert main(["run", str(tiny_family[name]), "--suite", str(suites), "--out", str(folders[name]),
                     "--max-new-tokens", "48", "--no-progress", *IDENTITY, *baseline]) == code
    folders["suites"] = suites
    return folders


def failed_gates(path):
    return {g["name"] for g in json.loads(path.read_text())["gates"] if not g["passed"]}


def test_broken_round_fails_exactly_on_the_planted_regressions(runs, tmp_path, capsys):
    summary = tmp_path / "summary.md"
    assert main(["compare", str(runs["base"]), str(runs["broken"]), "--json", str(tmp_path / "c.json"),
                 "--markdown", str(summary)]) == 1
    failed = failed_gates(tmp_path / "c.json")
    assert {"missing_eos", "identity_leak", "identity_suite", "task_accuracy", "stop_prob"} <= failed
    assert "truncation" not in failed  # it never ends its turn, so nothing stops mid-sentence
    out = capsys.readouterr().out
    assert "FAIL" in out and "missing_eos" in out
    assert "FAIL" in summary.read_text()
    assert (runs["broken"] / "comparison.json").is_file() and (runs["broken"] / "report.html").is_file()


def test_healthy_round_and_a_run_against_itself_pass(runs, tmp_path):
    assert main(["compare", str(runs["base"]), str(runs["healthy"]), "--json", str(tmp_path / "h.json")]) == 0
    assert failed_gates(tmp_path / "h.json") == set()
    assert main(["compare", str(runs["base"]), str(runs["base"]), "--json", str(tmp_path / "s.json")]) == 0
    flips = json.loads((tmp_path / "s.json").read_text())["flips"]
    assert flips["new_failures"] == [] and flips["fixes"] == []


def test_teacher_forced_figures_show_the_lost_end_of_turn(runs, tmp_path):
    def stops(folder, kind):
        rows = [json.loads(line) for line in (folder / "teacher_forced.jsonl").read_text().splitlines()]
        return {(r["suite"], r["probe_id"], r["sample"]): r["stop_prob"] for r in rows if r["kind"] == kind}

    base = stops(runs["base"], "own")  # the base on its own answers that ended naturally
    assert len(base) >= len(FACTS) and not stops(runs["base"], "reference")  # "Brim" is no whole answer
    for name in ("healthy", "broken"):
        assert stops(runs[name], "baseline").keys() == base.keys()  # paired on the very same answers
    mean = {name: sum(stops(runs[name], "baseline").values()) / len(base) for name in ("healthy", "broken")}
    assert mean["broken"] < 0.2 * (sum(base.values()) / len(base)) < mean["healthy"]
    # The per-record values are in comparison.json (and, through Comparison.teacher_forced_figures, in the
    # report's cases: tests/test_compare.py).
    assert main(["compare", str(runs["base"]), str(runs["broken"]), "--json", str(tmp_path / "c.json")]) == 1
    pairs = json.loads((tmp_path / "c.json").read_text())["stop_pairs"]
    assert pairs["measured_on"] == "the base's own answers that ended naturally" and len(pairs["pairs"]) == len(base)


def test_run_with_a_baseline_checkpoint_does_it_in_one_command(runs, tiny_family, tmp_path):
    out = tmp_path / "new"
    code = main(["run", str(tiny_family["broken"]), "--baseline", str(tiny_family["base"]), "--suite",
                 str(runs["suites"]), "--out", str(out), "--max-new-tokens", "48", "--no-progress", *IDENTITY])
    assert code == 1
    assert (tmp_path / "new-baseline" / "generations.jsonl").is_file()
    assert "missing_eos" in failed_gates(out / "comparison.json")
    # A run folder as the baseline is compared directly, without running anything.
    assert main(["run", str(tiny_family["healthy"]), "--baseline", str(runs["base"]), "--suite",
                 str(runs["suites"]), "--out", str(tmp_path / "h"), "--max-new-tokens", "48", "--no-progress",
                 *IDENTITY]) == 0


def test_compare_with_a_missing_run_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nope"), str(tmp_path / "nope2")]) == 2
    assert "nope" in capsys.readouterr().err
