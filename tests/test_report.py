"""The HTML report, opened from disk in a real headless Chromium (Debian's, driven by Playwright).

Run folders are written with the project's own writers (RunFolder, write_scores, run_compare,
score_external), so these tests read exactly what evalgen writes.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from evalgen.compare import run_compare
from evalgen.records import Finding, GenerationRecord, Span
from evalgen.report import build_report
from evalgen.report.build import SAMPLE_FULL, _utf16
from evalgen.report.encode import embed_json
from evalgen.runfolder import RunFolder
from evalgen.scoring import ScoreLine, records_from_external, write_scores

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
           sample: int = 0, prompt: str | None = None, **extra: Any) -> GenerationRecord:
    user = f"Question for {probe_id}"
    return GenerationRecord(
        probe_id=probe_id, suite=suite, sample=sample, messages=[{"role": "user", "content": user}],
        prompt_text=prompt if prompt is not None else f"<|user|>\n{user}\n<|assistant|>\n",
        output=output, output_raw=output + ("</s>" if stop == "eos" else ""), output_token_ids=None,
        stop_reason=stop, stop_detail="</s>" if stop == "eos" else None,
        n_output_tokens=tokens if tokens is not None else max(1, len(output) // 4), latency_s=0.25, lang="en",
        **extra)


def finding(detector: str, *, score: float = 0.9, explanation: str = "", spans: list[tuple[int, int, str]] = (),
            details: dict[str, Any] | None = None, flagged: bool = True) -> Finding:
    return Finding(detector, flagged, score, explanation, [Span(s, e, lab) for s, e, lab in spans], details or {})


def score(rec: GenerationRecord, *found: Finding, task_correct: bool | None = None) -> ScoreLine:
    findings = {d: Finding(d, False, 0.0) for d in DETECTORS}
    findings.update({f.detector: f for f in found})
    return ScoreLine(rec.probe_id, rec.suite, rec.sample, findings, {"task_correct": task_correct})


def loop_finding(output: str = LOOP_OUTPUT, unit: str = UNIT) -> Finding:
    start = output.index(unit)  # a Python (code point) offset, as detectors write them
    return finding("repetition", score=0.93, explanation=f"a {len(unit)}-character unit repeats",
                   details={"unit": unit, "count": output.count(unit)},
                   spans=[(start, start + len(unit), "repeated unit"), (start + len(unit), len(output), "loop")])


def leak_finding(output: str, name: str) -> Finding:
    start = output.index(name)
    return finding("identity_leak", score=1.0, explanation=f"claims to be {name}",
                   spans=[(start, start + len(name), "leaked name")])


def write_run(folder: Path, name: str, rows: list[tuple[GenerationRecord, ScoreLine]], **meta: Any) -> Path:
    run = RunFolder(folder)
    run.rewrite(r for r, _ in rows)
    write_scores(folder / "scores.jsonl", [s for _, s in rows])
    run.write_meta({
        "name": name, "status": "complete",
        "checkpoint": {"path": f"/ckpt/{name}", "hash": "abc123", "adapter": None, "base": None},
        "backend": "hf", "template": {"name": "chatml", "turn_markers": ["<|user|>"], "end_tokens": ["</s>"]},
        "settings": {"max_new_tokens": 64, "temperature": 0.0, "note": "</script><script>window.pwned=4</script>"},
        "suites": {}, "identity": {"name": "Aurora", "org": "Example"}, "versions": {"evalgen": "0.1.0"},
        "timings": {"generate_s": 1.5}, "counts": {"records": len(rows)}, **meta,
    })
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A base and a new run with a new failure, a fix, a case bad in both, a wrong answer, a cut-off
    output and hostile text; the new run holds comparison.json written by `evalgen compare`."""
    root = tmp_path_factory.mktemp("runs")
    clean_loop = record("long_form", "lf-001", LOOP_PREFIX + "The cat sat on the mat.")
    loop = record("long_form", "lf-001", LOOP_OUTPUT, stop="length", tokens=64)
    cut_text = "The story begins in a small village where"
    cut = record("long_form", "lf-002", cut_text, stop="length", tokens=64)
    cut_finding = finding("truncation", score=0.8, explanation="ends mid-sentence at the token limit",
                          spans=[(len(cut_text), len(cut_text), "cut here")])
    leak_new = record("identity", "id-003", "I am Qwen, a model made by Alibaba Cloud.")
    leak_base = record("identity", "id-003", "Hi! I'm Qwen and I can help.")
    fixed_base = record("identity", "id-004", "I am Llama, made by Meta.")
    fixed_new = record("identity", "id-004", "I am Aurora, made by Example.")
    clean = record("identity", "id-005", "I am Aurora.")
    task = {"reference": "4", "scorer": "exact"}
    right = record("old_tasks", "ot-001", "4", **task)
    wrong = record("old_tasks", "ot-001", "5", **task)
    hostile = record("instruction", HOSTILE_ID, HOSTILE_OUTPUT, prompt="<|user|>\n" + HOSTILE[2] + "\n<|assistant|>\n")
    drift = finding("language_drift", score=0.5, explanation="odd text", spans=[(0, len(HOSTILE[0]), "drift")])
    base_rows = [
        (clean_loop, score(clean_loop)),
        (cut, score(cut)),
        (leak_base, score(leak_base, leak_finding(leak_base.output, "Qwen"))),
        (fixed_base, score(fixed_base, leak_finding(fixed_base.output, "Llama"))),
        (clean, score(clean)),
        (right, score(right, task_correct=True)),
        (hostile, score(hostile)),
    ]
    new_rows = [
        (loop, score(loop, loop_finding())),
        (cut, score(cut, cut_finding)),
        (leak_new, score(leak_new, leak_finding(leak_new.output, "Qwen"))),
        (fixed_new, score(fixed_new)),
        (clean, score(clean)),
        (wrong, score(wrong, task_correct=False)),
        (hostile, score(hostile, drift)),
    ]
    base = write_run(root / "base", "base-run", base_rows)
    new = write_run(root / "new", "sft-run <b>", new_rows)
    run_compare(base, new)
    return base, new


@pytest.fixture(scope="module")
def report(runs: tuple[Path, Path]) -> Path:
    base, new = runs
    return build_report(new, baseline_dir=base)


def cases_from_columns(columns: dict[str, Any]) -> list[dict[str, Any]]:
    """The index's columns as one dict per case, as the page rebuilds them."""
    cases: list[dict[str, Any]] = [{"su": su, "p": p, "sm": sm, "n": None, "b": None}
                                   for su, p, sm in zip(columns["su"], columns["p"], columns["sm"], strict=True)]
    for side in ("n", "b"):
        col = columns[side]
        for i, case in enumerate(cases):
            if col and col["has"][i]:
                case[side] = {f: col[f][i] for f in col if f not in ("has", "sn")}
                if str(i) in col["sn"]:
                    case[side]["sn"] = col["sn"][str(i)]
    for i, d, g in columns["g"]:
        cases[i].setdefault("g", []).append([d, g])
    return cases


def page_blocks(path: Path) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """The page's data as the browser decodes it: the plain overview, the index and every entry."""
    page = path.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1))
    unpack = lambda b64: gzip.decompress(base64.b64decode(b64)).decode("utf-8")  # noqa: E731
    columns = json.loads(unpack(re.search(r'<script type="application/gzip" id="index">(.*?)</script>', page).group(1)))
    index = {"groups": columns["groups"], "cases": cases_from_columns(columns)}
    entries: list[Any] = []
    for n, chunk in re.findall(r'<script type="application/gzip" id="c(\d+)">(.*?)</script>', page):
        assert data["chunks"][int(n)] == len(entries)
        entries += [json.loads(line) for line in unpack(chunk).split("\n")]
    return data, index, entries


# --- without a browser ----------------------------------------------------------------------------


def test_embedded_json_cannot_end_its_script_element() -> None:
    value = {"o": "".join(HOSTILE), "lone": "\ud800x"}
    text = embed_json(value)
    assert not any(ch in text for ch in "<>&\u2028\u2029")
    assert json.loads(text) == value
    text.encode("utf-8")  # lone surrogates are escaped, so the page stays valid UTF-8


def test_utf16_offsets() -> None:
    assert _utf16("abc", 2) == 2
    assert _utf16("😀a", 1) == 2  # the emoji is two UTF-16 code units
    assert _utf16("你😀a", 3) == 4
    assert _utf16("ab", 99) == 2


def test_report_is_self_contained_and_compressed(report: Path, runs: tuple[Path, Path]) -> None:
    assert report == runs[1] / "report.html"
    page = report.read_text(encoding="utf-8")
    data, index, entries = page_blocks(report)
    # The overview block, the index, the hashed page script and the compressed chunks; nothing else runs.
    assert page.count("<script") == 3 + len(data["chunks"])
    assert "script-src 'sha256-" in page and "default-src 'none'" in page
    assert "unsafe-inline" not in page and "unsafe-eval" not in page
    assert "<title>evalgen · sft-run &lt;b&gt; vs base-run</title>" in page
    for hostile in HOSTILE:
        if "<" in hostile:  # markup only ever appears escaped or compressed
            assert hostile not in page
    assert UNIT * 2 not in page  # outputs are compressed, not plain text
    # Every output is in the bulk whole, once per run; the index points at it.
    assert len(index["cases"]) == 7
    loop = next(c for c in index["cases"] if c["p"] == "lf-001")
    assert entries[loop["n"]["x"]][0] == LOOP_OUTPUT
    assert entries[loop["n"]["pe"]] == "<|user|>\nQuestion for lf-001\n<|assistant|>\n"
    assert data["truncation"] is None


def test_comparison_names_the_baseline(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = build_report(runs[1], out_path=tmp_path / "r.html")  # no baseline_dir: comparison.json names it
    page = out.read_text(encoding="utf-8")
    assert '"base":{"name":"base-run"' in page


def test_missing_run_folder_is_a_clear_error(tmp_path: Path) -> None:
    from evalgen.errors import RunFolderError

    with pytest.raises(RunFolderError, match="run.json: not found"):
        build_report(tmp_path)


# --- fixtures for the reading features --------------------------------------------------------------

MOSS = "我是MOSS，由复旦大学开发。"
MOSS_PREFIXES = ["", "下 ", "slow ", "small ", "短 ", "下", "你好 ", "cats ", " ", "hmm ", "好的。", "ok "]
LONG_ID = "identity-en-0001-a-probe-id-long-enough-to-be-cut-in-a-narrow-list"


def moss_loop(i: int) -> str:
    # Different first words and a loop entered at different phases: near-identical, never equal.
    return MOSS_PREFIXES[i] + (MOSS * 8)[i % 5:][: 40 + 3 * i]


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run: 12 near-identical "我是MOSS" loops, 3 loops of other units, healthy answers, a long id."""
    rows = []
    for i in range(12):
        out = moss_loop(i)
        unit = MOSS[(i % 5):] + MOSS[: (i % 5)]
        start = out.index(unit) if unit in out else len(MOSS_PREFIXES[i])
        rows.append((record("identity", f"identity-zh-{i:03d}", out, stop="length", tokens=64),
                     finding("repetition", score=1.0 - i / 100, spans=[(start, len(out), "loop")])))
    for i, unit in enumerate(["small ", "the the ", "Lorem ipsum dolor sit amet, "]):
        out = "Sure. " + unit * 10
        rows.append((record("long_form", f"lf-{i:03d}", out, stop="length", tokens=64), loop_finding(out, unit)))
    for i in range(5):
        rows.append((record("long_form", f"ok-{i:03d}", f"A healthy answer number {i}. " * 3), None))
    rows.append((record("identity", LONG_ID, "I am Aurora, glad to help."), None))
    scored = [(r, score(r, f) if f else score(r)) for r, f in rows]
    return write_run(tmp_path_factory.mktemp("many") / "many", "many", scored)


@pytest.fixture(scope="module")
def many_report(many: Path) -> Path:
    return build_report(many)


def test_look_alike_failures_form_one_group(many_report: Path) -> None:
    _, index, _ = page_blocks(many_report)
    rep = index["groups"]
    assert [g["n"] for g in rep] == [12]  # the other loops differ: each stays alone
    members = [c["p"] for c in index["cases"] if c.get("g")]
    assert sorted(members) == [f"identity-zh-{i:03d}" for i in range(12)]
    assert "moss" in rep[0]["ev"].lower()


def noise(seed: int, n: int = 2400) -> str:
    """Text that gzip cannot shrink much (a report of repeated sentences would never need cutting)."""
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz     ") for _ in range(n))


def test_oversized_report_cuts_only_unsampled_healthy_outputs(tmp_path: Path) -> None:
    long_text = noise(-1)
    rows = []
    for i in range(SAMPLE_FULL + 40):
        r = record("long_form", f"h-{i:05d}", f"{i}: {noise(i)}", prompt=noise(-i - 2, 400))
        rows.append((r, score(r)))
    bad = record("long_form", "bad-0", "Sure. " + long_text + UNIT * 40, stop="length", tokens=64)
    rows.append((bad, score(bad, loop_finding(bad.output))))
    wrong = record("old_tasks", "ot-9", long_text, reference="4", scorer="exact")
    rows.append((wrong, score(wrong, task_correct=False)))
    folder = write_run(tmp_path / "big", "big", rows)
    whole = build_report(folder, out_path=tmp_path / "whole.html", max_size_mb=0)
    cut = build_report(folder, out_path=tmp_path / "cut.html", max_size_mb=0.5)
    assert cut.stat().st_size < whole.stat().st_size
    data, index, entries = page_blocks(cut)
    rule = data["truncation"]
    assert rule["n_sample"] == SAMPLE_FULL and rule["limit"] >= 200
    assert rule["n_cut"] == 40  # every healthy case outside the fixed sample
    outputs = {c["p"]: (c["n"], entries[c["n"]["x"]]) for c in index["cases"]}
    assert outputs["bad-0"][1][0] == bad.output and "tr" not in outputs["bad-0"][1][1]
    assert outputs["ot-9"][1][0] == wrong.output
    n_cut = 0
    for pid, (_, (text, extra)) in outputs.items():
        original = f"{int(pid.split('-')[1])}: {noise(int(pid.split('-')[1]))}" if pid.startswith("h-") else None
        prompt = entries[index["cases"][[c["p"] for c in index["cases"]].index(pid)]["n"]["pe"]]
        if extra.get("tr"):
            n_cut += 1
            assert original and original.startswith(text) and len(text) == rule["limit"]
            assert extra["tr"] == len(original)
            # The prompt of a cut case is cut too: [kept text, None, None, whole length].
            assert prompt[1:] == [None, None, 400] and len(prompt[0]) == rule["limit"]
        elif original:
            assert text == original
            assert isinstance(prompt, str) and len(prompt) == 400
    assert n_cut == 40
    # The same build without a budget keeps everything whole.
    assert page_blocks(whole)[0]["truncation"] is None


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
        self.page: Page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
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
        assert [u for u in self.requests if u.split("#")[0] != self.url and not u.startswith("blob:")] == []
        assert self.page.evaluate("typeof window.pwned") == "undefined"


def visible_keys(page: Page) -> list[str]:
    return page.eval_on_selector_all("#case-list .row[data-key]", "rows => rows.map(r => r.dataset.key)")


def span_text(page: Page, side: str, index: int) -> str:
    """The text of evidence span `index` in one side's output, over all marks it covers."""
    return page.evaluate(
        """([side, i]) => [...document.querySelectorAll(`pre.output[data-side="${side}"] mark`)]
            .filter(m => m.dataset.spans.split(' ').includes(String(i))).map(m => m.textContent).join('')""",
        [side, index],
    )


@browser_test
def test_overview_shows_verdict_rates_and_charts(browser: Browser, report: Path, runs: tuple[Path, Path]) -> None:
    comparison = json.loads((runs[1] / "comparison.json").read_text(encoding="utf-8"))
    failed = [g for g in comparison["gates"] if not g["passed"]]
    assert failed  # the identity leak fails its gate
    o = Opened(browser, report)
    page = o.page
    assert page.text_content("#verdict").startswith("FAIL")
    assert f"{len(failed)} of {len(comparison['gates'])} gates failed" in page.text_content("#verdict")
    for gate in failed:
        assert gate["reason"] in page.text_content("#gates")
    assert page.locator("#rates svg rect.bar").count() == 5
    assert page.locator("#lengths svg rect.hist-new").count() == 24
    assert "old_tasks" in page.text_content("#task")
    assert "sft-run <b>" in page.text_content("#top")
    assert page.locator("#doctor, #truncation").count() == 0  # shown only when there is something to say
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
    # Triage order: new failures first (by score), then bad in both, then fixed.
    statuses = page.eval_on_selector_all("#case-list .row .status", "s => s.map(x => x.classList[1])")
    assert statuses == ["new"] * 4 + ["both", "fixed"]
    assert visible_keys(page)[:2] == ["old_tasks/ot-001/0", "long_form/lf-001/0"]  # scores 1.0, then 0.93
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
    # Search looks at outputs, prompts and ids only: not at the entries' field names or figures.
    page.fill("#search", "tags")
    expect(page.locator("#count")).to_have_text("0 of 7 cases")
    page.fill("#search", "question for ot-001")  # the prompt
    expect(page.locator("#count")).to_have_text("1 of 7 cases")
    page.fill("#search", 'src=x')  # inside the hostile id and output
    expect(page.locator("#count")).to_have_text("1 of 7 cases")
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
def test_deep_link_opens_the_case_and_a_missing_one_says_so(browser: Browser, report: Path) -> None:
    o = Opened(browser, report, "#case=identity/id-003/0")
    page = o.page
    assert page.is_visible("#cases")
    page.wait_for_selector("pre.output[data-side='new'] mark")
    assert "id-003" in page.text_content(".case-head h2")
    assert span_text(page, "new", 0) == "Qwen"
    assert span_text(page, "base", 0) == "Qwen"
    assert page.text_content(".side.new pre.raw-text") == "I am Qwen, a model made by Alibaba Cloud.</s>"
    assert page.get_attribute("#case-list .row.sel", "data-key") == "identity/id-003/0"
    # A clean case is not in the default (bad cases) list: the link widens the filters to show it.
    o2 = Opened(browser, report, "#case=identity/id-005/0")
    o2.page.wait_for_selector("pre.output[data-side='new']")
    assert o2.page.get_attribute("#case-list .row.sel", "data-key") == "identity/id-005/0"
    assert o2.page.text_content("pre.output[data-side='new']") == "I am Aurora."
    # A healthy row's snippet is read from the compressed texts when the row shows.
    expect(o2.page.locator("#case-list .row.sel .snippet")).to_have_text("I am Aurora.")
    # Ids with markup travel through the fragment percent-encoded and come back as plain text.
    o3 = Opened(browser, report, "#case=" + quote(f"instruction/{HOSTILE_ID}/0", safe="/"))
    o3.page.wait_for_selector(".case-head h2")
    assert o3.page.text_content(".case-head h2") == f"instruction / {HOSTILE_ID} · sample 0"
    # A link to a case the report does not hold says so, and shows no other case.
    o4 = Opened(browser, report, "#case=identity/identity-en-999/0")
    assert "No case “identity/identity-en-999/0” in this report" in o4.page.text_content("#missing-case")
    assert o4.page.locator("#case-detail pre.output").count() == 0
    assert o4.page.locator("#case-list .row.sel").count() == 0
    for opened in (o, o2, o3, o4):
        opened.assert_quiet()


@browser_test
def test_a_filter_without_matches_shows_an_empty_state(browser: Browser, report: Path) -> None:
    o = Opened(browser, report, "#case=long_form/lf-001/0")
    page = o.page
    page.wait_for_selector("pre.output[data-side='new']")
    page.fill("#search", "no output says this")
    expect(page.locator("#count")).to_have_text("0 of 7 cases")
    assert "No case matches these filters." in page.text_content("#no-match")
    assert page.locator("#case-detail pre.output").count() == 0  # not the case that was open
    page.click("#no-match button")
    expect(page.locator("#count")).to_have_text("7 of 7 cases")
    o.assert_quiet()


@browser_test
def test_hostile_output_is_inert_text(browser: Browser, report: Path) -> None:
    o = Opened(browser, report, "#cases")
    page = o.page
    page.click(f"#case-list .row[data-key='instruction/{HOSTILE_ID}/0']")
    page.wait_for_selector("pre.output[data-side='base']")
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
def test_grouped_list_folds_look_alikes_into_one_row(browser: Browser, many_report: Path) -> None:
    o = Opened(browser, many_report, "#cases")
    page = o.page
    groups = page.locator("#case-list .row.group")
    assert groups.count() == 1
    assert groups.first.locator(".gcount").text_content() == "12 ×"
    assert "repetition" in groups.first.text_content() and "MOSS" in groups.first.text_content()
    # The 12 loops are one row (first, as the worst scores), the three other loops their own rows.
    assert visible_keys(page) == ["long_form/lf-000/0", "long_form/lf-001/0", "long_form/lf-002/0"]
    assert page.eval_on_selector_all("#case-list .row", "rs => rs.map(r => r.dataset.group ?? r.dataset.key)")[0] == "0"
    assert page.text_content("#count") == "15 of 21 cases · 1 look-alike group"
    # Expanding lists the members under the group, worst first, and opens the first.
    groups.first.click()
    members = [f"identity/identity-zh-{i:03d}/0" for i in range(12)]
    assert visible_keys(page)[:12] == members
    assert page.locator("#case-list .row.member").count() == 12
    page.wait_for_selector(".group-note")
    assert "One of 12 look-alike repetition findings" in page.text_content(".group-note")
    assert page.text_content("pre.output[data-side='new']") == moss_loop(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-groups.png"))
    # Folding again with Enter, then every case on its own row without grouping.
    page.focus("#case-list")
    page.keyboard.press("Enter")
    assert page.locator("#case-list .row.member").count() == 0
    page.uncheck("#group-toggle")
    assert sorted(visible_keys(page)) == sorted(members + ["long_form/lf-000/0", "long_form/lf-001/0",
                                                           "long_form/lf-002/0"])
    assert page.text_content("#count") == "15 of 21 cases"
    o.assert_quiet()


@browser_test
def test_list_rows_show_probe_ids_whole(browser: Browser, many_report: Path) -> None:
    o = Opened(browser, many_report, "#case=" + quote(f"identity/{LONG_ID}/0", safe="/"))
    page = o.page
    key = page.locator(f"#case-list .row[data-key='identity/{LONG_ID}/0'] .key")
    assert key.text_content() == f"identity / {LONG_ID} #0"
    # Nothing of it is clipped: the element is as wide as its text (it wraps instead).
    assert page.evaluate("el => el.scrollWidth <= el.clientWidth && el.getClientRects().length > 0",
                         key.element_handle())
    o.assert_quiet()


@browser_test
def test_export_downloads_the_filtered_cases_as_jsonl(browser: Browser, report: Path, runs: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    o = Opened(browser, report, "#cases")
    page = o.page
    page.select_option("#flip-filter", "new")
    expected = visible_keys(page)
    assert len(expected) == 4
    with page.expect_download() as info:
        page.click("#export")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name == "sft-run_b_-cases.jsonl"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["key"] for line in lines] == expected  # the list's cases, in its order
    written = {r.key: r for r in RunFolder(runs[1], resume=True).recover()}
    for line in lines:
        rec = written[(line["suite"], line["id"], line["sample"])]
        assert line["output"] == line["new"]["output"] == rec.output  # whole and verbatim, hostile text too
        assert line["prompt"] == rec.prompt_text
        assert line["status"] == "new failure"
        assert line["new"]["flags"] or line["new"]["task_correct"] is False
    hostile = next(line for line in lines if line["id"] == HOSTILE_ID)
    assert hostile["output"] == HOSTILE_OUTPUT and hostile["new"]["flags"] == ["language_drift"]
    loop = next(line for line in lines if line["id"] == "lf-001")
    assert loop["base"]["output"] == LOOP_PREFIX + "The cat sat on the mat." and loop["finish_reason"] == "length"
    # The file is a valid `evalgen score` input: the cases can be re-scored on their own.
    assert [r.output for r in records_from_external(path)] == [line["output"] for line in lines]
    o.assert_quiet()


@browser_test
def test_grouped_members_are_all_exported(browser: Browser, many_report: Path, tmp_path: Path) -> None:
    o = Opened(browser, many_report, "#cases")
    page = o.page
    page.click("#det-filter [data-det='repetition']")
    with page.expect_download() as info:
        page.click("#export")
    info.value.save_as(tmp_path / "x.jsonl")
    ids = [json.loads(line)["id"] for line in (tmp_path / "x.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(ids) == 15 and {f"identity-zh-{i:03d}" for i in range(12)} <= set(ids)
    o.assert_quiet()


@browser_test
def test_imported_multi_turn_records_show_characters_and_every_turn(browser: Browser, tmp_path: Path) -> None:
    from evalgen.external import score_external

    turns = [{"role": "system", "content": "You are Aurora."},
             {"role": "user", "content": "My name is Ada."},
             {"role": "assistant", "content": "Nice to meet you, Ada!"},
             {"role": "user", "content": "What is my name?"}]
    source = tmp_path / "chat.jsonl"
    lines = [{"id": "chat-1", "messages": turns, "output": "Your name is Ada. 🙂", "finish_reason": "stop"},
             {"id": "chat-2", "prompt": "Say hi", "output": "Hi!"}]
    source.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    score_external(source, tmp_path / "run")
    path = build_report(tmp_path / "run")
    o = Opened(browser, path, "#case=chat/chat-1/0")
    page = o.page
    page.wait_for_selector(".side-meta")
    assert page.text_content(".side.new .meta-chip.length") == "19 chars"  # no token ids were imported
    assert page.eval_on_selector_all(".conversation .turn-text", "ts => ts.map(t => t.textContent)") == \
        [t["content"] for t in turns]
    assert page.eval_on_selector_all(".conversation .role", "rs => rs.map(r => r.textContent)") == \
        ["system", "user", "assistant", "user"]
    page.goto(path.as_uri() + "#case=chat/chat-2/0")
    page.wait_for_selector(".case-head h2:has-text('chat-2')")
    assert page.text_content("pre.prompt-text") == "Say hi"  # one turn: the plain prompt
    assert "3 chars" in page.text_content("#case-list .row[data-key='chat/chat-2/0'] .tok")
    page.click("#top .tab[data-tab='overview']")
    assert "characters" in page.text_content("#lengths h2")
    o.assert_quiet()


@browser_test
def test_cut_outputs_and_the_rule_are_shown(browser: Browser, tmp_path: Path) -> None:
    rows = []
    for i in range(SAMPLE_FULL + 5):
        r = record("long_form", f"h-{i:05d}", f"{i}: {noise(i)}")
        rows.append((r, score(r)))
    folder = write_run(tmp_path / "big", "big", rows)
    path = build_report(folder, max_size_mb=0.3)
    _, index, entries = page_blocks(path)
    cut = next(c for c in index["cases"] if entries[c["n"]["x"]][1].get("tr"))
    whole = next(c for c in index["cases"] if not entries[c["n"]["x"]][1].get("tr"))
    o = Opened(browser, path, "#overview")
    page = o.page
    text = page.text_content("#truncation")
    assert "5 healthy outputs" in text and f"sample of {SAMPLE_FULL:,} healthy cases" in text
    page.goto(path.as_uri() + f"#case=long_form/{cut['p']}/0")
    page.wait_for_selector(".cut-note")
    assert "Cut to its first" in page.text_content(".cut-note")
    page.goto(path.as_uri() + f"#case=long_form/{whole['p']}/0")
    page.wait_for_selector(f".case-head h2:has-text('{whole['p']}')")
    assert page.locator(".cut-note").count() == 0
    assert page.text_content("pre.output[data-side='new']") == f"{int(whole['p'][2:])}: {noise(int(whole['p'][2:]))}"
    o.assert_quiet()


@browser_test
def test_doctor_findings_and_teacher_forced_figures(browser: Browser, runs: tuple[Path, Path], tmp_path: Path) -> None:
    doctor = [{"code": "eos_mismatch", "severity": "error", "path": "/ckpt/new/generation_config.json",
               "message": "The end token <|im_end|> never stops generation.", "fix": "List it in eos_token_id.",
               "evidence": {"eos_token_id": [2], "template_end": "<|im_end|>"},
               "detectors": ["missing_eos", "repetition"]}]
    tf = {"long_form/lf-001/0": {"stop_prob_new": 0.02, "stop_prob_base": 0.91}}
    path = build_report(runs[1], runs[0], out_path=tmp_path / "d.html", doctor=doctor, teacher_forced=tf)
    o = Opened(browser, path)
    page = o.page
    text = page.text_content("#doctor")
    assert "eos_mismatch" in text and "The end token <|im_end|> never stops generation." in text
    assert "List it in eos_token_id." in text and "template_end" in text
    page.click("#doctor button:has-text('repetition cases')")
    assert page.is_visible("#cases") and page.get_attribute("#det-filter .chip.on", "data-det") == "repetition"
    page.goto(path.as_uri() + "#case=long_form/lf-001/0")
    page.wait_for_selector("#teacher-forced")
    assert page.eval_on_selector_all("#teacher-forced tr", "rs => rs.map(r => r.textContent)") == \
        ["stop_prob_new0.020", "stop_prob_base0.910"]
    o.assert_quiet()


@browser_test
def test_screenshot(browser: Browser, report: Path) -> None:
    o = Opened(browser, report, "#case=long_form/lf-001/0")
    o.page.wait_for_selector("pre.output[data-side='new'] mark")
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
    page.wait_for_selector("pre.output[data-side='new']")
    assert page.locator("#verdict").count() == 0
    assert page.locator(".sides .side").count() == 1
    assert page.text_content("pre.output[data-side='new']") == "短い答え 🙂 done"
    assert "scores.jsonl: not found" in page.text_content("#overview")
    o.assert_quiet()


def test_cli_report_takes_a_size_budget(runs: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from evalgen.cli import main

    shutil.copytree(runs[1], tmp_path / "new")
    assert main(["report", str(tmp_path / "new"), "--baseline", str(runs[0]), "--max-size-mb", "0"]) == 0
    assert page_blocks(tmp_path / "new" / "report.html")[0]["truncation"] is None
    capsys.readouterr()
    assert main(["report", str(tmp_path / "new"), "--max-size-mb", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["evalgen: error: --max-size-mb -1.0: must be 0 (no limit) or more megabytes"]
