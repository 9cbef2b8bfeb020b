"""`diagnose`: what `evalgen doctor PATH` checks, given a checkpoint, a training-run folder, a run
folder or a trainer_state.json, plus optional SFT data files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from evalgen.doctor.findings import DoctorFinding, sort_findings
from evalgen.errors import EvalgenError

__all__ = ["Diagnosis", "Target", "diagnose", "resolve_target"]


@dataclass
class Target:
    """What a PATH points at: the checkpoint folder and the trainer_state.json to check (either may be None)."""

    checkpoint: Path | None = None
    trainer_state: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Diagnosis:
    """The findings, most severe first, and notes on what was checked or skipped."""

    findings: list[DoctorFinding]
    notes: list[str]
    checked: list[str]


_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")


def _is_checkpoint(p: Path) -> bool:
    return (p / "config.json").is_file() or (p / "adapter_config.json").is_file()


def _latest_checkpoint(folder: Path) -> Path | None:
    numbered = [(int(m.group(1)), c) for c in folder.iterdir() if c.is_dir()
                and (m := _CHECKPOINT_DIR.match(c.name)) and _is_checkpoint(c)]
    return max(numbered)[1] if numbered else None


def resolve_target(path: str | Path) -> Target:
    """Tell what PATH is; EvalgenError (exit 2) when it is none of the kinds `evalgen doctor` takes."""
    from evalgen.trainer_state import find_trainer_state

    p = Path(path).expanduser()
    if p.is_file():
        if p.name.endswith(".json") and p.name != "run.json":
            return Target(trainer_state=p)
        raise EvalgenError(f"{p}: not a checkpoint, training or run folder; pass a folder (or a trainer_state.json)")
    if not p.is_dir():
        raise EvalgenError(f"{p}: no such folder; pass a checkpoint, a training output folder (checkpoint-N/ + "
                           "trainer_state.json) or an evalgen run folder")
    if (p / "run.json").is_file():
        try:
            meta = json.loads((p / "run.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, OSError, UnicodeDecodeError) as exc:
            raise EvalgenError(f"{p / 'run.json'}: unreadable ({exc}); pass the checkpoint folder instead") from None
        ckpt = ((meta.get("checkpoint") or {}).get("path")) if isinstance(meta, dict) else None
        if ckpt and Path(ckpt).is_dir():
            target = resolve_target(ckpt)
            target.notes.append(f"run folder {p}: its checkpoint is {ckpt}")
            return target
        return Target(notes=[f"run folder {p}: its checkpoint {ckpt!r} is not here; only --data is checked"])
    if _is_checkpoint(p):
        state = find_trainer_state(p) if (p / "trainer_state.json").is_file() else None
        if state is None and (p.parent / "trainer_state.json").is_file():
            state = p.parent / "trainer_state.json"
        return Target(checkpoint=p, trainer_state=state)
    state = find_trainer_state(p)
    latest = _latest_checkpoint(p)
    if state is None and latest is None:
        raise EvalgenError(f"{p}: no config.json, adapter_config.json, trainer_state.json, checkpoint-N/ or run.json; "
                           "pass a checkpoint, a training output folder or an evalgen run folder")
    return Target(checkpoint=latest, trainer_state=state)


def diagnose(path: str | Path | None, data: list[str | Path] | tuple[str | Path, ...] = (), *,
             tokenizer: str | Path | None = None, cutoff_len: int = 1024, identity: str | None = None) -> Diagnosis:
    """Run every check that applies; the Python API behind `evalgen doctor`."""
    from evalgen.doctor.checkpoint import check_checkpoint
    from evalgen.doctor.data import DataConfig, check_data, tokenizer_view
    from evalgen.doctor.training import check_training

    if cutoff_len < 1:
        raise EvalgenError(f"--cutoff-len {cutoff_len}: must be a positive number of tokens")
    target = resolve_target(path) if path is not None else Target()
    findings: list[DoctorFinding] = []
    checked: list[str] = []
    notes = list(target.notes)
    if target.checkpoint is not None:
        findings += check_checkpoint(target.checkpoint)
        checked.append(f"checkpoint {target.checkpoint}")
    if target.trainer_state is not None:
        findings += check_training(target.trainer_state)
        checked.append(f"training log {target.trainer_state}")
    if data:
        source = tokenizer if tokenizer is not None else target.checkpoint
        view = tokenizer_view(source) if source is not None else None
        if view is None:
            notes.append("no tokenizer (pass --tokenizer CKPT): cutoff_len and EOS checks of the data skipped")
        elif not view.has_template:
            notes.append(f"{view.path}: no chat template, the targets' end is not checked (data_missing_eos)")
        findings += check_data(data, tokenizer=view, cfg=DataConfig(cutoff_len=cutoff_len), identity=identity)
        checked += [f"data {d}" for d in data]
    return Diagnosis(sort_findings(findings), notes, checked)
