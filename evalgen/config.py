"""`evalgen.toml`: optional settings for detectors (`[detectors.NAME]`) and gates (`[gates]`).

Looked up as `--config PATH`, else `./evalgen.toml` when present. Each stage validates its own
section; this module only finds and parses the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from evalgen.errors import ConfigError

__all__ = ["DEFAULT_CONFIG_NAME", "load_config"]

DEFAULT_CONFIG_NAME = "evalgen.toml"
KNOWN_SECTIONS = ("detectors", "gates", "scorers")


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Parse the config file; an explicit path must exist, the default one may be absent."""
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
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or remove it") from exc
    unknown = sorted(set(data) - set(KNOWN_SECTIONS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown section(s) {', '.join(unknown)}; valid sections: {', '.join(KNOWN_SECTIONS)}"
        )
    return data
