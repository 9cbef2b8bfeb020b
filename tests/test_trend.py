"""The trend report (trend.html), opened from disk in Debian's headless Chromium via Playwright: small
multiples with intervals and gate lines, a click on a point opens that step's case report, hostile run
names stay text, nothing is fetched. Run folders come from evalgen's own writer (score_external)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from history_fixtures import write_step, write_training_runs
from test_report import CHROMIUM, CHROMIUM_ARGS, browser_test

from evalgen.history import build_history
from evalgen.report import build_report
from evalgen.report.trend import build_trend_report

try:
    from playwright.sync_api import Browser, sync_playwright
except ImportError:
    sync_playwright = None


@pytest.fixture(scope="module")
def trend(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("trend") / "ev"
    write_training_runs(out, {100: ("healthy", 2), 200: ("healthy", 0), 300: ("broken", 0)})
    write_step(out / "step-000400", "broken")
    for step in (100, 200, 300, 400):
        build_report(out / f"step-{step:06d}")
    history = build_history([out])
    return build_trend_report(history, out / "trend.html"), out


@pytest.fixture(scope="module")
def browser() -> Browser:
    if sync_playwright is None or not CHROMIUM.exists():
        pytest.skip("needs playwright and /usr/bin/chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def page_data(path: Path) -> dict:
    page = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1))


def test_page_is_self_contained_with_a_pinned_csp(trend: tuple[Path, Path]) -> None:
    page = trend[0].read_text(encoding="utf-8")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp
    assert not re.search(r"""(src|href)=["']https?:""", page)
    data = page_data(trend[0])
    assert [s["href"] for s in data["steps"]] == [f"step-{s:06d}/report.html" for s in (100, 200, 300, 400)]
    assert data["first_failing_step"] == 300


@browser_test
def test_charts_intervals_gates_and_click_through(browser: Browser, trend: tuple[Path, Path]) -> None:
    path, out = trend
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", state="attached")
    assert errors == [] and [u for u in requests if u != path.as_uri()] == []
    assert page.text_content("#first-failing").startswith("first failing step: 300")
    assert "newest step 400 fails" in page.text_content("#verdict")
    charts = page.eval_on_selector_all("#metrics section", "els => els.map(e => e.dataset.metric)")
    assert {"repetition", "missing_eos", "identity_leak", "task_accuracy"} <= set(charts)
    rep = "section[data-metric=repetition]"
    assert page.locator(f"{rep} .pt").count() == 4
    assert page.locator(f"{rep} line.band").count() == 4  # one interval bar per step
    gate = page.get_attribute(f"{rep} line[data-role=gate]", "data-value")
    history = build_history([out])
    assert float(gate) == pytest.approx(history.thresholds["repetition"], abs=1e-4)
    assert page.locator(f"{rep} .pt.failed").count() == 2  # 300 and 400 fail the repetition gate
    failed_steps = page.eval_on_selector_all(f"{rep} .pt.failed", "els => els.map(e => e.dataset.step)")
    assert failed_steps == ["300", "400"]
    assert page.locator(f"{rep} .pt.best").get_attribute("data-step") == "200"
    page.click(f"{rep} a.pt[data-step='300']")
    page.wait_for_url("**/step-000300/report.html")
    page.wait_for_selector("body[data-ready='1']", state="attached")
    page.close()


@browser_test
def test_hostile_run_names_stay_text(browser: Browser, tmp_path: Path) -> None:
    name = "r-<img src=x onerror=window.pwned=1>"
    a = write_step(tmp_path / name, "healthy")
    b = write_step(tmp_path / "x<svg onload=window.pwned=2>", "broken")
    path = build_trend_report(build_history([a, b]), tmp_path / "trend.html")
    page = browser.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", state="attached")
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("img").count() == 0
    assert name in page.text_content("#steps")
    page.close()


@browser_test
def test_training_curves_share_the_step_axis_with_doctor_marks(browser: Browser, trend: tuple[Path, Path],
                                                               tmp_path: Path) -> None:
    from doctor_fixtures import train_rows, write_trainer_state

    _, out = trend
    loss = [2.0 - i / 200 for i in range(1, 251)] + [0.0] * 150
    write_trainer_state(tmp_path / "trainer_state.json", train_rows(loss, lr=2e-4))
    path = build_trend_report(build_history([out], trainer_state=tmp_path / "trainer_state.json"),
                              tmp_path / "trend.html")
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", state="attached")
    charts = page.eval_on_selector_all("#training section", "els => els.map(e => e.dataset.metric)")
    assert charts == ["train-loss", "train-learning_rate", "train-grad_norm"]
    # the same x position for step 300 in a metric chart and in the loss chart: one step axis
    point_x = page.get_attribute("section[data-metric=repetition] .pt[data-step='300'] circle", "cx")
    mark_x = page.get_attribute("section[data-metric=train-loss] line[data-code=loss_zero]", "x1")
    onset_x = page.get_attribute("section[data-metric=train-loss] line[data-role=onset]", "x1")
    assert float(onset_x) == pytest.approx(float(point_x))
    assert float(mark_x) < float(point_x)  # the loss hit 0 at step 251, before the failing step 300
    assert "loss_zero (step 251)" in page.text_content("#training-findings")
    page.close()
