"""The one exception type users see: a problem with their input, stated with its fix."""


class FinetuneError(Exception):
    """Bad input or environment. `str(err)` is one line: what is wrong, and how to fix it."""
