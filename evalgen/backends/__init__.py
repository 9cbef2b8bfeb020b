"""Generation backends. Each is imported only when chosen, so `import evalgen` stays light."""

from __future__ import annotations

from evalgen.backends.base import Backend, Completion, GenerationSettings, Request

__all__ = ["BACKENDS", "Backend", "Completion", "GenerationSettings", "Request"]

BACKENDS = ("auto", "hf", "vllm")
