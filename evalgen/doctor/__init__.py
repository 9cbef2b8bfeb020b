"""`evalgen doctor`: from a symptom to its cause. Checks a checkpoint (config, generation config,
tokenizer, chat template, weights), its training run (trainer_state.json) and its SFT data against
the failures the project's troubleshooting notes describe, and links the findings to the detector
regressions `evalgen compare` reports.

One module per area: `checkpoint`, `training`, `data`; `findings` holds the finding type and the one
registry of codes; `core` picks the checks for a PATH; `link` explains regressions; `format`
prints. Importing this package imports none of them (nor torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalgen.doctor.core import Diagnosis, diagnose
    from evalgen.doctor.findings import CODES, DoctorFinding, findings_json

__all__ = ["CODES", "Diagnosis", "DoctorFinding", "diagnose", "findings_json"]

_HOMES = {"CODES": "findings", "DoctorFinding": "findings", "findings_json": "findings", "Diagnosis": "core",
          "diagnose": "core"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f"evalgen.doctor.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'evalgen.doctor' has no attribute {name!r}")
