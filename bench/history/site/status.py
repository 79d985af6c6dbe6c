"""A runner's status on the index: green; red and why (a change for the worse no verdict judges, as --fail-on-new
says it; the latest night's failed gates or tests); or not yet gating and how many nights it still needs; and each
gate, live or not. The gates are bench.history.cli's (the step-time gate from nights: gating_points, with the
latest night's library versions, those the next night most likely has) and bench/judge/changes.py's windows.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.history import cli, nights
from bench.history.site.runner import Runner, session_of
from bench.judge import changes
from bench.judge.figures import MIN_SESSIONS

GREEN, RED, WAITING, EMPTY = "green", "red", "not yet gating", "no nights"
CHANGE_NIGHTS = changes.MIN_BACK + changes.MIN_FORE  # the first night a change can be decided at


@dataclass(frozen=True)
class Gate:
    name: str
    live: bool
    text: str
    needs: int = 0  # nights still needed before it is live


@dataclass(frozen=True)
class Status:
    state: str  # GREEN, RED, WAITING or EMPTY
    why: tuple  # one line each
    gates: tuple
    how: tuple = ()  # what judges each red change: the confirm or ack command --fail-on-new names

    @property
    def needs(self) -> int:
        """Nights until the first gate is live (0: one is)."""
        return min((g.needs for g in self.gates), default=0)


def step_gates(runner: Runner) -> list[Gate]:
    """The step-time gate from nights of each gated step-time series, as the next night would meet it."""
    latest = runner.latest
    gates = []
    for chart in runner.charts:
        if chart.figure != "step_time_ms":
            continue
        like, _, of_key = cli.gating_points(runner.nights, chart.key, latest.versions)
        name = f"step-time gate from nights: {chart.key}"
        if len(like) >= MIN_SESSIONS:
            dates = sorted({runner.nights[p.night].date for p in like})
            gates.append(Gate(name, True, f"live: {len(like)} nights on {len(dates)} date(s) since its last change"))
        else:
            other = len(of_key) - len([p for p in of_key if p.night in {q.night for q in like}])
            gates.append(Gate(name, False, f"needs {MIN_SESSIONS - len(like)} more night(s) with these library "
                                           f"versions ({len(like)} of {MIN_SESSIONS}"
                                           + (f"; {other} with other versions" if other else "") + ")",
                              MIN_SESSIONS - len(like)))
    return gates


def change_gate(runner: Runner) -> Gate:
    longest = max((len(c.values) for c in runner.charts), default=0)
    name = "change detection on every series"
    if longest >= CHANGE_NIGHTS:
        return Gate(name, True, f"live: {longest} nights in its longest series")
    return Gate(name, False, f"needs {CHANGE_NIGHTS - longest} more night(s) ({changes.MIN_BACK} before a change "
                             f"and {changes.MIN_FORE} from it on; {longest} so far)", CHANGE_NIGHTS - longest)


def failed_in_latest(runner: Runner) -> list[str]:
    """The latest night's failed gates and tests, one line each."""
    latest = runner.latest
    found = [f"the latest night's gate failed: {nights.on_its_cpu(key, latest)} {figure}"
             for record in latest.records for key, figure, _, gate, _ in nights.figures_of(record) if gate == "failed"]
    tests = session_of(latest).get("tests") or {}
    if tests.get("failed"):
        found.append(f"the latest night had {tests['failed']} failed test(s) of {tests.get('collected', '?')}")
    return found


def unjudged(line: str) -> tuple[str, str]:
    """(the reason, the command that would judge it) of a --fail-on-new line (bench.history.cli.new_changes):
    "<fingerprint>: <series>: NEW change at <night>: <size>: confirm it with ..., or acknowledge it with ..."."""
    body = line.split(": ", 1)[1]  # the page names the fingerprint already
    for marker in (": confirm it with ", ": acknowledge it with "):
        if marker in body:
            reason, _, rest = body.partition(marker)
            return reason, marker[2:] + rest
    return body, ""


def status(runner: Runner, directory) -> Status:
    if not runner.nights:
        return Status(EMPTY, ("no readable nights" + (f" ({len(runner.unreadable)} unreadable)"
                                                      if runner.unreadable else ""),), ())
    gates = tuple(step_gates(runner) + [change_gate(runner)])
    stored = (runner.stored, [])
    red, how = [], []
    for line in cli.new_changes(directory, runner.fingerprint, (runner.analysed, stored)):
        reason, command = unjudged(line)
        red.append(reason)
        how.append(command)
    red += failed_in_latest(runner)
    if red:
        return Status(RED, tuple(red), gates, tuple(how))
    waiting = [g for g in gates if not g.live]
    if len(waiting) == len(gates):
        soonest = min(g.needs for g in gates)
        return Status(WAITING, (f"needs {soonest} more night(s) before its first gate is live",), gates)
    return Status(GREEN, ("every live gate passed and every change for the worse has a verdict",), gates)
