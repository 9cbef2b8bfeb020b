"""The HTML report, opened from disk in a real headless Chromium (Debian's, driven by Playwright).

Run folders are written by hand here, in the on-disk formats, so these tests depend only on the
record contract and the report package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from evalgen.report import build_report
from evalgen.report.build import _embed_json, _utf16

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # the report itself needs no playwright; only these browser tests do
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).parent / "artifacts"

_needs_chromium = pytest.mark.skipif(
    sync_playwright is None or not CHROMIUM.exists(),
    reason="needs playwright for Python (pip install playwright) and Debian's chromium at /usr/bin/chromium "
           "(apt-get install chromium); `playwright install` cannot download here",
)


def browser_test(test: Any) -> Any:
    """Marked `browser` (deselect with -m "not browser") and skipped, with the reason, without Chromium."""
    return pytest.mark.browser(_needs_chromium(test))


DETECTORS = ("repetition", "truncation", "missing_eos", "identity_leak", "language_drift")

# Astral (emoji) and CJK characters before the evidence: Python offsets count code points,
# JavaScript strings count UTF-16 units, so a wrong conversion shifts the highlight by two.
UNIT = "the cat sat. "
LOOP_PREFIX = "😀🎉 你好，世界。"
LOOP_OUTPUT = LOOP_PREFIX + UNIT * 6
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "</script><script>window.pwned=1</script>",
    "javascript:alert(1)",
    '<a href="javascript:window.pwned=2">click me</a>',
    "<!-- <script>window.pwned=3</script>",
    "\u2028\u2029 https://example.com/tracker.png",
]
HOSTILE_OUTPUT = "\n".join(HOSTILE)
HOSTILE_ID = "hx-<img src=x onerror=alert(1)>"


def record(suite: str, probe_id: str, output: str, *, stop: str = "eos", tokens: int | None = None,
           sample: int = 0, prompt: str | None = None, **extra: Any) -> dict[str, Any]:
    user = f"Question for {probe_id}"
    return {
        "probe_id": probe_id, "suite": suite, "sample": sample,
        "messages": [{"role": "user", "content": user}],
        "prompt_text": prompt if prompt is not None else f"<|user|>\n{user}\n<|assistant|>\n",
        "output": output, "output_raw": output + ("</s>" if stop == "eos" else ""),
        "output_token_ids": None, "stop_reason": stop, "stop_detail": "</s>" if stop == "eos" else None,
        "n_output_tokens": tokens if tokens is not None else max(1, len(output) // 4),
        "latency_s": 0.25, "reference": None, "scorer": None, "lang": "en", "tags": [], "version": 1, **extra,
    }


def score(rec: dict[str, Any], findings: dict[str, dict[str, Any]] | None = None,
          task_correct: bool | None = None) -> dict[str, Any]:
    findings = findings or {}
    return {
        "id": rec["probe_id"], "suite": rec["suite"], "sample": rec["sample"],
        "flags": {d: bool(findings.get(d, {}).get("flagged")) for d in DETECTORS},
        "findings": {d: {"detector": d, "explanation": "", "details": {}, "spans": [], "score": 0.0, **f}
                     for d, f in findings.items()},
        "task_correct": task_correct,
    }


def loop_finding() -> dict[str, Any]:
    start = LOOP_OUTPUT.index(UNIT)  # a Python (code point) offset, as detectors write them
    return {"flagged": True, "score": 0.93, "explanation": "a 13-character unit repeats 6 times",
            "details": {"unit": UNIT, "count": 6},
            "spans": [{"start": start, "end": start + len(UNIT), "label": "repeated unit"},
                      {"start": start + len(UNIT), "end": len(LOOP_OUTPUT), "label": "loop"}]}


def leak_finding(output: str, name: str) -> dict[str, Any]:
    start = output.index(name)
    return {"flagged": True, "score": 1.0, "explanation": f"claims to be {name}",
            "spans": [{"start": start, "end": start + len(name), "label": "leaked name"}]}


def write_run(folder: Path, name: str, rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> Path:
    folder.mkdir(parents=True)
    run = {"format_version": 1, "name": name, "status": "finished",
           "checkpoint": {"path": f"/ckpt/{name}", "hash": "abc123", "adapter": None, "base": None},
           "backend": "hf", "template": {"name": "chatml", "turn_markers": ["<|user|>"], "end_tokens": ["</s>"]},
           "settings": {"max_new_tokens": 64, "temperature": 0.0, "note": "</script><script>window.pwned=4</script>"},
           "suites": {}, "identity": {"name": "Aurora", "org": "Example"}, "versions": {"evalgen": "0.1.0"},
           "timings": {"generate_s": 1.5}, "counts": {"records": len(rows)}}
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    (folder / "generations.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r, _ in rows),
                                              encoding="utf-8")
    (folder / "scores.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for _, s in rows),
                                         encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A base and a new run with a new failure, a fix, a case bad in both, a wrong answer, a cut-off
    output and hostile text; the new run holds comparison.json with a failed gate."""
    root = tmp_path_factory.mktemp("runs")
    clean_loop = record("long_form", "lf-001", LOOP_PREFIX + "The cat sat on the mat.")
    loop = record("long_form", "lf-001", LOOP_OUTPUT, stop="length", tokens=64)
    cut_text = "The story begins in a small village where"
    cut = record("long_form", "lf-002", cut_text, stop="length", tokens=64)
    cut_finding = {"flagged": True, "score": 0.8, "explanation": "ends mid-sentence at the token limit",
                   "spans": [{"start": len(cut_text), "end": len(cut_text), "label": "cut here"}]}
    leak_new = record("identity", "id-003", "I am Qwen, a model made by Alibaba Cloud.")
    leak_base = record("identity", "id-003", "Hi! I'm Qwen and I can help.")
    fixed_base = record("identity", "id-004", "I am Llama, made by Meta.")
    fixed_new = record("identity", "id-004", "I am Aurora, made by Example.")
    clean = record("identity", "id-005", "I am Aurora.")
    task = dict(reference="4", scorer="exact")
    right = record("old_tasks", "ot-001", "4", **task)
    wrong = record("old_tasks", "ot-001", "5", **task)
    hostile = record("instruction", HOSTILE_ID, HOSTILE_OUTPUT, prompt="<|user|>\n" + HOSTILE[2] + "\n<|assistant|>\n")
    drift = {"flagged": True, "score": 0.5, "explanation": "odd text",
             "spans": [{"start": 0, "end": len(HOSTILE[0]), "label": "drift"}]}
    base_rows = [
        (clean_loop, score(clean_loop)),
        (cut, score(cut)),
        (leak_base, score(leak_base, {"identity_leak": leak_finding(leak_base["output"], "Qwen")})),
        (fixed_base, score(fixed_base, {"identity_leak": leak_finding(fixed_base["output"], "Llama")})),
        (clean, score(clean)),
        (right, score(right, task_correct=True)),
        (hostile, score(hostile)),
    ]
    new_rows = [
        (loop, score(loop, {"repetition": loop_finding()})),
        (cut, score(cut, {"truncation": cut_finding})),
        (leak_new, score(leak_new, {"identity_leak": leak_finding(leak_new["output"], "Qwen")})),
        (fixed_new, score(fixed_new)),
        (clean, score(clean)),
        (wrong, score(wrong, task_correct=False)),
        (hostile, score(hostile, {"language_drift": drift})),
    ]
    base = write_run(root / "base", "base-run", base_rows)
    new = write_run(root / "new", "sft-run <b>", new_rows)
    metric = {"kind": "detector", "suite": "all", "base": 0.0, "new": 1 / 7, "delta": 1 / 7, "ci_low": 0.0,
              "ci_high": 0.43, "p_value": 1.0, "n": 7, "new_failures": 1, "fixes": 0}
    comparison = {
        "base": {"path": str(base), "run": {}}, "new": {"path": str(new), "run": {}},
        "n_common": 7, "n_dropped_base": 0, "n_dropped_new": 0, "warnings": ["a warning <b>not bold</b>"],
        "metrics": [{**metric, "name": "repetition"},
                    {**metric, "name": "task_accuracy", "kind": "task", "base": 1.0, "new": 0.0, "delta": -1.0}],
        "length": {"base": {"mean": 9, "median": 8, "p90": 16}, "new": {"mean": 12, "median": 10, "p90": 64},
                   "ks": 0.29},
        "gates": [{"name": "repetition", "passed": False, "reason": "rate rose 0.0% → 14.3%"},
                  {"name": "identity_leak", "passed": True, "reason": "no new leaks"}],
        "passed": False,
        "flips": {"fixes": [], "new_failures": [
            {"suite": "long_form", "probe_id": "lf-001", "sample": 0, "detectors": ["repetition"]}]},
    }
    (new / "comparison.json").write_text(json.dumps(comparison, ensure_ascii=False), encoding="utf-8")
    return base, new


@pytest.fixture(scope="module")
def report(runs: tuple[Path, Path]) -> Path:
    base, new = runs
    return build_report(new, baseline_dir=base)


# --- without a browser ----------------------------------------------------------------------------


def test_embedded_json_cannot_end_its_script_element() -> None:
    value = {"o": "".join(HOSTILE), "lone": "\ud800x"}
    text = _embed_json(value)
    assert not any(ch in text for ch in "<>&\u2028\u2029")
    assert json.loads(text) == value
    text.encode("utf-8")  # lone surrogates are escaped, so the page stays valid UTF-8


def test_utf16_offsets() -> None:
    assert _utf16("abc", 2) == 2
    assert _utf16("😀a", 1) == 2  # the emoji is two UTF-16 code units
    assert _utf16("你😀a", 3) == 4
    assert _utf16("ab", 99) == 2


def test_report_is_self_contained(report: Path, runs: tuple[Path, Path]) -> None:
    assert report == runs[1] / "report.html"
    page = report.read_text(encoding="utf-8")
    assert page.count("<script") == 3  # two inert JSON blocks and the hashed page script
    assert "script-src 'sha256-" in page and "default-src 'none'" in page
    assert "unsafe-inline" not in page and "unsafe-eval" not in page
    assert "<title>evalgen · sft-run &lt;b&gt; vs base-run</title>" in page
    for hostile in HOSTILE:
        if "<" in hostile:  # markup only ever appears escaped
            assert hostile not in page


def test_comparison_names_the_baseline(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = build_report(runs[1], out_path=tmp_path / "r.html")  # no baseline_dir: comparison.json names it
    page = out.read_text(encoding="utf-8")
    assert '"base":{"name":"base-run"' in page


def test_missing_run_folder_is_a_clear_error(tmp_path: Path) -> None:
    from evalgen.errors import RunFolderError

    with pytest.raises(RunFolderError, match="run.json: not found"):
        build_report(tmp_path)


# --- in Chromium ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Browser:
    if sync_playwright is None or not CHROMIUM.exists():
        pytest.skip("needs playwright and /usr/bin/chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Opened:
    """A page with everything that must stay empty recorded: dialogs, errors, requests."""

    def __init__(self, browser: Browser, path: Path, fragment: str = "") -> None:
        self.page: Page = browser.new_page(viewport={"width": 1440, "height": 900})
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.as_uri()
        self.page.goto(self.url + fragment)
        self.page.wait_for_selector("body[data-ready='1']", state="attached")

    def assert_quiet(self) -> None:
        assert self.dialogs == []
        assert self.errors == []
        assert [u for u in self.requests if u.split("#")[0] != self.url] == []
        assert self.page.evaluate("typeof window.pwned") == "undefined"


def visible_keys(page: Page) -> list[str]:
    return page.eval_on_selector_all("#case-list .row", "rows => rows.map(r => r.dataset.key)")


def span_text(page: Page, side: str, index: int) -> str:
    """The text of evidence span `index` in one side's output, over all marks it covers."""
    return page.evaluate(
        """([side, i]) => [...document.querySelectorAll(`pre.output[data-side="${side}"] mark`)]
            .filter(m => m.dataset.spans.split(' ').includes(String(i))).map(m => m.textContent).join('')""",
        [side, index],
    )


@browser_test
def test_overview_shows_verdict_rates_and_charts(browser: Browser, report: Path) -> None:
    o = Opened(browser, report)
    page = o.page
    assert page.text_content("#verdict").startswith("FAIL")
    assert "1 of 2 gates failed" in page.text_content("#verdict")
    assert "rate rose 0.0% → 14.3%" in page.text_content("#gates")
    assert page.locator("#rates svg rect.bar").count() == 5
    assert page.locator("#lengths svg rect.hist-new").count() == 24
    assert "old_tasks" in page.text_content("#task")
    # Warnings are shown as text, never as markup.
    assert "a warning <b>not bold</b>" in page.text_content(".card.warn")
    assert "sft-run <b>" in page.text_content("#top")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-overview.png"), full_page=True)
    o.assert_quiet()


@browser_test
def test_detector_filter_shows_only_its_cases(browser: Browser, report: Path) -> None:
    o = Opened(browser, report, "#cases")
    page = o.page
    assert sorted(visible_keys(page)) == sorted([
        "long_form/lf-001/0", "long_form/lf-002/0", "identity/id-003/0", "identity/id-004/0",
        "old_tasks/ot-001/0", f"instruction/{HOSTILE_ID}/0"])
    # Triage order: new failures first, then bad in both, then fixed.
    statuses = page.eval_on_selector_all("#case-list .row .status", "s => s.map(x => x.classList[1])")
    assert statuses == ["new"] * 4 + ["both", "fixed"]
    page.click("#det-filter [data-det='identity_leak']")
    assert sorted(visible_keys(page)) == ["identity/id-003/0", "identity/id-004/0"]
    assert page.text_content("#count") == "2 of 7 cases"
    page.select_option("#flip-filter", "fixed")
    assert visible_keys(page) == ["identity/id-004/0"]
    page.select_option("#flip-filter", "new")
    page.click("#det-filter [data-det='any']")
    assert sorted(visible_keys(page)) == sorted(["long_form/lf-001/0", "long_form/lf-002/0",
                                                 "old_tasks/ot-001/0", f"instruction/{HOSTILE_ID}/0"])
    page.select_option("#flip-filter", "all")
    page.fill("#search", "alibaba")
    expect(page.locator("#count")).to_have_text("1 of 7 cases")  # the search is debounced
    assert visible_keys(page) == ["identity/id-003/0"]
    o.assert_quiet()


@browser_test
def test_case_highlights_evidence_after_emoji_and_side_by_side(browser: Browser, report: Path) -> None:
    o = Opened(browser, report, "#cases")
    page = o.page
    page.click("#case-list .row[data-key='long_form/lf-001/0']")
    page.wait_for_selector("pre.output[data-side='new'] mark")
    assert span_text(page, "new", 0) == UNIT
    assert span_text(page, "new", 1) == UNIT * 5
    titles = page.eval_on_selector_all("pre.output[data-side='new'] mark", "ms => ms.map(m => m.title)")
    assert titles == ["repetition: repeated unit", "repetition: loop"]
    # The output is shown whole and verbatim: highlighting only wraps it.
    assert page.text_content("pre.output[data-side='new']") == LOOP_OUTPUT
    # Side by side: the same probe before and after.
    assert page.text_content("pre.output[data-side='base']") == LOOP_PREFIX + "The cat sat on the mat."
    assert page.locator(".sides .side").count() == 2
    assert "stop: length" in page.text_content(".side.new .side-meta")
    assert "64 tokens" in page.text_content(".side.new .side-meta")
    assert "#case=long_form/lf-001/0" in page.url
    # A zero-width span (the truncation point) is a marker at the end, with its label.
    page.click("#case-list .row[data-key='long_form/lf-002/0']")
    cut = page.locator("pre.output[data-side='new'] .cut")
    assert cut.get_attribute("data-label") == "cut here"
    last = page.evaluate("document.querySelector(\"pre.output[data-side='new']\").lastChild.className")
    assert last.startswith("cut")
    o.assert_quiet()


@browser_test
def test_deep_link_opens_the_case(browser: Browser, report: Path) -> None:
    o = Opened(browser, report, "#case=identity/id-003/0")
    page = o.page
    assert page.is_visible("#cases")
    assert "id-003" in page.text_content(".case-head h2")
    assert span_text(page, "new", 0) == "Qwen"
    assert span_text(page, "base", 0) == "Qwen"
    assert page.text_content(".side.new pre.raw-text") == "I am Qwen, a model made by Alibaba Cloud.</s>"
    assert page.get_attribute("#case-list .row.sel", "data-key") == "identity/id-003/0"
    # A clean case is not in the default (bad cases) list: the link widens the filters to show it.
    o2 = Opened(browser, report, "#case=identity/id-005/0")
    assert o2.page.get_attribute("#case-list .row.sel", "data-key") == "identity/id-005/0"
    assert o2.page.text_content("pre.output[data-side='new']") == "I am Aurora."
    # Ids with markup travel through the fragment percent-encoded and come back as plain text.
    o3 = Opened(browser, report, "#case=" + quote(f"instruction/{HOSTILE_ID}/0", safe="/"))
    assert o3.page.text_content(".case-head h2") == f"instruction / {HOSTILE_ID} · sample 0"
    for opened in (o, o2, o3):
        opened.assert_quiet()


@browser_test
def test_hostile_output_is_inert_text(browser: Browser, report: Path) -> None:
    o = Opened(browser, report, "#cases")
    page = o.page
    page.click(f"#case-list .row[data-key='instruction/{HOSTILE_ID}/0']")
    page.wait_for_selector("pre.output[data-side='new']")
    page.wait_for_timeout(300)  # give any injected handler (onerror) time to fire
    assert page.text_content("pre.output[data-side='new']") == HOSTILE_OUTPUT
    assert page.text_content("pre.output[data-side='base']") == HOSTILE_OUTPUT
    assert HOSTILE[2] in page.text_content("pre.prompt-text")
    assert span_text(page, "new", 0) == HOSTILE[0]
    assert page.locator("#case-detail a").count() == 1  # only our own permalink
    assert page.get_attribute("#case-detail a", "href").startswith("#case=")
    assert page.locator("#app img, #app iframe, #app script").count() == 0
    page.click("#top .tab[data-tab='overview']")
    assert "window.pwned=4" in page.text_content("#meta")  # run.json text shown, not run
    o.assert_quiet()


@browser_test
def test_screenshot(browser: Browser, report: Path) -> None:
    o = Opened(browser, report, "#case=long_form/lf-001/0")
    ARTIFACTS.mkdir(exist_ok=True)
    o.page.screenshot(path=str(ARTIFACTS / "report.png"))
    o.assert_quiet()


@browser_test
def test_single_run_without_scores_or_comparison(browser: Browser, tmp_path: Path) -> None:
    rec = record("long_form", "lf-009", "短い答え 🙂 done")
    folder = write_run(tmp_path / "solo", "solo", [(rec, score(rec))])
    (folder / "scores.jsonl").unlink()
    path = build_report(folder, out_path=tmp_path / "solo.html")
    o = Opened(browser, path, "#case=long_form/lf-009/0")
    page = o.page
    assert page.locator("#verdict").count() == 0
    assert page.locator(".sides .side").count() == 1
    assert page.text_content("pre.output[data-side='new']") == "短い答え 🙂 done"
    assert "scores.jsonl: not found" in page.text_content("#overview")
    o.assert_quiet()
