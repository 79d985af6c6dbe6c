"""The nightly's page in a real browser (headless Chromium through Playwright): the site published from the committed
AMX nights (docs/nights-amx/history), the other committed runners' nights and generated ones, opened from disk.
Skipped, with the reason, where the playwright package or a chromium binary is missing (`apt-get install -y
chromium`; Playwright's own browser download is not needed). Screenshots go to out/site/ (gitignored); the 1,000-night
page's load time is written to out/site/timing.json, measured, not asserted (docs/history.md quotes it).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.site_nights import FINGERPRINT, write_nights

ROOT = Path(__file__).resolve().parent.parent
AMX = "cpu-intel-r-xeon-r-processor-amx-2c-21bda8"
SCREENSHOTS = ROOT / "out" / "site"
CHROMIUM = next(filter(None, (os.environ.get("FINETUNE_CHROMIUM"), shutil.which("chromium"),
                              shutil.which("chromium-browser"), shutil.which("google-chrome"))), None)

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the playwright package is not installed: pip install -e '.[site]'")
if CHROMIUM is None:
    pytest.skip("no chromium binary on PATH: apt-get install -y chromium (or set FINETUNE_CHROMIUM)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Three committed runners and a generated one (40 nights, 12% slower from night 31, unjudged: red)."""
    history = tmp_path_factory.mktemp("history")
    for name in ("nights-amx", "nights-avx2", "nights-avx512bf16"):
        shutil.copytree(ROOT / "docs" / name / "history", history, dirs_exist_ok=True)
    write_nights(history, 40, slower_from=30)
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "bench.history", "publish", str(history), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def opened(browser, path: Path, errors: list | None = None):
    """A page of the site opened from disk, its charts drawn (body[data-ready]); console errors collected."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if errors is not None and m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)) if errors is not None else None)
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready]", state="attached", timeout=30_000)
    return page


def test_every_page_renders_its_charts_with_no_console_error(site, browser):
    for path in [site / "index.html", site / "hardware.html", site / "report" / "index.html",
                 *sorted((site / "runners").glob("*.html"))]:
        errors: list = []
        page = opened(browser, path, errors)
        assert page.get_attribute("body", "data-ready") == "true" and errors == [], (path.name, errors)
        charts = page.locator("div.chart")
        for i in range(charts.count()):
            assert charts.nth(i).locator("svg.main-svg").count() >= 1, (path.name, i)  # Plotly drew it
            assert charts.nth(i).locator(".scatterlayer .trace").count() >= 1
        if "runners" in path.parts:
            assert charts.count() >= 3, path.name
        page.close()


def svg_text(page, selector: str) -> str:
    """The text Plotly drew under `selector` (SVG: no innerText), its lines apart."""
    return page.eval_on_selector(selector, "n => Array.from(n.querySelectorAll('text')).map(t => "
                                           "t.querySelectorAll('tspan.line').length ? Array.from(t.querySelectorAll("
                                           "'tspan.line')).map(l => l.textContent).join('\\n') : t.textContent)"
                                           ".join('\\n')")


def point_position(page, chart_id: str, night: int) -> tuple[float, float]:
    """Where night `night`'s point of the series is on screen (Plotly's own axes convert it)."""
    return tuple(page.evaluate(
        """([id, night]) => {
             const gd = document.getElementById(id), box = gd.getBoundingClientRect();
             const trace = gd.data.findIndex(t => t.hovertemplate && t.hovertemplate.startsWith("night"));
             const i = gd.data[trace].x.indexOf(night), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
             return [box.left + xa._offset + xa.d2p(night), box.top + ya._offset + ya.d2p(gd.data[trace].y[i])];
           }""", [chart_id, night]))


def test_hovering_night_5_of_the_amx_ratio_shows_its_revision_and_ratio(site, browser):
    page = opened(browser, site / "runners" / f"{AMX}.html")
    chart_id = page.locator("div.chart[id*='step-vs-reference']").get_attribute("id")
    page.locator(f"#{chart_id}").scroll_into_view_if_needed()
    x, y = point_position(page, chart_id, 5)
    page.mouse.move(x, y)
    page.locator(f"#{chart_id} .hoverlayer text").first.wait_for(timeout=5_000)
    text = svg_text(page, f"#{chart_id} .hoverlayer")
    assert "night 5: 20261205T093730Z__0a0bf93e55b0" in text and "revision 0a0bf93e55b0" in text
    assert "1.082 x" in text and "[1.074, 1.091]" in text  # the paired ratio and the interval the night recorded
    assert "2026-12-05 09:37:30 UTC" in text
    page.screenshot(path=str(SCREENSHOTS / "amx-hover.png"), full_page=False)
    page.close()


def test_the_change_at_night_5_is_marked_with_its_bisected_commit(site, browser):
    page = opened(browser, site / "runners" / f"{AMX}.html")
    for figure in ("step-time-ms", "step-vs-reference"):
        notes = page.eval_on_selector_all(f"div.chart[id$='{figure}'] .annotation-text",
                                          "nodes => nodes.map(n => n.textContent)")
        (at_5,) = [n for n in notes if "1.07" in n and "worse" in n]
        assert "A/B SLOWER: ratio 1.084" in at_5 and "bisected to 0d6f09e" in at_5
    listed = page.locator("li.change.worse[data-night='5']").first.inner_text()
    assert "0d6f09e" in listed and "revisions b0d371eb1430 .. 0a0bf93e55b0" in listed
    shapes = page.evaluate("Array.from(document.querySelectorAll('div.chart'))"
                           ".map(d => d.layout.shapes.map(s => s.x0))")
    assert [4.5] in shapes and [4.5, 8.5] in shapes  # the step, and the ratio's slowdown and its revert
    page.screenshot(path=str(SCREENSHOTS / "amx.png"), full_page=True)
    page.close()


def test_the_index_shows_each_runners_status_and_links_its_page(site, browser):
    page = opened(browser, site / "index.html")
    states = {row.get_attribute("data-fingerprint"): row.locator("td.state .status").inner_text()
              for row in page.locator("tr[data-fingerprint]").all()}
    assert states == {AMX: "green", "cpu-amd-epyc-avx2-2c-682825": "green",
                      "cpu-amd-epyc-avx512bf16-2c-2c9d86": "not yet gating", FINGERPRINT: "red"}
    red = page.locator(f"tr[data-fingerprint='{FINGERPRINT}'] td.state").inner_text()
    assert "NEW change at" in red and "needs" not in red
    assert "needs 2 more night(s)" in page.locator("tr[data-fingerprint$='2c9d86'] td.state").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)
    page.click(f"a[href='runners/{AMX}.html']")
    page.wait_for_selector("body[data-ready='true']", state="attached")
    assert page.locator("h1").inner_text() == AMX
    page.close()


def test_the_hardware_table_sorts_by_the_clicked_header(site, browser):
    page = opened(browser, site / "hardware.html")
    column = page.locator("#hardware thead th").all_inner_texts().index("step ms/step")

    def steps() -> list[float]:
        return [float(v) for v in page.locator(f"#hardware tbody tr td:nth-child({column + 1})").all_inner_texts()]

    assert len(steps()) == 4
    page.locator("#hardware thead th").nth(column).click()
    assert steps() == sorted(steps())
    page.locator("#hardware thead th").nth(column).click()
    assert steps() == sorted(steps(), reverse=True) and steps() != sorted(steps())
    assert page.locator("#hardware thead th").nth(column).get_attribute("aria-sort") == "descending"
    page.screenshot(path=str(SCREENSHOTS / "hardware.png"), full_page=True)
    page.close()


def test_the_1000_night_page_is_measured(tmp_path, browser):
    """Publishing 1,000 nights and the page's time to interactive (its charts drawn), written to out/site/timing.json
    for docs/history.md: a measurement, not a gate (a loaded CI machine must not fail it)."""
    write_nights(tmp_path / "h", 1000, slower_from=500)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench.history", "publish", str(tmp_path / "h"), "--out",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    published = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    loads = []
    for _ in range(3):
        errors: list = []
        page = opened(browser, tmp_path / "site" / "runners" / f"{FINGERPRINT}.html", errors)
        loads.append(page.evaluate("performance.now()") / 1000)
        assert errors == [] and page.locator("div.chart svg.main-svg").count() >= 7
        page.close()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "timing.json").write_text(json.dumps(
        {"publish_s": round(published, 2), "interactive_s": [round(s, 2) for s in loads],
         "median_interactive_s": round(statistics.median(loads), 2)}, indent=1) + "\n")
