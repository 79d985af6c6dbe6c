"""Benchmark fixtures: one Suite per session; seeds parametrized from --seeds; the summary and the
baseline update at the end of the session.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import os
import tempfile
from pathlib import Path

import pytest

from bench.store import contract
from bench.session import summary
from bench.history import nights
from bench.session import plan
from bench.session import progress
from bench.store import update
from bench.session.tiers import QUALITY_BATCH_SIZE, Options
from bench.session.suite import Suite, invocation_args
from bench.judge import learning
from finetune import FinetuneError, cluster, compile_cache, memory, metrics

SUITE = pytest.StashKey[Suite]()
NIGHT_TMP = pytest.StashKey[Path]()  # the JSON asked of pytest-benchmark for --history alone
SESSION = pytest.StashKey[pytest.Session]()


def pytest_configure(config):
    config.addinivalue_line("markers", "multi_worker: runs on every worker of a world (bench.launch); the only "
                                       "tests such a session runs")
    try:
        options = Options.from_pytest(config)
        world = cluster.World.from_env()
        if not world.chief:  # the chief alone writes results: no JSON, night or baseline from the others
            config.option.benchmark_json = None
            options = dataclasses.replace(options, history=None, update=False)
        from finetune import engines

        # before anything imports the engine's framework (Keras 3 fixes its backend at import); its missing
        # libraries: one line, before the first test
        engines.get(options.engine, options.backend).prepare_process()
        config.stash[SUITE] = Suite(options, invocation_args())
        if options.history is not None and not config.getoption("benchmark_json"):
            # pytest-benchmark builds its JSON (and calls pytest_benchmark_update_json, where the night is kept)
            # only when asked for a file: one in a temporary folder, removed at the end
            handle, path = tempfile.mkstemp(prefix="finetune-night-", suffix=".json")
            os.close(handle)
            config.option.benchmark_json = Path(path)
            config.stash[NIGHT_TMP] = Path(path)
    except FinetuneError as err:  # e.g. a baseline file that is not JSON: one line, exit code 4
        raise pytest.UsageError(f"finetune: {err}") from None


def pytest_generate_tests(metafunc):
    if "seed" in metafunc.fixturenames:
        seeds = metafunc.config.stash[SUITE].options.seeds
        metafunc.parametrize("seed", seeds, ids=[f"seed{s}" for s in seeds])
    if "batch_size" in metafunc.fixturenames:
        sizes = metafunc.config.stash[SUITE].options.tier.batch_sizes
        metafunc.parametrize("batch_size", sizes, ids=[f"batch{b}" for b in sizes])
    sizes = metafunc.config.stash[SUITE].options.tier.variant_batch_sizes
    if "variant_batch" in metafunc.fixturenames and sizes != (QUALITY_BATCH_SIZE,):  # else the fixture's 8, no id
        metafunc.parametrize("variant_batch", sizes, ids=[f"batch{b}" for b in sizes])


@pytest.fixture
def variant_batch() -> int:
    """test_variant_step_time's batch size: the course's, unless the tier names several (variant_batch_sizes)."""
    return QUALITY_BATCH_SIZE


def pytest_collection_modifyitems(config, items):
    """The gated step times first (a stable sort: the rest keep their order), so they are measured in a process
    no fine-tune has run in yet, as their baselines are (`-k test_step_time --update-baselines`). On several
    workers only the multi_worker tests run: the others would run once per worker, each alone."""
    items.sort(key=lambda item: item.module.__name__ != "bench.test_step_time")
    suite = config.stash.get(SUITE, None)
    if suite is not None and suite.world.distributed:
        alone = [item for item in items if item.get_closest_marker("multi_worker") is None]
        if alone:
            config.hook.pytest_deselected(items=alone)
            items[:] = [item for item in items if item.get_closest_marker("multi_worker") is not None]


def pytest_report_header(config):
    suite = config.stash[SUITE]
    cal = suite.calibration
    rates = ", ".join(f"{name.split('_')[0]} {value:g}" for name, value in cal.items() if name.endswith("_gflops"))
    lines = [f"finetune: {suite.options.describe()}",
             f"finetune: machine {suite.hardware_key}: {suite.host.describe(cal['device'])}",
             f"finetune: calibration ({cal['size']}^3 matmul on {cal['device']}): {rates} GFLOP/s",
             f"finetune: baselines {suite.baseline_path.name} ({suite.baseline_holdings()})"]
    if suite.options.claims_not_shown():
        lines.append(f"finetune: claims not shown in this session: {suite.options.claims_not_shown()}")
    cache = compile_cache.Snapshot.take()
    if cache.folder is not None:
        lines.append(f"finetune: compile cache {cache.folder} (${compile_cache.ENV}): {cache.held} executable(s) held; "
                     "each fine-tune records whether its compiles were cold or warm")
    if suite.options.history is not None:
        lines.append(f"finetune: history {suite.options.history}/{suite.hardware_key}/: this session is kept as a "
                     "night; the gated step time is judged against this runner's nights where there are enough")
    if suite.baseline is None and suite.other_baselines:
        lines.append("finetune: baselines of other machines (their step times never a gate here; their quality bands "
                     "lent where the numerics match, named in each verdict): "
                     + "; ".join(key for key, _ in suite.other_baselines))
    warning = suite.calibration_warning()
    if warning:
        lines.append(f"finetune: WARNING {warning}")
    return lines


@pytest.fixture(scope="session")
def suite(pytestconfig) -> Suite:
    return pytestconfig.stash[SUITE]


@pytest.fixture(autouse=True)
def peak_memory(request, suite):
    """Every benchmark's peak host memory (and GPU memory where TensorFlow has GPUs), in its extra_info; then
    Keras' state is cleared."""
    backend = suite.engine.array_backend
    scope = memory.reset(backend)
    yield
    benchmark = (getattr(request.node, "funcargs", None) or {}).get("benchmark")  # None once pytest.exit ran
    if benchmark is not None:
        for name, value in memory.peak(scope, backend).items():  # a test that measured its own (timing processes) keeps it
            benchmark.extra_info.setdefault(name, value)
        if "kind" in benchmark.extra_info or not benchmark.extra_info.keys() <= {
                "peak_rss_mb", "rss_scope", "peak_gpu_memory_mb", "gpu_memory_scope", "memory_of"}:
            try:
                contract.validate(benchmark.extra_info)  # what the test wrote reads back whole, as its kind
            except FinetuneError:
                suite.records_broken += 1
                raise
            suite.records_checked += 1
    # The next benchmark starts without this one's models: a session builds dozens (GPU memory, host RSS).
    suite.clear_session()
    gc.collect()


def pytest_collection_finish(session):
    """The plan and its estimate, before the first test; then the progress reporter (bench.session.progress)."""
    suite = session.config.stash.get(SUITE, None)
    if suite is None or not session.items or session.config.option.collectonly:
        return
    costs, why_none = plan.costs_of(suite)
    session_plan = plan.plan(session.items, suite, costs, why_none)
    terminal = progress.Terminal(session.config)
    mode = progress.resolved(session.config.getoption("--progress"), terminal.isatty)
    suite.progress = progress.Progress(session_plan, mode, terminal)
    session.config.pluginmanager.register(progress.Hooks(suite.progress, terminal), "finetune-progress")
    if terminal.reporter is not None:
        terminal.reporter.write_line(f"finetune: {session_plan.describe(len(session.items))}; progress: {mode} "
                                     "(--progress)")


class GateRecorder:
    """A plugin of the session's Suite: each test's end for the gate summary (bench.session.summary)."""

    def __init__(self, suite: Suite):
        self.suite = suite

    def pytest_runtest_logreport(self, report):
        """The call's outcome, or the setup's skip or error, or a teardown's error (the contract check runs
        there); after a failure the first failure stands."""
        if not (report.when == "call" or report.outcome != "passed"):
            return
        known = self.suite.outcomes.get(report.nodeid)
        if known is not None and known.outcome == "failed":
            return
        reason = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif report.failed:
            reason = f"its {report.when} failed"
        figures = tuple((name, passed, lender) for test_id, name, passed, lender in self.suite.figures_judged
                        if test_id == report.nodeid)
        self.suite.outcomes[report.nodeid] = summary.Outcome(report.nodeid, report.outcome, reason, figures)


def gate_outcomes(suite) -> list:
    return [*suite.outcomes.values(), summary.contract_outcome(suite.records_checked, suite.records_broken)]


def pytest_sessionstart(session):
    session.config.stash[SESSION] = session
    suite = session.config.stash.get(SUITE, None)
    if suite is not None:
        session.config.pluginmanager.register(GateRecorder(suite), "finetune-gates")


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """--history: this session's JSON, as pytest-benchmark writes it, appended to the history as one night."""
    suite = config.stash.get(SUITE, None)
    if suite is None or suite.options.history is None or suite.night_path is not None:
        return
    session = config.stash.get(SESSION, None)
    tests = {"collected": getattr(session, "testscollected", None), "failed": getattr(session, "testsfailed", None)}
    output_json["finetune_history"] = nights.entry(suite.hardware_key, output_json.get("commit_info"),
                                                   dt.datetime.now(dt.timezone.utc), suite.command, tests)
    try:
        suite.night_path = nights.append(suite.options.history, suite.hardware_key, output_json)
    except (OSError, FinetuneError) as err:  # the results are still in --benchmark-json where it was given
        suite.night_error = f"--history: this night was NOT kept: {err}"


def pytest_unconfigure(config):
    tmp = config.stash.get(NIGHT_TMP, None)
    if tmp is not None:
        tmp.unlink(missing_ok=True)


def pytest_sessionfinish(session, exitstatus):
    suite = session.config.stash.get(SUITE, None)
    if suite is not None and suite.options.require_live and exitstatus in (pytest.ExitCode.OK,
                                                                           pytest.ExitCode.TESTS_FAILED):
        suite.not_live = summary.not_live(suite.options.require_live, gate_outcomes(suite))
        if suite.not_live:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a required gate that skipped is no green session
    if suite is None or not suite.options.update:
        return
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        suite.update_message = "--update-baselines: run interrupted, baselines left unchanged"
    else:
        suite.update_message = update.write_baselines(suite)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    suite = config.stash.get(SUITE, None)
    if suite is not None and suite.progress is not None:
        terminalreporter.write_line(suite.progress.summary())
    for line in history_lines(suite) if suite is not None else ():
        terminalreporter.write_line(line)
    if suite is not None:
        write_results(terminalreporter, suite)
        if suite.outcomes:
            write_gates(terminalreporter, suite)  # last: what the session gated closes its report


def write_results(terminalreporter, suite) -> None:
    """The fine-tunes' and step times' figures, and every verdict in full."""
    if not (suite.quality_results or suite.step_results or suite.verdicts):
        return
    write = terminalreporter.write_line
    terminalreporter.section("fine-tuning results")
    for (loss, optimizer, seed), r in sorted(suite.quality_results.items()):
        state = learning.verdict(*learning.state(r))
        write(f"quality {loss:11} {optimizer:12} seed {seed}: {metrics.scores_text(r.scores, r.accuracy, r.f1)}  "
              f"{r.fit['ms_per_step']:.0f} ms/step over whole epochs (median step {r.step_time['median_ms']:.0f}, "
              f"compile {r.fit['compile_s']:.1f} s)  peak RSS {r.peak_rss_mb:.0f} MB  {state}")
    for (variant, seed), r in sorted(suite.variant_results.items()):
        write(f"variant {variant:14} seed {seed}: {metrics.scores_text(r.scores, r.accuracy, r.f1)}  "
              f"{r.fit['ms_per_step']:.0f} ms/step over whole epochs (median step {r.step_time['median_ms']:.0f})")
    for (device, batch_size, seed), record in sorted(suite.step_results.items()):
        speedup = f"  GPU/CPU speed-up {record.speedup_vs_cpu:.2f}x" if record.speedup_vs_cpu else ""
        write(f"step time {device} batch {batch_size} seed {seed}: {record.step_time_ms:.1f} ms/step  "
              f"{record.examples_per_s:.1f} examples/s  {record.tokens_per_s:.0f} tokens/s{speedup}")
    said = set()  # a reason shared by many skips (no baseline on this machine: which do, how to make one) once
    for test_id, passed, message in suite.verdicts:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[passed]
        head, sep, tail = message.partition(" on this machine (")
        write(f"baseline {mark} {head + ' on this machine (see above)' if sep and tail in said else message}")
        said.add(tail)
    if suite._calibration is not None and suite.calibration_warning():
        write(f"WARNING {suite.calibration_warning()}")
    if getattr(suite, "update_message", None):
        write(suite.update_message)


def write_gates(terminalreporter, suite) -> None:
    """One line a gate: live (passed/FAILED) or skipped and why; then the required gates that were not live."""
    terminalreporter.section("gates")
    for text in summary.lines(gate_outcomes(suite)):
        terminalreporter.write_line(text)
    for text in getattr(suite, "not_live", ()):
        terminalreporter.write_line(text, red=True)


def history_lines(suite) -> list[str]:
    if suite.options.history is None:
        return []
    if suite.night_path is not None:
        return [f"--history: this session kept as the night {suite.night_path}"]
    return [suite.night_error or "--history: no benchmark ran in this session, so no night was kept"]


def pytest_benchmark_update_machine_info(config, machine_info):
    """The calibration of this session (the root conftest.py adds versions, hardware and the fingerprint)."""
    suite = config.stash.get(SUITE, None)
    if suite is not None:
        machine_info.setdefault("finetune", {})["calibration"] = suite.calibration
