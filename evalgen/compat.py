"""The few places where transformers 4.46–4.x and 5.x differ, handled here and nowhere else.

- model loading takes `dtype=` from 4.56 on (5.x deprecates `torch_dtype=`), `torch_dtype=` before;
- 5.x saves a tokenizer's chat template to `chat_template.jinja` (4.x before ~4.50 reads it only from
  tokenizer_config.json) and writes `"tokenizer_class": "TokenizersBackend"`, a class 4.x and 5.x
  before 5.20 do not know;
- `apply_chat_template(..., tokenize=True)` returns a `BatchEncoding` in 5.x, a list of ids in 4.x;
- `GenerationConfig()` has every default unset in 5.x, the classic defaults (max_length=20, top_k=50,
  ...) in 4.x: we always pass every value that decides the output.

Only light imports at module level: transformers is imported inside the functions.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "TRANSFORMERS_MIN",
    "apply_chat_template_ids",
    "dtype_kwargs",
    "generation_config",
    "load_pretrained_tokenizer",
    "save_tokenizer_files",
    "transformers_version",
]

TRANSFORMERS_MIN = (4, 46)
"""The oldest transformers evalgen supports (CI runs its core tests on it)."""


@lru_cache(maxsize=1)
def transformers_version() -> tuple[int, int]:
    import transformers

    major, minor = transformers.__version__.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def dtype_kwargs(dtype: Any) -> dict[str, Any]:
    """The keyword that sets the weights' dtype in `from_pretrained`."""
    return {"dtype": dtype} if transformers_version() >= (4, 56) else {"torch_dtype": dtype}


def load_pretrained_tokenizer(path: str | Path, **kwargs: Any) -> Any:
    """`AutoTokenizer.from_pretrained(path, **kwargs)` that also reads what newer versions write: a
    tokenizer_class this version does not know (`TokenizersBackend`) falls back to the fast tokenizer of
    tokenizer.json, and a `chat_template.jinja` beside the files becomes the chat template."""
    from transformers import AutoTokenizer

    folder = Path(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    except ValueError as exc:
        if not (unknown_tokenizer_class(folder) and (folder / "tokenizer.json").is_file()):
            raise
        from transformers import PreTrainedTokenizerFast

        del exc
        kwargs.pop("trust_remote_code", None)
        tokenizer = PreTrainedTokenizerFast.from_pretrained(folder, **kwargs)
    if not getattr(tokenizer, "chat_template", None) and (folder / "chat_template.jinja").is_file():
        tokenizer.chat_template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    return tokenizer


def unknown_tokenizer_class(folder: Path) -> bool:
    """True when tokenizer_config.json names a tokenizer class this transformers does not have."""
    config = folder / "tokenizer_config.json"
    if not config.is_file():
        return False
    try:
        name = json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class")
    except (ValueError, AttributeError):
        return False
    if not isinstance(name, str):
        return False
    import transformers

    return not hasattr(transformers, name) and not hasattr(transformers, name.removesuffix("Fast"))


def save_tokenizer_files(tokenizer: Any, out: str | Path, template_in_config: bool = False) -> None:
    """Save a tokenizer so that every supported version reads it: the chat template in
    chat_template.jinja (or inside tokenizer_config.json with `template_in_config`), and a
    `tokenizer_class` every version knows (`PreTrainedTokenizerFast`)."""
    out = Path(out)
    template = getattr(tokenizer, "chat_template", None)
    if transformers_version() >= (4, 50):
        tokenizer.save_pretrained(out, save_jinja_files=not template_in_config)
    else:
        tokenizer.save_pretrained(out)  # the template goes into tokenizer_config.json
        if template and not template_in_config:
            config_path = out / "tokenizer_config.json"
            config = json.loads(config_path.read_text(encoding="utf-8"))
            config.pop("chat_template", None)
            config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            (out / "chat_template.jinja").write_text(template, encoding="utf-8")
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") in (None, "TokenizersBackend"):
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def apply_chat_template_ids(tokenizer: Any, messages: list[dict[str, str]], **kwargs: Any) -> list[int]:
    """The token ids of a rendered conversation, whatever `apply_chat_template` returns in this version."""
    out = tokenizer.apply_chat_template(messages, tokenize=True, **kwargs)
    if hasattr(out, "keys") and "input_ids" in out:
        out = out["input_ids"]
    if out and isinstance(out[0], list):
        out = out[0]
    return [int(i) for i in out]


def generation_config(**values: Any) -> Any:
    """A `GenerationConfig` with `values` set and the sampling knobs evalgen does not use pinned off, so
    that 4.x defaults (top_k=50, ...) and 5.x's unset fields give the same decoding."""
    from transformers import GenerationConfig

    pinned: dict[str, Any] = {"num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0}
    if values.get("do_sample"):
        pinned.update(top_k=0, min_p=None, typical_p=1.0)  # evalgen samples with temperature and top_p only
    return GenerationConfig(**{**pinned, **values})
