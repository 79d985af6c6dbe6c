"""Live progress of a benchmark session on pytest's terminal: which fine-tune of how many, its epoch and step, and
the time left, of the fine-tune and of the session (bench.session.plan's estimate, rescaled by what was measured so far).

--progress (finetune/options.py):
    live   one line rewritten in place (pytest's TerminalReporter.rewrite); a line per finished fine-tune stays.
    lines  a line per epoch and per finished fine-tune, for logs.
    off    nothing but the plan before the first test and the time taken at the end.
    auto   (default) live where pytest writes to a terminal, off where its output is piped or logged.

It writes through pytest's terminal reporter with capturing suspended, as pytest's own live logging does, so it
shows under -q and -v while the tests' output stays captured; before pytest reports a test, the line is closed
so that the report's letters and words start where pytest expects them.
"""

from __future__ import annotations

import time

import pytest

from bench.session.plan import Plan, minutes

MODES = ("auto", "live", "lines", "off")
REFRESH_S = 1.0  # live mode: at most one rewrite a second
LONG_S = 60.0  # a test without a fine-tune estimated at least this long gets a line when it starts


def resolved(mode: str, isatty: bool) -> str:
    if mode == "auto":
        return "live" if isatty else "off"
    return mode


class Progress:
    """The session's progress: fed by the pytest hooks (start, finish of each test) and by the fine-tunes' training
    loops (callback(): finetune.hooks); writes with `write(text, in_place, final)` (a Terminal)."""

    def __init__(self, plan: Plan, mode: str, write, clock=time.monotonic):
        self.plan = plan
        self.mode = mode
        self._write = write  # (text, in_place, final) -> None: the Terminal below, or a list in tests
        self.clock = clock
        self.started = clock()
        self.works = {work.nodeid: work for work in plan.works}
        self.estimates = {nodeid: work.seconds for nodeid, work in self.works.items()}
        self.finished: dict = {}  # nodeid -> measured seconds
        self.current: str | None = None
        self.current_started = 0.0
        self.fine_tune_left_s: float | None = None  # the running fine-tune's time left, as its steps tell
        self._last = 0.0

    # --- tests -------------------------------------------------------------------------------------------------
    def start(self, nodeid: str) -> None:
        self.current, self.current_started = nodeid, self.clock()
        estimate = self.estimates.get(nodeid, 0.0) * self.scale()
        work = self.works.get(nodeid)
        if self.mode != "off" and work is not None and not work.fine_tunes and estimate >= LONG_S:
            # a long test without a fine-tune (timing processes, XLA compiles): what it is and how long it takes
            self._write(f"{nodeid.split('::')[-1]}: about {minutes(estimate)}; session about "
                        f"{minutes(self.session_left_s())} left", False, True)

    def finish(self, nodeid: str) -> None:
        self.finished[nodeid] = self.clock() - self.current_started
        self.current, self.fine_tune_left_s = None, None

    def scale(self) -> float:
        """Measured / estimated seconds of the finished tests that had an estimate (1 until one has)."""
        estimated = sum(self.estimates.get(nodeid, 0.0) for nodeid in self.finished)
        measured = sum(seconds for nodeid, seconds in self.finished.items() if self.estimates.get(nodeid, 0.0))
        return measured / estimated if estimated > 0 and measured > 0 else 1.0

    def session_left_s(self) -> float:
        waiting = sum(seconds for nodeid, seconds in self.estimates.items()
                      if nodeid not in self.finished and nodeid != self.current)
        current = 0.0
        if self.current is not None:
            spent = self.clock() - self.current_started
            current = max(0.0, self.estimates.get(self.current, 0.0) * self.scale() - spent)
            if self.fine_tune_left_s is not None:
                current = max(current, self.fine_tune_left_s)
        return waiting * self.scale() + current

    def elapsed_s(self) -> float:
        return self.clock() - self.started

    def summary(self) -> str:
        if self.plan.costs is None:
            return f"finetune: the session took {minutes(self.elapsed_s())} (no estimate: {self.plan.why_none})"
        return (f"finetune: the session took {minutes(self.elapsed_s())}; "
                f"estimated before the first test: {minutes(self.plan.seconds)}")

    # --- fine-tunes ---------------------------------------------------------------------------------------------
    def number(self, key) -> str:
        index = self.plan.fine_tune_names.get(key)
        return f"{index}/{self.plan.fine_tunes}" if index else f"?/{self.plan.fine_tunes}"

    def callback(self, key, label: str):
        """Hooks of a training loop (finetune.hooks; the Keras engines make them a callback) that report the
        fine-tune `key` (bench.session.plan's key) named `label`."""
        from finetune.hooks import Hooks

        progress = self

        class Report(Hooks):
            def on_train_begin(self, logs=None):
                self.began, self.steps, self.epoch = progress.clock(), 0, 0
                self.per_epoch = self.params.get("steps") or 0
                self.epochs = self.params.get("epochs") or 1

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

            def on_train_batch_end(self, batch, logs=None):
                self.steps += 1
                progress.step(key, label, self, final=False)

            def on_epoch_end(self, epoch, logs=None):
                if progress.mode == "lines":
                    progress.step(key, label, self, final=False, force=True)

            def on_train_end(self, logs=None):
                progress.step(key, label, self, final=True)

        return Report()

    def step(self, key, label: str, run, final: bool, force: bool = False) -> None:
        now = self.clock()
        spent = now - run.began
        total = run.per_epoch * run.epochs
        per_step = spent / run.steps if run.steps else 0.0
        self.fine_tune_left_s = max(0.0, (total - run.steps) * per_step) if total else None
        if self.mode == "off" or (self.mode == "lines" and not (force or final)):
            return
        if self.mode == "live" and not final and now - self._last < REFRESH_S:
            return
        self._last = now
        head = f"fine-tune {self.number(key)} {label}"
        if final:
            text = (f"{head}: trained, {run.steps} steps in {minutes(spent)} ({per_step * 1e3:.0f} ms/step); "
                    f"session about {minutes(self.session_left_s())} left")
        else:
            epoch = f"epoch {run.epoch + 1}/{run.epochs}"
            step_of = f"step {run.steps - run.epoch * run.per_epoch}/{run.per_epoch}" if run.per_epoch else \
                f"step {run.steps}"
            left = f"{minutes(self.fine_tune_left_s)} left" if self.fine_tune_left_s is not None else "time left unknown"
            text = f"{head}: {epoch}, {step_of}, {left}; session about {minutes(self.session_left_s())} left"
        self._write(text, self.mode == "live" and not final, final)


class Terminal:
    """Writes progress through pytest's terminal reporter, with capturing suspended (as pytest's live logging)."""

    def __init__(self, config):
        self.reporter = config.pluginmanager.getplugin("terminalreporter")
        self.capture = config.pluginmanager.getplugin("capturemanager")
        self.open = False  # our text is on the current line, not yet ended
        self.ended = True  # the open line is a finished record: the next text starts a new line

    @property
    def isatty(self) -> bool:
        return bool(self.reporter is not None and self.reporter.isatty())

    def _suspended(self):
        import contextlib

        return self.capture.global_and_fixture_disabled() if self.capture else contextlib.nullcontext()

    def __call__(self, text: str, in_place: bool, final: bool) -> None:
        if self.reporter is None:
            return
        live = in_place or (self.open and not self.ended)  # over the live line
        width = max(20, self.reporter._tw.fullwidth - 1)
        if in_place and len(text) > width:  # to be rewritten: it must fit on one line (a record may wrap)
            text = text[:width - 3] + "..."
        with self._suspended():
            if not self.open:
                self.reporter.ensure_newline()  # after pytest's "file.py .." (it forgets that line)
                if self.reporter._tw.width_of_current_line:  # -q: pytest's letters, with no file to forget
                    self.reporter.write("\n")
            elif self.ended:
                self.reporter.write("\n")
            if live:
                self.reporter.rewrite(text, erase=True)
            else:
                self.reporter.write(text)
            self.reporter.flush()
        self.open, self.ended = True, final or not in_place

    def close(self, nodeid: str) -> None:
        """End our line before pytest writes its report of `nodeid`, and give pytest back the line it expects:
        the file's prefix in the default mode (its letters follow it), a fresh line under -q; under -v pytest
        itself starts the test's line anew."""
        if not self.open or self.reporter is None:
            return
        self.open, self.ended = False, True
        with self._suspended():
            if self.reporter.showlongtestinfo:
                return
            if self.reporter.showfspath:
                self.reporter.currentfspath = None
                self.reporter.write_fspath_result(nodeid, "")
            else:
                self.reporter.write("\n")


class Hooks:
    """The pytest hooks that feed a Progress and close its line before pytest reports (registered once the plan is
    made: bench/conftest.py)."""

    def __init__(self, progress: Progress, terminal: Terminal):
        self.progress, self.terminal = progress, terminal

    def pytest_runtest_logstart(self, nodeid):
        self.progress.start(nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        self.terminal.close(report.nodeid)

    def pytest_runtest_logfinish(self, nodeid):
        self.progress.finish(nodeid)
