"""`EvalgenCallback`: evaluate generation quality inside a Hugging Face `Trainer` (or TRL's `SFTTrainer`,
which is one) each time it saves a checkpoint.

    from evalgen.integrations.transformers import EvalgenCallback

    callback = EvalgenCallback(suites=["identity", "old_tasks"], identity="Aurora", stop_on_failure=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    callback.attach(trainer)      # = trainer.add_callback(callback), and log through trainer.log
    trainer.train()

At the start of training the model is evaluated once as the base (`step-000000/`, unless `baseline=`
names a run folder); then on every `every`-th save the model in memory (no reload from disk) is run on
the suites into `OUT/step-NNNNNN/`, compared with the base by the gates of `evalgen compare`, and the
history and trend report of `OUT/` are rewritten. The figures go through `trainer.log`, so every
reporting integration (TensorBoard, W&B, …) gets them as `evalgen/<metric>`; a failed gate stops
training when `stop_on_failure=True`. Evaluation runs on the main process only.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from evalgen.errors import ConfigError

__all__ = ["EvalgenCallback", "StepResult"]

PREFIX = "evalgen/"


@dataclass
class StepResult:
    """What the callback found at one save."""

    step: int
    run: Path
    logs: dict[str, float]
    gates_failed: list[str] = field(default_factory=list)


class EvalgenCallback(TrainerCallback):  # type: ignore[misc]
    """Evaluate the model in memory at each save (see the module docstring).

    suites: built-in suite names, JSONL files or folders (default: all built-in; keep it small: this runs
    inside training). every: evaluate on every N-th save. identity / identity_org: the assistant's
    configured name and maker. gates: the `[gates]` section (a dict, see evalgen.gates.GateConfig).
    stop_on_failure: stop training when a gate fails against the base. out: where the step run folders
    go (default: `<output_dir>/evalgen`). baseline: a run folder to gate against instead of evaluating the
    model at the start. tokenizer: when the Trainer has none (`processing_class`). max_new_tokens,
    batch_size: generation settings (greedy). config: a whole evalgen.toml mapping ([detectors.*],
    [scorers], [gates]); `gates` overrides its [gates].
    """

    def __init__(
        self,
        suites: Sequence[str] | None = None,
        every: int = 1,
        identity: str | None = None,
        identity_org: str | None = None,
        gates: Mapping[str, Any] | None = None,
        stop_on_failure: bool = False,
        *,
        out: str | Path | None = None,
        baseline: str | Path | None = None,
        tokenizer: Any = None,
        max_new_tokens: int = 128,
        batch_size: int = 16,
        config: Mapping[str, Any] | None = None,
        teacher_forced: bool = True,
    ) -> None:
        if every < 1:
            raise ConfigError(f"EvalgenCallback(every={every}): must be at least 1 (evaluate every N-th save)")
        if max_new_tokens < 1 or batch_size < 1:
            raise ConfigError("EvalgenCallback: max_new_tokens and batch_size must be at least 1")
        from evalgen.gates import gate_config

        self.config: dict[str, Any] = dict(config or {})
        if gates is not None:
            self.config["gates"] = dict(gates)
        gate_config(self.config.get("gates"))  # a typo in a gate key fails now, not after the first save
        from evalgen.probes import load_suites

        load_suites(list(suites) if suites else None)  # so does a bad suite
        self.suites = list(suites) if suites else None
        self.every = every
        self.identity, self.identity_org = identity, identity_org
        self.stop_on_failure = stop_on_failure
        self.out = Path(out) if out is not None else None
        self.baseline = Path(baseline) if baseline is not None else None
        self.tokenizer = tokenizer
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.teacher_forced = teacher_forced
        self.trainer: Any = None
        self.saves = 0
        self.results: list[StepResult] = []
        """One entry per evaluated save, in order."""
        self.base_run: Path | None = self.baseline
        self._warned = False

    def attach(self, trainer: Any) -> EvalgenCallback:
        """Add this callback to `trainer` and log through `trainer.log` (so TensorBoard/W&B see the figures)."""
        self.trainer = trainer
        trainer.add_callback(self)
        return self

    # --- Trainer events ---------------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if self.out is None:
            self.out = Path(args.output_dir) / "evalgen"
        if self.base_run is None and state.is_world_process_zero and model is not None:
            self.base_run = self._evaluate(model, self._tokenizer(kwargs), state.global_step)

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> Any:
        self.saves += 1
        if self.saves % self.every or not state.is_world_process_zero or model is None:
            return control
        folder = self._evaluate(model, self._tokenizer(kwargs), state.global_step)
        result = self._verdict(folder, state.global_step)
        self.results.append(result)
        self._log(result.logs, state)
        if result.gates_failed and self.stop_on_failure:
            print(f"evalgen: step {state.global_step} fails {', '.join(result.gates_failed)} against the base; "
                  "stopping training (stop_on_failure=True)", file=sys.stderr, flush=True)
            control.should_training_stop = True
        return control

    # --- the work ---------------------------------------------------------------------------------

    def _tokenizer(self, kwargs: Mapping[str, Any]) -> Any:
        tokenizer = self.tokenizer or kwargs.get("processing_class") or kwargs.get("tokenizer")
        if tokenizer is None:
            raise ConfigError("EvalgenCallback: the Trainer has no tokenizer (processing_class); pass "
                              "EvalgenCallback(tokenizer=...)")
        tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor wraps its tokenizer
        if tokenizer.pad_token_id is None:  # a copy: the Trainer's own tokenizer stays as it is
            tokenizer = copy.deepcopy(tokenizer)
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer

    def _evaluate(self, model: Any, tokenizer: Any, step: int) -> Path:
        from evalgen.backends.base import GenerationSettings
        from evalgen.backends.hf import HFBackend
        from evalgen.runner import RunOptions, run
        from evalgen.training_run import has_generations, step_folder

        assert self.out is not None
        folder = step_folder(self.out, step)
        options = RunOptions(
            suites=self.suites, out=str(folder), resume=has_generations(folder), identity=self.identity,
            identity_org=self.identity_org, config=self.config, teacher_forced=self.teacher_forced, progress=False,
            generation=GenerationSettings(max_new_tokens=self.max_new_tokens, batch_size=self.batch_size),
        )
        was_training = model.training
        model.eval()
        try:
            run(options, backend=HFBackend.from_model(model, tokenizer))
        finally:
            model.train(was_training)
        return folder

    def _verdict(self, folder: Path, step: int) -> StepResult:
        from evalgen.history import build_history, step_point
        from evalgen.report import build_report
        from evalgen.report.trend import build_trend_report

        assert self.out is not None and self.base_run is not None
        point = step_point(step, folder)
        logs = {f"{PREFIX}{name}_rate": rate for name, rate in point.rates.items()}
        for key in ("task_accuracy", "stop_prob", "mean_output_tokens"):
            value = getattr(point, key)
            if value is not None:
                logs[PREFIX + key] = value
        history = build_history([self.out], self.config, baseline=None if self.base_run.parent == self.out
                                else self.base_run)
        this = next(p for p in history.steps if p.step == step)
        logs[PREFIX + "gates_failed"] = float(len(this.gates_failed))
        build_report(folder, self.base_run if self.base_run != folder else None)
        build_trend_report(history, self.out / "trend.html")
        history.write_json(self.out / "history.json")
        return StepResult(step, folder, logs, list(this.gates_failed))

    def _log(self, logs: dict[str, float], state: Any) -> None:
        if self.trainer is not None:
            self.trainer.log(dict(logs))
            return
        # Without attach(): into trainer_state.json only (the reporting integrations are not reached).
        state.log_history.append({**logs, "step": state.global_step})
        if not self._warned:
            self._warned = True
            print("evalgen: EvalgenCallback not attached to the trainer: figures go to trainer_state.json only; "
                  "use callback.attach(trainer) so TensorBoard/W&B get them", file=sys.stderr, flush=True)
