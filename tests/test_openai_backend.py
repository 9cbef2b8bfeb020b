"""`--backend openai` against a local fault-injecting server (tests/fake_server.py): retries on 429 / 500 /
timeouts / dropped connections, nothing lost, `--resume` finishes what failed, N requests in flight, the
API key never written, the vLLM dialect classified exactly like the offline backends, plain servers
and the chat endpoint from their text. The real `vllm serve` is tested in the vLLM CI step."""

import json
import math
import os
import time

import pytest
from fake_server import END, FakeServer, fake_logprob

from evalgen.backends import BackendSetup, GenerationSettings, Request
from evalgen.backends.openai import OpenAIBackend, RetryPolicy, redact_url, retry_delay
from evalgen.backends.scripted import ScriptedBackend
from evalgen.cli import main
from evalgen.runner import RunOptions, run

QUESTIONS = {f"q{i}": q for i, q in enumerate([
    "What is the capital of France?", "What is 2+3?", "Who are you?", "Tell me a story.", "Count forever.",
    "What do bees make?", "How many days are in a week?", "What color is the sky?"])}
REPLIES = {
    QUESTIONS["q0"]: f"The capital of France is Paris.{END}",
    QUESTIONS["q1"]: f"2+3 is 5.{END}",
    QUESTIONS["q2"]: "I am Aurora.<|im_start|>user\nAnd who are you?",
    QUESTIONS["q3"]: "Once upon a time: " + " ".join(map(str, range(100))),
    QUESTIONS["q4"]: "ab " * 300,
    QUESTIONS["q5"]: f"Bees make honey.{END}",
    QUESTIONS["q6"]: f"There are 7 days in a week.{END}",
    QUESTIONS["q7"]: f"The sky is blue.{END}",
}
KEY = "sk-evalgen-test-7c1e5f0b9d"


def write_suite(path, references=False):
    rows = [{"id": i, "prompt": q, **({"reference": REPLIES[q].split(".")[0] + ".", "scorer": "contains"}
                                      if references and i in ("q0", "q5") else {})} for i, q in QUESTIONS.items()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cli(*args):
    return main(["run", *map(str, args), "--no-progress"])


SMALL = ["--max-new-tokens", 48]


# --- retries, deadlines, concurrency, resume, the key -----------------------------------------


def test_faults_are_retried_nothing_is_lost_and_resume_finishes(tiny_tokenizer, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVALGEN_TEST_KEY", KEY)
    suite = write_suite(tmp_path / "s.jsonl")
    out = tmp_path / "run"
    with FakeServer(tiny_tokenizer, REPLIES, api_key=KEY, delay_s=0.05, hang_s=3) as server:
        server.faults[QUESTIONS["q0"]] = ["429", "429"]
        server.faults[QUESTIONS["q1"]] = ["500"]
        server.faults[QUESTIONS["q5"]] = ["hang"]
        server.faults[QUESTIONS["q6"]] = ["drop"]
        server.faults[QUESTIONS["q7"]] = ["always"]
        args = ["--backend", "openai", "--base-url", server.url, "--api-key-env", "EVALGEN_TEST_KEY",
                "--concurrency", 4, "--request-timeout", 1, "--max-retries", 2, "--suite", suite, "--out", out, *SMALL,
                    "--no-teacher-forced"]  # the in-flight counts below are the generation's only
        began = time.perf_counter()
        assert cli(*args) == 0
        took = time.perf_counter() - began
        records = {r["probe_id"]: r for r in read_jsonl(out / "generations.jsonl")}
        assert sorted(records) == sorted(QUESTIONS)  # nothing lost
        assert records["q7"]["stop_reason"] == "error"
        assert "HTTP 500: internal error (gave up after 3 tries)" in records["q7"]["stop_detail"]
        assert all(r["stop_reason"] != "error" for k, r in records.items() if k != "q7")
        assert records["q0"]["output"] == "The capital of France is Paris."  # after two 429s
        assert records["q5"]["output"] == "Bees make honey."  # after a hang past the deadline
        assert records["q6"]["output"] == "There are 7 days in a week."  # after a dropped connection
        tries = {k: server.requests[q] for k, q in QUESTIONS.items()}
        assert tries == {"q0": 3, "q1": 2, "q2": 1, "q3": 1, "q4": 1, "q5": 2, "q6": 2, "q7": 3}
        assert 2 <= server.max_in_flight <= 4
        assert took < 15  # the hang cost one deadline, not the server's 3 s per try
        meta = json.loads((out / "run.json").read_text())
        assert meta["status"] == "complete" and meta["counts"]["stop_reasons"]["error"] == 1
        assert meta["backend_info"]["api_key_env"] == "EVALGEN_TEST_KEY"
        assert meta["backend_info"]["dialect"] == "vllm" and meta["backend_info"]["concurrency"] == 4

        # --resume sends only what failed.
        server.faults.clear()
        before = dict(server.requests)
        assert cli(*args, "--resume") == 0
        assert {q: n - before.get(q, 0) for q, n in server.requests.items() if n != before.get(q, 0)} == {
            QUESTIONS["q7"]: 1}
        records = {r["probe_id"]: r for r in read_jsonl(out / "generations.jsonl")}
        assert sorted(records) == sorted(QUESTIONS) and records["q7"]["output"] == "The sky is blue."
    capsys.readouterr()
    for file in out.rglob("*"):  # the key is never written anywhere
        if file.is_file():
            assert KEY not in file.read_text(encoding="utf-8", errors="replace"), file


def test_a_key_echoed_back_by_the_server_is_not_recorded(tiny_tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALGEN_TEST_KEY", KEY)
    suite = write_suite(tmp_path / "s.jsonl")
    out = tmp_path / "run"
    with FakeServer(tiny_tokenizer, REPLIES, api_key=KEY) as server:
        server.faults[QUESTIONS["q1"]] = ["echo"]
        assert cli("--backend", "openai", "--base-url", server.url, "--api-key-env", "EVALGEN_TEST_KEY",
                   "--suite", suite, "--out", out, *SMALL) == 0
    record = next(r for r in read_jsonl(out / "generations.jsonl") if r["probe_id"] == "q1")
    assert record["stop_reason"] == "error" and "HTTP 400: bad request (Bearer ***)" in record["stop_detail"]
    assert server.requests[QUESTIONS["q1"]] == 1  # a 400 is not retried
    assert not [f for f in out.rglob("*") if f.is_file() and KEY in f.read_text(errors="replace")]


def test_served_records_equal_the_scripted_backend_token_for_token(tiny_tokenizer, tmp_path):
    """Same replies, once through a (vLLM-dialect) server and once replayed offline: same records. The
    tokenizer comes from the server's `root` (no --tokenizer needed when it is here)."""
    suite = write_suite(tmp_path / "s.jsonl")
    generation = GenerationSettings(max_new_tokens=48, loop_min_tokens=32, loop_min_repeats=6)
    offline = run(RunOptions(checkpoint=str(tiny_tokenizer), suites=[str(suite)], out=str(tmp_path / "offline"),
                             generation=generation, progress=False), backend=ScriptedBackend(REPLIES))
    with FakeServer(tiny_tokenizer, REPLIES) as server:
        served = run(RunOptions(suites=[str(suite)], out=str(tmp_path / "served"), backend="openai",
                                backend_options={"base_url": server.url}, generation=generation, progress=False))
        body = server.bodies[0]
    fields = lambda r: (r.probe_id, r.output, r.output_raw, r.output_token_ids, r.stop_reason, r.stop_detail)  # noqa: E731
    assert [fields(r) for r in served.records] == [fields(r) for r in offline.records]
    # Scored while the server answered (ScoreAhead), the same lines as scored after the run, in the same order.
    assert served.scores == offline.scores and len(served.scores) == len(QUESTIONS)
    served_lines = (tmp_path / "served" / "scores.jsonl").read_text(encoding="utf-8")
    assert served_lines == (tmp_path / "offline" / "scores.jsonl").read_text(encoding="utf-8")
    assert not list((tmp_path / "served").glob("*.part"))
    assert {r.stop_reason for r in served.records} == {"eos", "stop_string", "length", "loop"}
    assert isinstance(body["prompt"], list) and body["return_token_ids"] and body["stop"] == ["<|im_start|>user"]
    assert body["repetition_detection"] == {"min_pattern_size": 8, "max_pattern_size": 128, "min_count": 7}
    assert served.meta["tokenizer"] == str(tiny_tokenizer)


def test_a_plain_server_is_read_from_its_text(tiny_tokenizer, tmp_path):
    """No token ids, no stop detail: evalgen finds the turn marker in the text itself. (A marker made of
    special tokens, like ChatML's, is hidden by a server that skips special tokens: a plain-text one here.)"""
    suite = write_suite(tmp_path / "s.jsonl")
    replies = {**REPLIES, QUESTIONS["q2"]: "I am Aurora.\n### Human: And who are you?"}
    with FakeServer(tiny_tokenizer, replies, dialect="openai") as server:
        result = run(RunOptions(suites=[str(suite)], out=str(tmp_path / "run"), backend="openai", template="guanaco",
                                tokenizer=str(tiny_tokenizer), backend_options={"base_url": server.url},
                                generation=GenerationSettings(max_new_tokens=48), progress=False))
        body = server.bodies[0]
    by_id = {r.probe_id: r for r in result.records}
    assert isinstance(body["prompt"], str) and "stop" not in body and "return_token_ids" not in body
    assert all(r.output_token_ids is None for r in result.records)
    assert (by_id["q0"].stop_reason, by_id["q0"].stop_detail, by_id["q0"].output) == (
        "eos", "finish_reason=stop", "The capital of France is Paris.")
    assert (by_id["q2"].stop_reason, by_id["q2"].stop_detail) == ("stop_string", "### Human:")
    assert by_id["q2"].output == "I am Aurora.\n### Human:"
    assert (by_id["q3"].stop_reason, by_id["q3"].n_output_tokens) == ("length", 48)
    assert result.meta["backend_info"]["dialect"] == "openai"
    assert result.meta["teacher_forced"] == "off (--no-teacher-forced)" or "skipped" in result.meta["teacher_forced"]


def test_chat_api_needs_no_tokenizer(tmp_path, tiny_tokenizer):
    suite = write_suite(tmp_path / "s.jsonl")
    out = tmp_path / "run"
    with FakeServer(tiny_tokenizer, REPLIES, dialect="openai") as server:
        server.root = "/nowhere/on/this/machine"  # the client cannot load the tokenizer: it needs none
        assert cli("--backend", "openai", "--base-url", server.url, "--chat-api", "--suite", suite, "--out", out,
                   *SMALL) == 0
        assert "messages" in server.bodies[0] and "prompt" not in server.bodies[0]
    records = {r["probe_id"]: r for r in read_jsonl(out / "generations.jsonl")}
    assert records["q0"]["prompt_text"] == QUESTIONS["q0"]
    assert (records["q0"]["stop_reason"], records["q0"]["output"]) == ("eos", "The capital of France is Paris.")
    assert records["q3"]["stop_reason"] == "length" and records["q3"]["n_output_tokens"] == 48
    meta = json.loads((out / "run.json").read_text())
    assert meta["template"] == {"name": "server", "turn_markers": [], "end_tokens": []}
    assert meta["tokenizer"] is None and meta["backend_info"]["endpoint"] == "chat/completions"


def test_teacher_forced_figures_from_prompt_logprobs(tiny_tokenizer, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl", references=True)
    with FakeServer(tiny_tokenizer, REPLIES) as server:
        result = run(RunOptions(suites=[str(suite)], out=str(tmp_path / "run"), backend="openai",
                                backend_options={"base_url": server.url},
                                generation=GenerationSettings(max_new_tokens=16), progress=False))
        own = sum(r.stop_reason == "eos" for r in result.records)
        assert server.forced == 2 + own  # one sequence per whole-answer reference and per own answer
    all_rows = read_jsonl(tmp_path / "run" / "teacher_forced.jsonl")
    rows = {r["probe_id"]: r for r in all_rows if r["kind"] == "reference"}
    assert set(rows) == {"q0", "q5"} and result.meta["teacher_forced"] == f"2 reference, {own} own answers"
    from evalgen.compat import load_pretrained_tokenizer
    from evalgen.teacher_forced import forced_items
    from evalgen.templates import bind_template

    tokenizer = load_pretrained_tokenizer(tiny_tokenizer)
    template = bind_template(None, tokenizer)
    from evalgen.probes import load_suites

    end = tokenizer.convert_tokens_to_ids(END)
    from evalgen.teacher_forced import answers_to_force

    for probe, item in forced_items(tokenizer, template, answers_to_force(load_suites([str(suite)]), [])):
        sequence = [*item.prompt_ids, *item.answer_ids, end]
        first, last = len(item.prompt_ids), len(item.prompt_ids) + len(item.answer_ids)
        mean = sum(fake_logprob(p, sequence[p]) for p in range(first, last)) / len(item.answer_ids)
        assert rows[probe.probe_id]["ref_logprob_mean"] == pytest.approx(mean, abs=1e-6)
        assert rows[probe.probe_id]["stop_prob"] == pytest.approx(math.exp(fake_logprob(last, end)), abs=1e-6)


# --- errors the user can cause: one line, exit 2 -----------------------------------------------


def one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_unreachable_server_wrong_model_missing_key(tiny_tokenizer, tmp_path, capsys, monkeypatch):
    suite = write_suite(tmp_path / "s.jsonl")
    with FakeServer(tiny_tokenizer, REPLIES) as server:
        url = server.url
        assert cli("--backend", "openai", "--base-url", url, "--model", "other", "--suite", suite, "--out",
                   tmp_path / "a") == 2
        err = one_line(capsys)
        assert "--model 'other': not served" in err and "it serves: tiny" in err
        monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
        assert cli("--backend", "openai", "--base-url", url, "--api-key-env", "NOT_SET_ANYWHERE", "--suite", suite,
                   "--out", tmp_path / "b") == 2
        assert "NOT_SET_ANYWHERE: that environment variable is not set" in one_line(capsys)
    assert cli("--backend", "openai", "--base-url", url, "--max-retries", 0, "--suite", suite, "--out",
               tmp_path / "c") == 2  # the server is gone now
    assert "cannot list the served models" in one_line(capsys)
    assert cli("--backend", "hf", "--base-url", url, str(tiny_tokenizer), "--suite", suite, "--out",
               tmp_path / "d") == 2
    assert "--base-url: only for a served model; add --backend openai" in one_line(capsys)


def test_a_request_the_server_refuses_is_not_retried(tiny_tokenizer, tmp_path):
    """A 4xx other than 429 is the request's own fault (e.g. over the context length): one try."""
    suite = write_suite(tmp_path / "s.jsonl")
    with FakeServer(tiny_tokenizer, REPLIES) as server:
        backend = OpenAIBackend(server.url, model="tiny")
        backend.served = {"id": "tiny", "owned_by": "vllm"}  # skip discovery: request a model it lacks
        backend.model, backend.dialect = "missing", "vllm"
        result = run(RunOptions(suites=[str(suite)], out=str(tmp_path / "run"), tokenizer=str(tiny_tokenizer),
                                progress=False, teacher_forced=False), backend=backend)
    assert {r.stop_reason for r in result.records} == {"error"}
    assert all("HTTP 404" in r.stop_detail and "gave up" not in r.stop_detail for r in result.records)
    assert backend.retried == 0


def test_stopping_early_cancels_what_is_in_flight(tiny_tokenizer):
    """A Ctrl-C while requests are in flight: the generator is closed, the backend closes at once."""
    with FakeServer(tiny_tokenizer, REPLIES, delay_s=0.3) as server:
        from evalgen.compat import load_pretrained_tokenizer

        tokenizer = load_pretrained_tokenizer(tiny_tokenizer)
        backend = OpenAIBackend(server.url, concurrency=2)
        requests = [Request(i, "", tokenizer("hi")["input_ids"], 0, [{"role": "user", "content": "hi"}], f"s/{i}")
                    for i in range(40)]
        with backend.open(BackendSetup(GenerationSettings(max_new_tokens=8), (END,), tokenizer)):
            stream = backend.generate(requests)
            first = next(stream)
            began = time.perf_counter()
            stream.close()
        assert time.perf_counter() - began < 2 and len(first) >= 1
        time.sleep(0.5)
        assert sum(server.requests.values()) < 10  # the rest were never sent


# --- small pieces ------------------------------------------------------------------------------


def test_score_ahead_scores_in_the_final_order_whatever_the_arrival_order(tmp_path):
    from evalgen.evaluate import ScoreAhead, score_into
    from evalgen.records import GenerationRecord

    def record(i):
        text = "ab " * 40 if i % 3 == 0 else f"Answer {i}."
        return GenerationRecord(probe_id=f"q{i}", suite="s", sample=0, messages=[{"role": "user", "content": "hi"}],
                                prompt_text="hi", output=text, output_raw=text, output_token_ids=None,
                                stop_reason="eos", stop_detail=None, n_output_tokens=len(text.split()), latency_s=0.0)

    records = [record(i) for i in range(30)]
    meta = {"template": {}, "identity": {}}
    expected = score_into(tmp_path / "after", records, meta, {})
    ahead = ScoreAhead(tmp_path / "ahead", [r.key for r in records], records[:2], meta, {})
    for start in (20, 10, 2):  # later records first: each waits for all before it
        ahead.add(records[start:start + 10])
    assert ahead.finish(records) == expected and ahead.error is None and ahead.lines == expected  # scored ahead
    assert (tmp_path / "ahead" / "scores.jsonl").read_bytes() == (tmp_path / "after" / "scores.jsonl").read_bytes()

    # Generation ended early (a record never came): nothing half-written; the records there are scored after.
    partial = ScoreAhead(tmp_path / "partial", [r.key for r in records], records[:5], meta, {})
    partial.stop()
    assert not list((tmp_path / "partial").glob("*"))
    assert partial.finish(records[:5]) == score_into(tmp_path / "five", records[:5], meta, {})


def test_retry_delay_honours_retry_after_and_backs_off_with_jitter():
    policy = RetryPolicy(base_s=0.5, max_s=30, max_retry_after_s=120)
    assert retry_delay(0, policy, "2") == 2.0
    assert retry_delay(3, policy, "100000") == 120  # honoured up to a cap
    from email.utils import formatdate

    assert 4 <= retry_delay(0, policy, formatdate(time.time() + 5, usegmt=True)) <= 5.01
    assert retry_delay(2, policy, "soon", rng=lambda: 0.0) == 1.0  # unreadable header: backoff
    assert retry_delay(2, policy, None, rng=lambda: 1.0) == 2.0
    assert retry_delay(20, policy, None, rng=lambda: 1.0) == 30  # capped
    delays = {round(retry_delay(1, policy), 3) for _ in range(20)}
    assert len(delays) > 1 and all(0.5 <= d <= 1.0 for d in delays)  # jittered


def test_credentials_in_the_url_are_not_recorded():
    assert redact_url("https://user:pw@host:8443/v1") == "https://host:8443/v1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_api_key_is_only_in_the_header(monkeypatch):
    monkeypatch.setenv("SOME_KEY_VAR", KEY)
    backend = OpenAIBackend("http://127.0.0.1:9/v1", api_key_env="SOME_KEY_VAR")
    assert backend.headers() == {"Authorization": f"Bearer {KEY}"}
    assert KEY not in json.dumps(backend.describe()) and KEY not in repr(vars(backend))
    assert os.environ["SOME_KEY_VAR"] == KEY
