"""The catalogue of issue 11: every user-caused fault, each built here and run as a subprocess.

Shared by tests/test_errors.py (which asserts the outcome) and bench/catalogue_exit_codes.py (which
prints a table of exit codes, e.g. against an older evalgen checkout). Every fixture is made with the
project's own writers (tinymodels, RunFolder, the CLI itself) and then broken the way a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PY = sys.executable


@dataclass
class Case:
    name: str
    """Short id used as the test id and in the table."""
    fault: str
    """The fault as the issue words it."""
    build: Callable[[Path, dict[str, Path]], list[str]]
    """(tmp folder, tiny family) → the argv of `python -m evalgen ...` (or a full command after "--")."""
    expect: int = 2
    """The exit code evalgen gives now."""
    check: Callable[[Path, subprocess.CompletedProcess[str]], str | None] | None = None
    """Extra check on the result; returns a problem in words, or None when fine."""
    cleanup: list[Callable[[], None]] = field(default_factory=list)


# --- helpers -----------------------------------------------------------------------------------------


def suite(tmp: Path, rows: list[dict[str, Any]], name: str = "s.jsonl") -> Path:
    path = tmp / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def small_suite(tmp: Path, name: str = "s.jsonl", n: int = 2) -> Path:
    rows = [{"id": f"p{i}", "prompt": f"What is the capital of Aland? ({i})", "reference": "Brim",
             "scorer": "contains"} for i in range(n)]
    return suite(tmp, rows, name)


def run_args(ckpt: Path | str, tmp: Path, *extra: str, out: str = "out", suite_path: Path | None = None) -> list[str]:
    return ["run", str(ckpt), "--suite", str(suite_path or small_suite(tmp)), "--out", str(tmp / out),
            "--max-new-tokens", "8", "--no-progress", *extra]


def copy(src: Path, tmp: Path, name: str) -> Path:
    dest = tmp / name
    shutil.copytree(src, dest)
    return dest


def edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data = change(data) or data
    path.write_text(json.dumps(data), encoding="utf-8")


def rewrite_safetensors(path: Path, change: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
    """Load every tensor, let `change(tensors, metadata)` edit them, save again (safetensors' own writer)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata() or {}
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 - safe_open has no iterator
    change(tensors, meta)
    save_file(tensors, str(path), metadata=meta)


def scored_run(tmp: Path, name: str = "scored") -> Path:
    """A run folder made by `evalgen score` (no model)."""
    src = tmp / f"{name}-src" / "gens.jsonl"  # same stem, so the same suite name in every such run
    src.parent.mkdir()
    lines = [{"id": f"q{i}", "prompt": "Say hi.", "output": "Hi there.", "finish_reason": "stop"} for i in range(4)]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    out = tmp / name
    subprocess.run([PY, "-m", "evalgen", "score", str(src), "--out", str(out)], check=True, capture_output=True)
    return out


def family_run(tmp: Path, family: dict[str, Path], member: str, out: str, *extra: str,
               suite_path: Path | None = None) -> Path:
    argv = run_args(family[member], tmp, *extra, out=out, suite_path=suite_path)
    subprocess.run([PY, "-m", "evalgen", *argv], check=True, capture_output=True)
    return tmp / out


# --- the cases ------------------------------------------------------------------------------------------


def c_unknown_dtype(tmp: Path, fam: dict[str, Path]) -> list[str]:
    ckpt = copy(fam["base"], tmp, "ckpt")
    path = ckpt / "model.safetensors"
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    header = data[8:8 + n].replace(b'"F32"', b'"Q32"', 1)  # same length: the offsets stay right
    path.write_bytes(bytes(data[:8]) + bytes(header) + bytes(data[8 + n:]))
    return run_args(ckpt, tmp)


def c_tokenizer_model_type(tmp: Path, fam: dict[str, Path]) -> list[str]:
    ckpt = copy(fam["base"], tmp, "ckpt")
    edit_json(ckpt / "tokenizer.json", lambda d: d["model"].update(type="Wordpiecey"))
    return run_args(ckpt, tmp)


def c_lora_target(tmp: Path, fam: dict[str, Path]) -> list[str]:
    ckpt = copy(fam["lora"], tmp, "adapter")
    edit_json(ckpt / "adapter_config.json", lambda d: d.update(target_modules=["qq_proj"]))
    return run_args(ckpt, tmp)


def c_lora_rank(tmp: Path, fam: dict[str, Path]) -> list[str]:
    ckpt = copy(fam["lora"], tmp, "adapter")
    edit_json(ckpt / "adapter_config.json", lambda d: d.update(r=8))
    return run_args(ckpt, tmp)


def c_adapter_into_nothing(tmp: Path, fam: dict[str, Path]) -> list[str]:
    ckpt = copy(fam["lora"], tmp, "adapter")

    def rename(tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        for key in list(tensors):
            tensors[key.replace("self_attn", "cross_attn")] = tensors.pop(key)

    rewrite_safetensors(ckpt / "adapter_model.safetensors", rename)
    return run_args(ckpt, tmp)


def c_cuda(tmp: Path, fam: dict[str, Path]) -> list[str]:
    return run_args(fam["base"], tmp, "--device", "cuda", "--backend", "hf")


def c_read_only(tmp: Path, fam: dict[str, Path]) -> list[str]:
    locked = tmp / "readonly"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes through permission bits: make the folder immutable instead
        subprocess.run(["chattr", "+i", str(locked)], check=True)
        CLEANUP.append(lambda: subprocess.run(["chattr", "-i", str(locked)], check=False))
    else:
        locked.chmod(0o555)
        CLEANUP.append(lambda: locked.chmod(0o755))
    return run_args(fam["base"], tmp, out="readonly/out")


def c_disk_full(tmp: Path, fam: dict[str, Path]) -> list[str]:
    out = tmp / "out"
    out.mkdir()
    (out / "generations.jsonl").symlink_to("/dev/full")  # every write: ENOSPC, as on a full disk
    return run_args(fam["base"], tmp)


def c_surrogate(tmp: Path, fam: dict[str, Path]) -> list[str]:
    src = tmp / "gens.jsonl"
    src.write_text('{"id": "a", "prompt": "hi", "output": "bad \\ud800 half"}\n', encoding="utf-8")
    return ["score", str(src), "--out", str(tmp / "out")]


def c_rescore_surrogate(tmp: Path, fam: dict[str, Path]) -> list[str]:
    run = scored_run(tmp)
    path = run / "generations.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[1])
    record["probe_id"] = "bad \ud800 half"  # json.dumps writes it as the escape a broken writer leaves
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["rescore", str(run)]


def c_deep_nesting(tmp: Path, fam: dict[str, Path]) -> list[str]:
    src = tmp / "gens.jsonl"
    src.write_text("[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    return ["score", str(src), "--out", str(tmp / "out")]


def c_number_reference(tmp: Path, fam: dict[str, Path]) -> list[str]:
    path = suite(tmp, [{"id": "n", "prompt": "What is 6 times 7?", "reference": 42, "scorer": "numeric"}])
    return run_args(fam["base"], tmp, suite_path=path)


def c_score_number_reference(tmp: Path, fam: dict[str, Path]) -> list[str]:
    src = tmp / "gens.jsonl"
    src.write_text(json.dumps({"id": "a", "prompt": "6 times 7?", "output": "42", "reference": 42,
                               "scorer": "numeric"}) + "\n", encoding="utf-8")
    return ["score", str(src), "--out", str(tmp / "out")]


def c_run_json_list(tmp: Path, fam: dict[str, Path]) -> list[str]:
    run = scored_run(tmp)
    (run / "run.json").write_text("[]", encoding="utf-8")
    return ["compare", str(scored_run(tmp, "other")), str(run)]


def c_string_tokens(tmp: Path, fam: dict[str, Path]) -> list[str]:
    run = scored_run(tmp)
    path = run / "generations.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace('"n_output_tokens": 0', '"n_output_tokens": "12"', 1),
                    encoding="utf-8")
    return ["compare", str(scored_run(tmp, "other")), str(run)]


INTERRUPT_SCORE = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when started in the background
def once(real):
    def interrupted(*args, **kwargs):
        if not getattr(interrupted, "done", False):
            interrupted.done = True
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)
    return interrupted
try:  # streamed scoring (evalgen.score_stream): interrupt while the first chunk's tally is added up
    import evalgen.score_stream as stream
    stream.Tally.merge = once(stream.Tally.merge)
except ImportError:  # older evalgen: one scoring call
    import evalgen.evaluate as evaluate
    evaluate.score_records = once(evaluate.score_records)
from evalgen.cli import main
sys.exit(main(sys.argv[1:]))
"""


def check_nothing_left(tmp: Path, proc: subprocess.CompletedProcess[str]) -> str | None:
    left = [p.name for p in tmp.iterdir() if p.name not in ("gens.jsonl",)]
    return f"left behind: {left}" if left else None


def c_ctrl_c_score(tmp: Path, fam: dict[str, Path]) -> list[str]:
    src = tmp / "gens.jsonl"
    src.write_text("".join(json.dumps({"id": f"q{i}", "prompt": "hi", "output": "Hello."}) + "\n" for i in range(50)),
                   encoding="utf-8")
    return ["--", PY, "-c", INTERRUPT_SCORE, "score", str(src), "--out", str(tmp / "out")]


def c_unknown_scorer(tmp: Path, fam: dict[str, Path]) -> list[str]:
    path = suite(tmp, [{"id": "a", "prompt": "Capital of Aland?", "reference": "Brim", "scorer": "containz"}])
    return run_args(fam["base"], tmp, suite_path=path)


def c_bad_regex(tmp: Path, fam: dict[str, Path]) -> list[str]:
    path = suite(tmp, [{"id": "a", "prompt": "Capital of Aland?", "reference": "Brim"},
                       {"id": "b", "prompt": "Capital of Aland?", "reference": "(Brim", "scorer": "regex"}])
    return run_args(fam["base"], tmp, suite_path=path)


def config(tmp: Path, text: str) -> str:
    path = tmp / "evalgen.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def c_detector_typo(tmp: Path, fam: dict[str, Path]) -> list[str]:
    return run_args(fam["base"], tmp, "--config", config(tmp, "[detectors.repetiton]\nmin_repeats = 3\n"))


def c_gates_typo(tmp: Path, fam: dict[str, Path]) -> list[str]:
    a, b = scored_run(tmp, "a"), scored_run(tmp, "b")
    return ["compare", str(a), str(b), "--config", config(tmp, "[gates]\ntask_max_dorp = 0.1\n")]


def c_ignore_typo(tmp: Path, fam: dict[str, Path]) -> list[str]:
    a, b = scored_run(tmp, "a"), scored_run(tmp, "b")
    return ["compare", str(a), str(b), "--config", config(tmp, '[gates]\nignore = ["repetiton"]\n')]


def c_top_p(tmp: Path, fam: dict[str, Path]) -> list[str]:
    return run_args(fam["base"], tmp, "--top-p", "1.5")


def c_temperature(tmp: Path, fam: dict[str, Path]) -> list[str]:
    return run_args(fam["base"], tmp, "--temperature", "-1")


HOLDER = """
import sys, time
from evalgen.runfolder import RunFolder
folder = RunFolder(sys.argv[1])
print("holding", flush=True)
time.sleep(120)
"""


def c_second_writer(tmp: Path, fam: dict[str, Path]) -> list[str]:
    holder = subprocess.Popen([PY, "-c", HOLDER, str(tmp / "out")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    CLEANUP.append(lambda: (holder.kill(), holder.wait()))
    return run_args(fam["base"], tmp)


def c_nan_weights(tmp: Path, fam: dict[str, Path]) -> list[str]:
    ckpt = copy(fam["base"], tmp, "ckpt")

    def poison(tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        key = next(k for k in sorted(tensors) if "mlp" in k)
        tensors[key][0, 0] = float("nan")

    rewrite_safetensors(ckpt / "model.safetensors", poison)
    return run_args(ckpt, tmp)


def c_missing_tensors(tmp: Path, fam: dict[str, Path]) -> list[str]:
    from evalgen.tinymodels import resave

    ckpt = resave(fam["base"], tmp / "ckpt", save_sharded=True)
    shard = sorted(ckpt.glob("model-*.safetensors"))[-1]

    def drop(tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        tensors.pop(sorted(tensors)[0])

    rewrite_safetensors(shard, drop)
    return run_args(ckpt, tmp)


def c_resume_weights(tmp: Path, fam: dict[str, Path]) -> list[str]:
    """The same config and tokenizer files, other weights (one tensor trained a little more)."""
    family_run(tmp, fam, "base", "out")
    ckpt = copy(fam["base"], tmp, "ckpt")

    def nudge(tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        key = next(k for k in sorted(tensors) if "mlp" in k)
        tensors[key] += 1e-3

    rewrite_safetensors(ckpt / "model.safetensors", nudge)
    return run_args(ckpt, tmp, "--resume", suite_path=tmp / "s.jsonl")


def c_resume_suite(tmp: Path, fam: dict[str, Path]) -> list[str]:
    family_run(tmp, fam, "base", "out")
    path = tmp / "s.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace("Aland", "Borland"), encoding="utf-8")
    return run_args(fam["base"], tmp, "--resume", suite_path=path)


def c_resume_dtype(tmp: Path, fam: dict[str, Path]) -> list[str]:
    family_run(tmp, fam, "base", "out", "--dtype", "float32")
    return run_args(fam["base"], tmp, "--resume", "--dtype", "bfloat16", suite_path=tmp / "s.jsonl")


INTERRUPT_RUN = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when started in the background
import evalgen.runner as runner
real, calls = runner.to_record, []
def interrupted(*args, **kwargs):
    calls.append(1)
    if len(calls) == 1:
        os.kill(os.getpid(), signal.SIGINT)
    return real(*args, **kwargs)
runner.to_record = interrupted
from evalgen.cli import main
sys.exit(main(sys.argv[1:]))
"""


def c_resume_hint(tmp: Path, fam: dict[str, Path]) -> list[str]:
    """Ctrl-C during a run with --suite and --max-new-tokens, then the printed resume command is run
    as printed (through a shell): its exit code is the case's."""
    argv = run_args(fam["base"], tmp, "--batch-size", "1", out="out dir")  # a space: quoting matters
    script = (
        f"{shell_quote(PY)} -c {shell_quote(INTERRUPT_RUN)} {' '.join(shell_quote(a) for a in argv)} 2>{tmp}/err; "
        f"hint=$(sed -n 's/.*Continue with: //p' {tmp}/err); echo \"hint: $hint\" >&2; "
        f"[ -n \"$hint\" ] || exit 99; eval \"${{hint/evalgen/{shell_quote(PY)} -m evalgen}}\""
    )
    return ["--", "bash", "-c", script]


def shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def c_oversized_prompt(tmp: Path, fam: dict[str, Path]) -> list[str]:
    path = suite(tmp, [{"id": "big", "prompt": "word " * 200_000},
                       {"id": "ok", "prompt": "What is the capital of Aland?", "reference": "Brim"}])
    return run_args(fam["base"], tmp, "--batch-size", "4", suite_path=path)


def check_oversized(tmp: Path, proc: subprocess.CompletedProcess[str]) -> str | None:
    lines = [json.loads(x) for x in (tmp / "out" / "generations.jsonl").read_text(encoding="utf-8").splitlines()]
    by_id = {r["probe_id"]: r for r in lines}
    if by_id["big"]["stop_reason"] != "error" or "prompt" not in (by_id["big"]["stop_detail"] or ""):
        return f"the oversized prompt's record is {by_id['big']['stop_reason']}, not an error naming the prompt"
    if by_id["ok"]["stop_reason"] == "error":
        return "its batch mate failed too"
    return None


def c_missing_newline(tmp: Path, fam: dict[str, Path]) -> list[str]:
    """A hand edit removed the last record and the final newline; --resume redoes the record, then a
    compare reads the folder back."""
    family_run(tmp, fam, "base", "out", suite_path=small_suite(tmp, n=3))
    path = tmp / "out" / "generations.jsonl"
    lines = path.read_text(encoding="utf-8").split("\n")
    path.write_text("\n".join(lines[:2]), encoding="utf-8")  # record 3 gone, no final newline
    resume = " ".join(shell_quote(a) for a in run_args(fam["base"], tmp, "--resume", suite_path=tmp / "s.jsonl"))
    compare = f"{shell_quote(PY)} -m evalgen compare {shell_quote(str(tmp / 'out'))} {shell_quote(str(tmp / 'out'))}"
    check = (f"{shell_quote(PY)} -c 'import sys,json; [json.loads(x) for x in open(sys.argv[1])]; "
             f"n=sum(1 for _ in open(sys.argv[1])); sys.exit(0 if n == 3 else 3)' {shell_quote(str(path))}")
    return ["--", "bash", "-c", f"{shell_quote(PY)} -m evalgen {resume} >/dev/null && {check} && {compare} >/dev/null"]


CLEANUP: list[Callable[[], Any]] = []

CASES: list[Case] = [
    Case("safetensors_unknown_dtype", "an unknown dtype in a safetensors header", c_unknown_dtype),
    Case("tokenizer_unknown_model", "a tokenizer.json with an unknown model type", c_tokenizer_model_type),
    Case("lora_target_mismatch", "LoRA target mismatch", c_lora_target),
    Case("lora_rank_mismatch", "LoRA rank mismatch", c_lora_rank),
    Case("adapter_loads_into_nothing", "a LoRA adapter whose weights match none of its target modules",
         c_adapter_into_nothing),
    Case("device_cuda_without_gpu", "`--device cuda` without a GPU", c_cuda),
    Case("read_only_out", "a read-only output disk", c_read_only),
    Case("disk_full", "a full output disk", c_disk_full),
    Case("score_lone_surrogate", "lone surrogates in `evalgen score` input", c_surrogate),
    Case("rescore_lone_surrogate", "a lone surrogate escape in a run's generations.jsonl (`rescore`)",
         c_rescore_surrogate),
    Case("score_deep_nesting", "a line of JSON nested 5,000 deep", c_deep_nesting),
    Case("reference_number", "a number as a reference (probe suite)", c_number_reference),
    Case("score_reference_number", "a number as a reference (`evalgen score` input)", c_score_number_reference),
    Case("run_json_list", "hand-edited run.json `[]`", c_run_json_list),
    Case("n_output_tokens_string", "hand-edited string `n_output_tokens`", c_string_tokens),
    Case("ctrl_c_score", "Ctrl-C during `evalgen score`", c_ctrl_c_score, expect=130, check=check_nothing_left),
    Case("unknown_scorer", "an unknown scorer", c_unknown_scorer),
    Case("invalid_regex", "an invalid regex", c_bad_regex),
    Case("detectors_typo", "a typo in `[detectors.*]`", c_detector_typo),
    Case("gates_typo", "a typo in `[gates]`", c_gates_typo),
    Case("ignore_typo", 'ignore = ["repetiton"]', c_ignore_typo),
    Case("top_p_range", "`--top-p 1.5`", c_top_p),
    Case("temperature_range", "`--temperature -1`", c_temperature),
    Case("second_writer", "two runs into one folder", c_second_writer),
    Case("nan_weights", "NaN weights", c_nan_weights),
    Case("missing_tensors", "an index whose shard lost tensors", c_missing_tensors),
    Case("resume_other_weights", "`--resume` with other weights", c_resume_weights),
    Case("resume_other_suite", "`--resume` with other suites", c_resume_suite),
    Case("resume_other_dtype", "`--resume` with another dtype", c_resume_dtype),
    Case("resume_hint", "the Ctrl-C hint's resume command (run as printed)", c_resume_hint, expect=0),
    Case("missing_final_newline", "a missing final newline, then --resume, then compare", c_missing_newline,
         expect=0),
    Case("oversized_prompt", "one 1 MB prompt in a batch", c_oversized_prompt, expect=0, check=check_oversized),
]


def run_case(case: Case, tmp: Path, family: dict[str, Path], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    argv = case.build(tmp, family)
    command = argv[1:] if argv[:1] == ["--"] else [PY, "-m", "evalgen", *argv]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        started = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)
        proc.elapsed = time.perf_counter() - started  # type: ignore[attr-defined]
        return proc
    finally:
        while CLEANUP:
            CLEANUP.pop()()


def interrupt_signal() -> int:
    return int(signal.SIGINT)
