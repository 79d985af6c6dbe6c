"""Trend charts of a fingerprint's series (bench.history list --charts OUT): one PNG per figure, the nights in order,
each level between change points drawn as its mean, and each change point marked with its size.
"""

from __future__ import annotations

import re
from pathlib import Path


def file_name(fingerprint: str, key: str, figure: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{fingerprint}__{key}__{figure}").strip("_") + ".png"


def draw(document: dict, out: Path) -> list[Path]:
    """A PNG per series of bench.history.cli.listing's document, in `out`; the paths written."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a runner
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for s in document["series"]:
        values, names = s["values"], s["nights"]
        fig, ax = plt.subplots(figsize=(9, 3.6))
        ax.plot(range(len(values)), values, "o-", color="#4c72b0", markersize=4, linewidth=1)
        starts = [0] + [names.index(c["first_night"]) for c in s["changes"] if c["first_night"] in names]
        for begin, end in zip(starts, starts[1:] + [len(values)]):
            level = values[begin:end]
            ax.hlines(sum(level) / len(level), begin - 0.3, end - 0.7, colors="#888888", linestyles="dashed")
        for change in s["changes"]:
            if change["first_night"] not in names:
                continue
            at = names.index(change["first_night"])
            color = "#c44e52" if change["worse"] else "#55a868"
            ax.axvline(at - 0.5, color=color, linewidth=1.5)
            ax.annotate(change["describe"].split(", p =")[0], (at - 0.5, max(values)), fontsize=7, color=color,
                        xytext=(4, -10), textcoords="offset points")
        ax.set_title(f"{document['fingerprint']}\n{s['key']}", fontsize=8)
        ax.set_ylabel(s["figure"], fontsize=8)
        ticks = list(range(0, len(values), max(1, len(values) // 10)))
        ax.set_xticks(ticks, [names[i][:15] for i in ticks], rotation=30, fontsize=6, ha="right")
        ax.set_xlabel("night (UTC stamp)", fontsize=8)
        fig.tight_layout()
        path = out / file_name(document["fingerprint"], s["key"], s["figure"])
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
