"""Issue 11's catalogue of user faults, each run as a real `evalgen` subprocess (tests/error_cases.py).

Every user-caused fault ends in exit 2 with at most two lines on stderr (the error, and at most one
progress line before it) and no traceback; Ctrl-C is 130; the run-folder cases that must succeed exit 0
and their extra check holds. Faults in the config, the probes, the settings and the weights are found
before anything is generated.
"""

from __future__ import annotations

import pytest

from tests.error_cases import CASES, run_case

pytestmark = pytest.mark.slow

FOUND_UP_FRONT = {
    "safetensors_unknown_dtype", "tokenizer_unknown_model", "lora_target_mismatch", "lora_rank_mismatch",
    "adapter_loads_into_nothing", "device_cuda_without_gpu", "reference_number", "unknown_scorer",
    "invalid_regex", "detectors_typo", "top_p_range", "temperature_range", "nan_weights", "missing_tensors",
}
"""Cases whose fault must stop the run before a single record is generated."""


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_catalogue_case(case, tiny_family, tmp_path):
    proc = run_case(case, tmp_path, tiny_family)
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == case.expect, (proc.returncode, proc.stderr[-2000:])
    if case.expect == 2:
        assert len(err) <= 2, err
        assert err[-1].startswith("evalgen: error: "), err
    if case.expect == 130:
        assert len(err) == 1 and "interrupted" in err[0], err
    if case.check is not None:
        problem = case.check(tmp_path, proc)
        assert problem is None, problem
    if case.name in FOUND_UP_FRONT:
        assert not (tmp_path / "out" / "generations.jsonl").exists(), "generated before finding the fault"
