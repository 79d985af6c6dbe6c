"""The stored results: the result contract (what every benchmark record holds), the committed baselines keyed by
fingerprint, updating them from a session or from the CLI's results (ingest), and the bands hosts lend each other.
"""
