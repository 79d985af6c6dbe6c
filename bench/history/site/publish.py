"""`python -m bench.history publish HISTORY [RESULT.json ...] --out SITE`: the static site of every runner's history.

    SITE/index.html                 every fingerprint: its latest night, status (green; red and why; not yet gating and
                                    how many nights it needs) and its gates
    SITE/runners/<fingerprint>.html each figure's series as a chart (Plotly), change points marked with their verdicts
    SITE/hardware.html              the latest step time and fine-tune per fingerprint x engine x precision, sortable
    SITE/report/index.html          bench.report's markdown of the RESULT.json files, rendered, beside report.md
    SITE/assets/                    plotly.min.js, site.js, site.css: written once, every page refers to them

Imports neither TensorFlow nor transformers. Exit status: 0 published; 1 the history holds no readable night (the
site is written and says so); 2 bad input (no such folder, plotly or markdown not installed, a report that fails).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.history import nights
from bench.history.site import assets, hardware_table, html_pages, latest_report, runner, status
from finetune.errors import FinetuneError


def parse_args(argv: list[str]):
    """The command line of `python -m bench.history publish` (routed by bench/history/__main__.py)."""
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="python -m bench.history publish", description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, nargs="?", default=Path(os.environ.get("FINETUNE_HISTORY", "history")),
                        help="the history folder (default: $FINETUNE_HISTORY, else ./history)")
    add_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        if not args.directory.is_dir():
            raise FinetuneError(f"{args.directory}: no such history folder: write nights with pytest bench/ "
                                f"--history {args.directory}")
        return run(args)
    except FinetuneError as err:
        print(f"bench.history: {err}", file=sys.stderr)
        return 2


def add_arguments(parser) -> None:
    parser.add_argument("results", nargs="*", type=Path,
                        help="pytest-benchmark JSON files of the latest night(s): the site's report (bench.report)")
    parser.add_argument("--out", type=Path, required=True, help="the site's folder (written; other files kept)")
    parser.add_argument("--plotly-js", type=Path, default=None,
                        help="a plotly.js build to ship instead of the plotly package's plotly.min.js (the basic "
                             "partial bundle, plotly-basic.min.js, starts ~4x sooner: docs/history.md)")


def build(directory: Path, results: list[Path], out: Path, plotly: Path | None = None) -> tuple[list, list]:
    """Write the site; (the runners, their statuses)."""
    if plotly is None:
        assets.plotly_js()  # before anything is read or written: one line if plotly is absent
    elif not plotly.is_file():
        raise FinetuneError(f"--plotly-js {plotly}: no such file")
    runners = [runner.load(directory, fp) for fp in nights.fingerprints(directory)]
    statuses = [status.status(r, directory) for r in runners]
    report_html = latest_report.write(results, out / "report") if results else None
    try:
        (out / "runners").mkdir(parents=True, exist_ok=True)
        assets.write(out, plotly=plotly)
        (out / "index.html").write_text(html_pages.index_page(runners, statuses, bool(results)), encoding="utf-8")
        for r, st in zip(runners, statuses):
            (out / html_pages.runner_href(r.fingerprint)).write_text(html_pages.runner_page(r, st), encoding="utf-8")
        (out / "hardware.html").write_text(html_pages.hardware_page(hardware_table.comparison(runners)),
                                           encoding="utf-8")
        (out / "report").mkdir(exist_ok=True)
        (out / "report" / "index.html").write_text(html_pages.report_page(report_html), encoding="utf-8")
    except OSError as err:
        raise FinetuneError(f"--out {out}: cannot write there ({err.strerror or err})") from None
    return runners, statuses


def run(args) -> int:
    started = time.perf_counter()
    runners, statuses = build(args.directory, list(args.results), args.out, args.plotly_js)
    for r, st in zip(runners, statuses):
        for line in r.unreadable:
            print(f"bench.history publish: {line}", file=sys.stderr)
        print(f"{r.fingerprint}: {len(r.nights)} night(s), {st.state}" + (f": {st.why[0]}" if st.why else ""))
    print(f"bench.history publish: wrote {args.out / 'index.html'} ({len(runners)} runner(s), "
          f"{time.perf_counter() - started:.1f} s)")
    if not any(r.nights for r in runners):
        print(f"bench.history publish: {args.directory}: no nights yet: the site says so (pytest bench/ --history "
              f"{args.directory} keeps one per session)", file=sys.stderr)
        return 1
    return 0
