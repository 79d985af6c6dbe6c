"""The site's shared files, written once into SITE/assets/ and referenced relatively from every page: Plotly's own
plotly.min.js (from the `plotly` package: charts with no network at view time), the style, and site.js (draws a
runner's charts from the JSON in its page, sorts a table by the clicked header). Nothing is fetched from a CDN.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from finetune.errors import FinetuneError

INSTALL = "pip install -e '.[site]'"  # pyproject.toml's extra: plotly (its plotly.min.js) and markdown


def plotly_js() -> Path:
    """plotly.min.js as the installed `plotly` package ships it; one line naming the package and the install
    command where it is absent."""
    spec = importlib.util.find_spec("plotly")
    found = Path(spec.origin).parent / "package_data" / "plotly.min.js" if spec and spec.origin else None
    if found is None or not found.is_file():
        raise FinetuneError(f"the site's charts need the plotly package (its plotly.min.js), which is not installed: "
                            f"{INSTALL} (or pip install plotly)")
    return found


STYLE = """\
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 0 16px 48px; color: #1f2328; }
nav { margin: 12px 0; } nav a { margin-right: 14px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; } h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; color: #fff; }
.status.green { background: #1a7f37; } .status.red { background: #cf222e; }
.status.waiting, .status.empty { background: #9a6700; }
.gate.live::before { content: "\\25CF "; color: #1a7f37; } .gate.off::before { content: "\\25CB "; color: #9a6700; }
.chart { height: 340px; border: 1px solid #eaeef2; margin: 4px 0; }
.change.worse { color: #cf222e; } .change.better { color: #1a7f37; }
.unreadable { color: #9a6700; }
code, pre { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; }
.muted { color: #656d76; }
"""

SCRIPT = r"""// The site's one script: draws a runner's charts with Plotly from the JSON in its page (#runner-data),
// and sorts a table.sortable by the header clicked (numbers by their data-value, text by itself; empty cells last).
(function () {
  "use strict";
  var LONG = 150;  // points beyond which a series is drawn as a line in its interval's band
  function fmt(v) { return v === null || v === undefined ? "" : Number(v).toPrecision(4); }
  function esc(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
  function when(s) { return s.replace("T", " ").replace("+00:00", " UTC"); }

  function chart(data, c) {
    var n = c.x.length, xs = new Array(n), custom = new Array(n), plus = new Array(n), minus = new Array(n);
    var anyInterval = false, unit = c.unit ? " " + c.unit : "";
    for (var i = 0; i < n; i++) {
      var night = c.x[i];
      xs[i] = night + 1;
      var has = c.low[i] !== null && c.high[i] !== null;
      custom[i] = [data.names[night], data.revisions[night], when(data.whens[night]),
                   has ? "[" + fmt(c.low[i]) + ", " + fmt(c.high[i]) + "]" : "(no interval recorded)"];
      plus[i] = has ? c.high[i] - c.y[i] : NaN;
      minus[i] = has ? c.y[i] - c.low[i] : NaN;
      anyInterval = anyInterval || has;
    }
    // a long series is a line in a band (two paths); a short one, markers with error bars (a node per point)
    var long = n > LONG;
    var series = {type: "scatter", mode: long ? "lines" : "lines+markers", x: xs, y: c.y, customdata: custom,
                  name: c.figure, marker: {size: 6, color: "#4c72b0"}, line: {width: 1, color: "#4c72b0"},
                  hovertemplate: "night %{x}: %{customdata[0]}<br>revision %{customdata[1]}<br>%{customdata[2]}" +
                                 "<br><b>%{y:.4g}" + esc(unit) + "</b> %{customdata[3]}<extra></extra>"};
    var traces = [];
    if (anyInterval && long) {
      var edge = {type: "scatter", mode: "lines", x: xs, line: {width: 0}, hoverinfo: "skip", connectgaps: false};
      traces.push(Object.assign({y: c.low}, edge),
                  Object.assign({y: c.high, fill: "tonexty", fillcolor: "rgba(76,114,176,0.22)"}, edge));
    } else if (anyInterval) {
      series.error_y = {type: "data", symmetric: false, array: plus, arrayminus: minus, thickness: 1, width: 0,
                        color: "#9bb0d3"};
    }
    traces.push(series);
    var shapes = [], notes = [];
    if (c.marks.length) {
      var mx = [], my = [], colours = [], texts = [];
      c.marks.forEach(function (m) {
        var colour = m.worse ? "#cf222e" : "#1a7f37";
        mx.push(m.night + 1);
        my.push(c.y[c.x.indexOf(m.night)]);
        colours.push(colour);
        texts.push(["change at night " + (m.night + 1) + ": " + esc(m.size), "revisions " + m.revisions.join(" .. "),
                    esc(m.label).split("\n").slice(1).join("<br>")]);  // the verdicts in a few words
        shapes.push({type: "line", xref: "x", yref: "paper", x0: m.night + 0.5, x1: m.night + 0.5, y0: 0, y1: 1,
                     line: {color: colour, width: 1.5, dash: "dot"}});
        notes.push({x: m.night + 0.5, xref: "x", y: 1, yref: "paper", yanchor: "top", xanchor: "left",
                    text: esc(m.label).split("\n").join("<br>"), showarrow: false, align: "left",
                    font: {size: 10, color: colour}, bgcolor: "rgba(255,255,255,0.8)"});
      });
      traces.push({type: "scatter", mode: "markers", x: mx, y: my, customdata: texts, name: "change",
                   marker: {symbol: "diamond-open", size: 14, color: colours, line: {width: 2, color: colours}},
                   hovertemplate: "%{customdata[0]}<br>%{customdata[1]}<br>%{customdata[2]}<extra>change</extra>"});
    }
    var layout = {title: {text: esc(c.title) + "<br><span style='font-size:11px'>" + esc(c.key) + "</span>",
                          font: {size: 13}},
                  margin: {l: 64, r: 16, t: 56, b: 40}, showlegend: false, hovermode: "x",
                  xaxis: {title: {text: "night"}, zeroline: false}, yaxis: {title: {text: c.unit || c.figure}},
                  shapes: shapes, annotations: notes};
    return Plotly.newPlot(document.getElementById(c.id), traces, layout,
                          {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"]});
  }

  function drawCharts() {
    var holder = document.getElementById("runner-data");
    if (!holder) { return Promise.resolve(); }
    var data = JSON.parse(holder.textContent);
    return Promise.all(data.charts.map(function (c) { return chart(data, c); }));
  }

  function key(cell) {
    var v = cell.getAttribute("data-value");
    if (v === null) { v = cell.textContent.trim(); }
    if (v === "") { return ""; }
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }

  function sortable(table) {
    var heads = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var up = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          if (x === y) { return 0; }
          if (x === "") { return 1; }
          if (y === "") { return -1; }
          var order = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
          return up ? order : -order;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);
    drawCharts().then(function () { document.body.setAttribute("data-ready", "true"); },
                      function (err) { document.body.setAttribute("data-ready", "error"); throw err; });
  });
})();
"""


def write(site: Path, charts: bool = True, plotly: Path | None = None) -> list[Path]:
    """SITE/assets/: site.css, site.js and, where a page has charts, plotly.min.js (`plotly`: another build of
    plotly.js to copy instead of the package's, e.g. the basic partial bundle: the pages draw only scatter traces)."""
    assets = Path(site) / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "site.css").write_text(STYLE, encoding="utf-8")
    (assets / "site.js").write_text(SCRIPT, encoding="utf-8")
    written = [assets / "site.css", assets / "site.js"]
    if charts:
        shutil.copyfile(plotly or plotly_js(), assets / "plotly.min.js")
        written.append(assets / "plotly.min.js")
    return written
