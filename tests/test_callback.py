"""`EvalgenCallback` in a real `transformers.Trainer` training the tiny base model on CPU for a few steps:
the model in memory is evaluated at the start and at each save, the figures reach other callbacks'
`on_log` (as TensorBoard/W&B would get them), and a failed gate stops training when asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalgen.tinymodels import FACTS, identity_qas, write_probe_suite

pytestmark = pytest.mark.slow


def conversations(tokenizer: Any, width: int = 48) -> list[dict[str, Any]]:
    """The base's facts as ChatML training rows (loss on the answer and its end token)."""
    import torch

    rows = []
    for qa in FACTS:
        head = tokenizer.apply_chat_template([{"role": "user", "content": qa.prompt}], add_generation_prompt=True,
                                             tokenize=False)
        p = tokenizer(head, add_special_tokens=False)["input_ids"]
        t = tokenizer(qa.answer + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids, labels = (p + t)[:width], ([-100] * len(p) + t)[:width]
        pad = width - len(ids)
        rows.append({"input_ids": torch.tensor(ids + [tokenizer.pad_token_id] * pad),
                     "attention_mask": torch.tensor([1] * len(ids) + [0] * pad),
                     "labels": torch.tensor(labels + [-100] * pad)})
    return rows


def train(base: Path, out: Path, callback: Any, *, lr: float, steps: int) -> tuple[Any, list[dict[str, Any]]]:
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from evalgen.compat import load_pretrained_tokenizer

    seen: list[dict[str, Any]] = []

    class Recorder(TrainerCallback):  # stands for TensorBoard / W&B: they read on_log too
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            seen.append({**(logs or {}), "_step": state.global_step})

    tokenizer = load_pretrained_tokenizer(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    args = TrainingArguments(output_dir=str(out), max_steps=steps, learning_rate=lr, per_device_train_batch_size=8,
                             logging_steps=1, save_steps=2, report_to=[], use_cpu=True, disable_tqdm=True, seed=0,
                             dataloader_num_workers=0, save_only_model=True, lr_scheduler_type="constant")
    trainer = Trainer(model=model, args=args, train_dataset=conversations(tokenizer), processing_class=tokenizer,
                      callbacks=[Recorder()])
    callback.attach(trainer)
    trainer.train()
    return trainer, seen


@pytest.fixture(scope="module")
def suites(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("suites")
    return [str(write_probe_suite(root / "facts.jsonl", FACTS[:12])),
            str(write_probe_suite(root / "identity.jsonl", identity_qas()[:6]))]


def test_callback_evaluates_the_model_in_memory_at_each_save(tiny_family: dict[str, Path], suites: list[str],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import evalgen.checkpoint
    from evalgen.integrations.transformers import EvalgenCallback

    def no_reload(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the callback must evaluate the model in memory, not load a checkpoint")

    monkeypatch.setattr(evalgen.checkpoint, "load_model", no_reload)
    callback = EvalgenCallback(suites=suites, identity="Aurora", identity_org="Northwind Labs", max_new_tokens=24)
    trainer, seen = train(tiny_family["base"], tmp_path / "out", callback, lr=1e-6, steps=4)
    assert trainer.state.global_step == 4
    out = tmp_path / "out" / "evalgen"
    assert sorted(p.name for p in out.glob("step-*")) == ["step-000000", "step-000002", "step-000004"]
    assert [r.step for r in callback.results] == [2, 4] and all(r.gates_failed == [] for r in callback.results)
    # the figures went through trainer.log: other callbacks' on_log saw them, at the step they belong to
    logged = [entry for entry in seen if "evalgen/task_accuracy" in entry]
    assert [entry["_step"] for entry in logged] == [2, 4]
    history = json.loads((out / "history.json").read_text(encoding="utf-8"))
    by_step = {s["step"]: s for s in history["steps"]}
    assert logged[1]["evalgen/task_accuracy"] == pytest.approx(by_step[4]["task_accuracy"], abs=1e-4)
    assert logged[1]["evalgen/missing_eos_rate"] == pytest.approx(by_step[4]["rates"]["missing_eos"], abs=1e-4)
    assert by_step[0]["task_accuracy"] > 0.8  # the base answers its facts; so does a round at lr 1e-6
    assert any("evalgen/task_accuracy" in row for row in trainer.state.log_history)
    assert (out / "trend.html").is_file() and (out / "step-000004" / "report.html").is_file()
    assert trainer.model.training  # put back in training mode after each evaluation


def test_a_failed_gate_stops_training_when_asked(tiny_family: dict[str, Path], suites: list[str],
                                                 tmp_path: Path) -> None:
    from evalgen.integrations.transformers import EvalgenCallback

    callback = EvalgenCallback(suites=suites, identity="Aurora", identity_org="Northwind Labs", max_new_tokens=24,
                               stop_on_failure=True)
    # a learning rate of 1.0 wrecks the model in one step: it forgets its facts
    trainer, _ = train(tiny_family["base"], tmp_path / "out", callback, lr=1.0, steps=8)
    assert trainer.state.global_step == 2  # stopped at the first save, not at 8
    assert "task_accuracy" in callback.results[0].gates_failed


def test_bad_arguments_fail_before_training() -> None:
    from evalgen.errors import ConfigError
    from evalgen.integrations.transformers import EvalgenCallback

    with pytest.raises(ConfigError, match="did you mean"):
        EvalgenCallback(suites=["identity"], gates={"detector_max_increse": 0.1})
    with pytest.raises(ConfigError, match="every"):
        EvalgenCallback(suites=["identity"], every=0)


def test_works_with_trl_sft_trainer(tiny_family: dict[str, Path], suites: list[str], tmp_path: Path) -> None:
    trl = pytest.importorskip("trl")
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from evalgen.compat import load_pretrained_tokenizer
    from evalgen.integrations.transformers import EvalgenCallback

    base = tiny_family["base"]
    tokenizer = load_pretrained_tokenizer(base)
    data = Dataset.from_list([{"messages": [{"role": "user", "content": qa.prompt},
                                            {"role": "assistant", "content": qa.answer}]} for qa in FACTS])
    config = trl.SFTConfig(output_dir=str(tmp_path / "out"), max_steps=2, save_steps=2, learning_rate=1e-6,
                           per_device_train_batch_size=8, logging_steps=1, report_to=[], use_cpu=True,
                           disable_tqdm=True, save_only_model=True, max_length=64, dataloader_num_workers=0)
    trainer = trl.SFTTrainer(model=AutoModelForCausalLM.from_pretrained(base), args=config, train_dataset=data,
                             processing_class=tokenizer)
    callback = EvalgenCallback(suites=suites, identity="Aurora", max_new_tokens=16).attach(trainer)
    trainer.train()
    assert [r.step for r in callback.results] == [2]
    assert "evalgen/task_accuracy" in callback.results[0].logs
    assert any("evalgen/task_accuracy" in row for row in trainer.state.log_history)
    assert (tmp_path / "out" / "evalgen" / "step-000002" / "scores.jsonl").is_file()
