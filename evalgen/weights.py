"""Checkpoint identity and sanity from the weight files themselves.

`weights_fingerprint(files)`: a sha256 over the content of every weight file (a full model's
safetensors/bin files or shards, and an adapter's), so that any changed tensor moves it. Each file is
streamed once and the result cached by (path, size, mtime) in `$EVALGEN_CACHE_DIR` (default
`~/.cache/evalgen`), so the cost is paid once per file; the same pass looks for NaN/Inf in every
floating-point tensor of a safetensors file by its bit pattern (an all-ones exponent), so that refusing
broken weights costs nothing extra. Figures for a multi-GB file: bench/bench_fingerprint.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgen.errors import CheckpointError

__all__ = ["FileCheck", "check_file", "weight_files", "weights_fingerprint"]

CHUNK = 8 << 20
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
CACHE_NAME = "weights-v1.json"

# Exponent mask per float dtype, for the itemsize-wide unsigned view: all ones = Inf or NaN.
_EXPONENT: dict[str, tuple[int, int]] = {"F64": (8, 0x7FF0000000000000), "F32": (4, 0x7F800000),
                                         "F16": (2, 0x7C00), "BF16": (2, 0x7F80)}


@dataclass(frozen=True)
class FileCheck:
    """One weight file, read once: its content hash and the tensors holding NaN or Inf."""

    sha256: str
    nonfinite: tuple[str, ...]
    """Names of floating-point tensors with a NaN or an infinity (safetensors only; [] for .bin)."""


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a model or adapter folder, sorted (shards, adapter_model.*, model.*)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES
                  and not p.name.startswith(("training_args", "optimizer", "scheduler", "rng_state")))


def _cache_path() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "evalgen"
    return Path(os.environ.get("EVALGEN_CACHE_DIR") or default) / CACHE_NAME


def _load_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_cache(cache: dict[str, Any]) -> None:
    path = _cache_path()
    try:  # a cache that cannot be written only costs a re-read next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _nonfinite(buffer: bytes, dtype: str) -> bool:
    import numpy as np

    width, mask = _EXPONENT[dtype]
    view = np.frombuffer(buffer, dtype=f"<u{width}")
    return bool(np.any((view & np.array(mask, dtype=view.dtype)) == mask))


def _check_safetensors(path: Path, digest: Any) -> tuple[str, ...]:
    bad: list[str] = []
    with path.open("rb") as handle:
        head = handle.read(8)
        digest.update(head)
        (n,) = struct.unpack("<Q", head)
        header_bytes = handle.read(n)
        digest.update(header_bytes)
        header = json.loads(header_bytes)
        tensors = sorted(((v["data_offsets"][0], v["data_offsets"][1], k, v["dtype"])
                          for k, v in header.items() if k != "__metadata__"))
        position = 0
        for start, end, name, dtype in tensors:
            if start > position:  # padding between tensors (none in files safetensors writes)
                digest.update(handle.read(start - position))
            width = _EXPONENT.get(dtype, (1, 0))[0]
            remaining, flagged = end - start, False
            while remaining:
                chunk = handle.read(min(CHUNK - CHUNK % width, remaining))
                if not chunk:
                    raise CheckpointError(f"{path}: ends inside tensor {name!r}; copy or save it again")
                digest.update(chunk)
                if dtype in _EXPONENT and not flagged and _nonfinite(chunk, dtype):
                    flagged = True
                remaining -= len(chunk)
            if flagged:
                bad.append(name)
            position = end
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return tuple(bad)


def _check_pickle(path: Path, digest: Any) -> tuple[str, ...]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - a corrupt pickle: one line, not a traceback
        raise CheckpointError(f"{path}: cannot read the weights ({str(exc).splitlines()[0][:200]}); "
                              "save the checkpoint again") from None
    return tuple(sorted(k for k, t in state.items()
                        if hasattr(t, "is_floating_point") and t.is_floating_point() and not bool(t.isfinite().all())))


def check_file(path: Path, cache: dict[str, Any] | None = None) -> FileCheck:
    """Hash one weight file and find its non-finite tensors; reuses a cached result for the same
    (path, size, mtime)."""
    stat = path.stat()
    key = str(path.resolve())
    entry = (cache or {}).get(key)
    if isinstance(entry, dict) and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
        return FileCheck(str(entry["sha256"]), tuple(entry.get("nonfinite", ())))
    digest = hashlib.sha256()
    try:
        check = _check_safetensors if path.suffix == ".safetensors" else _check_pickle
        bad = check(path, digest)
    except (OSError, ValueError, KeyError, struct.error) as exc:
        raise CheckpointError(f"{path}: cannot read the weights ({exc}); copy or save it again") from None
    result = FileCheck(digest.hexdigest(), bad)
    if cache is not None:
        cache[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": result.sha256,
                      "nonfinite": list(bad)}
    return result


def weights_fingerprint(folders: Iterable[Path]) -> str:
    """sha256 over (file name, content hash) of every weight file in `folders` (a model, or an adapter and
    its base); CheckpointError naming the tensors when any holds NaN or Inf."""
    cache = _load_cache()
    before = json.dumps(cache, sort_keys=True)
    digest = hashlib.sha256()
    for position, folder in enumerate(dict.fromkeys(Path(f) for f in folders)):
        for path in weight_files(folder):
            result = check_file(path, cache)
            if result.nonfinite:
                _save_cache(cache)
                names = ", ".join(result.nonfinite[:3]) + (f" and {len(result.nonfinite) - 3} more"
                                                          if len(result.nonfinite) > 3 else "")
                raise CheckpointError(f"{path}: NaN or Inf in {len(result.nonfinite)} tensor(s) ({names}); the "
                                      "training diverged or the save is broken: evaluate an earlier checkpoint")
            digest.update(f"{position}/{path.name}\0{result.sha256}\0".encode())  # where, not the folder's name
    if json.dumps(cache, sort_keys=True) != before:
        _save_cache(cache)
    return digest.hexdigest()[:16]
