"""`pytest bench/` end to end with the tiny model: every benchmark's extra_info keeps the JSON contract."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.store import baselines
from finetune.hardware import Host

ROOT = Path(__file__).resolve().parent.parent
COMMON = {"model", "task", "device", "batch_size", "seed", "epochs", "step_time_ms", "examples_per_s", "steps_timed",
          "gate", "peak_rss_mb"}
QUALITY = COMMON | {"loss", "optimizer", "accuracy", "f1", "collapsed", "compile_s", "epoch_s", "median_step_ms"}
STEP = COMMON | {"tokens_per_s", "flops_per_step", "precision", "pass_times_s", "blocks_ms", "processes"}


@pytest.fixture(scope="module")
def history_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("history")


# The shared session's stored step time: passes of 16 batches in 1 ms, far faster than any host steps the tiny model
# (about 160 ms a pass here), so its gate fails whatever the load beside it (not a timing comparison); a calibration
# far from this host's (such a drift once turned a failure into a skip)
STORED_PASS_MS = 1.0
STORED_KEY = baselines.step_key("mrpc", "cpu", 8, passes=5, batches=16, processes=3)  # the CI tier's design


@pytest.fixture(scope="module")
def stored_dir(tmp_path_factory) -> Path:
    """A baselines folder holding only this host's stored step time of the tiny model, from 3 dates, and no quality
    group: the session's quality gates skip for want of a baseline, its step time gate fails."""
    here = Host.here().key("gpu" if Host.here().gpus else "cpu")
    directory = tmp_path_factory.mktemp("stored")
    sessions = [[[STORED_PASS_MS * factor * (1 + 0.01 * (number - 2) + 0.005 * process) for number in range(5)]
                 for process in range(3)] for factor in (0.97, 1.0, 1.03)]
    baselines.write_atomic(directory / f"tiny__{here}.json", {
        "model": "tiny", "hardware_key": here, "calibration": {"fp32_gflops": 1.0},
        "figures": {STORED_KEY: {"sessions_ms": sessions,
                                 "session_dates": ["2026-11-01", "2026-11-02", "2026-11-03"]}}})
    return directory


@pytest.fixture(scope="module")
def bench_run(real_glue_dir, tmp_path_factory, history_dir, stored_dir):
    """The CI tier's quality and step-time benchmarks of the tiny model, kept with --history: one session for every
    test here but the SST-2 one and the planted slowdown's (each a session of its own: 30 to 70 s)."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_quality.py::test_quality", "bench/test_step_time.py",
         "--model", "tiny", "--tier", "ci", "--glue-dir", real_glue_dir, "-p", "no:cacheprovider", "-rsf",
         f"--benchmark-json={out}", "-q", "--progress", "lines", "--history", str(history_dir),
         "--baselines", str(stored_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    # exit 1: the step time's gate failed (stored_dir), and nothing else did
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED ")]
    assert done.returncode == 1 and len(failed) == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert failed[0].startswith("FAILED bench/test_step_time.py::test_step_time[seed0-batch8-"), failed
    return json.loads(out.read_text()), done.stdout


def test_the_plan_and_the_progress_lines_keep_pytests_report_whole(bench_run):
    """-q with --progress lines: the plan before the first test, a line per epoch and per fine-tune, each on a line
    of its own, pytest's letters on lines of their own, and the time taken against the estimate at the end."""
    _, stdout = bench_run
    lines = stdout.splitlines()
    plan = [line for line in lines if line.startswith("finetune: plan: ")]
    assert len(plan) == 1 and "6 tests, 3 fine-tune(s)" in plan[0] and "about" in plan[0], plan
    assert lines.index(plan[0]) < next(i for i, line in enumerate(lines) if line.startswith("fine-tune "))
    progress = [line for line in lines if "fine-tune " in line and "/3 " in line]
    for number in range(1, 4):
        mine = [line for line in progress if line.startswith(f"fine-tune {number}/3 ")]
        assert any("epoch 1/1, step " in line for line in mine) and any(": trained, " in line for line in mine), mine
    assert all(line.startswith("fine-tune ") for line in progress), progress  # nothing of pytest's on them
    letters = [line for line in lines if line and set(line.split(" [")[0]) <= set(".sF")]
    assert letters, "pytest's letters are not on a line of their own"
    assert any(line.startswith("finetune: the session took ") and "estimated before the first test" in line
               for line in lines)


def test_every_benchmark_keeps_the_contract(bench_run):
    document, _ = bench_run
    quality = [b["extra_info"] for b in document["benchmarks"] if "accuracy" in b["extra_info"]]
    steps = [b["extra_info"] for b in document["benchmarks"] if "accuracy" not in b["extra_info"]]
    # the CI tier's recipes: the fix and each pitfall on its own (string + adam is the full tier's)
    assert {(q["loss"], q["optimizer"]) for q in quality} == {
        ("string", "linear-decay"), ("from_logits", "adam"), ("from_logits", "linear-decay")}
    assert [s["device"] for s in steps] == ["cpu"] + (["gpu"] if Host.here().gpus else [])  # gpu skips without one
    assert {b["extra_info"]["planted_slowdown"] for b in document["benchmarks"]} == {0.0}  # real measurements
    for info in quality:
        assert QUALITY <= set(info), QUALITY - set(info)
        assert info["model"] == "tiny" and info["epochs"] == 1 and info["batch_size"] == 8
        assert 0 <= info["accuracy"] <= 1 and info["steps_timed"] > 0
        # the headline is whole epochs of fit(): every step and the tracing counted
        assert info["step_time_ms"] == pytest.approx(1000 * sum(info["epoch_s"]) / info["steps_timed"])
    for info in steps:
        assert STEP <= set(info), STEP - set(info)
        assert info["examples_per_s"] == pytest.approx(8000 / info["step_time_ms"])
        # the CI tier's session: 3 processes x 5 passes of 16 batches, interleaved; the figure is their mean pass
        assert info["processes"] == 3 and [len(p) for p in info["blocks_ms"]] == [5, 5, 5]
        assert len(info["pass_times_s"]) == 15 and info["steps_timed"] == 15 * 16
        assert info["step_time_ms"] == pytest.approx(sum(map(sum, info["blocks_ms"])) / 15)
    machine = document["machine_info"]["finetune"]
    assert machine["versions"]["tensorflow"].startswith("2.20")
    here = "gpu" if Host.here().gpus else "cpu"  # a GPU runner's session is keyed by its GPU
    assert machine["calibration"]["fp32_gflops"] > 0 and machine["hardware_key"] == machine["hardware"]["fingerprint"][here]


def test_a_comparison_without_a_baseline_is_a_visible_skip(bench_run):
    """No quality baseline for tiny on this machine: every quality gate says skipped, and why, in the JSON and in
    pytest's summary; the step time, stored (stored_dir), is gated live."""
    document, stdout = bench_run
    here = document["machine_info"]["finetune"]["hardware_key"]
    quality = [b["extra_info"]["gate"] for b in document["benchmarks"] if "accuracy" in b["extra_info"]]
    assert len(quality) == 3
    for gate in quality:
        assert gate and all(outcome.startswith("skipped: no baseline") and here in outcome
                            for outcome in gate.values()), gate
    # 3 quality, skipped for want of a baseline, the gpu step time for want of a GPU (or of a baseline), and
    # string + adam, which the CI tier leaves to the full tier; the cpu step time failed against stored_dir
    assert stdout.strip().splitlines()[-1].startswith(f"1 failed, {3 + 1 + 1} skipped in ")
    assert "no baseline for" in stdout
    # the session's gate summary: a line per gate, each a skip with its reason here, and the contract live
    gates = [line for line in stdout.splitlines() if line.startswith("gate ")]
    assert sum(line.startswith("gate quality band [seed0-") for line in gates) == 4, gates
    assert all(": skipped: " in line for line in gates if line.startswith("gate quality band")), gates
    assert any(line.startswith("gate step time (block gate) [seed0-batch8-cpu]: live, FAILED") for line in gates)
    assert "gate JSON contract of every record: live, passed (4 record(s) read back whole)" in gates, gates


def test_summary_names_collapsed_runs(bench_run):
    document, stdout = bench_run
    for b in document["benchmarks"]:
        info = b["extra_info"]
        if info.get("collapsed"):
            assert f"{info['loss']:11} {info['optimizer']:12} seed 0: accuracy {info['accuracy']:.4f}" in stdout
            assert f"COLLAPSED to {info['collapsed']}" in stdout
    assert ("TensorFlow sees no GPU" in stdout or Host.here().gpus) and "fine-tuning results" in stdout


def test_the_quality_benchmarks_run_on_another_task(real_glue_dir, tmp_path):
    """--task sst2: the CI tier's slice of SST-2 (its first 2,400 rows), scored on SST-2's GLUE metric alone."""
    out = tmp_path / "sst2.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_quality.py::test_quality", "-k", "from_logits-linear-decay",
         "--task", "sst2", "--model", "tiny",
         "--tier", "ci", "--glue-dir", real_glue_dir, "-p", "no:cacheprovider", f"--benchmark-json={out}", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    infos = [b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]]
    assert len(infos) == 1 and {info["task"] for info in infos} == {"sst2"}
    for info in infos:
        assert set(info["scores"]) == {"accuracy"} and info["f1"] is None
        assert info["scores"]["accuracy"] == info["accuracy"] and info["max_train_samples"] == 2400
        assert info["num_eval_examples"] == 872  # SST-2's validation split, whole
    assert "quality/sst2/from_logits/linear-decay/epochs=1/train=2400/batch=8" in done.stdout  # the baseline key


def test_the_session_is_kept_as_a_night_of_its_fingerprint(bench_run, history_dir):
    """--history: the session's pytest-benchmark JSON, whole, under its fingerprint, and the series read back."""
    document, stdout = bench_run
    here = document["machine_info"]["finetune"]["hardware_key"]
    (night,) = (history_dir / here).glob("*.json")
    kept = json.loads(night.read_text())
    assert kept["finetune_history"]["fingerprint"] == here and kept["benchmarks"] == document["benchmarks"]
    assert night.name.startswith(kept["finetune_history"]["when"][:10].replace("-", ""))
    assert f"--history: this session kept as the night {night}" in stdout
    listed = subprocess.run([sys.executable, "-m", "bench.history", str(history_dir)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and f"{here}: 1 night(s) on 1 date(s)" in listed.stdout, listed.stderr
    assert "blocks=3x5x16 step_time_ms: 1 night(s)" in listed.stdout and " accuracy: 1 night(s)" in listed.stdout


def stored_sessions_of_this_host(document: dict, directory: Path, factors) -> str:
    """A stored baseline of this machine whose step-time sessions are those of the session `document` (its
    pytest-benchmark JSON), times each of `factors` (on 3 dates), and whose calibration is far from this host's
    (such a drift once turned a failure into a skip). Returns this machine's fingerprint."""
    from bench.store import contract
    from bench.history import nights
    from bench.store import baselines

    here = document["machine_info"]["finetune"]["hardware_key"]
    (step,) = [b["extra_info"] for b in document["benchmarks"]
               if b["extra_info"]["kind"] == "step_time" and b["extra_info"]["device"] == "cpu"]
    key = nights.step_key_of(contract.read(step))
    sessions = [[[v * factor for v in p] for p in step["blocks_ms"]] for factor in factors]
    baselines.write_atomic(directory / f"tiny__{here}.json", {
        "model": "tiny", "hardware_key": here, "calibration": {"fp32_gflops": 1.0},
        "figures": {key: {"sessions_ms": sessions, "session_dates": ["2026-11-01", "2026-11-02", "2026-11-03"]}}})
    return here


# TensorFlow on one thread in each timing process: a load on one core of two (tests/under-load's burner) then
# leaves the timed thread the other core, so it slows neither of two sessions compared a minute apart
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def step_session(real_glue_dir, *flags, env: dict | None = None):
    """`pytest bench/test_step_time.py -k cpu` with the tiny model in the CI tier; $FINETUNE_HISTORY left out, so
    that only `flags` say where the session is kept; `env`: more variables for it."""
    env = {**{name: value for name, value in os.environ.items() if name != "FINETUNE_HISTORY"}, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_step_time.py", "-k", "cpu", "--model", "tiny", "--tier", "ci",
         "--glue-dir", real_glue_dir, *flags, "-p", "no:cacheprovider", "-q"], cwd=ROOT, capture_output=True,
        text=True, timeout=600, env=env)


@pytest.mark.serial
def test_a_planted_slowdown_fails_the_step_time_gate_end_to_end(real_glue_dir, tmp_path):
    """Against this host's own stored sessions (an unplanted session timed just before), --plant-slowdown 1.0
    (twice as slow: far beyond the host's own drift between two sessions; 4.0 once, which spent 2 of the test's 2.5
    minutes asleep) fails with exit 1, naming the figure. It compares two sessions timed a minute apart, so it runs
    in dev.py's serial phase (a test worker busy at one moment and idle at the other once hid the planted 2x), each
    timing process on one thread (ONE_THREAD). Every record says it was planted (planted_slowdown 1.0), and the
    session is kept nowhere: --history is refused with the hook (tests/test_options.py). With --reference HEAD, as
    many processes of the committed tree are timed beside these, never planted: the record's ratio to them, timed
    side by side, shows the 2 times."""
    unplanted = tmp_path / "unplanted.json"
    done = step_session(real_glue_dir, f"--benchmark-json={unplanted}", "--baselines", str(tmp_path / "none"),
                        env=ONE_THREAD)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stored_sessions_of_this_host(json.loads(unplanted.read_text()), tmp_path, (0.97, 1.0, 1.03))
    out = tmp_path / "planted.json"
    done = step_session(real_glue_dir, "--baselines", str(tmp_path), "--plant-slowdown", "1.0", "--reference", "HEAD",
                        f"--benchmark-json={out}", env=ONE_THREAD)
    shown = "\n".join(line for line in done.stdout.splitlines() if "step_time_ms" in line or "FAILED" in line)
    assert done.returncode == 1, shown or done.stdout[-3000:] + done.stderr[-3000:]
    (failed,) = [line for line in done.stdout.splitlines() if line.startswith("FAILED bench/test_step_time.py")]
    (verdict,) = [line for line in done.stdout.splitlines() if line.startswith("baseline FAIL step_time_ms")]
    assert "SLOWER" in verdict and "calibration" in verdict, verdict  # the drift is named, the failure kept
    infos = [b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]]
    assert infos and {info["planted_slowdown"] for info in infos} == {1.0}
    (planted,) = [info for info in infos if info["kind"] == "step_time" and info.get("reference")]
    assert planted["gate"]["step_time_ms"] == "failed"
    reference = planted["reference"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert reference["commit"] == head[:12] and reference["rev"] == "HEAD"
    assert [len(p) for p in reference["blocks_ms"]] == [len(p) for p in planted["blocks_ms"]], "ABBA: as many passes"
    assert 1.5 < reference["ratio"] < 3.0 and reference["low"] > 1.0, reference["described"]  # planted 2x, ours only


def test_a_failed_gate_is_kept_as_a_night(bench_run, history_dir):
    """--history keeps the session whose gate failed, as a night of real measurements: the shared session's step
    time, stored at far below what this host steps (stored_dir; nothing planted: the session runs as it is), failed
    with exit 1, and its night holds the failed gate, its records unplanted (0.0)."""
    from bench.history import nights

    document, stdout = bench_run
    here = document["machine_info"]["finetune"]["hardware_key"]
    (verdict,) = [line for line in stdout.splitlines() if line.startswith("baseline FAIL step_time_ms")]
    assert "SLOWER" in verdict and "calibration" in verdict, verdict  # the drift is named, the failure kept
    (night,) = nights.load(history_dir, here)
    kept = json.loads(next((history_dir / here).glob("*.json")).read_text())
    gates = [b["extra_info"]["gate"]["step_time_ms"] for b in kept["benchmarks"]
             if b["extra_info"]["kind"] == "step_time" and b["extra_info"]["device"] == "cpu"]
    assert gates == ["failed"]
    assert {b["extra_info"]["planted_slowdown"] for b in kept["benchmarks"]} == {0.0}
