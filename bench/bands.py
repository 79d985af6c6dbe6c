"""`python -m bench.bands`, the command's name kept: bench.store.bands."""

import sys

from bench.store.bands import main

if __name__ == "__main__":
    sys.exit(main())
