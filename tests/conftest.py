"""Shared fixtures. `tiny_family` builds the tiny checkpoints once and reuses them across sessions."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Tests never reach the Hugging Face Hub (this machine has no route to it): the Hub tests build their own
# cache folder, and a Hub id that is not in it fails at once instead of after network retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def tiny_cache_root() -> Path:
    """`$EVALGEN_TINY_CACHE`, else a per-user folder in the system temp dir: a stable place, so a
    second session reuses the family (build_family rebuilds when tinymodels.py or a library changed)."""
    configured = os.environ.get("EVALGEN_TINY_CACHE")
    if configured:
        return Path(configured)
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"evalgen-tinymodels-{user}"


@pytest.fixture(scope="session")
def tiny_family() -> dict[str, Path]:
    """name → folder of `base`, `healthy`, `broken`, `no_eos`, `lora` (see evalgen.tinymodels).

    Shared and read-only: copy a folder (or `resave` it) before changing anything in it."""
    from evalgen.tinymodels import build_family

    return build_family(tiny_cache_root())


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with only the tiny family's tokenizer (ChatML template, `<|im_end|>` ends the turn): what
    the model-free tests (scripted backend, fake servers) render and tokenize prompts with. < 1 s."""
    from evalgen.tinymodels import build_tokenizer

    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    build_tokenizer(folder)
    return folder
