"""--reference (bench/timing/reference_revision.py): the gated step time beside a pinned revision's, and the history's drift-free
series of their ratio."""

import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bench.judge import changes
from bench.store import contract
from bench.history import nights
from bench.timing import reference_revision
from finetune.errors import FinetuneError

ROOT = Path(__file__).resolve().parent.parent


class Counting:
    """Stands in for bench.timing.processes.Processes: counts the passes asked of it, in one shared event log."""

    def __init__(self, log: list, name: str, ms: list | None = None):
        self.log, self.name, self.ms = log, name, ms

    def timed_pass(self) -> float:
        self.log.append(self.name)
        return 1.0

    def blocks_ms(self):
        return self.ms


def stub(log, ms=None) -> reference_revision.Reference:
    ref = object.__new__(reference_revision.Reference)
    ref.rev, ref.commit, ref.processes = "v1", "a" * 40, Counting(log, "R", ms)
    return ref


@pytest.mark.parametrize("rounds", range(1, 16))
def test_the_reference_passes_sit_beside_these_in_abba_order_and_as_many(rounds):
    log: list = []
    ref, ours = stub(log), Counting(log, "T")
    for r in range(rounds):
        ref.before(r)
        ours.timed_pass()
    ref.finish(rounds)
    assert log.count("R") == log.count("T") == rounds
    pairs = ["".join(log[i:i + 2]) for i in range(0, len(log), 2)]
    assert pairs == ["RT" if i % 2 == 0 else "TR" for i in range(rounds)], "".join(log)


def test_the_record_is_this_tree_over_the_reference_with_an_interval():
    ours = [[110.0, 111.0, 109.0], [112.0, 110.0, 111.0], [108.0, 110.0, 109.0]]
    theirs = [[100.0, 101.0, 99.0], [100.5, 99.5, 100.0], [99.0, 101.0, 100.0]]
    entry = stub([], theirs).record(ours)
    assert entry["ratio"] == pytest.approx(1.10, abs=0.005)
    assert 1.0 < entry["low"] < entry["ratio"] < entry["high"]
    assert entry["commit"] == "a" * 12 and entry["rev"] == "v1" and entry["blocks_ms"] == theirs
    assert entry["processes_test"]["slower"] and "paired ratio 1.10" in entry["described"]


def test_the_pairs_cancel_a_load_that_moves_from_minute_to_minute():
    """The host's load changes from round to round (x1.0, x1.4, x0.8, ...) and falls on both passes of a pair:
    the paired ratio holds 1.10 tightly where the processes' means, each over loads of its own, spread widely."""
    from bench.judge import blocks
    from bench.timing import reference_revision
    from bench.timing import processes

    count, rounds = 3, 5
    order = list(processes.pass_order(count, rounds))
    load = [1.0, 1.4, 0.8, 1.3, 0.9, 1.5, 0.7, 1.2, 1.0, 1.45, 0.75, 1.1, 1.35, 0.85, 1.0]
    ours, theirs = [[] for _ in range(count)], [[] for _ in range(count)]
    for k, process in enumerate(order):  # pass k of each side, adjacent in time: the same load
        ours[process].append(110.0 * load[k])
        theirs[process].append(100.0 * load[k])
    assert [round(v / 100.0, 2) for v in processes.in_time_order(theirs)] == load
    ratio, low, high = reference_revision.paired(ours, theirs)
    assert ratio == pytest.approx(1.10) and high - low < 1e-6
    welch = blocks.ab_test(blocks.process_means(theirs), blocks.process_means(ours))
    assert welch.high / welch.low > 1.05  # the processes' own loads: a wide interval for the same 10%


def test_a_revision_git_cannot_resolve_is_one_line_naming_the_flag():
    with pytest.raises(FinetuneError) as err:
        reference_revision.resolve("no-such-revision-xyz")
    assert str(err.value).startswith("--reference no-such-revision-xyz: not a commit") and "\n" not in str(err.value)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert reference_revision.resolve("HEAD") == head


@pytest.mark.parametrize("flags, says", [
    (["--reference", "nope-xyz"], "--reference nope-xyz: not a commit of this repository"),
    # the quick tier times one process: its ratio to the reference was a StatisticsError traceback at the first test
    (["--reference", "HEAD", "--tier", "quick"], "--reference HEAD with --tier quick: the reference is judged over "
                                                 "each side's timing processes, a spread needs two a side, and this "
                                                 "tier times 1: use --tier ci or --tier full"),
])
def test_a_pytest_session_with_a_bad_reference_stops_before_any_test(flags, says):
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--model", "tiny", *flags,
                           "--co", "-q", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if flags[1] in line]
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in done.stderr, done.stderr[-2000:]


def record(ms: float, ref_ms: float | None, commit="b" * 12) -> contract.StepTime:
    ours = [[ms] * 5 for _ in range(3)]
    entry = None if ref_ms is None else {"rev": "v1", "commit": commit, "blocks_ms": [[ref_ms] * 5 for _ in range(3)]}
    return contract.StepTime(model="tiny", task="mrpc", device="cpu", batch_size=8, seed=0, epochs=1, tier="ci",
                             engine="tf-keras", step_time_ms=ms, examples_per_s=1.0, tokens_per_s=1.0,
                             steps_timed=15 * 16, blocks_ms=ours, processes=3, reference=entry)


def test_a_night_with_a_reference_adds_the_ratio_series_keyed_by_its_commit():
    plain = {f for _, f, *_ in nights.figures_of(record(500.0, None))}
    assert plain == {"step_time_ms"}
    found = {(k, f): v for k, f, v, *_ in nights.figures_of(record(550.0, 500.0))}
    (key,) = [k for k, f in found if f == "step_vs_reference"]
    assert key.endswith("/reference=" + "b" * 12) and key.startswith(nights.step_key_of(record(550.0, 500.0)))
    assert found[(key, "step_vs_reference")] == pytest.approx(1.10)


def test_a_10_percent_step_in_the_ratio_is_found_at_its_night_while_the_raw_series_drifts():
    """Eight nights: the host's drift (log sd 0.13, as measured between nights here) moves both sides alike, so the
    raw step time shows nothing, while the ratio (its own noise 0.02) shows the step at night 5."""
    rng = random.Random(5)
    drift = [math.exp(rng.gauss(0, 0.13)) for _ in range(8)]
    ratio = [math.exp(rng.gauss(0, 0.02)) * (1.10 if i >= 4 else 1.0) for i in range(8)]
    raw = [500.0 * d * r for d, r in zip(drift, ratio)]
    assert not changes.detect(raw, changes.RULES["step_time_ms"])
    (found,) = changes.detect(ratio, changes.rule_for("step_vs_reference"))
    assert found.index == 4 and found.worse and 1.05 < found.effect < 1.16


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="no /proc/self/environ: the caller's environment")
def test_the_reference_starts_from_the_environment_the_session_started_with(monkeypatch):
    """A variable this tree's code sets at import (say a oneDNN setting: the change under test) must not reach the
    reference's processes."""
    from bench.timing import processes

    monkeypatch.setenv("FINETUNE_SET_AFTER_START", "1")
    env = processes.initial_environment()
    assert "FINETUNE_SET_AFTER_START" not in env and "PATH" in env


def test_where_setproctitle_moved_the_environment_the_reference_starts_from_finetunes_snapshot(monkeypatch):
    """pytest-xdist's workers set their title with setproctitle, which moves the environment over what
    /proc/self/environ reads (this test's sibling once saw a variable set after start there, in a worker): the
    snapshot `finetune` took on import stands in, without what was set since."""
    import types

    import finetune
    from bench.timing import processes

    monkeypatch.setitem(sys.modules, "setproctitle", types.ModuleType("setproctitle"))
    monkeypatch.setattr(finetune, "STARTING_ENVIRONMENT", {"PATH": "/bin", "ONLY_IN_THE_SNAPSHOT": "1"})
    monkeypatch.setenv("FINETUNE_SET_AFTER_START", "1")
    assert processes.initial_environment() == {"PATH": "/bin", "ONLY_IN_THE_SNAPSHOT": "1"}


def test_the_pass_order_is_lazy_for_a_session_that_may_time_any_number_of_passes():
    """Processes asks for 10**9 rounds: a list of them would take all the memory there is."""
    import itertools

    from bench.timing import processes

    assert list(itertools.islice(processes.pass_order(3, 10 ** 9), 7)) == [0, 1, 2, 2, 1, 0, 0]
    assert processes.in_time_order([[1.0, 6.0], [2.0, 5.0], [3.0, 4.0]]) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
