#!/usr/bin/env bash
# CI leg: the core tests on the oldest transformers evalgen supports (4.46), in their own venv, so that
# `pip install evalgen` beside an existing training or serving stack never needs a newer transformers.
# Called from .ci/run; runs alone too: `bash .ci/compat.sh` (reuses .venv-compat when it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
venv=${COMPAT_VENV:-.venv-compat}
oldest=${COMPAT_TRANSFORMERS:-4.46.3}

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
printf 'torch==2.13.0\ntransformers==%s\n' "$oldest" >"$constraints"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q -c "$constraints" torch==2.13.0
"$py" -m pip install -q -c "$constraints" -e ".[test]"
"$py" -c "import transformers, tokenizers, huggingface_hub, torch; print('== compat: transformers', \
transformers.__version__, 'tokenizers', tokenizers.__version__, 'huggingface_hub', huggingface_hub.__version__, \
'torch', torch.__version__)"
echo "== compat venv took $((SECONDS - started)) s"

# Its own tiny checkpoints (built with this transformers), in their own cache folder.
export EVALGEN_TINY_CACHE=${EVALGEN_TINY_CACHE_COMPAT:-${TMPDIR:-/tmp}/evalgen-tinymodels-compat-$(id -u)}
# What depends on transformers: loading checkpoints and tokenizers (every layout), chat templates, HF
# generation and its stop classification, teacher forcing, the tiny models' planted behaviour, the
# backends that render prompts with a tokenizer (scripted, openai), Hub ids (huggingface_hub < 1).
"$py" -m pytest -q -p no:cacheprovider tests/test_compat.py tests/test_run_hf.py tests/test_tinymodels.py \
  tests/test_templates.py tests/test_stop_classification.py tests/test_backends.py tests/test_openai_backend.py \
  tests/test_hub.py
echo "== compat leg took $((SECONDS - started)) s"
