"""Find, check and load a local checkpoint folder: a full HF model or a PEFT LoRA adapter.

`inspect_checkpoint` only reads small files (no torch), so every missing or corrupt file is reported
as one clear error before any model is loaded. `load_checkpoint` does the heavy loading.
"""

from __future__ import annotations

import hashlib
import json
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgen.errors import CheckpointError

__all__ = ["CheckpointInfo", "inspect_checkpoint", "load_model", "load_tokenizer", "pick_device", "resolve_dtype"]

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt")
HASHED_FILES = (
    "config.json",
    "generation_config.json",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
)
DTYPES = ("auto", "float32", "bfloat16", "float16")
SAFETENSORS_DTYPES = frozenset({
    "BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64", "C64",
    "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2",
})
"""The dtypes a safetensors header may name (safetensors 0.5+)."""


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    """The folder given by the user (the adapter folder for a LoRA checkpoint)."""
    model_path: Path
    """Where the full model weights are: the folder itself, or the adapter's base."""
    tokenizer_path: Path
    adapter: bool
    files_hash: str
    """sha256 of the config and tokenizer files (not the weights)."""
    fingerprint: str | None = None
    """sha256 of the weight files' content (the adapter's and its base's): see evalgen.weights."""

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "hash": self.files_hash,
            "fingerprint": self.fingerprint,
            "adapter": self.adapter,
            "base": str(self.model_path) if self.adapter else None,
        }


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt JSON ({exc}); re-save the checkpoint") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object; re-save the checkpoint")
    return data


def inspect_checkpoint(path: str | Path, base: str | Path | None = None) -> CheckpointInfo:
    """Check a checkpoint folder without loading it; raise CheckpointError naming what is wrong."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder}: checkpoint folder not found; pass a local folder with config.json and the weights "
            "(or a PEFT adapter folder with adapter_config.json)"
        )
    adapter = (folder / "adapter_config.json").is_file()
    if adapter:
        adapter_config = read_json(folder / "adapter_config.json")
        if not any((folder / f).is_file() for f in ("adapter_model.safetensors", "adapter_model.bin")):
            raise CheckpointError(f"{folder}: adapter_config.json but no adapter_model.safetensors or .bin")
        if (folder / "adapter_model.safetensors").is_file():
            check_safetensors(folder / "adapter_model.safetensors")
        named = adapter_config.get("base_model_name_or_path")
        base_path = Path(base).expanduser() if base else Path(named) if named else None
        if base_path is None or not base_path.is_dir():
            raise CheckpointError(
                f"{folder / 'adapter_config.json'}: base model {str(base or named)!r} is not a local folder; "
                "pass --base PATH to the base checkpoint"
            )
        model_path = base_path
    else:
        model_path = folder
    check_model_folder(model_path)
    tokenizer_path = folder if has_tokenizer(folder) else model_path
    if not has_tokenizer(tokenizer_path):
        raise CheckpointError(
            f"{folder}: no tokenizer files ({', '.join(TOKENIZER_FILES)}); save the tokenizer with the model"
        )
    for name in ("tokenizer_config.json", "generation_config.json"):
        if (tokenizer_path / name).is_file():
            read_json(tokenizer_path / name)
    from evalgen.weights import weights_fingerprint

    fingerprint = weights_fingerprint([model_path, folder])  # also refuses NaN/Inf weights
    return CheckpointInfo(folder, model_path, tokenizer_path, adapter, hash_files([folder, model_path]), fingerprint)


def has_tokenizer(folder: Path) -> bool:
    return any((folder / f).is_file() for f in TOKENIZER_FILES)


def check_model_folder(folder: Path) -> None:
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder}: config.json is missing; this is not a saved HF model folder")
    read_json(folder / "config.json")
    for index_name in INDEX_FILES:
        index_path = folder / index_name
        if index_path.is_file():
            weight_map = read_json(index_path).get("weight_map", {})
            shards = sorted(set(weight_map.values()))
            if not shards:
                raise CheckpointError(f"{index_path}: weight_map is empty; re-save the checkpoint")
            for shard in shards:
                shard_path = folder / shard
                if not shard_path.is_file():
                    raise CheckpointError(f"{shard_path}: shard listed in {index_name} is missing")
                if shard.endswith(".safetensors"):
                    held = check_safetensors(shard_path)
                    lost = sorted(name for name, where in weight_map.items() if where == shard and name not in held)
                    if lost:
                        raise CheckpointError(f"{shard_path}: lacks {len(lost)} tensor(s) that {index_name} puts there "
                                              f"({', '.join(lost[:3])}); those layers would load at random: copy "
                                              "or save the checkpoint again")
            return
    for weights in WEIGHT_FILES:
        if (folder / weights).is_file():
            if weights.endswith(".safetensors"):
                check_safetensors(folder / weights)
            return
    raise CheckpointError(
        f"{folder}: no weights ({', '.join(WEIGHT_FILES)} or a sharded index); the save did not finish?"
    )


def check_safetensors(path: Path) -> set[str]:
    """Read the header: catches truncated or overwritten files before torch sees them. Returns the
    tensor names it holds."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            if header_len <= 0 or 8 + header_len > size:
                raise ValueError("header length past the end of the file")
            header = json.loads(handle.read(header_len))
        for name, tensor in header.items():
            if name != "__metadata__" and tensor.get("dtype") not in SAFETENSORS_DTYPES:
                raise ValueError(f"tensor {name!r} has unknown dtype {tensor.get('dtype')!r}")
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        if 8 + header_len + end > size:
            raise ValueError(f"file is {size} bytes, its header needs {8 + header_len + end}")
        return {k for k in header if k != "__metadata__"}
    except (struct.error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({exc}); copy or save it again") from None


def hash_files(folders: list[Path]) -> str:
    digest = hashlib.sha256()
    for folder in dict.fromkeys(folders):
        for name in HASHED_FILES:
            file = folder / name
            if file.is_file():
                digest.update(name.encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def resolve_dtype(dtype: str, device: str) -> Any:
    """'auto' is the checkpoint's bf16/fp16 on CUDA and float32 on CPU, where half precision is slow."""
    import torch

    if dtype not in DTYPES:
        raise CheckpointError(f"unknown --dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, dtype)


def pick_device(device: str | None = None) -> str:
    """`device`, checked against what torch can see; else cuda when present, else cpu."""
    import torch

    if device and device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise CheckpointError(f"--device {device}: no CUDA GPU is visible to torch here; use --device cpu "
                                  "(or leave --device out)")
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise CheckpointError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                                  f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def load_tokenizer(info: CheckpointInfo, trust_remote_code: bool = False) -> Any:
    """The checkpoint's tokenizer, set up for batched generation (left padding, a pad token)."""
    from evalgen.compat import load_pretrained_tokenizer

    try:
        tokenizer = load_pretrained_tokenizer(
            info.tokenizer_path, trust_remote_code=trust_remote_code, local_files_only=True
        )
    except Exception as exc:  # noqa: BLE001 - tokenizers raises bare Exception for a file it cannot parse
        raise CheckpointError(
            f"{info.tokenizer_path}: cannot load the tokenizer{remote_code_hint(exc)}: {first_line(exc)}; "
            "re-save it with tokenizer.save_pretrained"
        ) from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(info: CheckpointInfo, dtype: str = "auto", device: str = "cpu", trust_remote_code: bool = False) -> Any:
    """The model in eval mode on `device`; a LoRA adapter is applied on its base without merging."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from evalgen.compat import dtype_kwargs

    hf_logging.disable_progress_bar()  # our own progress bar is the one that matters
    try:
        model, loading = AutoModelForCausalLM.from_pretrained(
            info.model_path,
            **dtype_kwargs(resolve_dtype(dtype, device)),
            trust_remote_code=trust_remote_code,
            local_files_only=True,
            output_loading_info=True,
        )
    except Exception as exc:  # noqa: BLE001 - safetensors/torch raise their own types for a bad file
        raise CheckpointError(f"{info.model_path}: cannot load the model{remote_code_hint(exc)}: "
                              f"{first_line(exc)}; re-save the checkpoint") from None
    check_missing(loading, info.model_path)
    if info.adapter:
        try:
            from peft import PeftModel
        except ImportError:
            raise CheckpointError(
                f"{info.path} is a LoRA adapter: install the peft extra (pip install 'evalgen[peft]')"
            ) from None
        try:
            with warnings.catch_warnings():  # peft's own warnings say less than the checks below
                warnings.simplefilter("ignore")
                model = PeftModel.from_pretrained(model, str(info.path), is_trainable=False)
        except Exception as exc:  # noqa: BLE001 - peft: targets not in the base, shapes (rank) not matching
            raise CheckpointError(f"{info.path}: the adapter does not fit its base {info.model_path}: "
                                  f"{first_line(exc)}; pass --base with the model it was trained on") from None
        check_adapter_loaded(model, info.path)
    return model.to(device).eval()


def check_missing(loading: dict[str, Any], folder: Path) -> None:
    """Tensors the model has and the checkpoint lacks would be initialised at random: refuse."""
    missing = sorted(loading.get("missing_keys") or [])
    if missing:
        raise CheckpointError(f"{folder}: the weights lack {len(missing)} tensor(s) the model needs "
                              f"({', '.join(missing[:3])}); they would be random: copy or save the checkpoint again")


def check_adapter_loaded(model: Any, adapter: Path) -> None:
    """Every LoRA tensor of the adapter file must have landed in a module: an adapter whose names match
    none (saved from another architecture, renamed) is silently a no-op otherwise."""
    from safetensors import safe_open

    path = adapter / "adapter_model.safetensors"
    if not path.is_file():
        return
    with safe_open(str(path), "pt") as handle:
        saved = [k for k in handle.keys() if "lora_" in k]  # noqa: SIM118 - safe_open has no iterator
    if not saved:
        return
    present = {name.replace(".default", "") for name, _ in model.named_parameters() if "lora_" in name}
    landed = [k for k in saved if k in present]
    if len(landed) < len(saved):
        lost = [k for k in saved if k not in present]
        raise CheckpointError(f"{path}: {len(lost)} of {len(saved)} LoRA tensors match no module of the model "
                              f"({lost[0]}); the adapter would change nothing: it was saved for another model")


def first_line(exc: BaseException, limit: int = 300) -> str:
    """A library's error as one short line: its first non-empty line, cut to `limit` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def remote_code_hint(exc: Exception) -> str:
    return (
        " (it ships custom code: pass --trust-remote-code if you trust it)" if "trust_remote_code" in str(exc) else ""
    )
