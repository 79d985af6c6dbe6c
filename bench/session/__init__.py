"""One `pytest bench/` session: its options and tiers, plan and progress, the Suite that runs the fine-tunes and
step benches (and the distributed workers' runs), the records it writes, which stored group judges each figure,
and the gate summary at its end.
"""
