"""`python -m bench.replay`, the command's name kept: bench.history.replay."""

import sys

from bench.history.replay import main

if __name__ == "__main__":
    sys.exit(main())
