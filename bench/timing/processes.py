"""Timing processes: the course's training step prepared in processes of their own (bench/timing/timed_process.py), asked for one
whole timed pass at a time, in an interleaved order.

A process carries its own offset on a shared host (thread placement, memory layout, the neighbours' load while it
ran), so a step time that should stand for "this environment on this machine" is timed in several processes, and
the passes of all of them are interleaved so that a drift in the machine's load falls on each alike. Used by the
gated step time (bench/test_step_time.py) and by the A/B mode (bench.ab).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.timing import timeouts

ROOT = Path(__file__).resolve().parents[2]
TIMED_PROCESS = ROOT / "bench" / "timing" / "timed_process.py"


def tree_first(env: dict, tree: Path) -> dict:
    """`env` with the source tree under test first on PYTHONPATH and the caller's entries after it: `finetune` comes
    from that tree, and what the caller carries (packages installed with --target, as the GPU check does) stays
    importable in the timing process."""
    kept = [entry for entry in (env.get("PYTHONPATH") or "").split(os.pathsep) if entry and entry != str(tree)]
    return {**env, "PYTHONPATH": os.pathsep.join([str(tree), *kept])}


class WorkerFailed(Exception):
    """A timing process ended or answered nothing: its last line of output says why."""


class WorkerTimeout(WorkerFailed):
    """A timing process gave no answer within its limit (bench.timing.timeouts) and was killed, with what it started."""


# what a timing process's pass answer may carry besides ms_per_step: its peak memory (finetune.memory.peak)
MEMORY_FIELDS = ("peak_rss_mb", "rss_scope", "peak_gpu_memory_mb", "gpu_memory_scope")
QUIT_S = 60.0  # closing: a process of the course's step ends in about a second (TensorFlow's teardown)


def limits_here() -> timeouts.Limits:
    """The limits as $FINETUNE_WORKER_TIMEOUT sets them (bench.timing.timeouts); a bad value is a WorkerFailed, which every
    caller of the timing processes already reports in one line."""
    try:
        return timeouts.Limits.from_env()
    except timeouts.BadLimit as err:
        raise WorkerFailed(str(err)) from None


def benches_of(options: list[str]) -> int:
    """How many benches a process of `options` prepares before its ready line: one per --perf variant (bench.tune),
    else one."""
    return len(option(options, "--perf", "").split(",")) if "--perf" in options[:-1] else 1


def rows_of(options: list[str]) -> int:
    """The rows of one pass of a process of `options` (bench/timing/timed_process.py's defaults where not given)."""
    return int(option(options, "--batches", "8")) * int(option(options, "--batch-size", "8"))


def option(options: list[str], flag: str, default: str) -> str:
    return options[options.index(flag) + 1] if flag in options[:-1] else default


class Worker:
    """One process: prepared and warmed up once (its `ready()` answer describes what it times), then asked for one
    timed pass at a time (`timed_pass()`: ms per step, also kept in `.ms`). Every answer has a limit (bench.timing.timeouts:
    its set-up `limits.ready_s`, `together` processes setting up at once; a pass `limits.pass_s` of its slowest
    pass so far): past it the process and what it started are killed, and WorkerTimeout names it and the limit."""

    def __init__(self, python: str, tree: Path, options: list[str], name: str = "worker", env: dict | None = None,
                 limits: timeouts.Limits | None = None, together: int = 1):
        self.name, self.python = name, python
        self.memory = {}  # its last pass's peak memory (finetune.memory.peak's fields), where it reports one
        self.limits = limits or limits_here()
        self._benches = benches_of(options)
        self.ready_limit_s = self.limits.ready_s(self._benches, together, rows=rows_of(options))
        env = tree_first(dict(os.environ if env is None else env), tree)  # TF log level: as the caller's
        # stderr to a file: progress bars and TensorFlow's logs would fill a pipe nobody reads, and block the worker
        self.log = tempfile.TemporaryFile(mode="w+")
        self.started = time.monotonic()
        self.process = subprocess.Popen([python, str(TIMED_PROCESS), *options], cwd=tree, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        # its stdout read by a thread of its own, so that waiting for an answer can stop at a limit
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ms: list[float] = []
        self.slowest_pass_s: float | None = None  # wall time of its slowest answered pass (the next one's limit)
        self.setup_s_per_bench: float | None = None  # until a pass is answered, the expected pass (it holds one)

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)  # the end of its output

    def describe(self) -> str:
        return f"timing process {self.name} ({self.python} bench/timing/timed_process.py)"

    def _answer(self, since: float, limit_s: float, asked: str) -> dict:
        deadline = since + limit_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                timeouts.kill_tree(self.process)
                raise WorkerTimeout(timeouts.timed_out(f"{self.describe()}, asked for {asked},", limit_s,
                                                       timeouts.raise_hint(timeouts.WORKER_ENV,
                                                                           self.limits.worker_s))) from None
            if line is None:
                break
            if line.startswith("{"):
                return json.loads(line)
        self.process.wait()
        self.log.seek(0)
        tail = (self.log.read().strip().splitlines() or ["no output"])[-1]
        raise WorkerFailed(f"{self.describe()} failed: {tail}")

    def ready(self) -> dict:
        """Its ready line, within its set-up's limit from its start; the set-up per bench is the first pass's
        expected time (it holds an untimed pass of each)."""
        answer = self._answer(self.started, self.ready_limit_s, "its set-up")
        self.setup_s_per_bench = (time.monotonic() - self.started) / self._benches
        return answer

    def _timed(self, line: str) -> dict:
        """Send one command line and return its answer within the limit of a pass."""
        asked = time.monotonic()
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self._answer(asked, self.limits.pass_s(self.slowest_pass_s or self.setup_s_per_bench), f"`{line}`")
        self.slowest_pass_s = max(self.slowest_pass_s or 0.0, time.monotonic() - asked)
        return answer

    def timed_pass(self, slowdown: float | None = None) -> float:
        """One timed pass (ms per step); `slowdown`: this pass planted that fraction slower (the test hook)."""
        answer = self._timed("pass" if slowdown is None else f"pass {slowdown}")
        self.ms.append(answer["ms_per_step"])
        self.memory = {name: value for name, value in answer.items() if name in MEMORY_FIELDS} or self.memory
        return self.ms[-1]

    def ask(self, line: str) -> dict:
        """Send one command line (bench/timing/timed_process.py's protocol, e.g. `pass xla-buckets`) and return its answer."""
        return self._timed(line)

    def quit(self) -> None:
        """Ask the process to end, without waiting for it (close() waits)."""
        if self.process.poll() is None and not self.process.stdin.closed:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            except OSError:
                pass

    def close(self, deadline: float | None = None) -> None:
        """Ask it to end and wait for it until `deadline` (time.monotonic(); default QUIT_S from now): past it, it
        and what it started are killed."""
        self.quit()
        deadline = time.monotonic() + QUIT_S if deadline is None else deadline
        try:
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timeouts.kill_tree(self.process)
        self.log.close()


def close_all(started) -> None:
    """Close every worker of `started`, all asked to quit before any is waited for, with one deadline for all: a
    process of the course's step takes about a second to end (TensorFlow's teardown), and they end side by side."""
    started = list(started)
    for worker in started:
        worker.quit()
    deadline = time.monotonic() + QUIT_S
    for worker in started:
        worker.close(deadline)


def pass_order(count: int, rounds: int):
    """Which of `count` processes times each pass, `rounds` rounds of one pass each, the direction alternating by
    round (0 1 2, 2 1 0, ...): Processes' order, so that passes stored per process can be put back in time order.
    A generator: Processes asks it for as many rounds as a session may ever time."""
    for r in range(rounds):
        yield from (range(count) if r % 2 == 0 else reversed(range(count)))


def in_time_order(blocks_ms: list[list[float]]) -> list[float]:
    """The passes of `blocks_ms` (a list per process, as Processes times them) in the order they were timed."""
    taken = [0] * len(blocks_ms)
    found = []
    for index in pass_order(len(blocks_ms), max(map(len, blocks_ms), default=0)):
        if taken[index] < len(blocks_ms[index]):
            found.append(blocks_ms[index][taken[index]])
            taken[index] += 1
    return found


def initial_environment() -> dict:
    """The environment this process was started with (Linux: /proc/self/environ), before anything it imported set
    a variable (TF_USE_LEGACY_KERAS, a oneDNN or threading setting). Where that cannot be read, or where setproctitle
    is loaded (pytest-xdist's workers title themselves with it, and it moves the environment over the area that
    /proc/self/environ reads: a variable set later was seen there), the environment as `finetune` found it on import."""
    import finetune

    if "setproctitle" in sys.modules:
        return dict(finetune.STARTING_ENVIRONMENT)
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return dict(finetune.STARTING_ENVIRONMENT)
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {os.fsdecode(k): os.fsdecode(v) for k, v in pairs}


def block_options(model: str, batches: int, glue_dir: str | None = None, batch_size: int = 8, device: str = "auto",
                  seed: int = 0, slowdown: float = 0.0, task: str = "mrpc", engine_flags=()) -> list[str]:
    """bench/timing/timed_process.py's command line for one configuration; `engine_flags`: finetune.engines.Engine.flags() (none
    for the default engine: the A/B mode runs this file against revisions from before engines)."""
    return (["--task", task, "--model", model, "--batches", str(batches), "--batch-size", str(batch_size), "--device", device,
             "--seed", str(seed), "--plant-slowdown", str(slowdown)] + (["--glue-dir", glue_dir] if glue_dir else [])
            + list(engine_flags))


class Processes:
    """`count` timing processes of one configuration, started together (their set-up overlaps), each warmed up;
    `timed_pass()` times the next pass in an interleaved order (round by round, the direction alternating)."""

    def __init__(self, count: int, options: list[str], python: str = sys.executable, tree: Path = ROOT,
                 env: dict | None = None, limits: timeouts.Limits | None = None):
        limits = limits or limits_here()  # read once for all of them
        self.workers = [Worker(python, tree, options, name=f"{i + 1} of {count}", env=env, limits=limits,
                               together=count) for i in range(count)]
        self._order = None
        try:
            self.described = [worker.ready() for worker in self.workers][0]
        except WorkerFailed:
            self.close()
            raise

    def order(self, rounds: int):
        """The workers, one pass each per round, the direction alternating by round (1 2 3, 3 2 1, ...)."""
        for index in pass_order(len(self.workers), rounds):
            yield self.workers[index]

    def timed_pass(self) -> float:
        """The next worker's pass (ms per step, also kept by the worker), for pytest-benchmark to time."""
        if self._order is None:
            self._order = self.order(10 ** 9)
        return next(self._order).timed_pass()

    def timed(self) -> list[int]:
        """How many passes each process has timed so far: a mark for `blocks_ms(since=...)`."""
        return [len(worker.ms) for worker in self.workers]

    def blocks_ms(self, since: list[int] | None = None) -> list[list[float]]:
        """Per process, its passes as ms per step (those after the mark `since`, where given)."""
        since = since or [0] * len(self.workers)
        return [list(worker.ms[start:]) for worker, start in zip(self.workers, since)]

    def peak_memory(self) -> dict:
        """The peak memory of the timed step, measured where it ran: the largest of the processes' (each runs only
        this step), in finetune.memory.peak's fields; {} where none reported one (older revisions)."""
        found = [worker.memory for worker in self.workers if worker.memory]
        if not found:
            return {}
        peak = max(found, key=lambda m: (m.get("peak_gpu_memory_mb") or 0.0, m.get("peak_rss_mb") or 0.0))
        return {**peak, "peak_rss_mb": max(m["peak_rss_mb"] for m in found if "peak_rss_mb" in m),
                "memory_of": "timing processes"}

    def close(self) -> None:
        close_all(self.workers)

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

