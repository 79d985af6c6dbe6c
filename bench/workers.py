"""Timing processes: the course's training step prepared in processes of their own (bench/block.py), asked for one
whole timed pass at a time, in an interleaved order.

A process carries its own offset on a shared host (thread placement, memory layout, the neighbours' load while it
ran), so a step time that should stand for "this environment on this machine" is timed in several processes, and
the passes of all of them are interleaved so that a drift in the machine's load falls on each alike. Used by the
gated step time (bench/test_step_time.py) and by the A/B mode (bench.ab).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = ROOT / "bench" / "block.py"


class WorkerFailed(Exception):
    """A timing process ended or answered nothing: its last line of output says why."""


class Worker:
    """One process: prepared and warmed up once (its `ready()` answer describes what it times), then asked for one
    timed pass at a time (`timed_pass()`: ms per step, also kept in `.ms`)."""

    def __init__(self, python: str, tree: Path, options: list[str], name: str = "worker", env: dict | None = None):
        self.name, self.python = name, python
        env = {**(os.environ if env is None else env), "PYTHONPATH": str(tree)}  # TF log level: as the caller's
        # stderr to a file: progress bars and TensorFlow's logs would fill a pipe nobody reads, and block the worker
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([python, str(BLOCK), *options], cwd=tree, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.ms: list[float] = []

    def _answer(self) -> dict:
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        self.process.wait()
        self.log.seek(0)
        tail = (self.log.read().strip().splitlines() or ["no output"])[-1]
        raise WorkerFailed(f"a timing process of {self.name} ({self.python}) failed: {tail}")

    def ready(self) -> dict:
        return self._answer()

    def timed_pass(self, slowdown: float | None = None) -> float:
        """One timed pass (ms per step); `slowdown`: this pass planted that fraction slower (the test hook)."""
        self.process.stdin.write("pass\n" if slowdown is None else f"pass {slowdown}\n")
        self.process.stdin.flush()
        self.ms.append(self._answer()["ms_per_step"])
        return self.ms[-1]

    def ask(self, line: str) -> dict:
        """Send one command line (bench/block.py's protocol, e.g. `pass xla-buckets`) and return its answer."""
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._answer()

    def quit(self) -> None:
        """Ask the process to end, without waiting for it (close() waits)."""
        if self.process.poll() is None and not self.process.stdin.closed:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            except OSError:
                pass

    def close(self) -> None:
        self.quit()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def close_all(started) -> None:
    """Close every worker of `started`, all asked to quit before any is waited for: a process of the course's step
    takes about a second to end (TensorFlow's teardown), and they end side by side."""
    for worker in started:
        worker.quit()
    for worker in started:
        worker.close()


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
    a variable (TF_USE_LEGACY_KERAS, a oneDNN or threading setting); this process's own where it cannot be read."""
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return dict(os.environ)
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {os.fsdecode(k): os.fsdecode(v) for k, v in pairs}


def block_options(model: str, batches: int, glue_dir: str | None = None, batch_size: int = 8, device: str = "auto",
                  seed: int = 0, slowdown: float = 0.0, task: str = "mrpc", engine_flags=()) -> list[str]:
    """bench/block.py's command line for one configuration; `engine_flags`: finetune.engines.Engine.flags() (none
    for the default engine: the A/B mode runs this file against revisions from before engines)."""
    return (["--task", task, "--model", model, "--batches", str(batches), "--batch-size", str(batch_size), "--device", device,
             "--seed", str(seed), "--plant-slowdown", str(slowdown)] + (["--glue-dir", glue_dir] if glue_dir else [])
            + list(engine_flags))


class Processes:
    """`count` timing processes of one configuration, started together (their set-up overlaps), each warmed up;
    `timed_pass()` times the next pass in an interleaved order (round by round, the direction alternating)."""

    def __init__(self, count: int, options: list[str], python: str = sys.executable, tree: Path = ROOT,
                 env: dict | None = None):
        self.workers = [Worker(python, tree, options, name=f"process {i + 1}", env=env) for i in range(count)]
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

    def close(self) -> None:
        close_all(self.workers)

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

