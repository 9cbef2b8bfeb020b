"""Detectors: pure functions `(GenerationRecord, DetectorContext) -> Finding`.

`DETECTORS` is the one registry, filled here on import; `get_detector` resolves a name with a
close-match suggestion. `run_detectors` runs all (or some) of them on one record.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from evalgen.detectors.base import (
    DegenerateConfig,
    Detector,
    DetectorConfig,
    DetectorContext,
    IdentityLeakConfig,
    LanguageDriftConfig,
    MissingEosConfig,
    RepetitionConfig,
    TruncationConfig,
)
from evalgen.detectors.degenerate import detect_degenerate
from evalgen.detectors.identity_leak import detect_identity_leak
from evalgen.detectors.language_drift import detect_language_drift
from evalgen.detectors.missing_eos import detect_missing_eos
from evalgen.detectors.repetition import detect_repetition, distinct_n, rep_n
from evalgen.detectors.truncation import detect_truncation
from evalgen.errors import ConfigError
from evalgen.records import Finding, GenerationRecord

__all__ = [
    "DETECTORS",
    "DegenerateConfig",
    "Detector",
    "DetectorConfig",
    "DetectorContext",
    "IdentityLeakConfig",
    "LanguageDriftConfig",
    "MissingEosConfig",
    "RepetitionConfig",
    "TruncationConfig",
    "distinct_n",
    "get_detector",
    "rep_n",
    "run_detectors",
]

DETECTORS: dict[str, Detector] = {
    "repetition": detect_repetition,
    "truncation": detect_truncation,
    "missing_eos": detect_missing_eos,
    "identity_leak": detect_identity_leak,
    "language_drift": detect_language_drift,
    "degenerate": detect_degenerate,
}
"""Every detector by name, in report order."""


def get_detector(name: str) -> Detector:
    """The detector called `name`; ConfigError with a close match for an unknown name."""
    try:
        return DETECTORS[name]
    except KeyError:
        close = difflib.get_close_matches(name, DETECTORS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown detector {name!r}; valid detectors: {', '.join(DETECTORS)}.{hint}") from None


def run_detectors(
    record: GenerationRecord, ctx: DetectorContext, names: Iterable[str] | None = None
) -> dict[str, Finding]:
    """The findings of the named detectors (all by default) on one record, keyed by name."""
    chosen = list(DETECTORS) if names is None else list(names)
    return {name: get_detector(name)(record, ctx) for name in chosen}
