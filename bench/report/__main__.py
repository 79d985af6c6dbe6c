"""`python -m bench.report`: bench/report/cli.py."""

import sys

from bench.report.cli import main

sys.exit(main())
