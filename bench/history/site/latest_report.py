"""The latest report on the site: bench.report's own command run on the given RESULT.json files (report.md and its
chart, written into SITE/report/), and that markdown rendered as HTML beside it. bench.report is another room on the
history's floor (docs/architecture.md), so it is run as its command, as .ci/nightly runs it, not imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.history.site.assets import INSTALL
from finetune.errors import FinetuneError

TIMEOUT_S = 300


def markdown_renderer():
    try:
        import markdown
    except ImportError:
        raise FinetuneError(f"the report's page needs the markdown package, which is not installed: {INSTALL} "
                            "(or pip install markdown)") from None
    return markdown


def write(results: list[Path], folder: Path) -> str:
    """bench.report's markdown of `results` in `folder` (report.md, step_time.png); the markdown as HTML."""
    missing = [str(p) for p in results if not Path(p).is_file()]
    if missing:
        raise FinetuneError(f"no such RESULT.json: {', '.join(missing)}")
    renderer = markdown_renderer()
    done = subprocess.run([sys.executable, "-m", "bench.report", *map(str, results), "--out", str(folder)],
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise FinetuneError(f"bench.report failed on {', '.join(map(str, results))}: {last}")
    text = (Path(folder) / "report.md").read_text(encoding="utf-8")
    return renderer.markdown(text, extensions=["tables", "fenced_code"], output_format="html")
