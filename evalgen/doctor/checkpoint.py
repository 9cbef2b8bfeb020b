"""Checkpoint checks: config.json, generation_config.json, the tokenizer files, the chat template and
the safetensors headers (and bytes, for NaN) of a model or LoRA adapter folder. No torch, no
transformers, no generation: JSON, Jinja (the template), `tokenizers` only when a template token is
not an added token, and numpy for the NaN scan. A healthy tiny checkpoint takes ~50 ms.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from evalgen.doctor.findings import DoctorFinding, make
from evalgen.errors import CheckpointError

__all__ = ["CheckpointFiles", "TemplateShape", "check_checkpoint", "read_checkpoint", "render_template"]

_EMBED_SUFFIXES = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "embed_in.weight",
                   "tok_embeddings.weight")
_HEAD_SUFFIXES = ("lm_head.weight", "embed_out.weight", "output.weight")
_PIPE_TOKEN = re.compile(r"<\|[^|\s<>]{1,40}\|>")
_ANGLE_TOKEN = re.compile(r"<\|[^|\s<>]{1,40}\|>|<[A-Za-z_/][A-Za-z0-9_/.:-]{0,40}>")
"""Template tokens: `<|...|>` anywhere in the template's strings; `<...>` (`<start_of_turn>`, `</s>`) only
where a plain conversation renders them, since templates also write XML-ish text (`<tools>`)."""
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_NAN_SCAN_LIMIT = 2 * 1024**3
"""Weights scanned for NaN in a quick check (the `evalgen run` pre-flight): larger checkpoints are
scanned only by `evalgen doctor`."""

# Known prompt formats, by the text their templates write (first match wins).
FORMATS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("llama3", ("<|start_header_id|>",)),
    ("chatml", ("<|im_start|>",)),
    ("gemma", ("<start_of_turn>",)),
    ("llama2", ("[INST]",)),
    ("phi3/zephyr", ("<|user|>", "<|assistant|>")),
    ("deepseek", ("<｜User｜>",)),
    ("yayi", ("<|Human|>",)),
    ("alpaca", ("### Instruction:", "### Response:")),
    ("stablebeluga", ("### User:", "### Assistant:")),
    ("guanaco", ("### Human:",)),
    ("vicuna", ("USER:", "ASSISTANT:")),
)


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _ids(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def _read(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise CheckpointError(f"{path}: not readable JSON ({exc}); re-save the checkpoint") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object; re-save the checkpoint")
    return data


def safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    """The tensors of a .safetensors file (name → dtype, shape, data_offsets) and where data starts."""
    try:
        with path.open("rb") as f:
            raw = f.read(8)
            n = struct.unpack("<Q", raw)[0] if len(raw) == 8 else -1
            if not 0 < n < 100_000_000:
                raise CheckpointError(f"{path}: not a safetensors file (bad header length); re-save the weights")
            header = json.loads(f.read(n))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable safetensors header ({exc}); re-save the weights") from None
    header.pop("__metadata__", None)
    return header, 8 + n


def weight_files(folder: Path, prefix: str = "model") -> list[Path]:
    """The safetensors files of a folder: one file, or the shards its index lists."""
    single = folder / f"{prefix}.safetensors"
    if single.is_file():
        return [single]
    index = _read(folder / f"{prefix}.safetensors.index.json")
    if index and isinstance(index.get("weight_map"), dict):
        return sorted({folder / str(f) for f in index["weight_map"].values() if (folder / str(f)).is_file()})
    return []


@dataclass
class CheckpointFiles:
    """The small files of one checkpoint, read once."""

    folder: Path
    """The folder given (the adapter folder for a LoRA adapter)."""
    model_folder: Path
    """Where config.json and the weights are (the adapter's base for an adapter)."""
    tokenizer_folder: Path
    config: dict[str, Any] | None
    generation: dict[str, Any] | None
    tokenizer_config: dict[str, Any] | None
    adapter_config: dict[str, Any] | None
    template: str | None
    template_path: Path | None
    vocab: dict[str, int] = field(default_factory=dict)
    """Token text → id: the model vocabulary and the added tokens."""
    added: dict[str, int] = field(default_factory=dict)
    """Added (special or not) token text → id: always one token when tokenized."""

    def token(self, name: str) -> str | None:
        """The tokenizer's `name` token (`eos_token`, `pad_token`, `bos_token`) as text."""
        for source in (self.tokenizer_config, _read(self.tokenizer_folder / "special_tokens_map.json")):
            text = _token_text((source or {}).get(name))
            if text is not None:
                return text
        return None

    @cached_property
    def backend(self) -> Any:
        """A `tokenizers.Tokenizer` from tokenizer.json, or None."""
        path = self.tokenizer_folder / "tokenizer.json"
        if not path.is_file():
            return None
        from tokenizers import Tokenizer

        try:
            return Tokenizer.from_file(str(path))
        except Exception:  # a tokenizer.json the installed tokenizers cannot read: checks degrade
            return None

    def is_one_token(self, text: str) -> bool | None:
        """Whether `text` encodes to exactly one id (None when it cannot be told)."""
        if text in self.added:
            return True
        if self.backend is None:
            return (text in self.vocab) or None
        return len(self.backend.encode(text, add_special_tokens=False).ids) == 1

    @property
    def vocab_size(self) -> int | None:
        return max(self.vocab.values()) + 1 if self.vocab else None


def _template(folder: Path, tokenizer_config: dict[str, Any] | None) -> tuple[str | None, Path | None]:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8"), jinja
    as_json = _read(folder / "chat_template.json")
    if as_json and isinstance(as_json.get("chat_template"), str):
        return as_json["chat_template"], folder / "chat_template.json"
    value = (tokenizer_config or {}).get("chat_template")
    if isinstance(value, list):  # named templates: the default one, else the first
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        value = named.get("default") or next(iter(named.values()), None)
    if isinstance(value, str) and value.strip():
        return value, folder / "tokenizer_config.json"
    return None, None


def _vocab(folder: Path, tokenizer_config: dict[str, Any] | None) -> tuple[dict[str, int], dict[str, int]]:
    vocab: dict[str, int] = {}
    added: dict[str, int] = {}
    data = _read(folder / "tokenizer.json") if (folder / "tokenizer.json").is_file() else None
    if data:
        model_vocab = (data.get("model") or {}).get("vocab")
        if isinstance(model_vocab, dict):
            vocab.update({str(k): int(v) for k, v in model_vocab.items()})
        elif isinstance(model_vocab, list):  # Unigram: [[piece, score], ...], the id is the index
            vocab.update({str(p[0]): i for i, p in enumerate(model_vocab) if isinstance(p, list) and p})
        for token in data.get("added_tokens") or []:
            if isinstance(token, dict) and isinstance(token.get("content"), str) and isinstance(token.get("id"), int):
                added[token["content"]] = token["id"]
    for key, token in ((tokenizer_config or {}).get("added_tokens_decoder") or {}).items():
        if isinstance(token, dict) and isinstance(token.get("content"), str) and str(key).isdigit():
            added.setdefault(token["content"], int(key))
    vocab.update(added)
    return vocab, added


def read_checkpoint(path: str | Path) -> CheckpointFiles:
    """Read the small files of a checkpoint (or LoRA adapter) folder; CheckpointError when it is none."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a folder; pass a checkpoint folder (config.json, tokenizer, weights)")
    adapter_config = _read(folder / "adapter_config.json")
    model_folder = folder
    if adapter_config is not None:
        base = adapter_config.get("base_model_name_or_path")
        if isinstance(base, str) and Path(base).expanduser().is_dir():
            model_folder = Path(base).expanduser()
    config = _read(model_folder / "config.json")
    if config is None and adapter_config is None:
        raise CheckpointError(f"{folder}: no config.json or adapter_config.json; pass a checkpoint folder "
                              "saved with save_pretrained (or a training output folder with checkpoint-N/)")
    has_tok = any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))
    tokenizer_folder = folder if has_tok else model_folder
    tokenizer_config = _read(tokenizer_folder / "tokenizer_config.json")
    template, template_path = _template(tokenizer_folder, tokenizer_config)
    vocab, added = _vocab(tokenizer_folder, tokenizer_config)
    generation = _read(model_folder / "generation_config.json")
    return CheckpointFiles(folder, model_folder, tokenizer_folder, config, generation, tokenizer_config, adapter_config,
                           template, template_path, vocab, added)


# --- the chat template --------------------------------------------------------------------------------


def render_template(template: str, messages: list[dict[str, str]], add_generation_prompt: bool = False,
                    **tokens: str | None) -> str:
    """Render a chat template as transformers does (sandboxed Jinja, trim_blocks, lstrip_blocks)."""
    from datetime import datetime

    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
               sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                            **{k: v or "" for k, v in tokens.items()})


_Q1, _A1, _Q2 = "DOCTORQUESTIONONE", "DOCTORANSWERONE", "DOCTORQUESTIONTWO"


@dataclass(frozen=True)
class TemplateShape:
    """What a template writes around an assistant answer, read from a render with sentinel texts."""

    head: str
    """Everything before the first answer (system, first user turn, the assistant header)."""
    gap: str
    """What follows an answer when another user turn comes."""
    tail: str
    """What follows the last answer of a conversation."""
    end_token: str | None
    """The first special token after an answer: the end-of-turn token (None when there is none)."""


def template_shape(files: CheckpointFiles) -> TemplateShape | None:
    """Render the template with sentinel turns; None when it does not render."""
    if not files.template:
        return None
    tokens = {k: files.token(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    try:
        two = render_template(files.template, [{"role": "user", "content": _Q1}, {"role": "assistant", "content": _A1},
                                               {"role": "user", "content": _Q2}], **tokens)
        one = render_template(files.template, [{"role": "user", "content": _Q1},
                                               {"role": "assistant", "content": _A1}], **tokens)
    except Exception:
        return None
    a, q = two.find(_A1), two.find(_Q2)
    if a < 0 or q < a or one.find(_A1) < 0:
        return None
    gap = two[a + len(_A1):q]
    tail = one[one.find(_A1) + len(_A1):]
    specials = sorted(set(files.added) | {t for t in tokens.values() if t}, key=len, reverse=True)
    bos = tokens["bos_token"]
    stripped = gap.lstrip()
    end = next((t for t in specials if stripped.startswith(t) and t != bos), None)
    return TemplateShape(one[:one.find(_A1)], gap, tail, end)


def template_format(template: str) -> str | None:
    """The known prompt format a template writes (see FORMATS), or None."""
    for name, markers in FORMATS:
        if all(m in template for m in markers):
            return name
    return None


# --- checks -------------------------------------------------------------------------------------------


def _generation_stop_ids(files: CheckpointFiles) -> tuple[list[int], str]:
    """The ids `generate()` stops on, and the file they come from."""
    if files.generation is not None and _ids(files.generation.get("eos_token_id")):
        return _ids(files.generation["eos_token_id"]), "generation_config.json"
    return _ids((files.config or {}).get("eos_token_id")), "config.json"


def _eos_checks(files: CheckpointFiles, shape: TemplateShape | None) -> Iterable[DoctorFinding]:
    eos = files.token("eos_token")
    eos_id = files.vocab.get(eos) if eos else None
    stop_ids, stop_file = _generation_stop_ids(files)
    end = shape.end_token if shape else None
    end_id = files.vocab.get(end) if end else None
    evidence = {"tokenizer_eos": eos, "tokenizer_eos_id": eos_id, "template_end_token": end,
                "template_end_id": end_id, "config_eos_token_id": (files.config or {}).get("eos_token_id"),
                "generation_eos_token_id": (files.generation or {}).get("eos_token_id")}
    needed = end_id if end_id is not None else eos_id
    where = files.model_folder / stop_file
    if not stop_ids and files.config is not None:
        yield make("eos_mismatch", where, evidence, "No eos_token_id in generation_config.json or config.json")
    elif needed is not None and stop_ids and needed not in stop_ids:
        name = end if end_id is not None else eos
        yield make("eos_mismatch", where, evidence,
                   f"The turn ends with {name} (id {needed}) but {stop_file} stops on {stop_ids}")
    pad = files.token("pad_token")
    pad_id = files.vocab.get(pad) if pad else None
    ends = {i for i in (eos_id, end_id) if i is not None}
    if pad_id is not None and pad_id in ends:
        yield make("pad_is_eos", files.tokenizer_folder / "tokenizer_config.json",
                   {"pad_token": pad, "pad_token_id": pad_id, "eos_token": eos, "template_end_token": end},
                   f"The pad token {pad} is the end token (id {pad_id})")
    if shape is not None:
        end_texts = {t for t in (eos, end, *(_text_of(files, i) for i in stop_ids)) if t}
        if not any(t in shape.gap or t in shape.tail for t in end_texts):
            yield make("eos_not_in_template", files.template_path or files.tokenizer_folder,
                       {"after_answer": shape.gap[:80], "at_end": shape.tail[:80], "end_tokens": sorted(end_texts)},
                       f"An assistant turn is followed by {shape.gap[:40]!r}, with no end token")


def _text_of(files: CheckpointFiles, token_id: int) -> str | None:
    return next((t for t, i in files.added.items() if i == token_id), None)


def _template_checks(files: CheckpointFiles, shape: TemplateShape | None) -> Iterable[DoctorFinding]:
    if not files.template:
        yield make("no_chat_template", files.tokenizer_folder / "tokenizer_config.json",
                   {"files_checked": ["chat_template.jinja", "chat_template.json", "tokenizer_config.json"]},
                   "The tokenizer has no chat template")
        return
    fmt = template_format(files.template)
    yield make("template_format", files.template_path or files.tokenizer_folder,
               {"format": fmt, "end_token": shape.end_token if shape else None, "renders": shape is not None},
               f"The chat template is {fmt}" if fmt else "The chat template is none of the known formats")
    literals = "\n".join(a + b for a, b in _STRING.findall(files.template))
    rendered = shape.head + shape.gap + shape.tail if shape else ""
    candidates = dict.fromkeys(_PIPE_TOKEN.findall(literals) + _ANGLE_TOKEN.findall(rendered))
    bad = {}
    for token in candidates:
        one = files.is_one_token(token)
        if one is False or (one is None and token not in files.vocab):
            pieces = files.backend.encode(token, add_special_tokens=False).tokens if files.backend else None
            bad[token] = pieces
    if bad:
        yield make("special_token_missing", files.template_path or files.tokenizer_folder,
                   {"tokens": bad}, f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not one token of the "
                   "vocabulary")


def _weights(files: CheckpointFiles) -> list[tuple[Path, dict[str, Any], int]]:
    return [(p, *safetensors_header(p)) for p in weight_files(files.model_folder)]


def _shape_checks(files: CheckpointFiles, weights: list[tuple[Path, dict[str, Any], int]]
                  ) -> Iterable[DoctorFinding]:
    rows: dict[str, tuple[int, Path]] = {}
    for path, header, _ in weights:
        for name, info in header.items():
            if name.endswith(_EMBED_SUFFIXES + _HEAD_SUFFIXES) and info.get("shape"):
                rows[name] = (int(info["shape"][0]), path)
    size = files.vocab_size
    config_vocab = (files.config or {}).get("vocab_size")
    for name, (n, path) in rows.items():
        problems = []
        if size is not None and size > n:
            problems.append(f"the tokenizer has ids up to {size - 1}")
        if isinstance(config_vocab, int) and config_vocab != n:
            problems.append(f"config.json says vocab_size {config_vocab}")
        if problems:
            yield make("embedding_size_mismatch", path,
                       {"tensor": name, "rows": n, "tokenizer_size": size, "config_vocab_size": config_vocab},
                       f"{name} has {n} rows but {' and '.join(problems)}")
            return


_NONFINITE = {"F32": ("<u4", 0x7F800000), "F16": ("<u2", 0x7C00), "BF16": ("<u2", 0x7F80),
              "F64": ("<u8", 0x7FF0000000000000)}


def nonfinite_tensors(path: Path, header: Mapping[str, Any], start: int, limit: int = 10) -> dict[str, int]:
    """Tensor name → count of NaN/inf values, read from the raw bits (any float dtype, no torch)."""
    import mmap

    import numpy as np

    found: dict[str, int] = {}
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for name, info in header.items():
            kind = _NONFINITE.get(info.get("dtype"))
            if kind is None:
                continue
            dtype, mask = kind
            b, e = info["data_offsets"]
            width = np.dtype(dtype).itemsize
            bits = np.frombuffer(mm, dtype=dtype, count=(e - b) // width, offset=start + b)
            n = int(np.count_nonzero((bits & mask) == mask))
            del bits
            if n:
                found[name] = n
                if len(found) >= limit:
                    break
    return found


def _nan_checks(weights: list[tuple[Path, dict[str, Any], int]], scan_limit: int | None) -> Iterable[DoctorFinding]:
    total = sum(p.stat().st_size for p, _, _ in weights)
    if scan_limit is not None and total > scan_limit:
        return
    for path, header, start in weights:
        bad = nonfinite_tensors(path, header, start)
        if bad:
            yield make("nan_weights", path, {"tensors": bad},
                       f"{len(bad)} tensor(s) hold NaN or inf values ({', '.join(list(bad)[:3])})")


def _generation_checks(files: CheckpointFiles) -> Iterable[DoctorFinding]:
    g = files.generation
    if not g:
        return
    where = files.model_folder / "generation_config.json"
    issues: dict[str, Any] = {}
    rp = g.get("repetition_penalty")
    if isinstance(rp, int | float) and rp != 1.0:
        issues["repetition_penalty"] = rp
    nr = g.get("no_repeat_ngram_size")
    if isinstance(nr, int) and nr > 0:
        issues["no_repeat_ngram_size"] = nr
    ml, mnt = g.get("max_length"), g.get("max_new_tokens")
    if isinstance(mnt, int) and mnt < 64:
        issues["max_new_tokens"] = mnt
    elif mnt is None and isinstance(ml, int) and ml < 256:
        issues["max_length"] = ml
    sampling = {k: g[k] for k, neutral in (("temperature", 1.0), ("top_p", 1.0), ("top_k", 50))
                if isinstance(g.get(k), int | float) and g[k] != neutral}
    if g.get("do_sample") is not True and sampling:
        issues["ignored_under_greedy"] = sampling
    if g.get("do_sample") is True and g.get("temperature") == 0:
        issues["temperature"] = 0
    if issues:
        yield make("generation_config_suspicious", where, issues,
                   "generation_config.json sets " + ", ".join(f"{k}={v}" for k, v in issues.items()))


_LORA = re.compile(r"^(?:base_model\.model\.)?(.*)\.lora_([AB])(?:\.[A-Za-z0-9_]+)?\.weight$")


def _adapter_checks(files: CheckpointFiles) -> Iterable[DoctorFinding]:
    cfg = files.adapter_config
    if cfg is None:
        return
    where = files.folder / "adapter_config.json"
    base = cfg.get("base_model_name_or_path")
    if files.model_folder == files.folder:
        yield make("adapter_base_mismatch", where, {"base_model_name_or_path": base},
                   f"The base {base!r} is not a local folder, so the adapter cannot be checked or loaded here",
                   severity="warning", fix="Point base_model_name_or_path at the local base checkpoint.")
        return
    adapter_files = weight_files(files.folder, "adapter_model")
    base_shapes = {name: info.get("shape") for p in weight_files(files.model_folder)
                   for name, info in safetensors_header(p)[0].items()}
    wrong: dict[str, Any] = {}
    for path in adapter_files:
        for name, info in safetensors_header(path)[0].items():
            m = _LORA.match(name)
            if not m or not info.get("shape"):
                continue
            target = base_shapes.get(m.group(1) + ".weight")
            if target is None:
                wrong[name] = "no such layer in the base"
            elif m.group(2) == "A" and info["shape"][-1] != target[-1]:
                wrong[name] = {"adapter_in": info["shape"][-1], "base_in": target[-1]}
            elif m.group(2) == "B" and info["shape"][0] != target[0]:
                wrong[name] = {"adapter_out": info["shape"][0], "base_out": target[0]}
            if len(wrong) >= 5:
                break
    if wrong:
        yield make("adapter_base_mismatch", where, {"base_model_name_or_path": base, "layers": wrong},
                   f"{len(wrong)} LoRA layer(s) do not fit the base {base}")


def check_checkpoint(path: str | Path, *, scan_limit: int | None = None) -> list[DoctorFinding]:
    """Every checkpoint check on a folder. `scan_limit` (bytes): skip the NaN scan above this weight size
    (None: always scan). CheckpointError when the folder is no checkpoint."""
    files = read_checkpoint(path)
    shape = template_shape(files)
    weights = _weights(files)
    findings: list[DoctorFinding] = []
    findings += _eos_checks(files, shape)
    findings += _template_checks(files, shape)
    findings += _shape_checks(files, weights)
    findings += _nan_checks(weights, scan_limit)
    findings += _generation_checks(files)
    findings += _adapter_checks(files)
    return findings


def quick_checkpoint_check(path: str | Path) -> list[DoctorFinding]:
    """The checkpoint checks `evalgen run` does first: all of them, the NaN scan only up to 2 GiB."""
    return check_checkpoint(path, scan_limit=_NAN_SCAN_LIMIT)
