"""`python -m bench.tune`: which performance variant is fastest on this host at the course's quality: candidates timed
in interleaved timing processes, the choice judged by bench.judge, stored for `--perf best`.
"""
