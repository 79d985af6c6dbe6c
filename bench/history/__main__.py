"""`python -m bench.history`: bench/history/cli.py."""

import sys

from bench.history.cli import main

sys.exit(main())
