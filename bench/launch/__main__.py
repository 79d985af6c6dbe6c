"""`python -m bench.launch`: bench/launch/cli.py."""

import sys

from bench.launch.cli import main

sys.exit(main())
