"""dev.py: the unit tests run in a pytest-xdist worker per usable core; the benchmarks never run in parallel."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402


@pytest.fixture
def cores(monkeypatch):
    def set_cores(count):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(count)), raising=False)
    return set_cores


def test_the_unit_tests_get_a_worker_per_usable_core_up_to_the_cap(cores):
    cores(2)
    assert dev.parallel_args("test", []) == ["-n", "2", "--dist", "loadfile"]
    cores(64)
    assert dev.parallel_args("test", ["-k", "history"]) == ["-n", str(dev.MAX_TEST_WORKERS), "--dist", "loadfile"]


def test_the_benchmarks_one_core_and_the_callers_own_choice_get_no_workers(cores):
    cores(2)
    assert dev.parallel_args("bench", []) == []  # two timings at once corrupt each other
    for given in (["-n", "4"], ["-n0"], ["--numprocesses=3"], ["-p", "no:xdist"], ["--dist", "no"]):
        assert dev.parallel_args("test", given) == [], given
    cores(1)
    assert dev.parallel_args("test", []) == []


def test_tests_that_compare_two_moments_run_after_the_workers_alone(cores):
    """The parallel phase leaves the `serial` tests out; they run next without workers, so no other worker loads
    the host at one of the moments they compare and not at the other. `-m` or no workers: one run, as given."""
    cores(2)
    parallel, serial = dev.phases("test", [])
    assert parallel == ["-n", "2", "--dist", "loadfile", "-m", "not serial"]
    assert serial == ["-p", "no:xdist", "-m", "serial"]
    assert dev.phases("test", ["-m", "not slow"]) == [["-n", "2", "--dist", "loadfile"]]
    assert dev.phases("test", ["-p", "no:xdist"]) == [[]]
    assert dev.phases("bench", []) == [[]]


def test_the_phases_exit_status_is_the_first_failure_and_a_phase_with_nothing_to_run_is_none():
    assert dev.combined([0, 0]) == 0 and dev.combined([0, 5]) == 0 and dev.combined([5, 0]) == 0
    assert dev.combined([1, 0]) == 1 and dev.combined([0, 1]) == 1 and dev.combined([2, 1]) == 2
    assert dev.combined([5, 5]) == 5 and dev.combined([5]) == 5


def serial_tests(folder: Path) -> set[str]:
    """`folder`'s tests marked `serial` (test_*.py, as "file::test"): a test function under @pytest.mark.serial
    (bare or called), or every test of a module whose `pytestmark` names it. Read from the source, not collected:
    collecting tests/ imports every test module, TensorFlow's among them (20 s in a loaded worker), for what the
    decorators say (test_the_serial_tests_read_from_the_source_are_those_pytest_selects holds the two together)."""
    def serial(node) -> bool:
        marks = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
        return any(isinstance(m := (mark.func if isinstance(mark, ast.Call) else mark), ast.Attribute)
                   and m.attr == dev.SERIAL and "mark" in (getattr(m.value, "attr", None), getattr(m.value, "id", None))
                   for mark in marks)

    found = set()
    for path in sorted(folder.glob("test_*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"))
        whole = any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)
                    and serial(n.value) for n in module.body)
        found |= {f"{path.name}::{n.name}" for n in module.body
                  if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test")
                  and (whole or any(serial(d) for d in n.decorator_list))}
    return found


def test_every_serial_test_is_declared_in_the_running_doc():
    """docs/running.md lists every test that times something; each `serial` one is named there as such."""
    ids = serial_tests(ROOT / "tests")
    assert "test_bench_contract.py::test_a_planted_slowdown_fails_the_step_time_gate_end_to_end" in ids, ids
    doc = (ROOT / "docs" / "running.md").read_text()
    for test_id in ids:
        assert f"`{test_id.split('::')[-1]}`" in doc and "serial phase" in doc, test_id


def test_the_serial_tests_read_from_the_source_are_those_pytest_selects(tmp_path):
    """serial_tests() against pytest's own `-m serial` on planted modules: each way of marking, a mark that only
    looks alike, a parametrized test, and a module marked whole."""
    (tmp_path / "test_some.py").write_text(
        "import pytest\nfrom pytest import mark\n\n"
        "@pytest.mark.serial\ndef test_bare(): pass\n\n"
        "@pytest.mark.serial()\ndef test_called(): pass\n\n"
        "@mark.serial\n@pytest.mark.parametrize('n', [1, 2])\ndef test_from_mark(n): pass\n\n"
        "@pytest.mark.slow\ndef test_other_mark(): pass\n\n"
        "def serial(f): return f\n\n@serial\ndef test_a_function_named_serial(): pass\n\n"
        "def test_plain(): pass\n")
    (tmp_path / "test_whole.py").write_text("import pytest\npytestmark = [pytest.mark.serial]\n\n"
                                            "def test_one(): pass\n\ndef test_two(): pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    serial: alone\n    slow: slow\n")
    selected = subprocess.run([sys.executable, "-m", "pytest", "-m", dev.SERIAL, "--co", "-q", "-p", "no:xdist",
                               "-p", "no:cacheprovider", "-p", "no:benchmark", str(tmp_path)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    ids = {line.split("[")[0] for line in selected.stdout.splitlines() if "::" in line}
    assert ids == {"test_some.py::test_bare", "test_some.py::test_called", "test_some.py::test_from_mark",
                   "test_whole.py::test_one", "test_whole.py::test_two"}, selected.stdout[-2000:]
    assert serial_tests(tmp_path) == ids


def test_a_pytest_bench_session_started_by_a_worker_still_benchmarks(tmp_path):
    """tests/conftest.py drops the worker's PYTEST_XDIST_* variables: a `pytest bench/` a test starts inherits the
    environment, and with PYTEST_XDIST_WORKER set pytest-benchmark takes itself for a worker and disables every
    benchmark (their JSON then holds none)."""
    assert "PYTEST_XDIST_WORKER" not in os.environ
    (tmp_path / "test_one.py").write_text("def test_one(benchmark):\n    benchmark(sum, [1, 2])\n")
    out = tmp_path / "out.json"
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_one.py"), "-p", "no:cacheprovider",
                           "-q", f"--benchmark-json={out}", "--rootdir", str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert '"name": "test_one"' in out.read_text()


def test_bench_without_tensorflow_runs_its_extras_engine_from_the_table(monkeypatch):
    """NO_TENSORFLOW: extra -> (engine, backend); `dev.py bench` there runs the first one's, unless --engine is given."""
    monkeypatch.setattr(dev, "EXTRAS", "report,keras3-torch,keras3-jax")
    assert dev.engine_args("bench", []) == ["--engine", "keras3", "--backend", "torch"]
    assert dev.engine_args("bench", ["--engine=tf-keras"]) == [] and dev.engine_args("test", []) == []
    monkeypatch.setitem(dev.NO_TENSORFLOW, "numpy-only", ("fake", None))  # an engine without backends: one row
    monkeypatch.setattr(dev, "EXTRAS", "numpy-only")
    assert dev.engine_args("bench", ["-k", "quality"]) == ["--engine", "fake"]
    monkeypatch.setattr(dev, "EXTRAS", "report")
    assert dev.engine_args("bench", []) == []
