"""`evalgen rescore RUN`: detectors and scorers again on a run folder, without the model, atomically."""

import json

from evalgen.cli import main
from evalgen.runfolder import load_run


def scored_folder(tmp_path, *config):
    src = tmp_path / "gens.jsonl"
    rows = [{"id": "loop", "prompt": "Count.", "output": "one two three. " * 3, "finish_reason": "stop"},
            {"id": "ok", "prompt": "Hi.", "output": "Hello there.", "finish_reason": "stop"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["score", str(src), "--out", str(tmp_path / "run"), *config]) == 0
    return tmp_path / "run"


def test_rescore_applies_new_thresholds_without_the_model(tmp_path, capsys):
    lenient = tmp_path / "lenient.toml"
    lenient.write_text("[detectors.repetition]\nmin_repeats = 50\nmin_near_repeats = 50\n", encoding="utf-8")
    run = scored_folder(tmp_path, "--config", str(lenient))
    assert load_run(run).scores_by_key()[("gens", "loop", 0)].flags["repetition"] is False
    assert main(["rescore", str(run)]) == 0  # the defaults (no config file here) flag the loop
    after = load_run(run)
    assert after.scores_by_key()[("gens", "loop", 0)].flags["repetition"] is True
    assert after.meta.extra["rescored"]["config"] is None and after.meta.evalgen_version
    assert main(["rescore", str(run), "--config", str(lenient)]) == 0
    assert load_run(run).meta.extra["rescored"]["config"] == str(lenient)
    assert load_run(run).scores_by_key()[("gens", "loop", 0)].flags["repetition"] is False
    assert "re-scored" in capsys.readouterr().out


def test_a_failed_rescore_leaves_the_folder_as_it_was(tmp_path, capsys):
    run = scored_folder(tmp_path)
    scores = (run / "scores.jsonl").read_bytes()
    bad = tmp_path / "bad.toml"
    bad.write_text("[detectors.repetiton]\n", encoding="utf-8")
    assert main(["rescore", str(run), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "did you mean 'repetition'" in err and len(err.strip().splitlines()) == 1
    gens = run / "generations.jsonl"
    gens.write_text(gens.read_text(encoding="utf-8").replace('"n_output_tokens": 0', '"n_output_tokens": "0"', 1),
                    encoding="utf-8")
    assert main(["rescore", str(run)]) == 2
    assert "generations.jsonl:1" in capsys.readouterr().err
    assert (run / "scores.jsonl").read_bytes() == scores


def test_score_on_a_folder_and_unscored_runs_point_to_rescore(tmp_path, capsys):
    run = scored_folder(tmp_path)
    capsys.readouterr()
    assert main(["score", str(run)]) == 2
    assert f"evalgen rescore {run}" in capsys.readouterr().err
    (run / "scores.jsonl").unlink()
    assert main(["compare", str(run), str(run)]) == 2
    assert f"evalgen rescore {run}" in capsys.readouterr().err
    assert main(["rescore", str(run)]) == 0 and main(["compare", str(run), str(run)]) == 0
