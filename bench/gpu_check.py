"""`python bench/gpu_check.py`, the command's path kept: bench/gpu/check.py (standard library only, run by path)."""

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.argv[0] = str(Path(__file__).resolve().parent / "gpu" / "check.py")
    runpy.run_path(sys.argv[0], run_name="__main__")
