"""The whole `pytest bench/ --tier ci` on an engine added by one file and one row: tests/fake_engine.py (numpy, no
framework), registered by $FINETUNE_ENGINES, with TensorFlow made unimportable (tests/no_tensorflow on PYTHONPATH,
which its timing processes keep after the tree: bench/timing/processes.py). Every benchmark runs on it or skips
saying why; none errors."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import generated_rows, write_glue_tsv

ROOT = Path(__file__).resolve().parent.parent
FAKE = "fake=tests.fake_engine:FakeEngine"
KINDS = {"quality", "step_time", "variant_step_time", "variant_quality", "faster_than_course"}
# the benchmarks that cannot run on a numpy engine in one process, and the reason each gives
CANNOT = {
    "test_step_time[seed0-batch8-gpu]": "fake runs where its backend places it (cpu here): it has no gpu of its own",
    "test_mirrored_scaling[seed0]": "fake sees one cpu device: scaling needs two or more",
    "test_multi_worker_quality[seed0]": "one process: the multi-worker benchmarks run on several workers",
    "test_multi_worker_step_time[seed0]": "one process: the multi-worker benchmarks run on several workers",
}


@pytest.fixture(scope="module")
def fake_session(tmp_path_factory):
    """The session on 2,400 generated pairs (the CI tier's rows; the regression learns their word overlap), and
    TensorFlow unimportable in its process."""
    out = tmp_path_factory.mktemp("fake")
    glue = out / "glue"
    write_glue_tsv(glue / "MRPC" / "train.tsv", generated_rows(2400))
    write_glue_tsv(glue / "MRPC" / "dev.tsv", generated_rows(200, offset=5000))
    env = {**os.environ, "FINETUNE_ENGINES": FAKE,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "no_tensorflow"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "--engine", "fake", "--model", "tiny", "--tier", "ci",
         "--glue-dir", str(glue), "--benchmark-json", str(out / "fake.json"),
         "--junitxml", str(out / "fake.xml"), "-p", "no:cacheprovider", "-q", "-rs", "--progress", "lines"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    outcomes = {}
    for case in ET.parse(out / "fake.xml").getroot().iter("testcase"):
        found = [child for child in case if child.tag in ("skipped", "failure", "error")]
        outcomes[case.get("name")] = (found[0].tag, found[0].get("message", "")) if found else ("passed", "")
    return json.loads((out / "fake.json").read_text()), outcomes, done.stdout


def test_every_benchmark_of_the_ci_tier_runs_on_the_fake_engine_or_skips_saying_why(fake_session):
    document, outcomes, stdout = fake_session
    assert len(outcomes) >= 30 and not [n for n, (tag, _) in outcomes.items() if tag in ("failure", "error")]
    assert all(message.strip() for tag, message in outcomes.values() if tag == "skipped")
    for name, reason in CANNOT.items():
        assert outcomes[name][0] == "skipped" and reason in outcomes[name][1], (name, outcomes[name])
    records = [b["extra_info"] for b in document["benchmarks"]]
    assert {r["kind"] for r in records} == KINDS and {r["engine"] for r in records} == {"fake"}
    step = next(r for r in records if r["kind"] == "step_time")
    assert [len(p) for p in step["blocks_ms"]] == [5, 5, 5]  # its timing processes inherit the row
    # the timed step's peak memory is the timing processes' (each ran nothing else), not this pytest process's
    assert step["memory_of"] == "timing processes" and 0 < step["peak_rss_mb"]
    assert all(r.get("memory_of") is None for r in records if r["kind"] != "step_time")
    # its versions are its libraries' (the base's: the recipe's), no TensorFlow among them
    versions = document["machine_info"]["finetune"]["versions"]
    assert set(versions) == {"python", "transformers", "datasets", "evaluate", "numpy", "pytest-benchmark"}


def test_the_gates_and_the_progress_see_the_fake_engines_loop(fake_session):
    """Its loop calls the hooks (finetune.hooks): the step timer's figures reach the records and the gates, and the
    progress reports each fine-tune; its figures are keyed apart, so each gate skips naming the command."""
    document, outcomes, stdout = fake_session
    lines = stdout.splitlines()
    gates = [line for line in lines if line.startswith("gate ")]
    records = len(document["benchmarks"])
    assert f"gate JSON contract of every record: live, passed ({records} record(s) read back whole)" in gates, gates
    # a line per recipe, string + adam's a skip naming the full tier (the CI tier runs each pitfall on its own)
    assert sum(line.startswith("gate quality band [seed0-") for line in gates) == 4, gates
    assert any(line.startswith("gate quality band [seed0-string-adam]: skipped: string+adam: tier ci runs the fix "
                               "and each pitfall on its own") for line in gates), gates
    assert any(line.startswith("gate step time (block gate) [seed0-batch8-cpu]: skipped: no baseline")
               for line in gates), gates
    assert "--engine fake --update-baselines" in stdout
    for number in range(1, 5):
        assert any(line.startswith(f"fine-tune {number}/4 ") and ": trained, " in line for line in lines), number
    quality = [b["extra_info"] for b in document["benchmarks"] if b["extra_info"]["kind"] == "quality"]
    assert len(quality) == 3 and all(q["steps_timed"] > 0 and len(q["epoch_s"]) == 1 for q in quality)
