#!/usr/bin/env bash
# The compiled-build experiment of issue 10 item 6, re-measurable: the detector modules compiled unchanged with
# Cython 3 (repetition with the C types of repetition.pxd beside this script), timed against the pure-Python
# checkout on the same records, then the findings of both over the whole corpus compared.
#   pip install cython && bash bench/compiled/measure.sh [RECORDS]
# The copy is built in a temporary folder; the checkout is not touched. The findings must show 0 differences.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cp -r "$root/evalgen" "$root/bench" "$build/"
ln -s "$root/tests" "$build/tests"
cp "$root/bench/compiled/repetition.pxd" "$build/evalgen/detectors/"
started=$SECONDS
(cd "$build" && cythonize -q -i -3 -X annotation_typing=False evalgen/detectors/*.py evalgen/records.py >/dev/null)
echo "== compiled in $((SECONDS - started)) s (wall; load $(cut -d' ' -f1 /proc/loadavg))"
cd "$build"
PYTHONPATH=. python bench/bench_detectors.py --records "${1:-20000}" --repeats 3 --cpu 1 --baseline "$root"
PYTHONPATH=. python bench/bench_detectors.py --findings --corpus --baseline "$root"
