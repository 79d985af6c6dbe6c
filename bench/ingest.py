"""`python -m bench.ingest`, the command's name kept: bench.store.ingest."""

import sys

from bench.store.ingest import main

if __name__ == "__main__":
    sys.exit(main())
