"""`python -m bench.report`: pytest-benchmark JSON files as markdown tables and a chart; the verdicts shown are the
ones recorded at run time.
"""
