"""What a `pytest bench/` session gated, one line a gate at its end: live (passed or FAILED) or skipped, and why;
and `--require-live`, which fails a session where a gate that needs no baseline did not run (a session where every
gate skipped is otherwise as green as one where every gate ran). Pure: the session's outcomes in, lines out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# test function -> the gate it is (tests not named here measure without judging: no gate)
GATES = {
    "test_quality": "quality band",
    "test_course_claims": "the course's claims",
    "test_step_time": "step time (block gate)",
    "test_faster_than_the_course": "best variant learns, and its speed claim",
    "test_variant_quality": "variant learns, in the fix's band",
    "test_multi_worker_quality": "multi-worker fix, in the fix's band",
}
CONTRACT = "JSON contract of every record"
# --require-live NAME (finetune.options.REQUIRABLE_GATES): the gates that need no baseline, so that a skip of one is
# a fault, not a missing baseline
REQUIRABLE = {
    "claims": ("the course's claims", lambda test: test.function == "test_course_claims"),
    # test_faster_than_the_course asserts that the best variant learns, then skips its speed half where there is no
    # claim: the figure `learned` it judged is live all the same
    "best-learns": ("the best variant learns", lambda test: test.function == "test_faster_than_the_course"),
    "contract": (CONTRACT, lambda test: test.function == CONTRACT),
}


@dataclass(frozen=True)
class Outcome:
    """One test's end: `passed`, `failed` or `skipped`, and the skip's reason."""

    nodeid: str
    outcome: str
    reason: str = ""
    figures: tuple = field(default=())  # (figure, passed or None, band's lender or "") of its comparisons

    @property
    def function(self) -> str:
        return self.nodeid.split("::")[-1].split("[")[0]

    def live(self) -> bool:
        """Whether the test judged something: it passed or failed, or judged a figure before it skipped."""
        return self.outcome in ("passed", "failed") or any(passed is not None for _, passed, _ in self.figures)

    @property
    def params(self) -> str:
        return self.nodeid.partition("[")[2].rstrip("]")


def contract_outcome(records: int, failures: int) -> Outcome:
    """The contract as one more gate: every record a benchmark wrote was read back as its kind (bench.store.contract)."""
    if failures:
        return Outcome(CONTRACT, "failed", f"{failures} record(s) broke it")
    if not records:
        return Outcome(CONTRACT, "skipped", "no benchmark wrote a record")
    return Outcome(CONTRACT, "passed", f"{records} record(s) read back whole")


CUT_AT = (". Create one here with", ". Narrow it", ": create it with")  # the full verdict above says the fix
MACHINE = re.compile(r"^(cpu|gpu)-[\w.-]+$")  # a fingerprint alone: an item of a list of other machines


def brief(reason: str, limit: int = 240) -> str:
    """A skip's reason for one line: without its parentheses (the machine's description, the key, the band's
    derivation), the list of other machines and the command that the full verdict above already give; each
    distinct clause once."""
    text, before = reason, None
    while text != before:
        before, text = text, re.sub(r"\s*\([^()]*\)", "", text)
    for cut in CUT_AT:
        text = text.split(cut)[0]
    parts = []
    for part in text.split("; "):
        part = re.split(r": (?=(cpu|gpu)-)", part)[0].strip()
        if part and not MACHINE.match(part) and part not in parts:
            parts.append(part)
    text = "; ".join(parts)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def line(test: Outcome) -> str:
    """`gate <what> [<params>]: live, passed (...)`, `... live, FAILED`, or `... skipped: <why>`."""
    what = GATES.get(test.function, test.function)
    name = f"{what} [{test.params}]" if test.params else what
    figures = "; ".join(f"{figure} {({True: 'passed', False: 'FAILED'}).get(passed, 'skipped')}"
                        + (f" against the band lent by {lender}" if lender else "")
                        for figure, passed, lender in test.figures)
    detail = f" ({figures or test.reason})" if figures or test.reason else ""
    if test.outcome == "passed":
        return f"gate {name}: live, passed{detail}"
    if test.outcome == "failed":
        return f"gate {name}: live, FAILED{detail}"
    if test.live():  # judged some figures, then skipped the rest (a speed claim where there is none)
        return f"gate {name}: live, passed ({figures}); the rest skipped: {brief(test.reason)}"
    lenders = sorted({lender for _, _, lender in test.figures if lender})
    lent = f" (bands lent by {', '.join(lenders)})" if lenders else ""
    return f"gate {name}: skipped: {brief(test.reason)}{lent}"


def lines(outcomes: list[Outcome]) -> list[str]:
    """One line a gate; the parametrizations of one gate skipped for one reason share a line (a tier's skips)."""
    shown: dict = {}
    for test in outcomes:
        if test.function not in GATES and test.function != CONTRACT:
            continue
        if test.live():
            shown[test.nodeid] = test
            continue
        same = (test.function, "skipped", test.reason, test.figures)
        group = shown.setdefault(same, [])
        group.append(test)
    return [line(group if isinstance(group, Outcome) else merged(group)) for group in shown.values()]


def merged(tests: list[Outcome]) -> Outcome:
    """Skips of one gate for one reason as one outcome, its parametrizations listed."""
    first = tests[0]
    if len(tests) == 1:
        return first
    params = ", ".join(test.params for test in tests)
    return Outcome(f"{first.nodeid.partition('[')[0]}[{params}]", first.outcome, first.reason, first.figures)


def not_live(required: tuple[str, ...], outcomes: list[Outcome]) -> list[str]:
    """One line per required gate that no test of the session ran live (passed or failed)."""
    missing = []
    for name in required:
        label, matches = REQUIRABLE[name]
        tests = [test for test in outcomes if matches(test)]
        if not any(test.live() for test in tests):
            why = "; ".join(dict.fromkeys(test.reason for test in tests)) or "no test of it ran in this session"
            missing.append(f"finetune: --require-live {name}: {label} was not live: {why}")
    return missing
