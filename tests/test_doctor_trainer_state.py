"""evalgen.trainer_state: trainer_state.json written by a real transformers Trainer run, and by its
`TrainerState` writer with edited rows (missing keys, NaN, summary rows, broken files)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from doctor_fixtures import run_tiny_trainer, train_rows, write_trainer_state

from evalgen.trainer_state import TrainerStateError, find_trainer_state, read_trainer_state


@pytest.fixture(scope="module")
def real_run(tiny_tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_tiny_trainer(tiny_tokenizer, tmp_path_factory.mktemp("trainer-run"), steps=8, save_steps=4, eval_steps=4)


def test_real_trainer_run(real_run: Path) -> None:
    # The folder resolves to the last checkpoint's file, which holds the whole log.
    path = find_trainer_state(real_run)
    assert path == real_run / "checkpoint-8" / "trainer_state.json"
    state = read_trainer_state(real_run)
    raw = json.loads(path.read_text())["log_history"]
    train = [r for r in raw if "loss" in r and "train_loss" not in r]
    assert state.loss.steps == tuple(r["step"] for r in train) == tuple(range(1, 9))
    assert state.loss.values == tuple(float(r["loss"]) for r in train)
    assert len(state.learning_rate) == len(state.grad_norm) == len(state.epoch) == 8
    # Linear decay from 5e-3 with no warmup: falls every step.
    lrs = state.learning_rate.values
    assert lrs[0] <= 5e-3 and all(b < a for a, b in zip(lrs, lrs[1:], strict=False))
    assert state.eval_loss.steps == (4, 8) and all(math.isfinite(v) for v in state.eval_loss.values)
    assert state.global_step == 8 and state.max_steps == 8 and state.logging_steps == 1
    # The first checkpoint's file stops at step 4.
    first = read_trainer_state(real_run / "checkpoint-4" / "trainer_state.json")
    assert first.loss.steps == (1, 2, 3, 4) and first.eval_loss.steps == (4,)


def test_missing_keys_nan_and_summary_rows(tmp_path: Path) -> None:
    rows = train_rows([2.0, float("nan"), 1.5])
    del rows[0]["grad_norm"], rows[2]["learning_rate"]
    rows.append({"epoch": 0.03, "eval_loss": 1.7, "eval_runtime": 0.1, "step": 3})
    rows.append({"epoch": 0.03, "step": 3, "total_flos": 0, "train_loss": 1.8, "train_runtime": 1.0})
    state = read_trainer_state(write_trainer_state(tmp_path / "trainer_state.json", rows))
    assert state.loss.steps == (1, 2, 3) and math.isnan(state.loss.values[1])
    assert state.loss.finite().values == (2.0, 1.5)
    assert state.grad_norm.steps == (2, 3) and state.learning_rate.steps == (1, 2)
    assert state.eval_loss.steps == (3,) and state.eval_loss.values == (1.7,)
    assert state.epoch.steps == (1, 2, 3)  # the eval and summary rows do not add epoch points
    assert state.series("loss") is state.loss and state.n_rows == 5
    with pytest.raises(KeyError, match="unknown series"):
        state.series("losses")


def test_rows_without_step_and_junk_values(tmp_path: Path) -> None:
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": [{"loss": 3.0}, "junk", {"loss": "x", "step": 5}, {"loss": 2.0},
                                                 {"loss": True, "step": 6}]}))
    state = read_trainer_state(path)
    assert list(state.loss) == [(0, 3.0), (5, 2.0)]
    assert state.global_step is None and state.max_steps is None


@pytest.mark.parametrize(("content", "message"), [
    (None, "no trainer_state.json here"),
    ('{"log_history": [', "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"global_step": 3}', "no `log_history` key"),
    ('{"log_history": {"loss": 1}}', "`log_history` is a dict"),
])
def test_errors_are_one_line_naming_the_file(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "trainer_state.json").write_text(content)
    with pytest.raises(TrainerStateError, match=message) as info:
        read_trainer_state(tmp_path)
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)
