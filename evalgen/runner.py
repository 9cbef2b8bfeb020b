"""`evalgen run`: probes → chat template → backend → run folder, streamed and resumable."""

from __future__ import annotations

import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgen.backends.base import Backend, Completion, GenerationSettings, Request
from evalgen.checkpoint import CheckpointInfo, inspect_checkpoint, load_tokenizer, pick_device
from evalgen.errors import ConfigError, RunFolderError
from evalgen.evaluate import score_into
from evalgen.probes import load_suites
from evalgen.records import STOP_REASONS, GenerationRecord, Probe
from evalgen.runfolder import RunFolder, default_run_dir, now_iso
from evalgen.scoring import ScoreLine
from evalgen.templates import BoundTemplate, bind_template

__all__ = ["RunOptions", "RunResult", "run", "select_backend", "build_requests", "summarize"]

# Settings that must match for --resume to continue a folder: they change what gets generated.
RESUME_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "samples", "stop_strings", "early_exit")


@dataclass
class RunOptions:
    checkpoint: str
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
    engine_args: dict[str, Any] = field(default_factory=dict)
    """vLLM engine options (tensor_parallel_size, gpu_memory_utilization, max_model_len, ...)."""
    progress: bool = True


@dataclass
class RunResult:
    path: Path
    records: list[GenerationRecord]
    scores: list[ScoreLine]
    meta: dict[str, Any]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def select_backend(requested: str) -> tuple[str, str]:
    """(backend, why). auto → vLLM when it is importable and a GPU is present, else HF."""
    if requested not in ("auto", "hf", "vllm"):
        raise ConfigError(f"unknown --backend {requested!r}; use auto, hf or vllm")
    if requested != "auto":
        return requested, "asked for with --backend"
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "hf", "vllm is not installed"
    import torch

    if not torch.cuda.is_available():
        return "hf", "vllm is installed but no GPU is visible"
    return "vllm", "vllm is installed and a GPU is visible"


def build_requests(
    probes: Sequence[Probe],
    template: BoundTemplate,
    tokenizer: Any,
    samples: int,
    done: set[tuple[str, str, int]],
) -> tuple[list[Request], list[tuple[Probe, int]]]:
    """One request per probe × sample not yet done. The prompt is tokenized without adding special
    tokens: the template already wrote BOS where the model expects it, and a second one changes outputs."""
    requests: list[Request] = []
    origin: list[tuple[Probe, int]] = []
    for probe in probes:
        pending = [s for s in range(samples) if (probe.suite, probe.id, s) not in done]
        if not pending:
            continue
        text = template.render(probe.messages)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        for sample in pending:
            requests.append(Request(len(requests), text, ids, sample))
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
        n_output_tokens=len(completion.token_ids),
        latency_s=round(completion.latency_s, 4),
        reference=probe.reference,
        scorer=probe.scorer,
        lang=probe.lang,
        tags=list(probe.tags),
    )


def make_backend(
    name: str,
    info: CheckpointInfo,
    tokenizer: Any,
    options: RunOptions,
    settings: GenerationSettings,
    template: BoundTemplate,
    device: str,
) -> Backend:
    if name == "vllm":
        from evalgen.backends.vllm import VLLMBackend

        return VLLMBackend(
            info,
            tokenizer,
            settings,
            template.end_tokens,
            options.dtype,
            options.trust_remote_code,
            options.engine_args,
        )
    from evalgen.backends.hf import HFBackend
    from evalgen.checkpoint import load_model

    model = load_model(info, options.dtype, device, options.trust_remote_code)
    return HFBackend(model, tokenizer, device, settings, template.end_tokens)


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("evalgen", "torch", "transformers", "peft", "vllm"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def check_resumable(previous: dict[str, Any] | None, meta: dict[str, Any], path: Path) -> None:
    if not previous:
        return
    old, new = previous.get("settings", {}), meta["settings"]
    changed = [k for k in RESUME_KEYS if k in old and old[k] != new.get(k)]
    if previous.get("checkpoint", {}).get("hash") != meta["checkpoint"]["hash"]:
        changed.insert(0, "checkpoint")
    if previous.get("template", {}).get("name") != meta["template"]["name"]:
        changed.insert(0, "template")
    if changed:
        raise RunFolderError(
            f"{path}: cannot resume, these differ from the earlier run: {', '.join(changed)}; "
            "use the same options or a new --out"
        )


def run(options: RunOptions) -> RunResult:
    """Generate every probe × sample into a run folder; the Python API behind `evalgen run`."""
    probes = load_suites(options.suites)  # fail on a bad probe before loading any model
    info = inspect_checkpoint(options.checkpoint, options.base)
    out = Path(options.out) if options.out else default_run_dir(options.checkpoint)
    folder = RunFolder(out, resume=options.resume)
    backend_name, why = select_backend(options.backend)
    tokenizer = load_tokenizer(info, options.trust_remote_code)
    template = bind_template(options.template, tokenizer, source=str(info.tokenizer_path))
    log(f"evalgen: backend {backend_name} ({why})")
    stops = (template.turn_markers if options.stop_at_turn_markers else ()) + options.extra_stop
    settings = GenerationSettings(**{**options.generation.describe(), "stop_strings": tuple(dict.fromkeys(stops))})
    device = options.device or pick_device()
    samples = settings.samples
    meta: dict[str, Any] = {
        "name": out.name,
        "status": "running",
        "checkpoint": info.describe(),
        "backend": backend_name,
        "backend_reason": why,
        "template": template.describe(),
        "settings": {**settings.describe(), "dtype": options.dtype, "device": device},
        "suites": suite_summary(probes),
        "identity": {"name": options.identity, "org": options.identity_org},
        "versions": versions(),
        "timings": {"started": now_iso()},
        "host": platform.node(),
    }
    check_resumable(folder.previous_meta(), meta, out)
    requests, origin = build_requests(probes, template, tokenizer, samples, set(folder.done))
    if folder.done:
        log(f"evalgen: resuming {out}: {len(folder.done)} records done, {len(requests)} to go")
    folder.write_meta(meta)

    records = list(folder.done.values())
    began = time.perf_counter()
    backend: Backend | None = None
    try:
        if requests:
            backend = make_backend(backend_name, info, tokenizer, options, settings, template, device)
            meta["timings"]["load_s"] = round(time.perf_counter() - began, 3)
            records += generate_into(folder, backend, requests, origin, options.progress)
    except KeyboardInterrupt:
        meta["status"] = "interrupted"
        meta["counts"] = count(records_on_disk(folder))
        folder.write_meta(meta)
        raise
    meta["timings"]["generate_s"] = round(time.perf_counter() - began, 3)
    position = {(p.suite, p.id): i for i, p in enumerate(probes)}  # suite-file order, not batch order
    records.sort(key=lambda r: (position.get((r.suite, r.probe_id), -1), r.sample))

    began = time.perf_counter()
    scores = score_into(out, records, meta, options.config)
    meta["timings"]["score_s"] = round(time.perf_counter() - began, 3)
    meta["teacher_forced"] = teacher_forced_into(out, options, probes, template, backend, info, tokenizer, device)
    meta["timings"]["finished"] = now_iso()
    meta["status"] = "complete"
    meta["counts"] = count(records)
    folder.write_meta(meta)
    return RunResult(out, records, scores, meta)


def suite_summary(probes: Sequence[Probe]) -> dict[str, dict[str, Any]]:
    """Suite → the file it came from and its probe count (a row's `suite` may differ from its file)."""
    suites: dict[str, dict[str, Any]] = {}
    for probe in probes:
        entry = suites.setdefault(probe.suite, {"path": probe.source.rsplit(":", 1)[0], "n_probes": 0})
        entry["n_probes"] += 1
    return suites


def teacher_forced_into(
    out: Path,
    options: RunOptions,
    probes: Sequence[Probe],
    template: BoundTemplate,
    backend: Backend | None,
    info: CheckpointInfo,
    tokenizer: Any,
    device: str,
) -> str:
    """Write teacher_forced.jsonl when asked and possible; return what happened, for run.json."""
    if not options.teacher_forced:
        return "off (--no-teacher-forced)"
    with_reference = [p for p in probes if p.reference is not None]
    if not with_reference:
        return "skipped: no probe has a reference"
    from evalgen.backends.hf import HFBackend, end_token_ids
    from evalgen.teacher_forced import TEACHER_FORCED_FILE, teacher_force

    if isinstance(backend, HFBackend):
        model = backend.model
    elif backend is None and options.backend != "vllm":  # everything was resumed: load the model once more
        from evalgen.checkpoint import load_model

        model = load_model(info, options.dtype, device, options.trust_remote_code)
    else:
        return "skipped: needs the HF backend"
    rows = teacher_force(
        model,
        tokenizer,
        template,
        with_reference,
        list(end_token_ids(tokenizer, model, template.end_tokens)),
        device,
        options.generation.batch_size,
    )
    write_jsonl(out / TEACHER_FORCED_FILE, rows)
    return f"{len(rows)} probes"


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    import json

    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def generate_into(
    folder: RunFolder, backend: Backend, requests: list[Request], origin: list[tuple[Probe, int]], progress: bool
) -> list[GenerationRecord]:
    from tqdm.auto import tqdm

    records: list[GenerationRecord] = []
    with tqdm(total=len(requests), desc="generating", unit="gen", disable=not progress, file=sys.stderr) as bar:
        for completions in backend.generate(requests):
            batch = [to_record(origin[c.index][0], requests[c.index], c) for c in completions]
            folder.append(batch)
            records.extend(batch)
            bar.update(len(batch))
    return records


def records_on_disk(folder: RunFolder) -> list[GenerationRecord]:
    from evalgen.runfolder import read_generations

    return read_generations(folder.generations_path) if folder.generations_path.is_file() else []


def count(records: Sequence[GenerationRecord]) -> dict[str, Any]:
    return {"records": len(records), "stop_reasons": dict(Counter(r.stop_reason for r in records))}


def summarize(records: Sequence[GenerationRecord], scores: Sequence[ScoreLine] = ()) -> str:
    """A short per-suite table: count, stop reasons, mean output length, flagged outputs per detector
    and old-task accuracy."""
    from evalgen.compare_output import grid

    flags = {(s.suite, s.id, s.sample): s for s in scores}
    detectors = list(scores[0].flags) if scores else []
    reasons = [r for r in STOP_REASONS if any(rec.stop_reason == r for rec in records)]
    by_suite: dict[str, list[GenerationRecord]] = {}
    for record in records:
        by_suite.setdefault(record.suite, []).append(record)
    header = ["suite", "n", *reasons, "mean tokens", *detectors, *(["task acc"] if scores else [])]
    rows = []
    for suite, items in sorted(by_suite.items()):
        lines = [flags[r.key] for r in items if r.key in flags]
        counts = Counter(r.stop_reason for r in items)
        row = [
            suite,
            str(len(items)),
            *(str(counts.get(r, 0)) for r in reasons),
            f"{sum(r.n_output_tokens for r in items) / len(items):.1f}",
        ]
        row += [str(sum(line.flags.get(d, False) for line in lines)) for d in detectors]
        if scores:
            judged = [bool(line.extra["task_correct"]) for line in lines if line.extra.get("task_correct") is not None]
            row.append(f"{100 * sum(judged) / len(judged):.0f}%" if judged else "-")
        rows.append(row)
    return "\n".join(grid(header, rows, indent="", left=1))
