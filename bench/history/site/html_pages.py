"""The site's pages as HTML: the index (every runner, its latest night, status and live gates), a page per runner (its
charts, change points and unreadable nights), the hardware comparison (a sortable table) and the latest report.
Every link and asset is relative, so the site works from file:// and from any static host.
"""

from __future__ import annotations

import itertools
from html import escape

from bench.history.site import charts as charts_
from bench.history.site import status as status_
from bench.history.site.hardware_table import Row
from bench.history.site.runner import Runner

TITLE = "Fine-tuning benchmarks: the nightly's page"


def page(title: str, body: str, depth: int = 0, plotly: bool = False) -> str:
    up = "../" * depth
    # deferred: the page's text shows while Plotly starts (most of a chart page's time to interactive)
    scripts = (f'<script defer src="{up}assets/plotly.min.js"></script>\n' if plotly else "") + \
        f'<script defer src="{up}assets/site.js"></script>'
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{escape(title)}</title>\n'
            f'<link rel="stylesheet" href="{up}assets/site.css">\n{scripts}\n</head>\n<body>\n'
            f'<nav><a href="{up}index.html">every runner</a><a href="{up}hardware.html">hardware comparison</a>'
            f'<a href="{up}report/index.html">latest report</a></nav>\n{body}\n</body>\n</html>\n')


def runner_href(fingerprint: str) -> str:
    return f"runners/{fingerprint}.html"


def badge(state: str) -> str:
    kind = {status_.GREEN: "green", status_.RED: "red", status_.WAITING: "waiting"}.get(state, "empty")
    return f'<span class="status {kind}">{escape(state)}</span>'


def gates_html(gates) -> str:
    return "".join(f'<div class="gate {"live" if g.live else "off"}">{escape(g.name)}: {escape(g.text)}</div>'
                   for g in gates)


def latest_html(runner: Runner) -> str:
    latest = runner.latest
    if latest is None:
        return '<span class="muted">none</span>'
    return (f"night {len(runner.nights)}: {escape(latest.when.replace('T', ' ').replace('+00:00', ' UTC'))}<br>"
            f"<code>{escape(latest.revision)}</code>")


def index_page(runners: list[Runner], statuses: list, report: bool) -> str:
    rows = []
    for runner, st in zip(runners, statuses):
        why = "".join(f"<div>{escape(line)}</div>" for line in st.why)
        unreadable = (f'<div class="unreadable">{len(runner.unreadable)} unreadable file(s)</div>'
                      if runner.unreadable else "")
        rows.append(f'<tr data-fingerprint="{escape(runner.fingerprint)}">'
                    f'<td><a href="{runner_href(runner.fingerprint)}">{escape(runner.fingerprint)}</a></td>'
                    f'<td>{latest_html(runner)}</td><td class="num">{len(runner.nights)}</td>'
                    f'<td class="state">{badge(st.state)}{why}{unreadable}</td><td>{gates_html(st.gates)}</td></tr>')
    if runners:
        table = ("<table><thead><tr><th>runner (fingerprint)</th><th>latest night</th><th>nights</th><th>status</th>"
                 "<th>gates</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>")
    else:
        table = ""
    empty = ("" if any(r.nights for r in runners) else
             '<p class="empty-history"><strong>No nights yet</strong>: this history holds no readable night '
             "(<code>pytest bench/ --history DIR</code> keeps one per session).</p>")
    body = (f"<h1>{TITLE}</h1>\n<p>Every runner of the history, keyed by its fingerprint (CPU model, instruction set, "
            "cores; GPU model): its latest night, its status and its gates. Red: a change for the worse that no "
            "verdict judges (an A/B decision, a bisection or an acknowledgement: <code>python -m bench.history "
            "confirm|ack</code>), or the latest night's failed gate or test.</p>\n"
            f"{empty}{table}\n<p><a href=\"hardware.html\">The hardware side by side</a>"
            + (' · <a href="report/index.html">the latest report</a>' if report else
               ' · <span class="muted">no report: publish was given no RESULT.json</span>') + "</p>")
    return page(TITLE, body)


def change_html(data: dict, mark) -> str:
    names, revisions = data["names"], data["revisions"]
    verdicts = "".join(f"<li>{escape(v)}</li>" for v in mark["verdicts"]) or "<li>no verdict yet</li>"
    return (f'<li class="change {"worse" if mark["worse"] else "better"}" data-night="{mark["night"] + 1}">'
            f'change at night {mark["night"] + 1} (<code>{escape(names[mark["night"]])}</code>, revision '
            f'<code>{escape(revisions[mark["night"]])}</code>): {escape(mark["size"])}; revisions '
            f'<code>{escape(mark["revisions"][0])}</code> .. <code>{escape(mark["revisions"][1])}</code>'
            f"<ul>{verdicts}</ul></li>")


def runner_page(runner: Runner, st) -> str:
    data = charts_.page_data(runner)
    why = "".join(f"<li>{escape(w)}" + (f"<br><span class=muted>{escape(h)}</span>" if h else "") + "</li>"
                  for w, h in itertools.zip_longest(st.why, st.how, fillvalue=""))
    parts = [f"<h1>{escape(runner.fingerprint)}</h1>", f'<div class="state">{badge(st.state)}<ul>{why}</ul></div>',
             gates_html(st.gates)]
    if runner.nights:
        parts.append(f"<p>{len(runner.nights)} night(s), {escape(runner.nights[0].when)} to "
                     f"{escape(runner.latest.when)}; revisions <code>{escape(runner.nights[0].revision)}</code> .. "
                     f"<code>{escape(runner.latest.revision)}</code>. Hover a point for its night, revision, date, "
                     "value and interval; a dotted line marks a change point, with its size, interval and verdicts."
                     "</p>")
    else:
        parts.append('<p class="empty-history"><strong>No nights yet</strong> for this runner.</p>')
    if runner.unreadable:
        parts.append("<h2>Unreadable</h2><ul>" + "".join(f'<li class="unreadable">{escape(u)}</li>'
                                                         for u in runner.unreadable) + "</ul>")
    for chart in data["charts"]:
        marks = "".join(change_html(data, m) for m in chart["marks"])
        parts.append(f'<h2>{escape(chart["title"])}</h2><p class="muted"><code>{escape(chart["key"])}</code>: '
                     f'{len(chart["y"])} night(s), {len(chart["marks"]) or "no"} change(s)</p>'
                     f'<div class="chart" id="{chart["id"]}"></div>'
                     + (f'<ul class="changes">{marks}</ul>' if marks else ""))
    parts.append(f'<script type="application/json" id="runner-data">{charts_.script_json(data)}</script>')
    return page(f"{runner.fingerprint}: {TITLE}", "\n".join(parts), depth=1, plotly=bool(data["charts"]))


def number(value, digits: str = ".1f", scale: float = 1.0) -> tuple[str, str]:
    """(cell text, data-value) of a figure; empty where not recorded."""
    return ("n/a", "") if value is None else (format(value * scale, digits), f"{value * scale:.6g}")


def hardware_page(rows: list[Row]) -> str:
    headers = ["runner (fingerprint)", "engine", "device", "precision", "step ms/step", "90% interval", "MFU",
               "peak memory MB", "GPU memory MB", "fine-tune ms/step (whole epochs)", "fine-tune s", "step night",
               "fine-tune night"]
    body_rows = []
    for r in rows:
        cells = [(f'<a href="{runner_href(r.fingerprint)}">{escape(r.fingerprint)}</a>'
                  + (f'<div class="muted">{escape(r.described)}</div>' if r.described else ""), r.fingerprint),
                 (escape(r.engine), None), (escape(r.device), None), (escape(r.precision), None)]
        step = number(r.step_ms)
        cells.append((step[0], step[1]))
        cells.append(("n/a" if r.step_low is None else f"[{r.step_low:.1f}, {r.step_high:.1f}]",
                      "" if r.step_low is None else f"{(r.step_high - r.step_low):.6g}"))
        mfu = number(r.mfu, ".1f", 100.0)
        cells.append(((mfu[0] + "%" + (f" of {escape(r.peak)}" if r.peak else "")) if r.mfu is not None else "n/a",
                      mfu[1]))
        for value, digits in ((r.memory_mb, ",.0f"), (r.gpu_memory_mb, ",.0f"), (r.fit_ms, ".1f"), (r.fit_s, ",.0f")):
            cells.append(number(value, digits))
        cells += [(f"<code>{escape(r.step_night)}</code>", r.step_night), (f"<code>{escape(r.fit_night)}</code>",
                                                                            r.fit_night)]
        tds = []
        for i, (text, value) in enumerate(cells):
            numeric = 4 <= i <= 10
            attribute = f' data-value="{escape(value)}"' if value is not None else ""
            tds.append(f'<td{" class=num" if numeric else ""}{attribute}>{text}</td>')
        body_rows.append("<tr>" + "".join(tds) + "</tr>")
    table = ('<table class="sortable" id="hardware"><thead><tr>' + "".join(f"<th>{h}</th>" for h in headers)
             + "</tr></thead><tbody>\n" + "\n".join(body_rows) + "\n</tbody></table>") if rows else \
        "<p>No runner has a step time or a fine-tune in its nights yet.</p>"
    body = ("<h1>The hardware side by side</h1>\n<p>Each runner's latest night per engine, device and precision: the "
            "gated step time (ms/step as the gate sees it, the geometric mean over its processes, with a 90% t "
            "interval over them), MFU (achieved FLOP/s over a GPU's datasheet peak, or the CPU's calibration matmul "
            "measured the same night), peak memory, and the latest whole fine-tune of the course's recipe (ms/step "
            "over every epoch, and its seconds). Click a header to sort.</p>\n" + table)
    return page(f"Hardware: {TITLE}", body)


def report_page(markdown_html: str | None) -> str:
    if markdown_html is None:
        body = ("<h1>The latest report</h1><p>No RESULT.json was given to publish: <code>python -m bench.history "
                "publish HISTORY RESULT.json ... --out SITE</code> renders bench.report's markdown here.</p>")
    else:
        body = ('<p class="muted">bench.report\'s markdown, rendered; the source: <a href="report.md">report.md</a>'
                "</p>\n" + markdown_html)
    return page(f"Report: {TITLE}", body, depth=1)
