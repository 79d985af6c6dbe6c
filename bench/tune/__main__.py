"""`python -m bench.tune`: bench/tune/cli.py."""

import sys

from bench.tune.cli import main

sys.exit(main())
