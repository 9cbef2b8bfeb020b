"""Read the `log_history` of a `trainer_state.json` into typed per-step series.

The file is what the Hugging Face `Trainer` writes into every `checkpoint-N/` folder (and into the
output folder at the end), and so also what TRL's trainers and LLaMA-Factory leave behind. Its
`log_history` is a list of dicts, one per logging event: training rows carry `loss`,
`learning_rate`, `grad_norm` and `epoch`; evaluation rows carry `eval_loss` (and `eval_*` timings);
the last row holds the run's totals (`train_loss`, `train_runtime`). Every key may be missing
(`grad_norm` before transformers 4.38, `learning_rate` with some optimizers, `step` in hand-edited
files), so a series holds only the rows that have its key.

`NaN` and `Infinity` are kept as floats: the Trainer writes them as JSON's non-standard literals when
the loss blows up, and they are exactly what the doctor looks for.

Imports nothing heavy; errors are one `TrainerStateError` line naming the file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgen.errors import EvalgenError

__all__ = ["SERIES", "Series", "TrainerState", "TrainerStateError", "find_trainer_state", "read_trainer_state"]

SERIES = ("loss", "learning_rate", "grad_norm", "eval_loss", "epoch")
"""The `log_history` keys read into series (the attribute of `TrainerState` with the same name)."""


class TrainerStateError(EvalgenError):
    """A trainer_state.json is missing, not JSON, or has no usable `log_history`."""


@dataclass(frozen=True)
class Series:
    """One quantity over training: `steps[i]` is the optimizer step at which `values[i]` was logged.

    Steps are in file order (the Trainer logs in increasing order; a resumed run may repeat steps,
    which are kept as written). Values are floats, `nan`/`inf` included."""

    name: str
    steps: tuple[int, ...] = ()
    values: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        return iter(zip(self.steps, self.values, strict=True))

    def __bool__(self) -> bool:
        return bool(self.values)

    def finite(self) -> Series:
        """The points whose value is a finite number."""
        keep = [(s, v) for s, v in self if math.isfinite(v)]
        return Series(self.name, tuple(s for s, _ in keep), tuple(v for _, v in keep))

    def last(self) -> tuple[int, float] | None:
        """The last (step, value), or None for an empty series."""
        return (self.steps[-1], self.values[-1]) if self.values else None


@dataclass(frozen=True)
class TrainerState:
    """The per-step series of one trainer_state.json, plus the run-level fields the Trainer writes."""

    path: Path
    """The file read."""
    loss: Series = field(default_factory=lambda: Series("loss"))
    """Training loss per logging step (averaged over the steps since the previous log)."""
    learning_rate: Series = field(default_factory=lambda: Series("learning_rate"))
    """Learning rate at each logging step, as the scheduler reported it."""
    grad_norm: Series = field(default_factory=lambda: Series("grad_norm"))
    """Gradient norm before clipping (transformers >= 4.38)."""
    eval_loss: Series = field(default_factory=lambda: Series("eval_loss"))
    """Evaluation loss at each evaluation step."""
    epoch: Series = field(default_factory=lambda: Series("epoch"))
    """Fractional epoch at each training log step."""
    global_step: int | None = None
    """The step the file was written at (`global_step`)."""
    max_steps: int | None = None
    """The planned number of optimizer steps (`max_steps`), when written."""
    logging_steps: int | None = None
    """Steps between two training logs (`logging_steps`), when written."""
    n_rows: int = 0
    """Rows in `log_history`, usable or not."""

    def series(self, name: str) -> Series:
        """The series called `name` (one of `SERIES`)."""
        if name not in SERIES:
            raise KeyError(f"unknown series {name!r}; expected one of {', '.join(SERIES)}")
        return getattr(self, name)


_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")


def find_trainer_state(path: str | Path) -> Path | None:
    """The trainer_state.json for `path`: the file itself, `path/trainer_state.json`, or the one in
    the highest-numbered `path/checkpoint-N/` (the most complete log of a run still in progress).
    None when there is none."""
    p = Path(path)
    if p.is_file():
        return p
    if not p.is_dir():
        return None
    if (p / "trainer_state.json").is_file():
        return p / "trainer_state.json"
    numbered = []
    for child in p.iterdir():
        m = _CHECKPOINT_DIR.match(child.name)
        if m and (child / "trainer_state.json").is_file():
            numbered.append((int(m.group(1)), child / "trainer_state.json"))
    return max(numbered)[1] if numbered else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def parse_log_history(rows: Sequence[Any], path: Path, **run: int | None) -> TrainerState:
    """Build a `TrainerState` from `log_history` rows (the dicts in the file). Rows that are not
    dicts, and values that are not numbers, are skipped; a row without `step` gets the previous
    row's step (or its index when none came before)."""
    points: dict[str, tuple[list[int], list[float]]] = {name: ([], []) for name in SERIES}
    step = 0
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            continue
        given = _int(row.get("step"))
        step = given if given is not None else (step if index else 0)
        # The final summary row repeats `epoch` with `train_loss`: it is not a training log point.
        is_summary = "train_runtime" in row or "train_loss" in row
        for name in SERIES:
            if name == "epoch" and (is_summary or "eval_loss" in row):
                continue
            value = _number(row.get(name))
            if value is not None:
                points[name][0].append(step)
                points[name][1].append(value)
    series = {name: Series(name, tuple(s), tuple(v)) for name, (s, v) in points.items()}
    return TrainerState(path=path, n_rows=len(rows), **series, **run)  # type: ignore[arg-type]


def read_trainer_state(path: str | Path) -> TrainerState:
    """Read a trainer_state.json (or a folder holding one, see `find_trainer_state`).

    Missing keys give empty series; a missing file, invalid JSON or a `log_history` that is not a
    list raise `TrainerStateError` with one line naming the file."""
    found = find_trainer_state(path)
    if found is None:
        raise TrainerStateError(f"{path}: no trainer_state.json here (nor in a checkpoint-N/ folder); "
                                "pass the file the Trainer wrote, or the training output folder")
    try:
        data = json.loads(found.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainerStateError(f"{found}: cannot read it ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise TrainerStateError(f"{found}:{exc.lineno}: not valid JSON ({exc.msg}); "
                                "is the file complete? the Trainer rewrites it at every save") from exc
    if not isinstance(data, dict):
        raise TrainerStateError(f"{found}: expected a JSON object with `log_history`, got {type(data).__name__}")
    rows = data.get("log_history")
    if rows is None:
        raise TrainerStateError(f"{found}: no `log_history` key; is this a trainer_state.json written by a Trainer?")
    if not isinstance(rows, list):
        raise TrainerStateError(f"{found}: `log_history` is a {type(rows).__name__}, expected a list of log rows")
    return parse_log_history(rows, found, global_step=_int(data.get("global_step")),
                             max_steps=_int(data.get("max_steps")), logging_steps=_int(data.get("logging_steps")))
