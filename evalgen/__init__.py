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
from evalgen.records import RECORD_VERSION, Finding, GenerationRecord, Probe, Span

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
    "RunFolderError",
    "Span",
    "TemplateError",
    "__version__",
]
