"""A runner's own nights (`--history DIR`): the series of every figure, their change points, confirmation and
bisection in the A/B mode, acknowledgement, replay and trend charts. `python -m bench.history`.
"""
