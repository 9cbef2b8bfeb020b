"""`evalgen.toml`: optional settings for detectors (`[detectors.NAME]`), gates (`[gates]`) and task scorers
(`[scorers]`).

Looked up as `--config PATH`, else `./evalgen.toml` when present. The whole file is parsed and validated
at start, before any model is loaded: every error names the file, the section, the key, and a
suggestion (a close match, or the valid values).
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgen.errors import ConfigError

__all__ = ["DEFAULT_CONFIG_NAME", "Config", "load_config", "validate_config"]

DEFAULT_CONFIG_NAME = "evalgen.toml"
KNOWN_SECTIONS = ("detectors", "gates", "scorers")
FIXED_GATES = ("identity_suite", "task_accuracy", "stop_prob", "length")
"""Gates besides one per detector (see evalgen.gates.evaluate_gates)."""


@dataclass(frozen=True)
class Config:
    """The validated file: typed sections, and the parsed tables they came from."""

    path: Path | None
    detectors: Any
    """evalgen.detectors.DetectorConfig."""
    gates: Any
    """evalgen.gates.GateConfig."""
    scorers: Any
    """evalgen.scorers.ScorerOptions."""
    raw: dict[str, Any] = field(default_factory=dict)


def _suggest(name: str, valid: list[str] | tuple[str, ...]) -> str:
    hint = difflib.get_close_matches(name, list(valid), n=1)
    return f"did you mean {hint[0]!r}? " if hint else ""


def validate_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Check every section of a parsed evalgen.toml; ConfigError naming file, section, key and a fix."""
    from evalgen.detectors import DETECTORS, DetectorConfig
    from evalgen.gates import gate_config
    from evalgen.scorers import scorer_options

    where = f"{path}: " if path else ""
    unknown = sorted(set(data) - set(KNOWN_SECTIONS))
    if unknown:
        raise ConfigError(f"{where}unknown section [{unknown[0]}]; {_suggest(unknown[0], KNOWN_SECTIONS)}"
                          f"valid sections: {', '.join(KNOWN_SECTIONS)}")
    try:
        detectors = DetectorConfig.from_mapping(data)
        gates = gate_config(data.get("gates"))
        scorers = scorer_options(data.get("scorers"))
    except ConfigError as exc:
        message = str(exc)
        names = [n for n in DETECTORS if f"[detectors.{n}" not in message]
        bad = message.split("[detectors.", 1)[1].split("]", 1)[0] if "unknown detector [detectors." in message else None
        hint = _suggest(bad, names) if bad else ""
        raise ConfigError(f"{where}{message}{'; ' + hint.rstrip() if hint else ''}") from None
    gate_names = [*DETECTORS, *FIXED_GATES]
    for name in gates.ignore:
        if name not in gate_names:
            raise ConfigError(f"{where}[gates] ignore: {name!r} names no gate; {_suggest(name, gate_names)}"
                              f"gates: {', '.join(gate_names)}")
    return Config(path, detectors, gates, scorers, data)


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Parse and validate the config file; an explicit path must exist, the default one may be absent.
    Returns the parsed tables (every stage reads its own typed section from them)."""
    if path is None:
        candidate = Path.cwd() / DEFAULT_CONFIG_NAME
        if not candidate.is_file():
            return {}
        path = candidate
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass an existing file to --config")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or remove it") from exc
    validate_config(data, path)
    return data
