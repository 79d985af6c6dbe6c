"""`python -m bench.sensitivity`, the command's name kept: bench.timing.sensitivity."""

import sys

from bench.timing.sensitivity import main

if __name__ == "__main__":
    sys.exit(main())
