"""The gated step time beside a pinned reference revision's, timed in alternating processes: a night's figure that
the host's drift between nights does not move.

    pytest bench/ --history DIR --reference REV        # or $FINETUNE_REFERENCE

A shared host's speed drifts from hour to hour by more than the changes a nightly check is for (docs/history.md:
nights of one hour moved 13%, log sd, with the same code). With `--reference`, the gated step time's processes
are joined by as many processes of REV (checked out with `git worktree`, its `finetune` package timed
by this tree's bench/timing/timed_process.py, as in the A/B mode), and every pass of this tree's processes sits beside one of
the reference's, in ABBA order (R T T R R T ...), so a drift in the machine's load falls on both alike. The
record carries the reference's passes and their ratio (this tree / the reference, bench.judge.blocks.ab_test with its
interval), and the history's series `step_vs_reference` is that ratio, night after night: what moves it is this
tree's code (or its libraries), not the host. Pin REV for as long as the series should run (a release tag, or
the revision the runner started from); a new REV starts a new series (the key holds its commit).
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from pathlib import Path

from bench.judge import blocks
from bench.timing import timeouts
from bench.timing import processes
from finetune.errors import FinetuneError

ROOT = processes.ROOT


def git(rev: str, *arguments: str):
    """git on this repository within its limit (bench.timing.timeouts.GIT_S); past it, one line naming --reference."""
    try:
        return timeouts.git(ROOT, *arguments)
    except timeouts.TimedOut as err:
        raise FinetuneError(f"--reference {rev}: {err}") from None


def resolve(rev: str) -> str:
    """The full commit id of `rev`; one line naming the problem and the fix when git cannot resolve it."""
    done = git(rev, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if done.returncode != 0 or not done.stdout.strip():
        raise FinetuneError(f"--reference {rev}: not a commit of this repository ({ROOT}): give a revision git "
                            "can check out (a tag, a branch, a commit id), from a full clone")
    return done.stdout.strip()


class Reference:
    """`count` timing processes of REV's training step with the options of this session's processes, in a git
    worktree removed on close. `before(r)` times the reference passes due before this tree's pass r (ABBA), and
    `finish(rounds)` the one due after the last, so both sides time as many passes."""

    def __init__(self, rev: str, count: int, options: list[str]):
        self.rev = rev
        self.commit = resolve(rev)
        self._dir = Path(tempfile.mkdtemp(prefix="bench-reference-"))
        self.tree = self._dir / "reference"
        done = git(rev, "worktree", "add", "--detach", str(self.tree), self.commit)
        if done.returncode != 0:
            self._dir.rmdir()
            last = (done.stderr.strip().splitlines() or ["git worktree add failed"])[-1]
            raise FinetuneError(f"--reference {rev}: cannot check it out: {last}")
        try:
            # with the environment this session started with: a variable this tree's code sets at import (a oneDNN
            # or threading setting) is part of the change under test, and must not reach the reference's processes
            self.processes = processes.Processes(count, options, python=sys.executable, tree=self.tree,
                                               env=processes.initial_environment())
        except processes.WorkerTimeout as err:
            self._remove()
            raise FinetuneError(f"--reference {rev} ({self.commit[:12]}): {err}") from None
        except processes.WorkerFailed as err:
            self._remove()
            raise FinetuneError(f"--reference {rev} ({self.commit[:12]}): {err} (a revision from before "
                                "bench/timing/timed_process.py's API cannot be a reference)") from None

    def passes_before(self, r: int) -> int:
        """Reference passes timed before this tree's pass r: R T | T R R T | T R R T ... (ABBA by pairs)."""
        return 1 if r == 0 else (2 if r % 2 == 0 else 0)

    def before(self, r: int) -> None:
        for _ in range(self.passes_before(r)):
            self.processes.timed_pass()

    def finish(self, rounds: int) -> None:
        """The reference pass due after the last of `rounds` passes (an even count ends on R)."""
        if rounds % 2 == 0:
            self.processes.timed_pass()

    def blocks_ms(self) -> list[list[float]]:
        return self.processes.blocks_ms()

    def record(self, blocks_ms: list[list[float]]) -> dict:
        """The record's `reference` entry: REV, its passes, and this tree's step time against them: the ratio this
        tree / the reference over the ABBA pairs of adjacent passes (paired: the host's load, which moves from
        one minute to the next, falls on both passes of a pair), with its interval; and, beside it, Welch's test
        over the processes' mean log ms/step (bench.judge.blocks.ab_test, as the A/B mode decides)."""
        ratio, low, high = paired(blocks_ms, self.blocks_ms())
        verdict = blocks.ab_test(blocks.process_means(self.blocks_ms()), blocks.process_means(blocks_ms))
        return {"rev": self.rev, "commit": self.commit[:12], "blocks_ms": self.blocks_ms(), "ratio": ratio,
                "low": low, "high": high, "processes_test": verdict.to_dict(),
                "described": f"paired ratio {ratio:.3f} [{low:.3f}, {high:.3f}]; by processes: {verdict.describe()}"}

    def _remove(self) -> None:
        git(self.rev, "worktree", "remove", "--force", str(self.tree))
        shutil.rmtree(self._dir, ignore_errors=True)

    def close(self) -> None:
        self.processes.close()
        self._remove()

    def __enter__(self) -> "Reference":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def pair_logs(ours: list[list[float]], theirs: list[list[float]]) -> list[float]:
    """log(ours / theirs) of each ABBA pair: this tree's pass k and the reference's pass k in time order are
    adjacent (R T | T R | R T ...: Reference.passes_before)."""
    return [math.log(t / r) for t, r in zip(processes.in_time_order(ours), processes.in_time_order(theirs))]


def paired(ours: list[list[float]], theirs: list[list[float]], alpha: float = 0.05) -> tuple[float, float, float]:
    """The ratio this tree / the reference over the ABBA pairs, with its interval (bench.judge.blocks.paired_ratio)."""
    return blocks.paired_ratio(pair_logs(ours, theirs), alpha)
