"""`evalgen demo` runs the real paths end to end and catches the planted failures."""

import json

import pytest

from evalgen.demo import run_demo

pytestmark = pytest.mark.slow


def test_demo_runs_through_and_flags_the_broken_round(tiny_family, tmp_path, capsys):
    models = tiny_family["base"].parent  # the session's cached family: no second build
    assert run_demo(tmp_path / "demo", max_new_tokens=24, progress=False, models=models) == 0
    out = capsys.readouterr().out
    assert "healthy  PASS" in out and "broken   FAIL" in out
    broken = json.loads((tmp_path / "demo" / "runs" / "broken" / "comparison.json").read_text())
    failed = {g["name"] for g in broken["gates"] if not g["passed"]}
    assert {"missing_eos", "identity_suite", "task_accuracy"} <= failed
    healthy = json.loads((tmp_path / "demo" / "runs" / "healthy" / "comparison.json").read_text())
    assert healthy["passed"]
    for name in ("base", "healthy", "broken"):
        assert (tmp_path / "demo" / "runs" / name / "report.html").is_file()
