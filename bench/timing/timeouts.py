"""Time limits on every process the suite and its tools start, so that a stuck one is killed and named in one line
instead of blocking a session, a night or a CI run forever.

Each limit is what the work should take, times FACTOR, and never below a floor: on a slow 2-core AVX2 host under
its neighbours' load the work is slower, never 10 times slower, and the floors cover what is not measured
(imports, a model's load, tracing). Two floors can be raised, read once where a tool starts (Limits.from_env):

    FINETUNE_WORKER_TIMEOUT   seconds, default 600: the least a timing process (bench/timing/timed_process.py, bench.timing.processes) has
                              for one answer. Its set-up (ready) has this and 3 x a slow untimed pass for each
                              bench it prepares (bench.tune: one per variant), times the processes that share a
                              core while they set up together; a timed pass has the larger of this and 10 x its
                              slowest pass so far (before the first, its set-up per bench).
    FINETUNE_COMMAND_TIMEOUT  seconds, default 1800: the least a command run to its end has (a fine-tune of the A/B
                              mode or bench.tune, a pytest session of bench.sensitivity or bench/gpu/check.py); one
                              whose length is known (steps x a measured or stated ms per step, or a whole
                              `pytest bench/` session: SESSION_S) has 10 x that.

git, scontrol and pip have fixed limits (GIT_S, TOOL_S, PIP_S): their work does not grow with the model. Standard
library only: bench/gpu/check.py imports it before anything is installed.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

WORKER_ENV = "FINETUNE_WORKER_TIMEOUT"
COMMAND_ENV = "FINETUNE_COMMAND_TIMEOUT"
WORKER_S = 600.0  # the A/B mode's 8 processes set up together in 141 s on average on 2 cores (docs/gates.md)
COMMAND_S = 1800.0  # a fine-tune's fixed part (imports, the model, tokenising, predict) takes a minute or two
LOAD = 3.0  # a loaded 2-core host is 2-3x slower than a quiet one
FACTOR = 10.0  # 10x what was measured here is no longer load: a hang
GIT_S = 300.0  # a worktree of this repository is checked out in seconds
TOOL_S = 60.0  # scontrol show hostnames: instant
PIP_S = 1800.0  # pip download / install of gpu_check's ~25 wheels
GRACE_S = 5.0  # SIGTERM's grace before SIGKILL
SLOW_STEP_MS = 6000.0  # an unmeasured step: bert-base-uncased at batch 8 on 2 AVX2 cores, ~8x minilm-l6's 764 ms
SESSION_S = 2100.0  # a whole `pytest bench/` session: the CI tier's 25-35 min on 2 cores (README), the longest measured


class TimedOut(Exception):
    """A process passed its limit and was killed (with whatever it started): `str(err)` is one line naming it, the
    limit and how to raise the limit."""


class BadLimit(ValueError):
    """A limit's variable is not a positive number of seconds: one line naming the variable and the fix."""


@dataclass(frozen=True)
class Limits:
    """The floors of the limits, in seconds (see the module's docstring)."""

    worker_s: float = WORKER_S
    command_s: float = COMMAND_S

    @classmethod
    def from_env(cls, environ=None) -> "Limits":
        environ = os.environ if environ is None else environ
        return cls(worker_s=seconds_from(environ, WORKER_ENV, WORKER_S),
                   command_s=seconds_from(environ, COMMAND_ENV, COMMAND_S))

    def ready_s(self, benches: int = 1, together: int = 1, cores: int | None = None, rows: int = 0) -> float:
        """A timing process's set-up, for each bench it prepares: the floor (imports, the model, tracing) and its
        untimed pass over `rows` rows at SLOW_STEP_MS per 8 on a loaded host (nothing is measured yet); times the
        processes that share each core while they set up together (they take turns on the cores)."""
        cores = cores or os.cpu_count() or 1
        per_bench = self.worker_s + LOAD * rows / 8 * SLOW_STEP_MS / 1000.0
        return per_bench * max(1, benches) * max(1.0, together / cores)

    def pass_s(self, expected_s: float | None) -> float:
        """One timed pass: FACTOR x the pass it is expected to take, never under the floor."""
        return max(self.worker_s, FACTOR * (expected_s or 0.0))

    def fine_tune_s(self, steps: int, ms_per_step: float | None = None) -> float:
        """A whole fine-tune of `steps` training steps: FACTOR x their time at `ms_per_step` (measured here, else
        SLOW_STEP_MS), never under the command floor (which also covers set-up and predict)."""
        return self.command_s_for(steps * (ms_per_step or SLOW_STEP_MS) / 1000.0)

    def command_s_for(self, expected_s: float | None) -> float:
        """A command expected to take `expected_s` (None: unknown): FACTOR x that, never under the floor."""
        return max(self.command_s, FACTOR * (expected_s or 0.0))


def seconds_from(environ, name: str, default: float) -> float:
    """`name`'s value as seconds (unset or empty: `default`); anything but a positive number is one line."""
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise BadLimit(f"{name}={text!r}: not a positive number of seconds; unset it for the default "
                       f"({default:g} s) or give e.g. {name}={2 * default:g}")
    return value


def timed_out(what: str, limit_s: float, fix: str, missed: str = "gave no answer") -> str:
    """The one line of a limit that was hit: what, the limit, what was done, and how to raise it."""
    return f"{what} {missed} within {limit_s:.0f} s: killed; {fix}"


def raise_hint(variable: str, floor_s: float) -> str:
    """The fix of a limit hit on a machine slower than the limits assume: the variable that raises it."""
    return f"raise {variable} (seconds, now {floor_s:g}) if this machine is that slow"


def descendants(pid: int) -> list[int]:
    """Every process started by `pid`, its children's children included (Linux: /proc; elsewhere none)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process and everything it started (found before the kill: once it is dead they are orphans)."""
    for pid in [*descendants(process.pid), process.pid]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def stop_group(process: subprocess.Popen, grace_s: float = GRACE_S, first=signal.SIGTERM) -> None:
    """Signal a process started in a session of its own, with its whole group (`first`: SIGTERM); after `grace_s`,
    SIGKILL what is left of the group (what the process started, if it ended itself); then reaped."""
    signal_group(process.pid, first)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    signal_group(process.pid, signal.SIGKILL)
    process.wait()


def signal_group(group: int, sig) -> None:
    """Signal every process of `group`; one that has ended meanwhile is no error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def run(command: list[str], *, limit_s: float, name: str, fix: str, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run(command, **kwargs) within `limit_s`: past it, the command and its whole process group are
    stopped (it runs in a session of its own) and TimedOut says `name`, the limit and `fix`. An interrupt (Ctrl-C)
    is passed on to the group (SIGINT, then SIGKILL after GRACE_S) before it propagates: in a session of its own
    the group no longer receives the terminal's signals itself."""
    kwargs = {**kwargs, "start_new_session": True}
    if kwargs.pop("capture_output", False):
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    with subprocess.Popen(command, **kwargs) as process:
        try:
            out, err = process.communicate(timeout=limit_s)
        except subprocess.TimeoutExpired:
            stop_group(process)
            raise TimedOut(timed_out(name, limit_s, fix, missed="did not end")) from None
        except BaseException:
            stop_group(process, first=signal.SIGINT)
            raise
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def git(root, *arguments: str) -> subprocess.CompletedProcess:
    """`git -C root ARGUMENTS...`, its output captured as text, within GIT_S (TimedOut past it)."""
    return run(["git", "-C", str(root), *arguments], capture_output=True, text=True, limit_s=GIT_S,
               name=f"git {' '.join(arguments[:2])} (in {root})",
               fix=f"check that git answers in {root} (a stalled disk, a lock another git holds)")
