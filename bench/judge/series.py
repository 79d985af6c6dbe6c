"""A runner's own nights as a gate: which nights form a step-time baseline (the same library versions, their own
gate passed, since the series' last change point, the most recent MAX_SESSIONS), and which stored verdict judges
a change (an A/B decision or bisection, or an acknowledgement)."""

from __future__ import annotations

from bench.judge import changes
from bench.judge.figures import MAX_SESSIONS


def same_versions(recorded: dict, versions: dict) -> bool:
    """Whether a night recorded each library of `versions` (its engine's: engine.versions(), the function the root
    conftest.py records a night's versions with) at that version. Compared on the engine's libraries only, so a
    night that recorded more (another engine's) still compares; one that did not record a library the engine
    depends on (a keras3 night from before engines recorded theirs) does not, since its version is unknown."""
    return all(name in recorded and recorded[name] == version for name, version in versions.items())


def baseline_nights(points: list, versions_of, versions: dict) -> tuple[list, list]:
    """(the points that form the baseline, the change points found among those of `versions`): `points` in night
    order (each with `.value`), `versions_of(point)` the versions its night recorded."""
    like = [p for p in points if same_versions(versions_of(p), versions)]
    found = changes.detect([p.value for p in like], changes.RULES["step_time_ms"])
    if found:
        like = like[found[-1].index:]  # the level since the last change
    return like[-MAX_SESSIONS:], found


REFERENCE_FIGURE = "step_vs_reference"  # this tree's step time over --reference's (bench/timing/reference_revision.py)
# The series confirm A/B-tests: the gated step time, and its ratio to a pinned --reference. A night flagged in both
# is A/B-tested once (the first verdict beside it judges it).
STEP_FIGURES = ("step_time_ms", REFERENCE_FIGURE)


def judges(verdict: dict, figure: str, name: str) -> bool:
    """Whether a verdict beside a change's first night judges that series' change: an A/B decision (or the
    bisection that began with one) judges the step-time series, the only figure the A/B mode measures; an ack
    judges the one series it names. A file that could not be read judges nothing."""
    if "problem" in verdict:
        return False
    if verdict.get("what") in ("ab", "bisect"):
        return figure in STEP_FIGURES
    return verdict.get("what") == "ack" and verdict.get("series") == name
