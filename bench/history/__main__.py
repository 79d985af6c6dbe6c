"""`python -m bench.history`: bench/history/cli.py; `python -m bench.history publish`: bench/history/site/publish.py."""

import sys

if sys.argv[1:2] == ["publish"]:
    from bench.history.site.publish import main

    sys.exit(main(sys.argv[2:]))
from bench.history.cli import main  # noqa: E402

sys.exit(main())
