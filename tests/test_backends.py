"""The backend registry, the lifecycle, capability dispatch, and the runner's plumbing on the scripted
backend: resume, error records, stop strings, early exit, summaries, baselines. No model is loaded
(the prompts are rendered and tokenized with the tiny tokenizer), except in the tests marked slow."""

import json
import subprocess
import sys
import textwrap

import pytest

from evalgen.backends import (
    BackendBase,
    BackendSpec,
    Capabilities,
    ForcedScore,
    backend_entry,
    backend_names,
    register_backend,
)
from evalgen.backends.base import GenerationSettings
from evalgen.backends.scripted import ScriptedBackend, ScriptedReply, read_script
from evalgen.cli import main
from evalgen.errors import ConfigError
from evalgen.runner import RunOptions, run, summarize

END = "<|im_end|>"
QUESTIONS = {
    "cap": "What is the capital of France?",
    "add": "What is 2+3?",
    "who": "Who are you?",
    "long": "Tell me a long story.",
    "loop": "Count forever.",
}


def write_suite(path, ids=QUESTIONS):
    rows = [{"id": i, "prompt": QUESTIONS[i], **({"reference": "Paris", "scorer": "contains"} if i == "cap" else {})}
            for i in ids]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


REPLIES = {
    "cap": f"The capital of France is Paris.{END}",
    "add": f"2+3 is 5.{END}",
    "who": "I am Aurora.<|im_start|>user\nAnd you?",  # runs on into a made-up turn: the turn marker stops it
    "long": "Once upon a time: " + " ".join(map(str, range(100))),  # never ends: max_new_tokens
    "loop": "ab " * 200,  # a certain loop: early exit cuts it
}


def options(tokenizer, suite, out, **kw):
    generation = kw.pop("generation", GenerationSettings(max_new_tokens=48, loop_min_tokens=32, loop_min_repeats=6))
    return RunOptions(checkpoint=str(tokenizer), suites=[str(suite)], out=str(out), generation=generation,
                      progress=False, **kw)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- the registry -------------------------------------------------------------------------------


def test_registry_names_and_close_match_suggestion():
    assert {"hf", "vllm", "openai", "scripted"} <= set(backend_names())
    assert backend_entry("hf").requires_checkpoint() and not backend_entry("openai").requires_checkpoint()
    with pytest.raises(ConfigError, match="Did you mean 'openai'"):
        backend_entry("opneai")
    with pytest.raises(ConfigError, match="already registered"):
        register_backend("hf", "evalgen.backends.hf:create")


def test_unknown_backend_on_the_cli_is_one_line_exit_2(tiny_tokenizer, tmp_path, capsys):
    assert main(["run", str(tiny_tokenizer), "--backend", "vlm", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Did you mean 'vllm'" in err and "Traceback" not in err


def test_backends_command_lists_them(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("auto", "hf", "vllm", "openai", "scripted"))


def test_importing_the_registry_loads_no_backend_module():
    code = ("import sys, evalgen.backends, evalgen.runner, evalgen.cli\n"
            "heavy = [m for m in ('torch', 'transformers', 'vllm', 'httpx2', 'evalgen.backends.hf', "
            "'evalgen.backends.openai', 'evalgen.backends.vllm') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_plug_in_backend_from_an_entry_point(tiny_tokenizer, tmp_path):
    """A package declares `[project.entry-points."evalgen.backends"] echo = "echo_backend:create"`;
    `evalgen backends` lists it and `evalgen run --backend echo` uses it."""
    site = tmp_path / "site"
    (site / "echo_backend-0.1.dist-info").mkdir(parents=True)
    (site / "echo_backend-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-backend\n"
                                                                  "Version: 0.1\n")
    (site / "echo_backend-0.1.dist-info" / "entry_points.txt").write_text(
        "[evalgen.backends]\necho = echo_backend:create\n")
    (site / "echo_backend.py").write_text(textwrap.dedent("""
        from evalgen.backends.scripted import ScriptedBackend
        needs_checkpoint = False
        def create(spec):
            return ScriptedBackend(lambda request: "echo: " + request.messages[-1]["content"] + "<|im_end|>")
        create.needs_checkpoint = False
    """))
    suite = write_suite(tmp_path / "s.jsonl", ["cap", "add"])
    env_code = (f"import sys; sys.path.insert(0, {str(site)!r}); from evalgen.cli import main; "
                f"sys.exit(main(sys.argv[1:]))")
    listed = subprocess.run([sys.executable, "-c", env_code, "backends"], capture_output=True, text=True)
    assert listed.returncode == 0 and "echo" in listed.stdout
    out = tmp_path / "run"
    ran = subprocess.run([sys.executable, "-c", env_code, "run", str(tiny_tokenizer), "--backend", "echo", "--suite",
                          str(suite), "--out", str(out), "--no-progress", "--no-teacher-forced"],
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    records = read_jsonl(out / "generations.jsonl")
    assert [r["output"] for r in records] == [f"echo: {QUESTIONS['cap']}", f"echo: {QUESTIONS['add']}"]
    assert json.loads((out / "run.json").read_text())["backend"] == "echo"


# --- the scripted backend through the runner ---------------------------------------------------


def test_scripted_run_classifies_every_ending_like_a_real_backend(tiny_tokenizer, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    result = run(options(tiny_tokenizer, suite, tmp_path / "run"), backend=ScriptedBackend(REPLIES))
    by_id = {r.probe_id: r for r in result.records}
    assert [r.probe_id for r in result.records] == list(QUESTIONS)  # suite order, not completion order
    assert (by_id["cap"].stop_reason, by_id["cap"].stop_detail, by_id["cap"].output) == (
        "eos", END, "The capital of France is Paris.")
    assert by_id["cap"].output_token_ids[-1] == by_id["add"].output_token_ids[-1]  # the <|im_end|> id
    assert (by_id["who"].stop_reason, by_id["who"].stop_detail) == ("stop_string", "<|im_start|>user")
    assert by_id["who"].output_raw.endswith("<|im_start|>user") and "And you" not in by_id["who"].output_raw
    assert (by_id["long"].stop_reason, by_id["long"].n_output_tokens) == ("length", 48)
    assert by_id["loop"].stop_reason == "loop" and by_id["loop"].n_output_tokens % 8 == 0
    assert by_id["loop"].n_output_tokens < 48
    table = summarize(result.records, result.scores)
    assert "eos" in table and "stop_string" in table and "loop" in table
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "complete" and meta["backend"] == "scripted"
    assert meta["counts"]["stop_reasons"] == {"eos": 2, "stop_string": 1, "length": 1, "loop": 1}
    assert meta["teacher_forced"].startswith("skipped: the scripted backend gives no log-probabilities")
    flagged = {s.id for s in result.scores if s.flags["missing_eos"]}
    assert {"who", "long", "loop"} <= flagged and "cap" not in flagged


def test_failing_requests_become_error_records_and_resume_retries_only_them(tiny_tokenizer, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    calls: list[str] = []

    def flaky(request):
        calls.append(request.probe)
        if request.probe.endswith(("/add", "/who")):
            raise RuntimeError("server said no")
        return REPLIES[request.probe.rsplit("/", 1)[1]]

    out = tmp_path / "run"
    first = run(options(tiny_tokenizer, suite, out), backend=ScriptedBackend(flaky, batch_size=2))
    errors = [r for r in first.records if r.stop_reason == "error"]
    assert sorted(r.probe_id for r in errors) == ["add", "who"]
    assert all(r.stop_detail == "RuntimeError: server said no" for r in errors)
    assert json.loads((out / "run.json").read_text())["counts"]["stop_reasons"]["error"] == 2
    assert len(read_jsonl(out / "generations.jsonl")) == len(QUESTIONS)  # the run went on

    calls.clear()
    second = run(options(tiny_tokenizer, suite, out, resume=True), backend=ScriptedBackend(REPLIES))
    assert second.records and all(r.stop_reason != "error" for r in second.records)
    lines = read_jsonl(out / "generations.jsonl")
    assert sorted(r["probe_id"] for r in lines) == sorted(QUESTIONS)  # each once: the errors were replaced


def test_ctrl_c_while_scoring_leaves_run_json_saying_so_and_resume_finishes(tiny_tokenizer, tmp_path, monkeypatch):
    """Every record generated, then Ctrl-C during the scoring: run.json says `interrupted` (not `running`),
    and --resume scores without generating again."""
    import evalgen.runner as runner

    suite = write_suite(tmp_path / "s.jsonl")
    out = tmp_path / "run"

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(runner, "score_into", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            run(options(tiny_tokenizer, suite, out), backend=ScriptedBackend(REPLIES))
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted" and meta["counts"]["records"] == len(QUESTIONS)
    asked = []

    def reply(request):
        asked.append(request.probe)
        return REPLIES[request.probe.rsplit("/", 1)[1]]

    result = run(options(tiny_tokenizer, suite, out, resume=True), backend=ScriptedBackend(reply))
    assert result.meta["status"] == "complete" and len(result.scores) == len(QUESTIONS)
    assert asked == []  # nothing generated again


def test_interrupted_scripted_run_keeps_finished_records_and_resumes(tiny_tokenizer, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    seen = []

    def interrupt_at_the_fourth(request):
        seen.append(request.probe)
        if len(seen) == 4:
            raise KeyboardInterrupt
        return REPLIES[request.probe.rsplit("/", 1)[1]]

    out = tmp_path / "run"
    backend = ScriptedBackend(interrupt_at_the_fourth, batch_size=1)
    with pytest.raises(KeyboardInterrupt):
        run(options(tiny_tokenizer, suite, out), backend=backend)
    assert backend.closed == 1  # closed on the way out, too
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert len(read_jsonl(out / "generations.jsonl")) == 3
    resumed = ScriptedBackend(REPLIES)
    result = run(options(tiny_tokenizer, suite, out, resume=True), backend=resumed)
    assert len(result.records) == len(QUESTIONS) and resumed.opened == resumed.closed == 1
    assert len(read_jsonl(out / "generations.jsonl")) == len(QUESTIONS)


def test_a_script_file_replays_a_run_folder_token_for_token(tiny_tokenizer, tmp_path, capsys):
    suite = write_suite(tmp_path / "s.jsonl")
    first = tmp_path / "first"
    run(options(tiny_tokenizer, suite, first), backend=ScriptedBackend(REPLIES))
    script = read_script(first / "generations.jsonl")
    assert set(script) == {f"s/{i}/0" for i in QUESTIONS}
    again = tmp_path / "again"
    assert main(["run", str(tiny_tokenizer), "--backend", "scripted", "--script", str(first / "generations.jsonl"),
                 "--suite", str(suite), "--out", str(again), "--max-new-tokens", "48", "--no-progress"]) == 0
    key = lambda r: (r["probe_id"], r["output_token_ids"], r["stop_reason"])  # noqa: E731
    # Replayed with default early-exit settings: everything but the loop (cut later, at 96+) is the same.
    same = [key(a) == key(b) for a, b in zip(read_jsonl(first / "generations.jsonl"),
                                             read_jsonl(again / "generations.jsonl"), strict=True)]
    assert sum(same) >= len(QUESTIONS) - 1
    assert "run folder:" in capsys.readouterr().out


def test_script_file_errors_are_one_line(tiny_tokenizer, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "cap", "output": "x"}\n{"id": \n', encoding="utf-8")
    suite = write_suite(tmp_path / "s.jsonl", ["cap"])
    assert main(["run", str(tiny_tokenizer), "--backend", "scripted", "--script", str(bad), "--suite", str(suite),
                 "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert f"{bad}:2: not valid JSON" in capsys.readouterr().err
    assert main(["run", str(tiny_tokenizer), "--backend", "scripted", "--suite", str(suite),
                 "--out", str(tmp_path / "r2"), "--no-progress"]) == 2
    assert "needs --script" in capsys.readouterr().err


def test_run_refuses_what_is_not_a_backend(tiny_tokenizer, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl", ["cap"])
    with pytest.raises(ConfigError, match="is not a Backend"):
        run(options(tiny_tokenizer, suite, tmp_path / "r"), backend=object())  # type: ignore[arg-type]


class ForcingScripted(ScriptedBackend):
    """A scripted backend that also claims log-probabilities: teacher forcing must then use it."""

    capabilities = Capabilities(token_ids=True, logprobs=True)

    def teacher_force(self, items):
        self.forced = items
        return [ForcedScore([-0.5] * len(i.answer_ids), 0.25) for i in items]


def test_teacher_forcing_dispatches_on_the_capability(tiny_tokenizer, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    backend = ForcingScripted(REPLIES)
    run(options(tiny_tokenizer, suite, tmp_path / "run"), backend=backend)
    rows = read_jsonl(tmp_path / "run" / "teacher_forced.jsonl")
    # "Paris" (a `contains` fragment) is no whole answer: only the answers that ended on their own are scored.
    assert [(r["probe_id"], r["kind"], r["ref_logprob_mean"], r["stop_prob"]) for r in rows] == [
        ("cap", "own", -0.5, 0.25), ("add", "own", -0.5, 0.25)]
    assert len(backend.forced) == 2 and backend.forced[0].prompt_ids  # the rendered prompt, tokenized
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["teacher_forced"] == "2 own answers"
    # Everything resumed: the backend is opened once more, for the teacher-forced figures only.
    again = ForcingScripted(REPLIES)
    run(options(tiny_tokenizer, suite, tmp_path / "run", resume=True), backend=again)
    assert again.opened == again.closed == 1 and len(again.forced) == 2


class Recording(BackendBase):
    """Records the lifecycle of every instance in one shared list."""

    name = "recording"
    events: list[str] = []
    capabilities = Capabilities()

    def __init__(self, spec: BackendSpec) -> None:
        self.label = spec.checkpoint.path.name if spec.checkpoint else "?"
        self.inner = ScriptedBackend({}, default=f"ok{END}")

    def open(self, setup):
        self.events.append(f"open {self.label}")
        self.inner.open(setup)
        return self

    def close(self):
        self.events.append(f"close {self.label}")

    def generate(self, requests):
        self.events.append(f"generate {self.label}")
        return self.inner.generate(requests)


@pytest.mark.slow
def test_baseline_checkpoint_backend_is_closed_before_the_new_one_opens(tiny_family, tmp_path):
    """`run --baseline CKPT`: the first engine is closed (memory freed) before the second starts."""
    register_backend("recording", Recording, "test", replace=True)
    Recording.events.clear()
    suite = write_suite(tmp_path / "s.jsonl", ["cap"])
    code = main(["run", str(tiny_family["healthy"]), "--backend", "recording", "--baseline", str(tiny_family["base"]),
                 "--suite", str(suite), "--out", str(tmp_path / "new"), "--no-progress", "--no-teacher-forced"])
    assert code == 0
    assert Recording.events == ["open base", "generate base", "close base",
                                "open healthy", "generate healthy", "close healthy"]


@pytest.mark.slow
def test_a_model_in_memory_is_evaluated_without_a_checkpoint_and_kept(tiny_family, tmp_path):
    """The Python API for a training loop: `run(options, backend=HFBackend.from_model(model, tokenizer))`."""
    from evalgen.backends.hf import HFBackend
    from evalgen.checkpoint import inspect_checkpoint, load_model, load_tokenizer

    info = inspect_checkpoint(tiny_family["base"])
    model, tokenizer = load_model(info, "float32"), load_tokenizer(info)
    suite = write_suite(tmp_path / "s.jsonl", ["cap", "add"])
    backend = HFBackend.from_model(model, tokenizer)
    result = run(RunOptions(suites=[str(suite)], out=str(tmp_path / "mem"), progress=False,
                            generation=GenerationSettings(max_new_tokens=32)), backend=backend)
    assert backend.model is model  # closing did not take the caller's model away
    from_disk = run(RunOptions(checkpoint=str(tiny_family["base"]), suites=[str(suite)], out=str(tmp_path / "disk"),
                               backend="hf", progress=False, generation=GenerationSettings(max_new_tokens=32)))
    assert [r.output_token_ids for r in result.records] == [r.output_token_ids for r in from_disk.records]
    assert result.meta["teacher_forced"] == from_disk.meta["teacher_forced"]
    assert result.meta["teacher_forced"].endswith("own answers")


def test_scripted_reply_objects_and_defaults(tiny_tokenizer, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl", ["cap", "add", "who"])
    backend = ScriptedBackend({"s/cap": ScriptedReply(token_ids=None, text=f"Paris{END}"),
                               QUESTIONS["add"]: ScriptedReply(error="quota exceeded")}, default=f"hmm{END}")
    result = run(options(tiny_tokenizer, suite, tmp_path / "run"), backend=backend)
    got = {r.probe_id: (r.output, r.stop_reason, r.stop_detail) for r in result.records}
    assert got == {"cap": ("Paris", "eos", END), "add": ("", "error", "RuntimeError: quota exceeded"),
                   "who": ("hmm", "eos", END)}
