"""bench/gpu/check.py, the GPU check without TensorFlow: its bad input in one line, and a failed test inside its
session failing the check (after its records are reported). Its run on JAX's CPU with TensorFlow made unimportable
is tests/test_keras3_bench.py's session (keras3_bench_run)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.gpu import check
from bench.gpu.check import Session


ROOT = Path(__file__).resolve().parent.parent


def test_the_gpu_check_refuses_a_missing_wheels_folder_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "bench/gpu/check.py", "run", "--wheels", str(tmp_path / "none"),
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"gpu_check: --wheels {tmp_path / 'none'}: no such folder; make it where PyPI is reachable: "
        f"python bench/gpu/check.py wheels {tmp_path / 'none'}"]


def test_an_unusable_gpu_is_one_line_not_a_cpu_run(generated_glue_dir):
    """JAX_PLATFORMS=cuda (as the GPU check sets it) where JAX has no CUDA: one line and a non-zero exit."""
    if not importlib.util.find_spec("jax"):
        pytest.skip("JAX is not installed: FINETUNE_EXTRAS=keras3-jax python3 dev.py test tests/test_gpu_check.py")
    try:
        import jax

        jax.devices("gpu")
        pytest.skip("this machine's JAX has a GPU")
    except RuntimeError:
        pass
    env = {**os.environ, "JAX_PLATFORMS": "cuda", "PYTHONPATH": str(ROOT / "tests" / "no_tensorflow")}
    done = subprocess.run([sys.executable, "-m", "finetune", "--engine", "keras3", "--backend", "jax", "--model",
                           "tiny", "--glue-dir", str(generated_glue_dir)], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: JAX_PLATFORMS=cuda: JAX cannot use the GPU")


def test_pytest_exit_1_is_a_failed_check_and_other_exits_leave_nothing_to_report(tmp_path):
    """pytest's exit 1 (a test or gate failed, its records written) was once taken for success: 0 and the success
    line. It is 1, naming the failed tests; a session without records, or ended otherwise, is 2."""
    records, report = tmp_path / "jax.json", tmp_path / "report"
    assert check.outcome([Session("jax", 0, records)], report) == (0, f"{records} and {report}")
    status, line = check.outcome([Session("jax", 0, records),
                                      Session("torch", 1, tmp_path / "torch.json", ("bench/test_quality.py::a",))],
                                     report)
    assert status == 1 and line.startswith("tests failed on torch: bench/test_quality.py::a (records: ")
    many = tuple(f"t{i}" for i in range(7))
    assert "t4 and 2 more" in check.outcome([Session("jax", 1, records, many)], report)[1]
    assert check.outcome([Session("jax", 1, None)], report)[0] == 2  # exit 1 before any record: nothing to show
    status, line = check.outcome([Session("jax", 3, records), Session("torch", 1, records, ("x",))], report)
    assert status == 2 and line == ("no records from jax (pytest exit 3): see pytest's output above; "
                                    "tests failed on torch: x")


FAKE_PYTHON = """#!{python}
# The interpreter bench/gpu/check.py starts (sys.executable), standing in for the suite's session: `-m pytest` runs
# a real pytest session of {planted} (its --junit-xml is pytest's own) and writes the records; `-m bench.report`
# notes its arguments.
import json, subprocess, sys
from pathlib import Path

args = sys.argv[1:]
if args[:2] == ["-m", "pytest"]:
    Path(args[args.index("--benchmark-json") + 1]).write_text(json.dumps({{"benchmarks": []}}))
    # --rootdir: the JUnit classname is the test file's path from the rootdir, which pytest would otherwise take
    # from the caller's working directory (a clone elsewhere than the planted file's folder names it otherwise)
    sys.exit(subprocess.call([{python!r}, "-m", "pytest", {planted!r}, "-q", "-p", "no:cacheprovider", "-p",
                              "no:xdist", "--rootdir", str(Path({planted!r}).parent),
                              "--junit-xml", args[args.index("--junit-xml") + 1]],
                             stdout=subprocess.DEVNULL))
with open({calls!r}, "a") as calls:
    calls.write(json.dumps(args) + "\\n")
"""


def test_a_failed_test_in_the_session_fails_the_check_after_its_report(tmp_path, monkeypatch, capsys):
    """The check's interpreter replaced by one whose pytest session is a real one of a planted failing test: the
    records are still reported, then the check exits 1 naming the test (it once exited 0 with its success line)."""
    planted, calls, fake = tmp_path / "test_planted.py", tmp_path / "calls.jsonl", tmp_path / "python"
    planted.write_text("def test_passes():\n    pass\n\n\ndef test_planted_failure():\n    assert 1 == 2\n")
    fake.write_text(FAKE_PYTHON.format(python=sys.executable, planted=str(planted), calls=str(calls)))
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    (tmp_path / "wheels").mkdir()
    status = check.main(["run", "--wheels", str(tmp_path / "wheels"), "--out", str(tmp_path / "out"),
                             "--backends", "jax", "--platform", "cpu"])
    captured = capsys.readouterr()
    assert status == 1, captured.err
    reported = [json.loads(line) for line in calls.read_text().splitlines()]  # after the session, before failing
    assert reported == [["-m", "bench.report", str(tmp_path / "out" / "jax.json"), "--out",
                         str(tmp_path / "out" / "report")]]
    assert "Traceback" not in captured.err and captured.err.strip().splitlines()[-1] == (
        f"gpu_check: tests failed on jax: test_planted::test_planted_failure (records: {tmp_path / 'out' / 'jax.json'};"
        f" report: {tmp_path / 'out' / 'report'})")


def test_float32_is_labelled_as_what_the_backend_runs():
    """TF32 only where the backend allows it in this process: PyTorch's torch.backends.cuda.matmul.allow_tf32 (off
    by default) or float32 matmul precision; JAX unless its default matmul precision is "highest"."""
    keras3_step = pytest.importorskip("finetune.engines.keras3_step", reason="Keras 3 is not installed: "
                                      "FINETUNE_EXTRAS=keras3-jax,keras3-torch python3 dev.py test tests/test_gpu_check.py")
    if importlib.util.find_spec("torch"):
        import torch

        before = torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision()
        try:
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.set_float32_matmul_precision("highest")
            assert keras3_step.tf32_allowed("torch") is False
            torch.backends.cuda.matmul.allow_tf32 = True
            assert keras3_step.tf32_allowed("torch") is True
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before[0]
            torch.set_float32_matmul_precision(before[1])
    if importlib.util.find_spec("jax"):
        import jax

        before = jax.config.jax_default_matmul_precision
        try:
            assert keras3_step.tf32_allowed("jax") is (str(before or "default").lower() not in ("highest", "float32"))
            jax.config.update("jax_default_matmul_precision", "highest")
            assert keras3_step.tf32_allowed("jax") is False
        finally:
            jax.config.update("jax_default_matmul_precision", before)

