"""A stored figure as the judge reads it: its measured spread (Figure), and a step-time group's sessions of blocks
with how many of them the block gate needs. Pure: what the store writes, read back."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    mean: float
    std: float
    min: float
    max: float
    n: int
    values: tuple

    @classmethod
    def of(cls, values) -> "Figure":
        values = tuple(float(v) for v in values)
        return cls(
            mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else 0.0,
            min=min(values), max=max(values), n=len(values), values=values,
        )

    @classmethod
    def from_dict(cls, data: dict) -> "Figure":
        return cls(**{**data, "values": tuple(data["values"])})

    def to_dict(self) -> dict:
        return {**asdict(self), "values": list(self.values)}


MIN_SESSIONS = 3  # stored sessions before the block gate decides: their spread is its noise model
MAX_SESSIONS = 20  # the most recent sessions kept in a step-time group


def stored_sessions(group: dict | None) -> list:
    """A step-time group's sessions, each a list of processes, each a list of passes (ms/step). Groups written
    before sessions spanned processes hold `blocks_ms`, one process per session."""
    group = group or {}
    if group.get("sessions_ms"):
        return [[list(p) for p in session] for session in group["sessions_ms"]]
    return [[list(p)] for p in group.get("blocks_ms") or []]
