"""evalgen: generation-quality evaluation for fine-tuned LLM checkpoints.

Importing evalgen is cheap: torch, transformers and vLLM load only when a model is run.
"""

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

__version__ = "0.1.0"

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
    "load_run",
]
