"""ScoreAhead (scoring a served run's records while the server answers): the same scores.jsonl as scoring
after the run, a resumed run's records scored with the normal scorer and merged in, and a run that ends
early (Ctrl-C, a failure) stops the scoring at once and still says so in run.json. No model is loaded."""

import json
import threading
import time

import pytest
from test_backends import QUESTIONS, REPLIES, options, read_jsonl, write_suite

import evalgen.evaluate as evaluate
from evalgen.backends import Capabilities
from evalgen.backends.scripted import ScriptedBackend
from evalgen.evaluate import AHEAD_FILE, BACKLOG_FILE, ScoreAhead, score_into
from evalgen.records import GenerationRecord
from evalgen.runner import run

META = {"template": {}, "identity": {}}


def record(i):
    text = "ab " * 40 if i % 3 == 0 else f"Answer {i}."
    return GenerationRecord(probe_id=f"q{i}", suite="s", sample=0, messages=[{"role": "user", "content": "hi"}],
                            prompt_text="hi", output=text, output_raw=text, output_token_ids=None,
                            stop_reason="eos", stop_detail=None, n_output_tokens=len(text.split()), latency_s=0.0)


def served(backend):
    """The scripted backend, declared remote: the runner scores ahead as for a server."""
    backend.capabilities = Capabilities(token_ids=True, remote=True)
    return backend


def test_records_not_given_to_it_are_scored_at_the_end_and_merged_in_order(tmp_path):
    """A resumed run's records (here every other one) are not scored on the thread: `finish` scores them
    over `jobs` processes and merges them in, giving the bytes of scoring all at once."""
    records = [record(i) for i in range(40)]
    expected = score_into(tmp_path / "after", records, META, {})
    new = records[1::2]
    ahead = ScoreAhead(tmp_path / "ahead", [r.key for r in new], (), META, {})
    ahead.add(reversed(new))
    assert ahead.finish(records, jobs=1) == expected and ahead.error is None
    assert len(ahead.lines) == len(new)  # the thread scored only the new ones
    assert (tmp_path / "ahead" / "scores.jsonl").read_bytes() == (tmp_path / "after" / "scores.jsonl").read_bytes()
    assert sorted(p.name for p in (tmp_path / "ahead").iterdir()) == ["scores.jsonl"]  # no side file left


def test_abort_stops_the_thread_at_the_next_record(tmp_path, monkeypatch):
    """On Ctrl-C the scores would be thrown away: `abort` scores none of the records waiting (`stop`, for
    the end of a run, scores every one there before a missing one ends it)."""
    records = [record(i) for i in range(500)]
    keys = [r.key for r in records] + [("s", "never", 0)]
    fetched = []
    gate = threading.Event()
    real_get = ScoreAhead.get

    def gated_get(self, index):  # the thread waits here until abort() has been called
        gate.wait()
        got = real_get(self, index)
        fetched.append(index)
        return got

    monkeypatch.setattr(ScoreAhead, "get", gated_get)
    ahead = ScoreAhead(tmp_path / "run", keys, records, META, {})
    stopper = threading.Thread(target=ahead.abort)
    stopper.start()
    while not ahead.aborted:
        time.sleep(0.01)
    gate.set()
    stopper.join()
    assert fetched == [] and not ahead.thread.is_alive() and ahead.lines is None
    assert not list((tmp_path / "run").glob("*"))  # nothing half-written

    # The end of a run: every record there is scored, the missing one ends it, nothing is written.
    fetched.clear()
    ahead = ScoreAhead(tmp_path / "stopped", keys, records, META, {})
    ahead.stop()
    assert fetched == list(range(len(records))) and ahead.lines is None
    assert not list((tmp_path / "stopped").glob("*"))


def test_ctrl_c_in_a_served_run_aborts_scoring_and_run_json_says_interrupted(tiny_tokenizer, tmp_path, monkeypatch):
    """Even when a second Ctrl-C lands while the runner waits for the scoring thread to stop."""
    suite = write_suite(tmp_path / "s.jsonl")
    seen, calls = [], []

    def interrupt_at_the_fourth(request):
        seen.append(request.probe)
        if len(seen) == 4:
            raise KeyboardInterrupt
        return REPLIES[request.probe.rsplit("/", 1)[1]]

    def interrupted_wait(name):
        real = getattr(ScoreAhead, name)

        def wait(self):
            calls.append(name)
            real(self)
            raise KeyboardInterrupt  # the second Ctrl-C

        return wait

    for name in ("abort", "stop"):
        monkeypatch.setattr(ScoreAhead, name, interrupted_wait(name))
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run(options(tiny_tokenizer, suite, out), backend=served(ScriptedBackend(interrupt_at_the_fourth, batch_size=1)))
    assert calls == ["abort"]
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted" and meta["counts"]["records"] == 3
    assert not [p.name for p in out.iterdir() if "scores" in p.name]  # nothing scored was left half-written


def test_a_resumed_served_run_scores_only_the_new_records_ahead(tiny_tokenizer, tmp_path, monkeypatch):
    """The resumed records go to the normal scorer (with --jobs) at the end, not to the scoring thread;
    scores.jsonl is the one an uninterrupted run writes."""
    suite = write_suite(tmp_path / "s.jsonl")
    whole = run(options(tiny_tokenizer, suite, tmp_path / "whole"), backend=ScriptedBackend(REPLIES))

    def interrupt_at_the_fourth(request, seen=[]):  # noqa: B006 - counts across calls
        seen.append(request.probe)
        if len(seen) == 4:
            raise KeyboardInterrupt
        return REPLIES[request.probe.rsplit("/", 1)[1]]

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run(options(tiny_tokenizer, suite, out), backend=served(ScriptedBackend(interrupt_at_the_fourth, batch_size=1)))
    assert len(read_jsonl(out / "generations.jsonl")) == 3

    given, scored = [], []
    real_init, real_score_into = ScoreAhead.__init__, evaluate.score_into

    def spy_init(self, folder, keys, have, meta, config):
        given.extend(keys)
        real_init(self, folder, keys, have, meta, config)

    def spy_score_into(folder, records, meta, config, jobs=None, chunk=evaluate.CHUNK, scores_name="scores.jsonl"):
        if scores_name != AHEAD_FILE:
            scored.append((len(records), jobs, scores_name))
        return real_score_into(folder, records, meta, config, jobs, chunk, scores_name)

    monkeypatch.setattr(ScoreAhead, "__init__", spy_init)
    monkeypatch.setattr(evaluate, "score_into", spy_score_into)
    result = run(options(tiny_tokenizer, suite, out, resume=True, jobs=2), backend=served(ScriptedBackend(REPLIES)))
    assert len(given) == len(QUESTIONS) - 3  # only the records generated now
    assert scored == [(3, 2, BACKLOG_FILE)]  # the resumed ones, with --jobs
    assert result.scores == whole.scores
    assert (out / "scores.jsonl").read_bytes() == (tmp_path / "whole" / "scores.jsonl").read_bytes()
    assert not (out / AHEAD_FILE).exists() and not (out / BACKLOG_FILE).exists()
