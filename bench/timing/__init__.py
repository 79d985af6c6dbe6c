"""Timing processes: the course's training step prepared in processes of their own and timed pass by pass, the
`--reference` revision beside them, the A/B mode, the sensitivity check, and every subprocess's time limit.
"""
