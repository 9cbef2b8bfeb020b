"""Exit code of every catalogue case of issue 11 (tests/error_cases.py) for the evalgen importable here.

    python bench/catalogue_exit_codes.py [--only NAME ...]

To measure another checkout (e.g. main before a change): PYTHONPATH=/path/to/that/checkout python ...
(the cases run `python -m evalgen`, so whichever evalgen PYTHONPATH points at is measured).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

from tests.conftest import tiny_cache_root  # noqa: E402
from tests.error_cases import CASES, run_case  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    from evalgen.tinymodels import build_family

    family = build_family(tiny_cache_root())
    import evalgen

    print(f"# evalgen from {Path(evalgen.__file__).parent}", flush=True)
    for case in CASES:
        if args.only and case.name not in args.only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_case(case, Path(tmp), family)
            err = [line for line in proc.stderr.splitlines() if line.strip()]
            traceback = any(line.startswith("Traceback") for line in err)
            last = err[-1][:150] if err else ""
            print(f"{case.name}\t{proc.returncode}\t{'traceback' if traceback else ''}\t{len(err)} lines\t{last}",
                  flush=True)


if __name__ == "__main__":
    main()
