"""evalgen: generation-quality evaluation for fine-tuned LLM checkpoints.

Importing evalgen is cheap: torch, transformers and vLLM load only when a model is run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgen.errors import (
    CheckpointError,
    ConfigError,
    EvalgenError,
    ProbeError,
    RunFolderError,
    TemplateError,
)
from evalgen.records import (
    RECORD_VERSION,
    Finding,
    GenerationRecord,
    Probe,
    RunMeta,
    ScoreLine,
    Span,
    TeacherForcedRow,
)
from evalgen.runfolder import Run, load_run

if TYPE_CHECKING:
    import pandas as pd

__version__ = "0.1.0"


def load_history(
    paths: Sequence[str | Path] | str | Path,
    config: Mapping[str, Any] | None = None,
    baseline: str | Path | None = None,
) -> pd.DataFrame:
    """One row per step × metric of the runs in `paths` (a pandas DataFrame); see evalgen.frames."""
    from evalgen.frames import history_frame

    return history_frame(paths, config, baseline)


def export_run(run: str | Path, out: str | Path | None = None, fmt: str = "csv") -> Path:
    """Write a run's records as csv, jsonl or parquet (what `evalgen export` does); see evalgen.frames."""
    from evalgen.frames import export_run as export

    return export(run, out, fmt)


__all__ = [
    "RECORD_VERSION",
    "CheckpointError",
    "ConfigError",
    "EvalgenError",
    "Finding",
    "GenerationRecord",
    "Probe",
    "ProbeError",
    "Run",
    "RunFolderError",
    "RunMeta",
    "ScoreLine",
    "Span",
    "TeacherForcedRow",
    "TemplateError",
    "__version__",
    "export_run",
    "load_history",
    "load_run",
]
