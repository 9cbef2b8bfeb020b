"""Plain-text and Markdown renderings of a Comparison (no dependencies beyond the standard library)."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalgen.compare import Comparison, Flip, Metric

__all__ = ["format_markdown", "format_table", "grid", "md_text", "plain_text"]

# Per-suite rows shown in the terminal: only the ones that moved, worst first.
_MAX_SUITE_ROWS = 15


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def md_text(text: object) -> str:
    """Untrusted text (probe ids, suite names, paths, outputs) as inert Markdown: HTML characters become
    entities, Markdown punctuation is backslash-escaped, line breaks become spaces; no code spans, which a
    backtick in the text could close."""
    flat = " ".join(plain_text(text).splitlines())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _MD_SPECIAL.sub(r"\\\1", flat)


def plain_text(text: object) -> str:
    """Untrusted text for a terminal: control and format characters (ANSI escapes, bidi overrides, NUL) are
    shown as escapes instead of acting on the terminal."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
                   for ch in value)


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two, so probe ids in Chinese still line up."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def grid(headers: list[str], rows: list[list[str]], indent: str = "  ", left: int = 2) -> list[str]:
    """Aligned plain-text table lines: the first `left` columns left-aligned, figures right-aligned. Cells
    go through `plain_text` (suite names and ids are untrusted)."""
    headers, rows = [plain_text(c) for c in headers], [[plain_text(c) for c in r] for r in rows]
    widths = [max(_width(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        # Text columns left-aligned, figures right-aligned.
        parts = [
            c + " " * (w - _width(c)) if i < left else " " * (w - _width(c)) + c
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return (indent + "  ".join(parts)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _value(m: Metric, x: float) -> str:
    return f"{x:.3f}" if m.kind == "teacher_forced" else f"{100 * x:.1f}%"


def _delta(m: Metric, x: float) -> str:
    return f"{x:+.3f}" if m.kind == "teacher_forced" else f"{100 * x:+.1f}"


def _row(m: Metric) -> list[str]:
    p = "" if m.p_value is None else f"{m.p_value:.3g}"
    ci = f"[{_delta(m, m.ci_low)}, {_delta(m, m.ci_high)}]"
    flips = "" if m.kind == "teacher_forced" else f"{m.new_failures}/{m.fixes}"
    return [m.name, m.suite, _value(m, m.base), _value(m, m.new), _delta(m, m.delta), ci, p, flips, str(m.n)]


_HEADERS = ["metric", "suite", "base", "new", "delta", "95% CI", "p", "worse/fixed", "n"]


def _moved(c: Comparison) -> list[Metric]:
    rows = [m for m in c.metrics if m.suite != "all" and (m.new_failures or m.fixes or m.delta)]

    # Most significant first, then the largest move in the bad direction (a rise for detector
    # rates, a fall for accuracy and teacher-forced means); teacher-forced rows have no p-value.
    def badness(m: Metric) -> tuple[float, float]:
        worse = m.delta if m.kind == "detector" else -m.delta
        return (1.0 if m.p_value is None else m.p_value - 1.0, -worse)

    return sorted(rows, key=badness)


def _flip_text(f: Flip) -> str:
    return f"{f.suite}/{f.probe_id}#{f.sample}: {', '.join(f.detectors)}"


def _plain_row(m: Metric) -> list[str]:
    return [plain_text(x) for x in _row(m)]


def format_table(c: Comparison, max_flips: int = 10) -> str:
    """The terminal summary: verdict, warnings, gates, metrics, length shift, worst flips."""
    failed = c.failed_gates
    verdict = f"FAIL ({len(failed)} of {len(c.gates)} gates failed)" if failed else f"PASS ({len(c.gates)} gates)"
    out = [
        f"evalgen compare: {verdict}",
        f"  base: {plain_text(c.base_path)}  ({plain_text(c.base_run.get('name', '?'))})",
        f"  new:  {plain_text(c.new_path)}  ({plain_text(c.new_run.get('name', '?'))})",
        f"  {c.n_common} records compared; {c.n_dropped_base} only in base, {c.n_dropped_new} only in new",
    ]
    if c.warnings:
        out += ["", "Warnings:", *(f"  ! {plain_text(w)}" for w in c.warnings)]
    out += ["", "Gates:"]
    width = max((len(g.name) for g in c.gates), default=0)
    out += [f"  {'ok  ' if g.passed else 'FAIL'}  {plain_text(g.name):<{width}}  {plain_text(g.reason)}"
            for g in c.gates]
    out += ["", "All suites (rates in %, delta in points; worse/fixed = flips):"]
    out += grid(_HEADERS, [_plain_row(m) for m in c.metrics if m.suite == "all"])
    moved = _moved(c)
    if moved:
        out += ["", "Per suite, rows that moved (worst first):"]
        out += grid(_HEADERS, [_plain_row(m) for m in moved[:_MAX_SUITE_ROWS]])
        if len(moved) > _MAX_SUITE_ROWS:
            out.append(f"  … {len(moved) - _MAX_SUITE_ROWS} more in comparison.json")
    lb, ln = c.length.base, c.length.new
    out += [
        "",
        "Output length (tokens): "
        f"mean {lb['mean']:.1f} → {ln['mean']:.1f}, median {lb['median']:g} → {ln['median']:g}, "
        f"p90 {lb['p90']:g} → {ln['p90']:g}, KS {c.length.ks:.3f}",
    ]
    for title, flips in (("New failures", c.new_failures), ("Fixes", c.fixes)):
        out += ["", f"{title} ({len(flips)}):"]
        out += [f"  {plain_text(_flip_text(f))}" for f in flips[:max_flips]] or ["  none"]
        if len(flips) > max_flips:
            out.append(f"  … {len(flips) - max_flips} more in comparison.json")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return md_text(text)


def format_markdown(c: Comparison, max_flips: int = 20) -> str:
    """A Markdown summary for a CI step summary: verdict, gates, overall metrics, flips."""
    failed = c.failed_gates
    verdict = f"❌ {len(failed)} of {len(c.gates)} gates failed" if failed else f"✅ all {len(c.gates)} gates passed"
    out = [
        f"## evalgen compare: {verdict}",
        "",
        f"{_md_cell(c.base_path)} → {_md_cell(c.new_path)}: {c.n_common} records compared "
        f"({c.n_dropped_base} only in base, {c.n_dropped_new} only in new).",
    ]
    if c.warnings:
        out += ["", "**Warnings**", "", *(f"- ⚠️ {_md_cell(w)}" for w in c.warnings)]
    out += ["", "| gate | verdict | figures |", "|---|---|---|"]
    # Gate names are evalgen's own identifiers (detectors are registered in code): a code span is safe there.
    out += [f"| `{g.name}` | {'✅ pass' if g.passed else '❌ FAIL'} | {_md_cell(g.reason)} |" for g in c.gates]
    out += ["", "| " + " | ".join(_HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    out += ["| " + " | ".join(_md_cell(x) for x in _row(m)) + " |" for m in c.metrics if m.suite == "all"]
    lb, ln = c.length.base, c.length.new
    out += [
        "",
        f"Output length (tokens): median {lb['median']:g} → {ln['median']:g}, "
        f"p90 {lb['p90']:g} → {ln['p90']:g}, KS {c.length.ks:.3f}.",
    ]
    for title, flips in (("New failures", c.new_failures), ("Fixes", c.fixes)):
        if not flips:
            continue
        out += ["", f"<details><summary>{title} ({len(flips)})</summary>", ""]
        out += [f"- {_md_cell(_flip_text(f))}" for f in flips[:max_flips]]
        if len(flips) > max_flips:
            out.append(f"- … {len(flips) - max_flips} more in comparison.json")
        out += ["", "</details>"]
    return "\n".join(out) + "\n"
