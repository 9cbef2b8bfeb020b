"""`evalgen run`: probes → chat template → backend → run folder, streamed and resumable."""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgen.backends import BackendSpec, backend_entry, create_backend, select_backend
from evalgen.backends.base import Backend, BackendSetup, Completion, GenerationSettings, Request
from evalgen.checkpoint import CheckpointInfo, has_tokenizer, inspect_checkpoint, load_tokenizer, pick_device
from evalgen.errors import CheckpointError, ConfigError, RunFolderError
from evalgen.evaluate import ScoreAhead, score_into
from evalgen.hub import HubModel, parse_hub_id, resolve_model_path
from evalgen.probes import load_suites
from evalgen.records import GenerationRecord, Probe, RunMeta, json_line
from evalgen.runfolder import RunFolder, default_run_dir, now_iso
from evalgen.scoring import ScoreLine
from evalgen.templates import BoundTemplate, bind_template

__all__ = ["RunOptions", "RunResult", "build_requests", "run", "select_backend", "summarize"]
# `select_backend` lives in the backend registry (evalgen.backends); re-exported for existing callers.

# Settings that must match for --resume to continue a folder: they change what gets generated.
RESUME_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "samples", "stop_strings", "early_exit")


@dataclass
class RunOptions:
    checkpoint: str | None = None
    """A local model folder, a PEFT adapter folder, or a Hugging Face Hub id ORG/NAME[@REVISION]. Optional
    for backends that load no weights (openai, scripted): there it only says where the tokenizer is."""
    suites: list[str] | None = None
    template: str | None = None
    out: str | None = None
    backend: str = "auto"
    base: str | None = None
    dtype: str = "auto"
    device: str | None = None
    trust_remote_code: bool = False
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    extra_stop: tuple[str, ...] = ()
    stop_at_turn_markers: bool = True
    resume: bool = False
    identity: str | None = None
    identity_org: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    teacher_forced: bool = True
    """Teacher-force whole references, the run's own natural endings and the baseline's (see
    evalgen.teacher_forced)."""
    baseline_run: str | None = None
    """A baseline run folder whose natural-ending answers this run's model is teacher-forced on, so that
    compare can pair stop probabilities on the same text."""
    engine_args: dict[str, Any] = field(default_factory=dict)
    """vLLM engine options (tensor_parallel_size, gpu_memory_utilization, max_model_len, ...)."""
    progress: bool = True
    tokenizer: str | None = None
    """Where the tokenizer and chat template come from when not from the checkpoint (a folder or Hub id)."""
    backend_options: dict[str, Any] = field(default_factory=dict)
    """The chosen backend's own options: openai's base_url, model, api_key_env, concurrency, chat_api,
    request_timeout; scripted's script."""
    jobs: int | None = None
    """Scoring processes (None: all cores; see evalgen.score_stream)."""


@dataclass
class RunResult:
    path: Path
    records: list[GenerationRecord]
    scores: list[ScoreLine]
    meta: dict[str, Any]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_requests(
    probes: Sequence[Probe],
    template: BoundTemplate,
    tokenizer: Any,
    samples: int,
    done: set[tuple[str, str, int]],
    context: int | None = None,
    refused: list[GenerationRecord] | None = None,
) -> tuple[list[Request], list[tuple[Probe, int]]]:
    """One request per probe × sample not yet done. The prompt is tokenized without adding special
    tokens: the template already wrote BOS where the model expects it, and a second one changes outputs.

    A prompt of `context` tokens or more (the model's context length, when known) is not sent: it becomes an
    `error` record in `refused`, saying why, and its batch mates are generated as usual."""
    requests: list[Request] = []
    origin: list[tuple[Probe, int]] = []
    todo = [(probe, pending) for probe in probes
            if (pending := [s for s in range(samples) if (probe.suite, probe.id, s) not in done])]
    texts = [template.render(probe.messages) for probe, _ in todo]
    # Every prompt in one call: a fast tokenizer encodes a batch at a third less than one call per prompt.
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"] if tokenizer is not None and texts else None
    for n, ((probe, pending), text) in enumerate(zip(todo, texts, strict=True)):
        ids = encoded[n] if encoded is not None else []
        if context is not None and len(ids) >= context and refused is not None:
            reason = (f"prompt too long: {len(ids)} tokens ({len(text)} characters), the model's context is "
                      f"{context}; shorten the prompt")
            for sample in pending:
                request = Request(-1, text, [], sample, probe.messages, f"{probe.suite}/{probe.id}")
                refused.append(to_record(probe, request, Completion(-1, "", "", [], "error", reason)))
            continue
        for sample in pending:
            requests.append(Request(len(requests), text, ids, sample, probe.messages, f"{probe.suite}/{probe.id}"))
            origin.append((probe, sample))
    return requests, origin


def to_record(probe: Probe, request: Request, completion: Completion) -> GenerationRecord:
    return GenerationRecord(
        probe_id=probe.id,
        suite=probe.suite,
        sample=request.sample,
        messages=probe.messages,
        prompt_text=request.prompt_text,
        output=completion.output,
        output_raw=completion.output_raw,
        output_token_ids=completion.token_ids,
        stop_reason=completion.stop_reason,
        stop_detail=completion.stop_detail,
        n_output_tokens=len(completion.token_ids) if completion.token_ids is not None else completion.n_tokens or 0,
        latency_s=round(completion.latency_s, 4),
        reference=probe.reference,
        scorer=probe.scorer,
        lang=probe.lang,
        tags=list(probe.tags),
    )


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("evalgen", "torch", "transformers", "peft", "vllm"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def check_resumable(previous: RunMeta | None, meta: dict[str, Any], path: Path) -> None:
    """--resume continues a folder only with what made its records: the same weights, suites (content),
    template, dtype, backend and generation settings. Exit 2 naming each difference."""
    if previous is None:
        return
    changed: list[str] = []

    def differ(label: str, old: Any, new: Any) -> None:
        if old != new:
            changed.append(f"{label} ({_short(old)} → {_short(new)})")

    old_ckpt, new_ckpt = previous.checkpoint, meta["checkpoint"]
    if old_ckpt.get("fingerprint") or new_ckpt.get("fingerprint"):
        differ("weights fingerprint", old_ckpt.get("fingerprint"), new_ckpt.get("fingerprint"))
    differ("checkpoint files", old_ckpt.get("hash"), new_ckpt.get("hash"))
    old_suites = {name: s.get("hash") for name, s in previous.suites.items() if isinstance(s, dict)}
    new_suites = {name: s.get("hash") for name, s in meta["suites"].items()}
    if any(old_suites.values()):
        for name in sorted(old_suites.keys() | new_suites.keys()):
            differ(f"suite {name}", old_suites.get(name, "absent"), new_suites.get(name, "absent"))
    old_template = {k: v for k, v in previous.template.items() if k != "source"}
    differ("template", old_template, {k: v for k, v in meta["template"].items() if k != "source"})
    differ("backend", previous.backend, meta["backend"])
    old, new = previous.settings, meta["settings"]
    for key in (*RESUME_KEYS, "dtype"):
        if key in old:
            differ(key, old[key], new.get(key))
    if changed:
        raise RunFolderError(
            f"{path}: cannot resume, these differ from the earlier run: {'; '.join(changed)}; "
            "use the same options and files, or a new --out"
        )


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def run(options: RunOptions, backend: Backend | None = None) -> RunResult:
    """Generate every probe × sample into a run folder; the Python API behind `evalgen run`.

    `backend`: a Backend instance to use instead of building `options.backend` (e.g. an `HFBackend`
    around a model in memory, or a `ScriptedBackend`). It is opened here and closed before returning."""
    probes = load_suites(options.suites)  # fail on a bad probe before loading any model
    if backend is None:
        backend_name, why = select_backend(options.backend)
        needs_checkpoint = backend_entry(backend_name).requires_checkpoint()
    else:
        if not isinstance(backend, Backend):
            raise ConfigError(f"run(backend=...): {type(backend).__name__} is not a Backend (it needs name, "
                              "capabilities, open, close, generate, describe and the context-manager methods)")
        backend_name, why, needs_checkpoint = backend.name, "a Backend given to run()", False
    info, hub = resolve_checkpoint(options, required=needs_checkpoint)
    if options.device and needs_checkpoint:
        pick_device(options.device)  # a device torch cannot see: say so before anything loads
    label = options.checkpoint or options.tokenizer or backend_name
    out = Path(options.out) if options.out else default_run_dir(label)
    folder = RunFolder(out, resume=options.resume)
    if info is not None:
        preflight(info.path, folder.path)
    if backend is None:
        spec = BackendSpec(info, options.dtype, options.device, options.trust_remote_code,
                           {**options.engine_args, **options.backend_options})
        backend = create_backend(backend_name, spec)
    with folder, backend:  # closed on every way out, opened or not (close() is safe on a backend never opened)
        return run_with(options, backend, backend_name, why, needs_checkpoint, probes, info, hub, folder)


def preflight(checkpoint: Path, out: Path) -> None:
    """`evalgen doctor`'s checkpoint checks before loading anything: errors are printed, every finding
    goes to the run folder's doctor.json (which compare and the report link to regressions)."""
    from evalgen.doctor.checkpoint import quick_checkpoint_check
    from evalgen.doctor.findings import findings_json
    from evalgen.doctor.link import DOCTOR_FILE
    from evalgen.errors import EvalgenError

    try:
        findings = quick_checkpoint_check(checkpoint)
    except EvalgenError:
        return  # an unreadable checkpoint is reported by the loader, with its own message
    for f in findings:
        # The loader refuses NaN weights and an adapter for another base with its own one-line error.
        if f.severity == "error" and f.code not in ("nan_weights", "adapter_base_mismatch"):
            log(f"evalgen: doctor: {f.code} in {f.path}: {f.message} Fix: {f.fix}")
    (out / DOCTOR_FILE).write_text(findings_json(findings), encoding="utf-8")


def run_with(options: RunOptions, backend: Backend, backend_name: str, why: str, needs_checkpoint: bool,
             probes: list[Probe], info: CheckpointInfo | None, hub: HubModel | None, folder: RunFolder) -> RunResult:
    out = folder.path
    tokenizer, tokenizer_from = run_tokenizer(options, backend, info)
    template = run_template(options, backend, tokenizer, tokenizer_from)
    log(f"evalgen: backend {backend_name} ({why})")
    stops = (template.turn_markers if options.stop_at_turn_markers else ()) + options.extra_stop
    settings = GenerationSettings(**{**options.generation.describe(), "stop_strings": tuple(dict.fromkeys(stops))})
    device = options.device or getattr(backend, "device", None) or (pick_device() if needs_checkpoint else None)
    samples = settings.samples
    checkpoint: dict[str, Any] = (info.describe() if info is not None
                                  else {"path": None, "hash": None, "adapter": False, "base": None})
    if hub is not None:
        checkpoint["hub"] = hub.describe()
    meta: dict[str, Any] = {
        "name": out.name,
        "status": "running",
        "checkpoint": checkpoint,
        "backend": backend_name,
        "backend_reason": why,
        "backend_info": backend.describe(),
        "tokenizer": tokenizer_from,
        "template": template.describe(),
        "settings": {**settings.describe(), "dtype": options.dtype, "device": device},
        "suites": suite_summary(probes),
        "identity": {"name": options.identity, "org": options.identity_org},
        "versions": versions(),
        "timings": {"started": now_iso()},
        "host": platform.node(),
    }
    check_resumable(folder.previous_meta(), meta, out)
    refused: list[GenerationRecord] = []
    context = context_length(info, options.engine_args)
    requests, origin = build_requests(probes, template, tokenizer, samples, set(folder.done), context, refused)
    if folder.done:
        log(f"evalgen: resuming {out}: {len(folder.done)} records done, {len(requests)} to go")
    folder.write_meta(meta)

    records = list(folder.done.values())
    if refused:
        log(f"evalgen: {len(refused)} prompt(s) longer than the model's context ({context} tokens) are recorded as "
            "errors, not generated")
        folder.append(refused)
        records += refused
    baseline = baseline_records(options.baseline_run) if options.teacher_forced else ([], None)
    setup = BackendSetup(settings, template.end_tokens, tokenizer, options.progress)
    position = {(p.suite, p.id): i for i, p in enumerate(probes)}  # suite-file order, not batch order
    ahead: ScoreAhead | None = None
    began = time.perf_counter()
    try:
        if requests or options.teacher_forced:  # a backend may learn its capabilities only when open
            backend.open(setup)
            meta["backend_info"] = backend.describe()
            meta["timings"]["load_s"] = round(time.perf_counter() - began, 3)
        # The generation phase alone: loading the model is `load_s`, not part of it.
        began, began_cpu = time.perf_counter(), time.process_time()
        if requests and backend.capabilities.remote:  # a server generates: score the new records while it does
            keys = sorted([(p.suite, p.id, s) for p, s in origin], key=lambda k: (position.get(k[:2], -1), k[2]))
            ahead = ScoreAhead(out, keys, (), meta, options.config)  # the records already here: in finish()
        if requests:
            records += generate_into(folder, backend, requests, origin, options.progress, ahead)
    except BaseException as exc:  # every way out leaves run.json saying how the run ended
        write_ending(folder, meta, exc)
        if ahead is not None:  # after run.json: a second Ctrl-C during this wait cannot leave it "running"
            ahead.abort()  # its scores would be thrown away: it stops at its next record
        raise
    meta["timings"]["generate_s"] = round(time.perf_counter() - began, 3)
    # This process's CPU seconds (all its threads) over the same phase: steadier than wall time on a busy machine.
    meta["timings"]["generate_cpu_s"] = round(time.process_time() - began_cpu, 3)
    if requests:  # what happened while generating (e.g. a Ray engine lost, and why)
        meta["backend_info"] = backend.describe()
    records.sort(key=lambda r: (position.get((r.suite, r.probe_id), -1), r.sample))

    try:
        began = time.perf_counter()  # with a server, what was left to score after its last answer (and a resumed run's)
        scores = (ahead.finish(records, options.jobs) if ahead is not None
                  else score_into(out, records, meta, options.config, options.jobs))
        meta["timings"]["score_s"] = round(time.perf_counter() - began, 3)
        plan = teacher_forced_plan(options.teacher_forced, probes, records, baseline, backend)
        meta["teacher_forced"] = teacher_forced_into(out, plan, backend, template, tokenizer)
    except BaseException as exc:  # the records are all here; scoring or teacher forcing did not finish
        write_ending(folder, meta, exc)
        raise
    meta["timings"]["finished"] = now_iso()
    meta["status"] = "complete"
    meta["counts"] = count(records)
    folder.write_meta(meta)
    return RunResult(out, records, scores, meta)


def write_ending(folder: RunFolder, meta: dict[str, Any], exc: BaseException) -> None:
    """run.json saying how a run that did not complete ended (`interrupted` by Ctrl-C, else `failed` and
    why), with the counts of the records on disk: what `--resume` and `compare` read."""
    meta["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    if not isinstance(exc, KeyboardInterrupt):
        meta["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    with contextlib.suppress(Exception):  # a full disk may refuse this write too; the first error wins
        meta["counts"] = count(records_on_disk(folder))
        folder.write_meta(meta)


def resolve_checkpoint(options: RunOptions, required: bool) -> tuple[CheckpointInfo | None, HubModel | None]:
    """The run's checkpoint, checked without loading it: a local folder, else a Hub id through the cache.
    None when the backend loads no weights (then CHECKPOINT, if given, only names the tokenizer)."""
    if not required:
        return None, None
    if not options.checkpoint:
        raise ConfigError(f"--backend {options.backend}: pass CHECKPOINT (a model folder or a Hub id ORG/NAME), "
                          "or --backend openai --base-url URL for a served model")
    path, hub = resolve_model_path(options.checkpoint, progress=options.progress)
    base = options.base
    if base is None and (path / "adapter_config.json").is_file():
        base = adapter_base_from_hub(path, options.progress)
    return inspect_checkpoint(path, base), hub


def adapter_base_from_hub(adapter: Path, progress: bool) -> str | None:
    """An adapter's `base_model_name_or_path` that is a Hub id rather than a folder, resolved through the
    cache (None leaves the check, and its error, to `inspect_checkpoint`)."""
    import json

    try:
        named = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (ValueError, OSError, AttributeError):
        return None
    if not isinstance(named, str) or Path(named).expanduser().is_dir() or parse_hub_id(named) is None:
        return None
    try:
        return str(resolve_model_path(named, "base model", progress=progress)[0])
    except CheckpointError as exc:
        raise CheckpointError(f"{adapter / 'adapter_config.json'}: {exc}; or pass --base PATH") from None


def run_tokenizer(options: RunOptions, backend: Backend, info: CheckpointInfo | None) -> tuple[Any, str | None]:
    """(tokenizer, where it came from) that renders and tokenizes the prompts: the backend's own (a model
    in memory), `--tokenizer`, the checkpoint's, or the served model's (a folder or Hub id the server
    reports); None when the backend applies its own template (a chat endpoint)."""
    own = getattr(backend, "tokenizer", None)
    if own is not None:
        return own, "the backend's own"
    source = options.tokenizer or (str(info.tokenizer_path) if info is not None else options.checkpoint)
    if source is None and backend.capabilities.chat:
        return None, None
    if source is None and hasattr(backend, "tokenizer_source"):
        source = backend.tokenizer_source()
    if source is None:
        if backend.capabilities.chat:
            return None, None
        raise ConfigError(f"--backend {backend.name}: no tokenizer to render the prompts with; pass --tokenizer "
                          "PATH_OR_HUB_ID (or CHECKPOINT)")
    if info is not None and source == str(info.tokenizer_path):
        return load_tokenizer(info, options.trust_remote_code), source
    path, hub = resolve_model_path(source, "tokenizer", tokenizer_only=True, progress=options.progress)
    if not has_tokenizer(path):
        raise CheckpointError(f"{path}: no tokenizer files here; pass --tokenizer with the served model's folder")
    holder = CheckpointInfo(path, path, path, False, "")
    return load_tokenizer(holder, options.trust_remote_code), (f"{hub.id}@{hub.commit}" if hub else str(path))


def run_template(options: RunOptions, backend: Backend, tokenizer: Any, tokenizer_from: str | None) -> BoundTemplate:
    """The bound chat template, or — for a backend that applies its own (a chat endpoint) — a stand-in
    that knows no markers: the stop reasons are then the server's."""
    if backend.capabilities.chat:
        if options.template:
            raise ConfigError("--template cannot apply: the server applies its own chat template (--chat-api)")
        return server_template()
    return bind_template(options.template, tokenizer, source=str(tokenizer_from))


def server_template() -> BoundTemplate:
    def render(messages: list[Any]) -> str:  # what the record shows as the prompt, like an import does
        users = [m["content"] for m in messages if m.get("role") == "user"]
        return users[-1] if users else ""

    return BoundTemplate("server", render, (), ())


def suite_summary(probes: Sequence[Probe]) -> dict[str, dict[str, Any]]:
    """Suite → the file it came from and its probe count (a row's `suite` may differ from its file)."""
    import hashlib
    import json

    suites: dict[str, dict[str, Any]] = {}
    digests: dict[str, Any] = {}
    for probe in probes:
        entry = suites.setdefault(probe.suite, {"path": probe.source.rsplit(":", 1)[0], "n_probes": 0})
        entry["n_probes"] += 1
        content = [probe.id, probe.messages, probe.reference, probe.scorer, probe.lang, list(probe.tags)]
        digests.setdefault(probe.suite, hashlib.sha256()).update(json.dumps(content, ensure_ascii=False).encode())
    for name, digest in digests.items():
        suites[name]["hash"] = digest.hexdigest()[:16]  # the probes' content: --resume compares it
    return suites


def baseline_records(folder: str | None) -> tuple[list[GenerationRecord], str | None]:
    """The baseline run's records and name, for teacher-forcing its answers ([] without a baseline)."""
    if folder is None:
        return [], None
    from evalgen.runfolder import load_run

    base = load_run(folder)
    return base.records, base.name


def teacher_forced_plan(wanted: bool, probes: Sequence[Probe], records: Sequence[GenerationRecord],
                        baseline: tuple[list[GenerationRecord], str | None], backend: Backend) -> list[Any] | str:
    """The answers to teacher-force, or why there are none (for run.json). Dispatches on the backend's
    capability, not its type."""
    from evalgen.teacher_forced import answers_to_force

    if not wanted:
        return "off (--no-teacher-forced)"
    ours = {(p.suite, p.id) for p in probes}
    base_records = [r for r in baseline[0] if (r.suite, r.probe_id) in ours]
    answers = answers_to_force(probes, records, base_records, baseline[1])
    if not answers:
        return "skipped: no whole-answer reference and no answer that ended on its own"
    if not backend.capabilities.logprobs:
        return f"skipped: the {backend.name} backend gives no log-probabilities of given tokens"
    return answers


def teacher_forced_into(out: Path, plan: list[Any] | str, backend: Backend, template: BoundTemplate,
                        tokenizer: Any) -> str:
    """Write teacher_forced.jsonl when planned; return what happened, for run.json."""
    if isinstance(plan, str):
        return plan
    from evalgen.teacher_forced import TEACHER_FORCED_FILE, teacher_force

    try:
        rows = teacher_force(backend, tokenizer, template, plan)
    except Exception as exc:  # noqa: BLE001 - the generations are safe on disk; say why the figures are missing
        return f"skipped: {type(exc).__name__}: {exc}"
    write_jsonl(out / TEACHER_FORCED_FILE, [row.to_dict() for row in rows])
    kinds = Counter(row.kind for row in rows)
    if not rows:
        return "no answers"
    return ", ".join(f"{kinds[k]} {k}" for k in ("reference", "own", "baseline") if kinds[k]) + " answers"


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json_line(row) + "\n")


def generate_into(
    folder: RunFolder, backend: Backend, requests: list[Request], origin: list[tuple[Probe, int]], progress: bool,
    ahead: ScoreAhead | None = None,
) -> list[GenerationRecord]:
    from tqdm.auto import tqdm

    records: list[GenerationRecord] = []
    with tqdm(total=len(requests), desc="generating", unit="gen", disable=not progress, file=sys.stderr) as bar:
        for completions in backend.generate(requests):
            batch = [to_record(origin[c.index][0], requests[c.index], c) for c in completions]
            folder.append(batch)
            records.extend(batch)
            if ahead is not None:
                ahead.add(batch)
            bar.update(len(batch))
    return records


def context_length(info: CheckpointInfo | None, engine_args: dict[str, Any]) -> int | None:
    """The model's context in tokens: --max-model-len, else config.json's max_position_embeddings (or
    n_positions / max_sequence_length); None when unknown (a served model: the server judges)."""
    if isinstance(engine_args.get("max_model_len"), int):
        return int(engine_args["max_model_len"])
    if info is None:
        return None
    import json

    try:
        config = json.loads((info.model_path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = {**config, **(config.get("text_config") or {})} if isinstance(config, dict) else {}
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def records_on_disk(folder: RunFolder) -> list[GenerationRecord]:
    from evalgen.runfolder import read_generations

    return read_generations(folder.generations_path) if folder.generations_path.is_file() else []


def count(records: Sequence[GenerationRecord]) -> dict[str, Any]:
    prompt_errors = sum(r.stop_reason == "error" and (r.stop_detail or "").startswith("prompt too long")
                        for r in records)
    return {"records": len(records), "stop_reasons": dict(Counter(r.stop_reason for r in records)),
            "prompt_errors": prompt_errors}


def summarize(records: Sequence[GenerationRecord], scores: Sequence[ScoreLine] = ()) -> str:
    """A short per-suite table: count, stop reasons, mean output length, flagged outputs per detector
    and old-task accuracy (see `score_stream.Tally`, which `evalgen score` fills as it streams)."""
    from evalgen.score_stream import Tally

    lines = {(s.suite, s.id, s.sample): s for s in scores}
    tally = Tally()
    for record in records:
        line = lines.get(record.key)
        flags = line.flags if line is not None else None
        correct = line.extra.get("task_correct") if line is not None else None
        tally.add(record.suite, record.stop_reason, record.n_output_tokens, flags, correct)
    tally.scored = bool(scores)
    return tally.table()
