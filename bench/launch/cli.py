"""Run one command as N workers that fine-tune together: locally, or once per host under a cluster scheduler.

    python -m bench.launch --workers 2 -- python -m finetune --distribute multi-worker --max-train-samples 64
    python -m bench.launch --workers 2 -- pytest bench/test_multi_worker.py
    python -m bench.launch --from-scheduler -- python -m finetune --distribute multi-worker   # one per host

Locally it picks free localhost ports, starts N processes with the world's variables (finetune/cluster.py:
TF_CONFIG for tf-keras's MultiWorkerMirroredStrategy, KERAS_DISTRIBUTION_* for keras3-jax's jax.distributed),
prints the chief's output as it comes and every other worker's lines prefixed `[worker i]`, and returns the
chief's exit status. A worker that exits with a failure, or dies, stops the others: SIGTERM, then SIGKILL after
GRACE_S, so the launcher returns within STOP_BOUND_S of the death, with one line naming
the worker and its status; collectives that wait on a vanished peer would otherwise hang. --timeout (default
TIMEOUT_S, 12 h) bounds the whole run the same way: past it every worker still running is stopped, one line names
them and the limit, and the exit status is 124 (a hang is a failure).

--from-scheduler reads what Slurm gives each task (SLURM_PROCID, SLURM_NTASKS, the first host of
SLURM_JOB_NODELIST as the coordinator, --port on every host) and runs the command once, as that worker, supervised
as a local worker is: --timeout, a stop of its whole process group, one line naming it;
on Kubernetes the TFJob operator sets TF_CONFIG itself: run the command directly (docs/multi-worker.md).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from bench.timing import timeouts
from finetune import cluster
from finetune.errors import FinetuneError

POLL_S = 0.2
GRACE_S = 5.0
STOP_BOUND_S = POLL_S + 2 * GRACE_S + 1.0  # the death noticed, SIGTERM's grace, SIGKILL reaped; the test holds it
TIMEOUT_STATUS = 124
FINISH_S = 120.0  # once a worker has ended well, how long the others have to end too (their last predict, a report)
# --timeout's default. The course's 3 epochs of MRPC (1,377 global steps) on 2 workers sharing 2 CPU cores: minilm-l6
# at the measured 1.5-1.7 s a step (docs/multi-worker.md) about 40 min, so 10x is ~7 h; bert-base-uncased, ~8x its
# FLOPs, an estimated 4-5 h there. 12 h holds both; the CI tier's runs under the launcher take minutes.
TIMEOUT_S = 12 * 3600.0


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.launch", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, help="local workers to start (2 or more)")
    parser.add_argument("--from-scheduler", action="store_true",
                        help="this host's one worker, from the Slurm variables (SLURM_PROCID, SLURM_NTASKS, ...)")
    parser.add_argument("--port", type=int, default=None,
                        help="the first port (worker i listens on port + i); default: free ones picked here")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S,
                        help=f"seconds before every worker is stopped (exit 124); default {TIMEOUT_S:g} (12 h)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command each worker runs")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise FinetuneError("no command to run: python -m bench.launch --workers 2 -- python -m finetune ...")
    if args.from_scheduler == (args.workers is not None):
        raise FinetuneError("pass one of --workers N (local workers) or --from-scheduler (one worker per host)")
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise FinetuneError(f"--timeout {args.timeout:g}: give a positive number of seconds (default {TIMEOUT_S:g})")
    if args.workers is not None and args.workers < 2:
        raise FinetuneError(f"--workers {args.workers}: a multi-worker run has 2 or more; run the command itself "
                            "for one")
    return args, command


def free_ports(count: int, first: int | None = None) -> list[int]:
    """`count` localhost ports nobody listens on: from `first` on, each checked (one in use is one error line),
    or picked by the kernel (bound and released; the workers bind them a moment later)."""
    if first is not None:
        ports = list(range(first, first + count))
        for port in ports:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    raise FinetuneError(f"--port {first}: port {port} is already in use on this host; pass another "
                                        "--port, or leave it out to have free ports picked") from None
        return ports
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def slurm_world(environ, port: int | None) -> dict:
    """This task's world variables from Slurm's: one task per host, the first host the coordinator."""
    missing = [name for name in ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_JOB_NODELIST") if not environ.get(name)]
    if missing:
        raise FinetuneError(f"--from-scheduler: {', '.join(missing)} not set: run it under srun (one task per "
                            "host), or set TF_CONFIG / KERAS_DISTRIBUTION_* yourself and run the command directly")
    if port is None:
        raise FinetuneError("--from-scheduler needs --port: the port every host's worker listens on")
    listed = timeouts.run(["scontrol", "show", "hostnames", environ["SLURM_JOB_NODELIST"]], capture_output=True,
                          text=True, limit_s=timeouts.TOOL_S, name="scontrol show hostnames",
                          fix="is Slurm's controller answering?")
    hosts = listed.stdout.split() or environ["SLURM_JOB_NODELIST"].split(",")
    workers = int(environ["SLURM_NTASKS"])
    if len(hosts) != workers:
        raise FinetuneError(f"--from-scheduler: {workers} tasks on {len(hosts)} hosts; run one task per host "
                            "(srun --ntasks-per-node=1)")
    return cluster.environment_for([f"{host}:{port}" for host in hosts], int(environ["SLURM_PROCID"]))


class Worker:
    """One worker process in a session of its own, its output streamed line by line (prefixed, except the chief's
    and the one worker of this host under a scheduler: `prefix` "")."""

    def __init__(self, index: int, command: list[str], env: dict, prefix: str | None = None):
        self.index = index
        self.prefix = ("" if index == 0 else f"[worker {index}] ") if prefix is None else prefix
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, bufsize=1, start_new_session=True)
        self.reader = threading.Thread(target=self._stream, daemon=True)
        self.reader.start()

    def _stream(self) -> None:
        for line in self.process.stdout:
            sys.stdout.write(self.prefix + line)
            sys.stdout.flush()

    def stop(self, sig) -> None:
        """Signal the worker and whatever it started (pytest's timing processes), which may outlive it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the whole group has ended
            os.killpg(self.process.pid, sig)


def describe_status(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def run_local(command: list[str], workers: int, port: int | None, timeout: float) -> int:
    addresses = [f"127.0.0.1:{p}" for p in free_ports(workers, port)]
    started = [Worker(i, command, {**os.environ, **cluster.environment_for(addresses, i)}) for i in range(workers)]
    return supervise(started, timeout)


def run_scheduled(command: list[str], port: int | None, timeout: float) -> int:
    """This host's one worker of a scheduler's world, supervised as local workers are (--timeout, its group)."""
    world = slurm_world(os.environ, port)
    index = cluster.World.from_env(world).index
    return supervise([Worker(index, command, {**os.environ, **world}, prefix="")], timeout)


def supervise(started: list[Worker], timeout: float) -> int:
    """Wait for `started` to end: the first failure, a worker still running FINISH_S after another ended well, or
    --timeout stops them all, in one line naming the workers. An interrupt (Ctrl-C, or SIGTERM: a CI job's or a
    scheduler's own limit) stops them too: in sessions of their own they no longer receive the terminal's signals,
    and would outlive the launcher."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        return watch(started, timeout)
    except KeyboardInterrupt:
        stop_all(started)
        print("bench.launch: interrupted: stopped every worker", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def interrupted(signum, frame):
    """SIGTERM, as Ctrl-C is: the workers are stopped before the launcher ends."""
    raise KeyboardInterrupt


def watch(started: list[Worker], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    failed, status, first_done = None, None, None
    while True:
        codes = [w.process.poll() for w in started]
        bad = [(w, c) for w, c in zip(started, codes) if c not in (None, 0)]
        if bad:
            failed, status = bad[0]
            break
        if all(c is not None for c in codes):
            return finish(started, 0)
        running = ", ".join(str(w.index) for w, c in zip(started, codes) if c is None)
        if first_done is None and any(c == 0 for c in codes):
            first_done = time.monotonic()
        if first_done is not None and time.monotonic() - first_done > FINISH_S:
            stop_all(started)
            print(f"bench.launch: worker(s) {running} still running {FINISH_S:g} s after another ended well: "
                  "stopped them (a worker waiting on a peer that has left)", file=sys.stderr)
            return finish(started, 1)
        if time.monotonic() > deadline:
            stop_all(started)
            print(f"bench.launch: --timeout {timeout:g} s passed with worker(s) {running} still running: "
                  f"stopped {'every worker' if len(started) > 1 else 'it'} with its process group (a hang, or a run "
                  "longer than the timeout: raise --timeout)", file=sys.stderr)
            return finish(started, TIMEOUT_STATUS)
        time.sleep(POLL_S)
    others = [w for w in started if w is not failed and w.process.poll() is None]
    stop_all(started)
    print(f"bench.launch: worker {failed.index} ({'chief' if failed.index == 0 else 'not the chief'}) ended with "
          f"{describe_status(status)}" + (f"; stopped the {len(others)} other(s) still running" if len(started) > 1
                                          else ""), file=sys.stderr)
    return finish(started, status if status > 0 else 128 - status)


def stop_all(started: list[Worker]) -> None:
    for worker in started:
        worker.stop(signal.SIGTERM)
    end = time.monotonic() + GRACE_S
    while time.monotonic() < end and any(w.process.poll() is None for w in started):
        time.sleep(POLL_S)
    for worker in started:
        worker.stop(signal.SIGKILL)
    for worker in started:
        worker.process.wait()


def finish(started: list[Worker], status: int) -> int:
    for worker in started:
        worker.reader.join(timeout=GRACE_S)  # the last lines of each worker's output
    return status


def main(argv=None) -> int:
    try:
        args, command = parse(sys.argv[1:] if argv is None else argv)
        if args.from_scheduler:
            return run_scheduled(command, args.port, args.timeout)
        return run_local(command, args.workers, args.port, args.timeout)
    except FinetuneError as err:
        print(f"bench.launch: {err}", file=sys.stderr)
        return 2
    except timeouts.TimedOut as err:
        print(f"bench.launch: {err}", file=sys.stderr)
        return TIMEOUT_STATUS
    except FileNotFoundError as err:
        print(f"bench.launch: cannot start {err.filename!r}: no such program", file=sys.stderr)
        return 127
