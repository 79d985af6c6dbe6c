"""`python -m bench.sensitivity`, the command's name kept: bench.session.sensitivity."""

import sys

from bench.session.sensitivity import main

if __name__ == "__main__":
    sys.exit(main())
