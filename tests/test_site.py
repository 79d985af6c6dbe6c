"""The nightly's page (bench/history/site/), without a browser: the data its pages are built from (each runner's
status and gates, the change marks and their verdicts, points' intervals, unreadable nights, the hardware rows) and
the command's bad input (an empty history, a missing folder, plotly absent). tests/test_site_browser.py opens it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.history import nights
from bench.history.site import hardware_table, html_pages, runner, status
from tests.site_nights import FINGERPRINT, revision, write_nights

ROOT = Path(__file__).resolve().parent.parent
AMX_HISTORY = ROOT / "docs" / "nights-amx" / "history"
AMX = "cpu-intel-r-xeon-r-processor-amx-2c-21bda8"
AVX512 = "cpu-amd-epyc-avx512bf16-2c-2c9d86"


def publish(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.history", "publish", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def chart(r: runner.Runner, figure: str) -> runner.Chart:
    (found,) = [c for c in r.charts if c.figure == figure]
    return found


# --- what the pages show -------------------------------------------------------------------------------------------
def test_the_amx_runner_marks_its_change_at_night_5_with_the_ab_verdict_and_the_bisected_commit():
    amx = runner.load(AMX_HISTORY, AMX)
    ratio = chart(amx, nights.REFERENCE_FIGURE)
    worse, better = ratio.marks
    assert (worse.night, worse.worse, better.night, better.worse) == (4, True, 8, False)
    assert amx.nights[worse.night].revision.startswith("0a0bf93") and worse.revisions[0].startswith("b0d371e")
    assert worse.judged and any(v.startswith("A/B SLOWER") for v in worse.verdicts)
    assert "bisected to 0d6f09e" in worse.verdicts[-1] and not better.verdicts and not better.judged
    assert worse.low > 1.0 and better.high < 1.0  # the sizes' intervals, as the change detection gave them
    step = chart(amx, "step_time_ms")
    assert [m.night for m in step.marks] == [4] and step.marks[0].judged
    assert chart(amx, "peak_rss_mb").marks == []


def test_each_point_carries_the_interval_its_night_recorded():
    amx = runner.load(AMX_HISTORY, AMX)
    ratio = chart(amx, nights.REFERENCE_FIGURE)
    reference = next(r for r in amx.nights[4].records if getattr(r, "reference", None)).reference
    assert (ratio.values[4], ratio.lows[4], ratio.highs[4]) == (reference["ratio"], reference["low"],
                                                                 reference["high"])
    step = chart(amx, "step_time_ms")
    assert all(low < value < high for low, value, high in zip(step.lows, step.values, step.highs))
    assert all(h / lo < 1.2 for lo, h in zip(step.lows, step.highs))  # a 90% interval of 3 processes, not a range
    assert set(chart(amx, "peak_rss_mb").lows) == {None}


def test_a_runner_with_an_unjudged_slowdown_is_red_until_a_verdict_judges_it(tmp_path):
    write_nights(tmp_path, 10, slower_from=5)
    r = runner.load(tmp_path, FINGERPRINT)
    st = status.status(r, tmp_path)
    assert st.state == status.RED and len(st.why) == 2  # the step time and its ratio to the reference
    assert all("NEW change at" in why and r.nights[5].name in why for why in st.why)
    assert all("bench.history confirm" in how for how in st.how)
    step = chart(r, "step_time_ms")
    ack = {"series": step.name, "key": step.key, "figure": "step_time_ms", "by": "a", "reason": "expected"}
    nights.write_verdict(tmp_path, FINGERPRINT, r.nights[5].name, "ack", ack)
    st = status.status(runner.load(tmp_path, FINGERPRINT), tmp_path)
    assert st.state == status.RED and len(st.why) == 1 and nights.REFERENCE_FIGURE in st.why[0]  # one series only
    ab = {"described": "SLOWER", "verdict": {"slower": True}}
    nights.write_verdict(tmp_path, FINGERPRINT, r.nights[5].name, "ab", ab)
    st = status.status(runner.load(tmp_path, FINGERPRINT), tmp_path)
    assert st.state == status.GREEN and all(g.live for g in st.gates)


def test_the_latest_nights_failed_gate_or_test_makes_a_runner_red(tmp_path):
    write_nights(tmp_path / "gate", 8, failed_gate_at=7)
    st = status.status(runner.load(tmp_path / "gate", FINGERPRINT), tmp_path / "gate")
    assert st.state == status.RED and st.why == ("the latest night's gate failed: "
                                                 "step_time/mrpc/cpu/batch=8/blocks=3x5x16 step_time_ms",)
    write_nights(tmp_path / "tests", 8, failed_tests_at=7)
    st = status.status(runner.load(tmp_path / "tests", FINGERPRINT), tmp_path / "tests")
    assert st.state == status.RED and st.why == ("the latest night had 1 failed test(s) of 3",)
    write_nights(tmp_path / "earlier", 8, failed_tests_at=6)  # an earlier night's failure: the latest is what counts
    assert status.status(runner.load(tmp_path / "earlier", FINGERPRINT), tmp_path / "earlier").state == status.GREEN


def test_a_new_runner_is_not_yet_gating_and_says_how_many_nights_it_needs(tmp_path):
    avx512 = runner.load(ROOT / "docs" / "nights-avx512bf16" / "history", AVX512)
    st = status.status(avx512, ROOT / "docs" / "nights-avx512bf16" / "history")
    assert st.state == status.WAITING and st.needs == 2 and "needs 2 more night(s)" in st.why[0]
    write_nights(tmp_path, 3)
    st = status.status(runner.load(tmp_path, FINGERPRINT), tmp_path)  # the step gate is live at 3, changes at 7
    assert st.state == status.GREEN
    assert [(g.live, g.needs) for g in st.gates] == [(True, 0), (False, 4)]


def test_a_truncated_night_is_listed_as_unreadable_in_one_line_and_the_series_go_on(tmp_path):
    paths = write_nights(tmp_path / "h", 9)
    paths[3].write_text(paths[3].read_text()[:500])
    r = runner.load(tmp_path / "h", FINGERPRINT)
    assert len(r.nights) == 8 and len(chart(r, "step_time_ms").values) == 8
    (line,) = r.unreadable
    assert line.startswith(f"{FINGERPRINT}/{paths[3].name}: ") and "truncated" in line and "\n" not in line
    page = html_pages.runner_page(r, status.status(r, tmp_path / "h"))
    assert page.count('class="unreadable"') == 1 and paths[3].name in page
    done = publish(tmp_path / "h", "--out", tmp_path / "site")
    assert done.returncode == 0 and done.stderr.count(paths[3].name) == 1, done.stderr


def test_the_hardware_comparison_has_each_runners_latest_step_with_its_interval_mfu_and_fine_tune(tmp_path):
    write_nights(tmp_path, 5)
    generated = hardware_table.rows_of(runner.load(tmp_path, FINGERPRINT))
    (row,) = generated
    assert (row.engine, row.device, row.precision) == ("tf-keras", "cpu", "fp32")
    assert row.step_low < row.step_ms < row.step_high and row.step_night.endswith(revision(4)[:12])
    assert row.mfu == pytest.approx(4.2e10 / 0.29 / 350e9, rel=0.02) and row.fit_ms and row.fit_s == 135.0
    assert row.fit_night == row.step_night  # the latest fine-tune, not the first
    amx = hardware_table.rows_of(runner.load(AMX_HISTORY, AMX))
    assert len(amx) == 1 and amx[0].step_night.endswith("c6174dbe90f2") and amx[0].fit_ms is None


# --- the command ---------------------------------------------------------------------------------------------------
def test_publish_writes_every_page_and_one_copy_of_plotly(tmp_path):
    history = tmp_path / "h"
    shutil.copytree(AMX_HISTORY, history)
    write_nights(history, 12, slower_from=6)
    done = publish(history, "--out", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    site = tmp_path / "site"
    assert (site / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert pages == ["hardware.html", "index.html", "report/index.html", f"runners/{FINGERPRINT}.html",
                     f"runners/{AMX}.html"]
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert "http://" not in text and "https://" not in text and "cdn" not in text.lower()  # nothing fetched
    index = (site / "index.html").read_text()
    assert index.count('<span class="status green">') == 1 and index.count('<span class="status red">') == 1
    assert f"{AMX}: 11 night(s), green" in done.stdout and f"{FINGERPRINT}: 12 night(s), red" in done.stdout


def test_an_empty_history_gives_a_page_that_says_so_and_exit_1_in_one_line(tmp_path):
    (tmp_path / "h").mkdir()
    done = publish(tmp_path / "h", "--out", tmp_path / "site")
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and "no nights yet" in done.stderr
    assert "No nights yet" in (tmp_path / "site" / "index.html").read_text()
    (tmp_path / "h" / FINGERPRINT).mkdir()
    (tmp_path / "h" / FINGERPRINT / "20260101T000000Z__abc.json").write_text('{"benchmarks": [')
    done = publish(tmp_path / "h", "--out", tmp_path / "site")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no readable nights (1 unreadable)" in (tmp_path / "site" / "index.html").read_text()


def test_a_missing_history_folder_is_one_line_naming_it_exit_2(tmp_path):
    done = publish(tmp_path / "absent", "--out", tmp_path / "site")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "absent") in done.stderr and not (tmp_path / "site").exists()


def test_without_plotly_publishing_stops_in_one_line_naming_it_and_its_install(tmp_path):
    write_nights(tmp_path / "h", 2)
    code = ("import sys; sys.modules['plotly'] = None; from bench.history.site import publish; "
            f"sys.exit(publish.main([{str(tmp_path / 'h')!r}, '--out', {str(tmp_path / 'site')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "plotly" in done.stderr and "pip install -e '.[site]'" in done.stderr and not (tmp_path / "site").exists()


def test_publishing_imports_neither_tensorflow_nor_transformers(tmp_path):
    write_nights(tmp_path / "h", 30, slower_from=15)
    code = ("import sys; from bench.history.site import publish; "
            f"status = publish.main([{str(tmp_path / 'h')!r}, '--out', {str(tmp_path / 'site')!r}]); "
            "print(status, sorted(m for m in ('tensorflow', 'transformers', 'tf_keras', 'keras', 'datasets', 'jax', "
            "'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr
    assert "plotly" not in done.stdout  # the page needs plotly.min.js, not plotly's Python (which imports pandas...)


def test_the_latest_report_is_bench_reports_markdown_rendered_beside_it(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("markdown")
    night = sorted((AMX_HISTORY / AMX).glob("*__c6174dbe90f2.json"))[-1]
    done = publish(AMX_HISTORY, night, "--out", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    markdown = (tmp_path / "site" / "report" / "report.md").read_text()
    page = (tmp_path / "site" / "report" / "index.html").read_text()
    assert markdown.startswith("# Fine-tuning benchmark report") and '<a href="report.md">' in page
    assert "<h1>Fine-tuning benchmark report</h1>" in page and page.count("<table>") >= 2
    assert '<img alt="step time" src="step_time.png"' in page
    assert (tmp_path / "site" / "report" / "step_time.png").exists()
    bad = publish(AMX_HISTORY, tmp_path / "absent.json", "--out", tmp_path / "site2")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "absent.json" in bad.stderr
