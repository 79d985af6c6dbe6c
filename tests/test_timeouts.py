"""Time limits on the processes the suite starts (bench/timing/timeouts.py): a stuck timing process (bench.timing.processes) or
command is killed at its limit, with what it started, and one line names it and the limit. Stand-in programs
that hang (shell scripts in place of the interpreter): no framework, so each limit is hit in a second or two."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.timing import timeouts
from bench.timing import processes

ROOT = Path(__file__).resolve().parent.parent


def stand_in(tmp_path: Path, body: str) -> Path:
    """An executable that Worker runs in place of the interpreter (`STAND_IN bench/timing/timed_process.py OPTIONS...`)."""
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


# A process stuck for good (as in a C++ deadlock): it ignores its stdin, and what it started keeps running too.
STUCK = 'sleep 600 &\necho $! > "$(dirname "$0")/child"\nwait\n'


def dead(pid: int, within_s: float = 10.0) -> bool:
    """Gone, or a zombie nobody reaped yet (a container's init may never): no longer running, within `within_s`
    (SIGKILL is delivered asynchronously: the kill returns before the process has ended)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X") or time.monotonic() > deadline:
            return state in ("Z", "X")
        time.sleep(0.05)


def child_of(tmp_path: Path) -> int:
    return int((tmp_path / "child").read_text())


def test_a_worker_stuck_in_its_set_up_is_killed_at_its_limit_with_one_line_naming_it_and_the_limit(tmp_path,
                                                                                                   monkeypatch):
    monkeypatch.setenv(timeouts.WORKER_ENV, "1")
    no_rows = ["--batches", "0"]  # no untimed pass to allow for: the limit is the floor alone
    worker = processes.Worker(str(stand_in(tmp_path, STUCK)), tmp_path, no_rows, name="2 of 3")
    try:
        with pytest.raises(processes.WorkerTimeout) as stopped:
            worker.ready()
        assert worker.process.returncode is not None  # killed, not left running
        assert dead(child_of(tmp_path)), "what the stuck worker started is still running"
    finally:
        worker.close()
    assert str(stopped.value) == (f"timing process 2 of 3 ({tmp_path / 'python'} bench/timing/timed_process.py), asked for its "
                                  f"set-up, gave no answer within 1 s: killed; raise {timeouts.WORKER_ENV} (seconds, "
                                  "now 1) if this machine is that slow")


def test_a_worker_stuck_in_a_pass_is_killed_at_the_limit_of_a_pass(tmp_path, monkeypatch):
    """Ready at once, then stuck on its first pass: a pass's limit is the floor (10 x a pass of no time is less)."""
    monkeypatch.setenv(timeouts.WORKER_ENV, "1")
    script = stand_in(tmp_path, 'echo \'{"ready": true}\'\nread line\n' + STUCK)
    worker = processes.Worker(str(script), tmp_path, [], name="1 of 1")
    try:
        assert worker.ready() == {"ready": True}
        with pytest.raises(processes.WorkerTimeout, match=r"1 of 1 .*, asked for `pass`, gave no answer within 1 s: "
                                                        r"killed; raise FINETUNE_WORKER_TIMEOUT"):
            worker.timed_pass()
        assert worker.process.returncode is not None and dead(child_of(tmp_path))
    finally:
        worker.close()


def test_the_ab_mode_names_a_stuck_worker_and_its_limit_in_one_line_and_exits_3(tmp_path):
    """The whole command, as a user meets it: four processes ready at once, then stuck on their first pass (they
    still end when their stdin closes, as bench/timing/timed_process.py does); the first one asked is killed at a pass's limit
    (the floor: 10 x a set-up of no time is less), the others closed."""
    script = stand_in(tmp_path, 'echo \'{"ready": true, "versions": {}, "fingerprint": "x", "rows": 8}\'\n'
                                "while read line; do :; done\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), timeouts.WORKER_ENV: "1"}
    done = subprocess.run([sys.executable, "-m", "bench.ab", "--a-python", str(script), "--b-python", str(script),
                           "--workers", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: timing process A 1 of 2 ({script} bench/timing/timed_process.py), asked for `pass`, gave no answer within 1 s: "
        "killed; raise FINETUNE_WORKER_TIMEOUT (seconds, now 1) if this machine is that slow"]


def test_a_command_past_its_limit_is_killed_with_its_process_group_and_named(tmp_path):
    with pytest.raises(timeouts.TimedOut) as stopped:
        timeouts.run(["sh", "-c", f'sleep 600 & echo $! > {tmp_path}/child; wait'], limit_s=1,
                     name="the stand-in fine-tune", fix="raise FINETUNE_COMMAND_TIMEOUT")
    assert str(stopped.value) == ("the stand-in fine-tune did not end within 1 s: killed; "
                                  "raise FINETUNE_COMMAND_TIMEOUT")
    assert dead(child_of(tmp_path))


def test_a_command_within_its_limit_runs_as_subprocess_run_would():
    done = timeouts.run([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], capture_output=True,
                        text=True, limit_s=60, name="x", fix="y")
    assert (done.returncode, done.stdout) == (3, "out\n")


def test_limits_follow_the_work_and_never_fall_under_their_floors():
    limits = timeouts.Limits(worker_s=600, command_s=1800)
    assert limits.ready_s(benches=1, together=1, cores=2) == 600
    assert limits.ready_s(benches=3, together=8, cores=2) == 600 * 3 * 4  # 3 benches, 4 processes a core
    slow_pass = timeouts.LOAD * 24 * timeouts.SLOW_STEP_MS / 1000  # the full tier's 24 batches of 8, untimed
    assert limits.ready_s(together=3, cores=2, rows=24 * 8) == pytest.approx((600 + slow_pass) * 1.5)
    assert limits.pass_s(None) == limits.pass_s(6.4) == 600  # the CI tier's pass: the floor
    assert limits.pass_s(150.0) == 1500  # a long pass: 10 x it
    assert limits.fine_tune_s(100, ms_per_step=700) == 1800  # 70 s of steps: the floor covers set-up too
    assert limits.fine_tune_s(1377, ms_per_step=3000) == pytest.approx(10 * 1377 * 3.0)
    assert limits.fine_tune_s(1377) == pytest.approx(10 * 1377 * timeouts.SLOW_STEP_MS / 1000)


@pytest.mark.parametrize("value", ["abc", "0", "-5", "inf"])
def test_a_bad_limit_is_one_line_naming_the_variable(value):
    with pytest.raises(timeouts.BadLimit) as bad:
        timeouts.Limits.from_env({timeouts.WORKER_ENV: value})
    assert str(bad.value).startswith(f"{timeouts.WORKER_ENV}={value!r}: not a positive number of seconds")
    assert "\n" not in str(bad.value)
    assert timeouts.Limits.from_env({timeouts.COMMAND_ENV: "7200"}) == timeouts.Limits(command_s=7200)


def test_a_workers_set_up_limit_counts_its_benches_and_the_rows_of_its_untimed_pass():
    """bench.tune's processes prepare (and XLA-compile) one bench per --perf variant before their ready line, each
    with an untimed pass over --batches batches of --batch-size."""
    options = processes.block_options("tiny", 24, batch_size=32)
    assert (processes.benches_of(options), processes.rows_of(options)) == (1, 24 * 32)
    assert processes.benches_of(options + ["--perf", "course,xla,bf16", "--sample", "lengths"]) == 3
    assert processes.rows_of([]) == 64  # bench/timing/timed_process.py's defaults: 8 batches of 8
