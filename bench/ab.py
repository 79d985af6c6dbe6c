"""`python -m bench.ab`, the command's name kept: bench.timing.ab."""

import sys

from bench.timing.ab import main

if __name__ == "__main__":
    sys.exit(main())
