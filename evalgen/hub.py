"""Hugging Face Hub ids: `ORG/NAME[@REVISION]` → a local snapshot folder, through the local Hub cache.

A local path that exists always wins over a Hub id. Otherwise the id is looked up in the cache
(`HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`), downloading the files a run
needs when online (huggingface_hub's own progress bars), never when `HF_HUB_OFFLINE` (or
`TRANSFORMERS_OFFLINE`) is set. The environment is read at each call, not when huggingface_hub was
imported. What was resolved (id, revision, commit) goes into run.json.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgen.errors import CheckpointError

__all__ = ["HubModel", "hub_cache_dir", "is_offline", "parse_hub_id", "resolve_model_path"]

MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "*.py"]
"""What a run downloads: config, safetensors weights, tokenizer, chat template, custom code (and the
.bin weights only when a model has no safetensors). Not: other frameworks' weights, ONNX/GGUF exports."""
TOKENIZER_FILES = ["*.json", "*.model", "*.txt", "*.jinja", "*.tiktoken", "*.py"]

_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<revision>[^\s@]+))?$")


@dataclass(frozen=True)
class HubModel:
    """Where a Hub id was resolved to."""

    id: str
    revision: str
    commit: str
    path: Path

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "revision": self.revision, "commit": self.commit}


def parse_hub_id(text: str) -> tuple[str, str | None] | None:
    """(repo id, revision or None) if `text` reads as `ORG/NAME[@REVISION]`, else None."""
    match = _HUB_ID.match(text)
    if not match or ".." in text:
        return None
    return match["repo"], match["revision"]


def is_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def resolve_model_path(ref: str, what: str = "checkpoint", tokenizer_only: bool = False,
                       progress: bool = True) -> tuple[Path, HubModel | None]:
    """(local folder, Hub details or None). A local path wins; then a Hub id through the cache."""
    local = Path(ref).expanduser()
    if local.exists():
        return local, None
    parsed = parse_hub_id(ref)
    if parsed is None:
        raise CheckpointError(
            f"{ref}: {what} folder not found; pass a local folder with config.json and the weights "
            "(or a PEFT adapter folder with adapter_config.json), or a Hugging Face Hub id ORG/NAME[@REVISION]"
        )
    repo, revision = parsed
    path = download(repo, revision, TOKENIZER_FILES if tokenizer_only else MODEL_FILES, what, progress)
    if not tokenizer_only and not is_offline() and not any(path.glob("*.safetensors")):
        path = download(repo, revision, [*MODEL_FILES, "*.bin"], what, progress)
    return path, HubModel(repo, revision or "main", path.name, path)


def download(repo: str, revision: str | None, patterns: list[str], what: str, progress: bool) -> Path:
    try:
        import huggingface_hub
    except ImportError:  # pragma: no cover - installed with transformers
        raise CheckpointError(f"{repo}: not a local folder, and huggingface_hub is not installed") from None
    offline = is_offline()
    cache = hub_cache_dir()
    if not progress:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    try:
        folder = huggingface_hub.snapshot_download(
            repo, revision=revision, cache_dir=str(cache), local_files_only=offline, allow_patterns=patterns
        )
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line naming the fix
        raise CheckpointError(hub_error(repo, revision, what, exc, offline, cache)) from None
    path = Path(str(folder))
    if not path.is_dir() or not any(path.iterdir()):
        raise CheckpointError(f"{repo}: the Hugging Face cache in {cache} has no files for it; "
                              f"download it with `hf download {repo}`")
    return path


def hub_error(repo: str, revision: str | None, what: str, exc: Exception, offline: bool, cache: Path) -> str:
    kind = type(exc).__name__
    at = f"{repo}@{revision}" if revision else repo
    if offline or kind == "LocalEntryNotFoundError":
        return (f"{at}: not a local folder and not in the Hugging Face cache ({cache})"
                + ("; HF_HUB_OFFLINE is set: unset it to download, or" if offline else "; no connection to the Hub:")
                + f" download it first (`hf download {repo}`), or pass a local {what} folder")
    if kind == "RepositoryNotFoundError":
        return f"{at}: no such model on the Hugging Face Hub (or it is private: log in with `hf auth login`)"
    if kind == "GatedRepoError":
        return f"{at}: a gated model; accept its terms on the Hub and log in with `hf auth login`"
    if kind == "RevisionNotFoundError":
        return f"{at}: no revision {revision!r} in {repo}; pass a branch, tag or commit that exists"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
    return f"{at}: cannot download from the Hugging Face Hub ({kind}: {first}); pass a local {what} folder"
