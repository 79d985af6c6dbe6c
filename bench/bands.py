"""`python -m bench.bands`, the command's name kept: bench.store.lending."""

import sys

from bench.store.lending import main

if __name__ == "__main__":
    sys.exit(main())
