"""One exception hierarchy. The CLI turns any EvalgenError into a one-line message and exit code 2."""

from __future__ import annotations

__all__ = [
    "EvalgenError",
    "CheckpointError",
    "ProbeError",
    "TemplateError",
    "ConfigError",
    "RunFolderError",
]


class EvalgenError(Exception):
    """An error the user can fix: the message says what is wrong, where, and how to fix it."""


class CheckpointError(EvalgenError):
    """A checkpoint folder is missing, incomplete or unreadable."""


class ProbeError(EvalgenError):
    """A probe suite is missing, empty or has a malformed line."""


class TemplateError(EvalgenError):
    """An unknown template name, or a checkpoint without a chat template."""


class ConfigError(EvalgenError):
    """A bad option value or config file entry."""


class RunFolderError(EvalgenError):
    """A run folder is missing, corrupt or incompatible with the requested run."""
