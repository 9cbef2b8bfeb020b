"""The HTML report: one self-contained page (no network, scripts and styles inline) to read a run's
bad cases, before and after side by side, with each detector's evidence highlighted.

`build_report(run_dir, baseline_dir=None)` reads only the run folder files and writes
`report.html` into the run folder.
"""

from evalgen.report.build import DEFAULT_MAX_SIZE_MB, REPORT_NAME, build_report

__all__ = ["DEFAULT_MAX_SIZE_MB", "REPORT_NAME", "build_report"]
