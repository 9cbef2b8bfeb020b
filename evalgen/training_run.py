"""`evalgen run OUTPUT_DIR/`: evaluate every checkpoint of a training run.

OUTPUT_DIR is what the HF Trainer, TRL and LLaMA-Factory write: `checkpoint-N/` folders, each a full
model or a PEFT LoRA adapter (plus optimizer state and trainer_state.json, which are ignored here).
Each step not yet evaluated is run into `OUT/step-NNNNNN/` (six digits, so folders sort by step),
compared with the baseline (`--baseline`, run into `OUT/baseline/` when it is a checkpoint) or else
with the previous step, and given its case report. Then `OUT/history.json`, `OUT/history.md` and the
trend report `OUT/trend.html` are written over all steps (see evalgen.history). A step whose run
folder is complete is skipped, an interrupted one is resumed: run the same command again after
training has saved more checkpoints.

LoRA checkpoints on the HF backend share one loaded base model: each step's adapter is loaded into it
(and the previous one dropped), instead of loading the base again per step.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgen.errors import CheckpointError, ConfigError, RunFolderError

if TYPE_CHECKING:
    from evalgen.backends.hf import HFBackend
    from evalgen.history import History
    from evalgen.runner import RunOptions

__all__ = [
    "TrainingCheckpoint",
    "TrainingRunResult",
    "evaluate_training_run",
    "find_checkpoints",
    "is_training_output",
    "step_folder",
]

CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
HISTORY_JSON, HISTORY_MD, TREND_HTML = "history.json", "history.md", "trend.html"


@dataclass(frozen=True)
class TrainingCheckpoint:
    step: int
    path: Path
    adapter: bool
    """A PEFT adapter folder (adapter_config.json) rather than full weights."""


@dataclass
class TrainingRunResult:
    out: Path
    steps: list[tuple[int, Path]]
    """(step, run folder) of every selected step, evaluated now or earlier."""
    evaluated: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    """Steps whose run folder was already complete."""
    baseline: Path | None = None
    history: History | None = None
    trend: Path | None = None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def step_folder(out: str | Path, step: int) -> Path:
    return Path(out) / f"step-{step:06d}"


def is_training_output(path: str | Path) -> bool:
    """A folder holding `checkpoint-N/` subfolders (what `evalgen run` treats as a whole training run)."""
    folder = Path(path)
    return folder.is_dir() and any(CHECKPOINT_DIR.match(p.name) and p.is_dir() for p in folder.iterdir())


def find_checkpoints(output_dir: str | Path) -> list[TrainingCheckpoint]:
    """The `checkpoint-N/` folders of a training run, in step order; each must hold weights or an adapter."""
    folder = Path(output_dir)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a folder; pass the training run's output_dir (with checkpoint-N/)")
    found = []
    for sub in folder.iterdir():
        match = CHECKPOINT_DIR.match(sub.name)
        if not (match and sub.is_dir()):
            continue
        adapter = (sub / "adapter_config.json").is_file()
        if not adapter and not (sub / "config.json").is_file():
            raise CheckpointError(f"{sub}: neither config.json nor adapter_config.json; a checkpoint saved only "
                                  "in part (delete it, or pass --steps without it)")
        found.append(TrainingCheckpoint(int(match.group(1)), sub, adapter))
    if not found:
        raise CheckpointError(f"{folder}: no checkpoint-N/ folders; pass a training output_dir, or a checkpoint")
    return sorted(found, key=lambda c: c.step)


def select_steps(checkpoints: list[TrainingCheckpoint], steps: Sequence[int] | None,
                 latest: bool) -> list[TrainingCheckpoint]:
    if steps and latest:
        raise ConfigError("--steps and --latest: pass one of them")
    if latest:
        return checkpoints[-1:]
    if not steps:
        return checkpoints
    by_step = {c.step: c for c in checkpoints}
    missing = [s for s in steps if s not in by_step]
    if missing:
        have = ", ".join(str(c.step) for c in checkpoints)
        raise ConfigError(f"--steps: no checkpoint-{missing[0]}/ in {checkpoints[0].path.parent} (steps there: {have})")
    return [by_step[s] for s in sorted(set(steps))]


def parse_steps(text: str) -> list[int]:
    """`--steps 500,1500` → [500, 1500]."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--steps {text!r}: expected step numbers separated by commas, e.g. 500,1500") from None
    if not steps or any(s < 0 for s in steps):
        raise ConfigError(f"--steps {text!r}: expected step numbers separated by commas, e.g. 500,1500")
    return steps


def is_complete(run_dir: Path) -> bool:
    try:
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("status") == "complete" and (run_dir / "scores.jsonl").is_file()


class SharedLoraBase:
    """One base model in memory for every LoRA step: each step's adapter is loaded into it, the previous
    step's dropped. `loads` counts base loads (1 for the whole run)."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.model: Any = None
        self.tokenizer: Any = None
        self.active: str | None = None
        self.loads = 0

    def backend_for(self, checkpoint: TrainingCheckpoint) -> HFBackend:
        from evalgen.backends.hf import HFBackend
        from evalgen.checkpoint import inspect_checkpoint, load_model, load_tokenizer, pick_device

        info = inspect_checkpoint(checkpoint.path, self.options.base)
        device = pick_device(self.options.device)
        name = f"step_{checkpoint.step}"
        if self.model is None:
            self.model = load_model(info, self.options.dtype, device, self.options.trust_remote_code)
            self.loads += 1
            self.tokenizer = load_tokenizer(info, self.options.trust_remote_code)
            self.active = str(self.model.active_adapter)  # peft names the first adapter "default"
        else:
            self.model.load_adapter(str(checkpoint.path), adapter_name=name, is_trainable=False)
            self.model.set_adapter(name)
            previous, self.active = self.active, name
            if previous is not None and previous != name:
                self.model.delete_adapter(previous)
        self.model.eval()
        return HFBackend.from_model(self.model, self.tokenizer, device=device)


def shares_lora_base(pending: list[TrainingCheckpoint], options: RunOptions) -> bool:
    if len(pending) < 2 or not all(c.adapter for c in pending):
        return False
    from evalgen.backends import select_backend

    return select_backend(options.backend)[0] == "hf"


def evaluate_training_run(
    source: str | Path,
    options: RunOptions,
    *,
    steps: Sequence[int] | None = None,
    latest: bool = False,
    baseline: str | Path | None = None,
) -> TrainingRunResult:
    """Evaluate the selected checkpoints of the training run in `source` into `options.out` (default
    `reports/<source name>`), compare, write each step's report, the history and the trend report.

    `baseline`: a run folder, or a checkpoint (run once into OUT/baseline/ with the same settings).
    Returns what was done; `result.history.newest_failed` is the CLI's exit-1 condition."""
    from evalgen.compare import run_compare
    from evalgen.history import TRAINING_RUN_JSON, build_history
    from evalgen.report import build_report
    from evalgen.report.trend import build_trend_report
    from evalgen.runner import run

    source = Path(source)
    selected = select_steps(find_checkpoints(source), steps, latest)
    out = Path(options.out) if options.out else Path("reports") / source.resolve().name
    out.mkdir(parents=True, exist_ok=True)
    (out / TRAINING_RUN_JSON).write_text(json.dumps({"source": str(source.resolve())}) + "\n", encoding="utf-8")
    result = TrainingRunResult(out, [(c.step, step_folder(out, c.step)) for c in selected])

    if baseline is not None:
        result.baseline = prepare_baseline(Path(baseline), options, out)

    pending = [c for c in selected if not is_complete(step_folder(out, c.step))]
    result.skipped = [c.step for c in selected if c not in pending]
    if result.skipped:
        log(f"evalgen: steps already evaluated (kept): {', '.join(map(str, result.skipped))}")
    shared = SharedLoraBase(options) if shares_lora_base(pending, options) else None
    for checkpoint in pending:
        folder = step_folder(out, checkpoint.step)
        log(f"evalgen: step {checkpoint.step}: {checkpoint.path} → {folder}")
        step_options = replace(options, checkpoint=str(checkpoint.path), out=str(folder),
                               resume=has_generations(folder))
        backend = shared.backend_for(checkpoint) if shared is not None else None
        run(step_options, backend=backend)
        if shared is not None:  # an in-memory backend leaves run.json without the checkpoint: record it
            record_checkpoint(folder, checkpoint, options.base)
        result.evaluated.append(checkpoint.step)

    all_steps = sorted(step_of_folder for step_of_folder in existing_steps(out))
    for step, folder in result.steps:
        if step not in result.evaluated:
            continue
        reference = result.baseline or previous_step(out, all_steps, step)
        if reference is not None:
            comparison = run_compare(reference, folder, options.config)
            verdict = "PASS" if comparison.passed else "FAIL: " + ", ".join(g.name for g in comparison.failed_gates)
            log(f"evalgen: step {step} vs {reference.name}: {verdict}")
        build_report(folder, reference)

    result.history = build_history([out], options.config, baseline=result.baseline, trainer_state=source)
    result.history.write_json(out / HISTORY_JSON)
    (out / HISTORY_MD).write_text(result.history.to_markdown(), encoding="utf-8")
    result.trend = build_trend_report(result.history, out / TREND_HTML)
    return result


def has_generations(folder: Path) -> bool:
    path = folder / "generations.jsonl"
    return path.is_file() and path.stat().st_size > 0


def existing_steps(out: Path) -> list[int]:
    from evalgen.history import STEP_FOLDER

    return [int(m.group(1)) for p in out.iterdir() if (m := STEP_FOLDER.match(p.name)) and is_complete(p)]


def previous_step(out: Path, steps: list[int], step: int) -> Path | None:
    earlier = [s for s in steps if s < step]
    return step_folder(out, earlier[-1]) if earlier else None


def prepare_baseline(baseline: Path, options: RunOptions, out: Path) -> Path:
    """A run folder as given, or a checkpoint run once into OUT/baseline/ (kept when complete)."""
    from evalgen.history import BASELINE_FOLDER, is_run_folder
    from evalgen.runner import run

    if is_run_folder(baseline):
        return baseline
    if not baseline.exists():
        raise ConfigError(f"--baseline {baseline}: not found; pass a run folder or a checkpoint folder")
    folder = out / BASELINE_FOLDER
    if not is_complete(folder):
        log(f"evalgen: running the baseline {baseline} into {folder}")
        run(replace(options, checkpoint=str(baseline), base=None, out=str(folder), resume=has_generations(folder)))
    return folder


def record_checkpoint(folder: Path, checkpoint: TrainingCheckpoint, base: str | None) -> None:
    """Write the step's checkpoint (path, hash, adapter, base) into its run.json, as a run from disk would."""
    from evalgen.checkpoint import inspect_checkpoint

    path = folder / "run.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: cannot read ({exc}); evaluate the step again into a new --out") from exc
    meta["checkpoint"] = {**meta.get("checkpoint", {}), **inspect_checkpoint(checkpoint.path, base).describe(),
                          "shared_base": True}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
