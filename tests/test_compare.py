"""compare_runs and the gates on run folders built here, with regressions planted on purpose."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from evalgen.compare import compare_runs, load_run, run_compare
from evalgen.errors import ConfigError, RunFolderError
from evalgen.gates import GateConfig, gate_config
from evalgen.records import Finding, GenerationRecord, RunMeta, ScoreLine, TeacherForcedRow
from evalgen.runfolder import RunFolder
from evalgen.runner import write_jsonl
from evalgen.scoring import write_scores

DETECTORS = ("repetition", "truncation", "missing_eos", "identity_leak", "language_drift")

SETTINGS = {
    "max_new_tokens": 256,
    "temperature": 0.0,
    "top_p": 1.0,
    "seed": 0,
    "samples": 1,
    "batch_size": 8,
    "dtype": "float32",
    "device": "cpu",
    "stop_strings": [],
    "early_exit": True,
}


@dataclass
class Row:
    """One probe × sample of a synthetic run: what it said and which detectors fire."""

    suite: str
    probe_id: str
    output: str = "Fine."
    flags: set[str] = field(default_factory=set)
    scorer: str | None = None
    reference: str | None = None
    sample: int = 0
    n_tokens: int = 20


def write_run(
    folder: Path,
    rows: list[Row],
    *,
    settings: dict[str, Any] | None = None,
    status: str = "complete",
    teacher_forced: list[dict[str, Any]] | None = None,
    name: str = "run",
) -> Path:
    """A run folder written by the project's own writers (RunFolder, write_scores, TeacherForcedRow)."""
    folder.mkdir(parents=True)
    run = RunFolder(folder)
    run.write_meta(RunMeta(
        status=status,
        name=name,
        checkpoint={"path": f"/ckpt/{name}", "hash": "same-config-and-tokenizer", "fingerprint": f"weights-{name}",
                    "adapter": False, "base": None},
        backend="hf",
        template={"name": "chatml", "turn_markers": ["<|im_start|>"], "end_tokens": ["<|im_end|>"]},
        settings=settings or SETTINGS,
        versions={"evalgen": "0.1.0"},
        identity={"name": "Evalbot", "org": "Example Lab"},
    ))
    records, scores = [], []
    for r in rows:
        record = GenerationRecord(
            probe_id=r.probe_id,
            suite=r.suite,
            sample=r.sample,
            messages=[{"role": "user", "content": "q"}],
            prompt_text="q",
            output=r.output,
            output_raw=r.output,
            output_token_ids=None,
            stop_reason="length" if "missing_eos" in r.flags else "eos",
            n_output_tokens=r.n_tokens,
            latency_s=0.01,
            reference=r.reference,
            scorer=r.scorer,
        )
        records.append(record)
        findings = {d: Finding(d, d in r.flags, float(d in r.flags)) for d in DETECTORS}
        scores.append(ScoreLine(r.probe_id, r.suite, r.sample, findings, {"task_correct": None}))
    run.append(records)
    write_scores(folder / "scores.jsonl", scores)
    if teacher_forced is not None:
        tf = [TeacherForcedRow.from_dict(t).to_dict() for t in teacher_forced]
        write_jsonl(folder / "teacher_forced.jsonl", tf)
    return folder


def base_rows() -> list[Row]:
    """100 general probes (2 missing EOS), 10 identity probes, 50 arithmetic probes (45 right)."""
    rows = [Row("instruction", f"ins-{i:03d}", flags={"missing_eos"} if i < 2 else set()) for i in range(100)]
    rows += [Row("identity", f"id-{i:02d}", output="I am Evalbot, made by Example Lab.") for i in range(10)]
    for i in range(50):
        answer = 10 + i
        said = answer if i < 45 else answer + 1
        rows.append(
            Row("old_tasks", f"arith-{i:02d}", output=f"The answer is {said}.", scorer="numeric", reference=str(answer))
        )
    # Some repetition that stays put, so an unchanged detector is exercised too.
    for r in rows[10:14]:
        r.flags.add("repetition")
    return rows


def regressed_rows() -> list[Row]:
    """missing_eos 2% → 40% of general probes, 5 identity leaks, accuracy 90% → 60%,
    repetition shuffled evenly (3 new, 3 fixed: no real change)."""
    rows = base_rows()
    general = [r for r in rows if r.suite == "instruction"]
    for r in general[:40]:
        r.flags.add("missing_eos")
    for r in [r for r in rows if r.suite == "identity"][:5]:
        r.output = "I am Qwen, created by Alibaba Cloud."
        r.flags.add("identity_leak")
    arith = [r for r in rows if r.suite == "old_tasks"]
    for r in arith[:16]:  # 16 right → wrong
        r.output = "The answer is 7."
    arith[45].output = f"The answer is {10 + 45}."  # 1 wrong → right
    for r in general[10:13]:
        r.flags.discard("repetition")
    for r in general[50:53]:
        r.flags.add("repetition")
    return rows


def failed(comparison: Any) -> set[str]:
    return {g.name for g in comparison.gates if not g.passed}


def test_planted_regression_fails_exactly_the_planted_gates(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", base_rows(), name="base")
    new = write_run(tmp_path / "new", regressed_rows(), name="new")
    c = compare_runs(base, new, {})

    # identity_leak as a rate gate passes: 5 flips of 160 give McNemar p = 2/32 = 0.0625 ≥ 0.05.
    # The identity-suite gate is the one that catches a leak on the identity probes.
    assert failed(c) == {"missing_eos", "identity_suite", "task_accuracy"}
    assert not c.passed

    eos = c.metric("missing_eos")
    assert eos is not None
    assert (eos.n, eos.new_failures, eos.fixes) == (160, 38, 0)
    assert eos.base == pytest.approx(2 / 160) and eos.new == pytest.approx(40 / 160)
    assert eos.ci_low > 0.02 and eos.ci_low <= eos.delta <= eos.ci_high
    assert eos.p_value is not None and eos.p_value < 1e-9
    per_suite = c.metric("missing_eos", "instruction")
    assert per_suite is not None and (per_suite.base, per_suite.new) == (pytest.approx(0.02), pytest.approx(0.40))

    rep = c.metric("repetition")
    assert rep is not None and (rep.new_failures, rep.fixes, rep.delta, rep.p_value) == (3, 3, 0.0, 1.0)

    acc = c.metric("task_accuracy")
    assert acc is not None and acc.kind == "task" and acc.n == 50
    assert (acc.base, acc.new) == (pytest.approx(0.9), pytest.approx(0.6))
    assert (acc.new_failures, acc.fixes) == (16, 1)
    assert acc.ci_high < 0 and acc.p_value == pytest.approx(2 * 18 / 2**17)
    assert c.metric("task_accuracy", "instruction") is None  # no task probes there

    ident = next(g for g in c.gates if g.name == "identity_suite")
    assert "5 of 10" in ident.reason

    # The worst flips: arithmetic answers that went wrong are listed with "task".
    assert len(c.new_failures) == 38 + 5 + 16 + 3
    assert {"suite": "old_tasks", "probe_id": "arith-00", "sample": 0, "detectors": ["task"]} in [
        f.to_dict() for f in c.new_failures
    ]
    assert [f.probe_id for f in c.fixes if "task" in f.detectors] == ["arith-45"]


def test_run_compared_with_itself_passes_with_no_flips(tmp_path: Path) -> None:
    run = write_run(tmp_path / "a", base_rows())
    c = compare_runs(run, run, {})
    assert c.passed and failed(c) == set()
    assert c.new_failures == [] and c.fixes == []
    assert all(m.delta == 0 and m.new_failures == 0 and m.fixes == 0 for m in c.metrics)
    assert all(m.p_value == 1.0 for m in c.metrics if m.kind != "teacher_forced")
    assert (c.n_common, c.n_dropped_base, c.n_dropped_new) == (160, 0, 0)
    assert c.length.ks == 0.0
    assert any("same weights" in w for w in c.warnings)
    # Two rounds of one base share config and tokenizer files: only the weights tell them apart.
    other = write_run(tmp_path / "b", base_rows(), name="round2")
    assert not any("same weights" in w for w in compare_runs(run, other, {}).warnings)


def test_different_probe_sets_use_common_keys_and_count_drops(tmp_path: Path) -> None:
    rows = base_rows()
    new_rows = [r for r in base_rows() if r.probe_id not in {f"ins-{i:03d}" for i in range(90, 100)}]
    new_rows += [Row("instruction", f"extra-{i}") for i in range(5)]
    c = compare_runs(write_run(tmp_path / "a", rows), write_run(tmp_path / "b", new_rows), {})
    assert (c.n_common, c.n_dropped_base, c.n_dropped_new) == (150, 10, 5)
    assert any("dropped 10 only in base, 5 only in new" in w for w in c.warnings)
    eos = c.metric("missing_eos")
    assert eos is not None and eos.n == 150


def test_differing_settings_template_and_status_warn(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", base_rows())
    settings = {**SETTINGS, "temperature": 0.7, "max_new_tokens": 512}
    new = write_run(tmp_path / "b", base_rows(), settings=settings, status="interrupted")
    c = compare_runs(base, new, {})
    settings_warning = next(w for w in c.warnings if w.startswith("generation settings differ"))
    assert "temperature 0.0 → 0.7" in settings_warning and "max_new_tokens 256 → 512" in settings_warning
    assert any("new run status is 'interrupted'" in w for w in c.warnings)
    assert c.passed  # warnings inform, they do not fail a gate


def test_samples_pair_by_sample_index(tmp_path: Path) -> None:
    rows = [Row("instruction", f"p{i}", sample=s) for i in range(20) for s in range(3)]
    new_rows = [
        Row("instruction", f"p{i}", sample=s, flags={"truncation"} if s == 2 else set())
        for i in range(20)
        for s in range(3)
    ]
    c = compare_runs(write_run(tmp_path / "a", rows), write_run(tmp_path / "b", new_rows), {})
    trunc = c.metric("truncation")
    assert trunc is not None and (trunc.n, trunc.new_failures) == (60, 20)
    assert {f.sample for f in c.new_failures} == {2}


def tf_lines(stop: float, logprob: float, n: int = 30) -> list[dict[str, Any]]:
    return [
        {
            "suite": "old_tasks",
            "probe_id": f"arith-{i:02d}",
            "ref_logprob_mean": logprob + 0.01 * i,
            "stop_prob": stop,
            "n_ref_tokens": 5,
        }
        for i in range(n)
    ]


def test_stop_probability_collapse_fails_its_gate(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", base_rows(), teacher_forced=tf_lines(0.6, -1.0))
    new = write_run(tmp_path / "b", base_rows(), teacher_forced=tf_lines(0.1, -1.5))
    c = compare_runs(base, new, {})
    assert failed(c) == {"stop_prob"}
    stop = c.metric("stop_prob")
    logprob = c.metric("ref_logprob")
    assert stop is not None and logprob is not None
    assert (stop.base, stop.new, stop.p_value) == (pytest.approx(0.6), pytest.approx(0.1), None)
    assert logprob.delta == pytest.approx(-0.5) and logprob.ci_low == pytest.approx(-0.5)
    # A milder fall (0.6 → 0.25) stays above the 0.2 floor and passes.
    mild = write_run(tmp_path / "c", base_rows(), teacher_forced=tf_lines(0.25, -1.0))
    assert compare_runs(base, mild, {}).passed


def answer_rows(kind: str, stops: list[float], answer_from: str | None = None) -> list[dict[str, Any]]:
    """Teacher-forced rows on generated answers (`own` or `baseline`), one per instruction probe."""
    return [{"suite": "instruction", "probe_id": f"ins-{i:03d}", "sample": 0, "kind": kind, "stop_prob": stop,
             "ref_logprob_mean": -0.5, "n_ref_tokens": 8, "answer_from": answer_from} for i, stop in enumerate(stops)]


def test_stop_prob_is_paired_on_the_base_answers_and_gated_only_where_informative(tmp_path: Path) -> None:
    # The base stopped on its own after 20 answers: 15 with a clear end (0.9), 5 where its own end token
    # was barely likelier than the rest (0.3, not informative). Short references give noise in both runs.
    noise = tf_lines(0.04, -1.0, n=10)
    base = write_run(tmp_path / "a", base_rows(), name="base",
                     teacher_forced=noise + answer_rows("own", [0.9] * 15 + [0.3] * 5))
    healthy_refs = tf_lines(0.006, -1.0, n=10)  # the healthy round: 0.040 → 0.006 at "Brim"
    healthy = write_run(tmp_path / "b", base_rows(), name="healthy",
                        teacher_forced=healthy_refs + answer_rows("baseline", [0.85] * 15 + [0.01] * 5, "base"))
    c = compare_runs(base, healthy, {})
    assert c.passed, [g.reason for g in c.failed_gates]
    stop = c.metric("stop_prob")
    assert stop is not None and stop.n == 15 and stop.base == pytest.approx(0.9) and stop.new == pytest.approx(0.85)
    assert len(c.stop_pairs) == 20 and sum(p.informative for p in c.stop_pairs) == 15
    assert c.stop_source == "the base's own answers that ended naturally"
    figures = c.teacher_forced_figures()["instruction/ins-019/0"]
    assert figures["stop prob, base"] == 0.3 and figures["counts for the gate"] is False
    # A round that lost its end of turn fails on the same pairs.
    broken = write_run(tmp_path / "c", base_rows(), name="broken",
                       teacher_forced=answer_rows("baseline", [0.02] * 20, "base"))
    assert "stop_prob" in failed(compare_runs(base, broken, {}))
    # Rows forced on another run's answers are not paired with this base.
    other = write_run(tmp_path / "d", base_rows(), name="other",
                      teacher_forced=answer_rows("baseline", [0.02] * 20, "someone-else"))
    c = compare_runs(base, other, {})
    assert "stop_prob" not in failed(c) and any("someone-else" in w for w in c.warnings)


def test_without_informative_pairs_the_stop_gate_says_how_to_measure_it(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", base_rows(), teacher_forced=tf_lines(0.04, -1.0))
    new = write_run(tmp_path / "b", base_rows(), teacher_forced=tf_lines(0.006, -1.0))
    gate = next(g for g in compare_runs(base, new, {}).gates if g.name == "stop_prob")
    assert gate.passed and "informative" in gate.reason and "--baseline" in gate.reason


def test_teacher_forced_in_one_run_only_is_a_warning(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", base_rows(), teacher_forced=tf_lines(0.6, -1.0))
    c = compare_runs(base, write_run(tmp_path / "b", base_rows()), {})
    assert c.metric("stop_prob") is None
    assert any("teacher_forced.jsonl only in the base run" in w for w in c.warnings)
    stop_gate = next(g for g in c.gates if g.name == "stop_prob")
    assert stop_gate.passed and stop_gate.reason.startswith("skipped")


def test_gate_overrides_and_length_gate(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", base_rows())
    short = base_rows()
    for r in short:
        r.n_tokens = 4
    new = write_run(tmp_path / "b", regressed_rows())
    config = {"gates": {"ignore": ["missing_eos"], "identity_max_leaks": 5, "task_max_drop": 0.5}}
    assert failed(compare_runs(base, new, config)) == set()
    collapsed = write_run(tmp_path / "c", short)
    assert failed(compare_runs(base, collapsed, {})) == set()  # length gate is off by default
    c = compare_runs(base, collapsed, {"gates": {"length_collapse": True}})
    assert failed(c) == {"length"}
    assert c.length.base["median"] == 20 and c.length.new["median"] == 4 and c.length.ks == 1.0


def test_gate_config_validation() -> None:
    assert gate_config(None) == GateConfig()
    assert gate_config({"alpha": 0.01, "identity_max_leaks": 2}).identity_max_leaks == 2
    with pytest.raises(ConfigError) as info:
        gate_config({"detector_max_increse": 0.05})
    assert "did you mean 'detector_max_increase'" in str(info.value) and "task_max_drop" in str(info.value)
    with pytest.raises(ConfigError, match="non-negative integer"):
        gate_config({"identity_max_leaks": 1.5})
    with pytest.raises(ConfigError, match="alpha"):
        gate_config({"alpha": 0})
    with pytest.raises(ConfigError, match="true or false"):
        gate_config({"length_collapse": "yes"})


def test_unknown_ignore_name_is_a_warning(tmp_path: Path) -> None:
    run = write_run(tmp_path / "a", base_rows())
    c = compare_runs(run, run, {"gates": {"ignore": ["missing_oes"]}})
    assert any("ignore names no gate: missing_oes" in w for w in c.warnings)


# --- run folders that are missing or broken ---


def test_missing_or_broken_run_folders_name_the_file_and_the_fix(tmp_path: Path) -> None:
    good = write_run(tmp_path / "good", base_rows())
    with pytest.raises(RunFolderError, match="not a folder"):
        compare_runs(tmp_path / "nope", good, {})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RunFolderError, match=r"run\.json: not found"):
        compare_runs(empty, good, {})

    unscored = write_run(tmp_path / "unscored", base_rows())
    (unscored / "scores.jsonl").unlink()
    with pytest.raises(RunFolderError, match="evalgen rescore"):
        compare_runs(good, unscored, {})

    corrupt = write_run(tmp_path / "corrupt", base_rows())
    lines = (corrupt / "generations.jsonl").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3][:40]
    (corrupt / "generations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"generations\.jsonl:4: not valid JSON"):
        compare_runs(good, corrupt, {})

    bad_json = write_run(tmp_path / "badjson", base_rows())
    (bad_json / "run.json").write_text("{", encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"run\.json: not valid JSON"):
        compare_runs(good, bad_json, {})


def test_a_cut_off_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    good = write_run(tmp_path / "good", base_rows())
    cut = write_run(tmp_path / "cut", base_rows(), status="interrupted")
    text = (cut / "generations.jsonl").read_text(encoding="utf-8").rstrip("\n")
    (cut / "generations.jsonl").write_text(text[:-30], encoding="utf-8")
    c = compare_runs(good, cut, {})
    assert c.n_common == 159 and c.n_dropped_base == 1
    assert any("last line is cut off" in w for w in c.warnings)
    assert load_run(cut).records  # readable on its own too


def test_runs_with_nothing_in_common_are_an_error(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", [Row("s", "x")])
    b = write_run(tmp_path / "b", [Row("s", "y")])
    with pytest.raises(RunFolderError, match="share no"):
        compare_runs(a, b, {})


# --- outputs ---


def test_run_compare_writes_json_and_markdown_and_returns_the_table(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", base_rows(), name="base")
    new = write_run(tmp_path / "new", regressed_rows(), name="new")
    c = run_compare(base, new, {}, json_path=tmp_path / "out.json", markdown_path=tmp_path / "summary.md")

    written = json.loads((new / "comparison.json").read_text(encoding="utf-8"))
    assert written == json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert set(written) == {
        "base",
        "new",
        "n_common",
        "n_dropped_base",
        "n_dropped_new",
        "warnings",
        "metrics",
        "length",
        "gates",
        "passed",
        "flips",
        "stop_pairs",
    }
    assert written["passed"] is False and written["new"]["run"]["name"] == "new"
    metric_keys = {
        "name",
        "kind",
        "suite",
        "base",
        "new",
        "delta",
        "ci_low",
        "ci_high",
        "p_value",
        "n",
        "new_failures",
        "fixes",
    }
    assert all(set(m) == metric_keys for m in written["metrics"])
    assert set(written["length"]) == {"base", "new", "ks"} and set(written["length"]["base"]) == {
        "mean",
        "median",
        "p90",
    }
    assert set(written["flips"]) == {"new_failures", "fixes"}

    table = c.table()
    assert table.startswith("evalgen compare: FAIL (3 of")
    assert "FAIL  missing_eos" in table and "ok    truncation" in table
    assert "old_tasks/arith-" in table and "more in comparison.json" in table
    markdown = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "❌ 3 of" in markdown and "| `task_accuracy` | ❌ FAIL |" in markdown


def test_table_aligns_columns(tmp_path: Path) -> None:
    run = write_run(tmp_path / "a", base_rows())
    table = compare_runs(run, run, {}).table()
    lines = table.splitlines()
    start = lines.index("All suites (rates in %, delta in points; worse/fixed = flips):") + 1
    block = []
    for line in lines[start:]:
        if not line.strip():
            break
        block.append(line)
    assert len({len(line) for line in block}) == 1  # header, rule and rows have the same width
    assert table.startswith("evalgen compare: PASS")


def test_hostile_ids_and_suite_names_are_inert_in_markdown_and_the_terminal(tmp_path: Path) -> None:
    hostile = "x`<img src=x onerror=alert(1)>`\u001b[2J\u202e|"
    base = write_run(tmp_path / "a", [Row(hostile, hostile, output="Fine.") for _ in range(1)] + base_rows())
    new = write_run(tmp_path / "b", [Row(hostile, hostile, flags={"missing_eos"})] + base_rows())
    c = compare_runs(base, new, {})
    markdown = c.to_markdown()
    assert "<img" not in markdown and "&lt;img" in markdown
    no_gates = "\n".join(line for line in markdown.splitlines() if not line.startswith("| `"))
    assert "`" not in no_gates.replace("\\`", "")  # every backtick escaped: no code span to break out of
    assert "\u001b" not in markdown and "\u202e" not in markdown
    table = c.table()
    assert "\u001b" not in table and "\u202e" not in table and "\\x1b[2J" in table


def test_every_terminal_table_shows_control_characters_as_escapes() -> None:
    """A suite name or id holding an ANSI escape or a bidi override is shown, not obeyed, in any table
    printed to the terminal (the run summary, compare's table, history's)."""
    from evalgen.compare_output import grid

    lines = grid(["suite", "n"], [["\x1b[2Jwiped\u202e", "3"]], indent="", left=1)
    assert not any(ch in line for line in lines for ch in "\x1b\u202e")
    assert "\\x1b[2Jwiped\\u202e" in lines[2]
