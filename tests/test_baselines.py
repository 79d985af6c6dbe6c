"""The regression gate: bands derived from measured spread, failing both ways, written atomically."""

import json
import math

import pytest

import finetune  # noqa: F401
from bench.store import baselines
from bench.judge import verdicts
from finetune import environment
from finetune.errors import FinetuneError
from bench.store.baselines import Figure

ACCURACY = Figure.of([0.80, 0.81, 0.82, 0.81, 0.80])


def test_figure_statistics():
    assert ACCURACY.n == 5 and ACCURACY.min == 0.80 and ACCURACY.max == 0.82
    assert ACCURACY.mean == pytest.approx(0.808)
    assert ACCURACY.std == pytest.approx(0.008366600265)


def test_band_is_the_prediction_interval_plus_resolution():
    band = verdicts.band(ACCURACY, resolution=1 / 408)
    half = 4.604094 * ACCURACY.std * math.sqrt(1 + 1 / 5)  # t(0.995, 4)
    assert band.half_width == pytest.approx(half, rel=1e-5)
    assert band.low == pytest.approx(0.808 - half - 1 / 408, rel=1e-6)
    assert band.high == pytest.approx(0.808 + half + 1 / 408, rel=1e-6)


def test_gate_passes_unchanged_and_fails_a_quality_drop():
    assert verdicts.check("accuracy", 0.81, ACCURACY, "here")[0] is True
    passed, message = verdicts.check("accuracy", 0.70, ACCURACY, "minilm-l6 on cpu", resolution=1 / 408)
    assert passed is False
    for named in ("accuracy 0.7", "OUTSIDE", "baseline mean 0.808", "n=5", "tolerance", "t(0.995, 4)"):
        assert named in message


def test_speed_gate_is_one_sided():
    steps = Figure.of([300.0, 305.0, 310.0, 298.0, 302.0])
    assert verdicts.check("step_time_ms", 150.0, steps, "here", upper_only=True)[0] is True  # faster is fine
    assert verdicts.check("step_time_ms", 303.0, steps, "here", upper_only=True)[0] is True
    passed, message = verdicts.check("step_time_ms", 1.2 * steps.mean, steps, "cpu", upper_only=True)
    assert passed is False and "step_time_ms 363.6 is OUTSIDE" in message and "<= " in message


STEPS = Figure.of([300.0, 305.0, 310.0, 298.0, 302.0])  # band: <= 322.3


def confirmation(value):
    """A confirm() that records it was called."""
    calls = []
    return calls, lambda: calls.append(value) or value


def test_step_time_inside_the_band_is_not_timed_again():
    calls, confirm = confirmation(999.0)
    assert verdicts.check_confirmed("step_time_ms", 310.0, STEPS, "cpu", confirm)[0] is True
    assert calls == []


def test_one_stall_passes_when_the_second_timing_is_inside_the_band():
    calls, confirm = confirmation(306.0)
    passed, message = verdicts.check_confirmed("step_time_ms", 420.0, STEPS, "cpu", confirm)
    assert passed is True and calls == [306.0]
    assert "step_time_ms 306 is inside" in message and "at first (420), timed again: 306" in message


def test_a_slowdown_that_repeats_fails_on_the_faster_of_the_two():
    calls, confirm = confirmation(1.25 * STEPS.mean)
    passed, message = verdicts.check_confirmed("step_time_ms", 1.3 * STEPS.mean, STEPS, "cpu", confirm)
    assert passed is False and calls == [1.25 * STEPS.mean]
    assert "step_time_ms 378.8 is OUTSIDE" in message and "timed again: 378.8" in message


def test_nothing_to_compare_is_said_not_passed():
    assert verdicts.check("f1", 0.9, None, "here")[0] is None
    passed, message = verdicts.check("f1", 0.9, Figure.of([0.9]), "here")
    assert passed is None and "n=1" in message and "--seeds 2" in message


def test_a_band_covering_every_possible_score_is_not_a_pass():
    # string + linear-decay, 3 epochs, seeds 0..4 measured here: learns once, falls below the majority class 4 times
    seed_dependent = Figure.of([0.75, 0.3897, 0.3873, 0.3235, 0.3211])
    passed, message = verdicts.check("accuracy", 0.35, seed_dependent, "here", 1 / 408, limits=verdicts.SCORE_RANGE)
    assert passed is None and "every possible value" in message and "claims test" in message
    assert verdicts.check("accuracy", 0.35, seed_dependent, "here", 1 / 408)[0] is True  # without limits: vacuous
    steady = Figure.of([0.7941, 0.8137, 0.8064, 0.8186, 0.8064])  # from_logits + linear-decay: a real gate
    assert verdicts.check("accuracy", 0.35, steady, "here", 1 / 408, limits=verdicts.SCORE_RANGE)[0] is False


def test_every_committed_step_time_gate_passes_its_own_mean_and_fails_a_50_percent_slowdown():
    """On every committed baseline, whatever machine it is from (this test does not depend on the host running
    it): each step-time figure's own mean passes, and the same step 50% slower fails (the band of older files)."""
    figures = [(path.name, key, baselines.Figure.from_dict(group["step_time_ms"]))
               for path in sorted(baselines_dir().glob("*__*.json"))
               for key, group in baselines.load(path)["figures"].items() if "step_time_ms" in group]
    assert len({name for name, _, _ in figures}) >= 2, "the committed step-time baselines are missing"
    for name, key, figure in figures:
        assert verdicts.check("step_time_ms", figure.mean, figure, key, upper_only=True)[0] is True, (name, key)
        assert verdicts.check("step_time_ms", 1.5 * figure.mean, figure, key, upper_only=True)[0] is False, (name, key)


def test_every_committed_block_baseline_passes_its_own_sessions_and_fails_them_much_slower():
    """Leave one session out: judged against the others, each stored session passes as it was measured, and the
    same passes 50% slower fail. (How much less can be caught depends on the host's spread between sessions: the
    docs/gates.md, measures it with bench.sensitivity.)"""
    groups = [(path.name, key, baselines.stored_sessions(group)) for path in sorted(baselines_dir().glob("*__*.json"))
              for key, group in baselines.load(path)["figures"].items() if baselines.stored_sessions(group)]
    assert groups, "no committed baseline holds blocks"
    for name, key, sessions in groups:
        assert len(sessions) >= baselines.MIN_SESSIONS + 1, (name, key)
        for i, held_out in enumerate(sessions):
            others = {"sessions_ms": sessions[:i] + sessions[i + 1:]}
            assert verdicts.check_blocks("step_time_ms", held_out, others, key)[0] is True, (name, key, i)
            slowed = [[1.5 * v for v in process] for process in held_out]
            assert verdicts.check_blocks("step_time_ms", slowed, others, key)[0] is False, (name, key, i)


def baselines_dir():
    from bench.store.baselines import BASELINE_DIR

    return BASELINE_DIR


def test_update_merges_and_keeps_other_figures(tmp_path):
    path = tmp_path / "m__hw.json"
    baselines.write_atomic(path, baselines.merged(None, {"model": "m"}, {"a": {"x": ACCURACY}, "b": {"x": ACCURACY}}))
    newer = Figure.of([0.5, 0.6])
    baselines.write_atomic(path, baselines.merged(baselines.load(path), {"model": "m"}, {"a": {"x": newer}}))
    assert baselines.figure_of(baselines.load(path), "a", "x") == newer
    assert baselines.figure_of(baselines.load(path), "b", "x") == ACCURACY


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m__hw.json"
    baselines.write_atomic(path, {"figures": {"a": {"x": ACCURACY.to_dict()}}})
    before = path.read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        baselines.write_atomic(path, {"figures": {}})
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m__hw.json"]  # no temporary file left behind


def cli_result(tmp_path, name, seed, accuracy, loss="from_logits", tensorflow="2.20.0"):
    """A result file as `python -m finetune --json` writes it (the fields ingest reads)."""
    result = {"config": {"task": "mrpc", "model": "minilm-l6", "loss": loss, "optimizer": "linear-decay",
                         "epochs": 3, "batch_size": 8, "max_train_samples": None, "seed": seed},
              "accuracy": accuracy, "f1": accuracy, "collapsed": None, "versions": {"tensorflow": tensorflow},
              "hardware": {"cpu": "Some CPU", "cpu_count": 2, "gpus": []}, "measured_at": "2026-11-25T00:00:00"}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(result))
    return path


def test_cli_results_are_grouped_per_variant(tmp_path):
    from bench.store.ingest import ingest

    paths = [cli_result(tmp_path, f"r{i}", i, accuracy, loss)
             for i, (loss, accuracy) in enumerate([("from_logits", 0.80), ("from_logits", 0.82), ("string", 0.6838)])]
    ingest(paths, tmp_path)
    document = baselines.load(tmp_path / "minilm-l6__cpu-some-cpu-2c.json")
    key = baselines.quality_key("mrpc", "from_logits", "linear-decay", 3, None, 8)
    assert baselines.figure_of(document, key, "accuracy").values == (0.80, 0.82)
    assert document["figures"][key]["provenance"]["seeds"] == [0, 1]
    assert "--loss from_logits" in document["figures"][key]["provenance"]["command"]
    string_key = baselines.quality_key("mrpc", "string", "linear-decay", 3, None, 8)
    assert baselines.figure_of(document, string_key, "accuracy").n == 1


def test_provenance_names_the_command_of_every_seed(tmp_path):
    from bench.store.ingest import ingest

    bench_file = tmp_path / "full.json"  # one quality benchmark of `pytest bench/ --benchmark-json=full.json`
    info = {**json.loads(cli_result(tmp_path, "x", 0, 0.79).read_text())["config"], "accuracy": 0.79, "f1": 0.85,
            "collapsed": None}
    bench_file.write_text(json.dumps({
        "datetime": "2026-11-25T20:33:10", "benchmarks": [{"extra_info": info}],
        "machine_info": {"finetune": {"versions": {"tensorflow": "2.20.0"},
                                      "hardware": {"cpu": "Some CPU", "cpu_count": 2, "gpus": []}}}}))
    ingest([cli_result(tmp_path, "a", 1, 0.80), cli_result(tmp_path, "b", 2, 0.82), bench_file], tmp_path)
    group = baselines.load(tmp_path / "minilm-l6__cpu-some-cpu-2c.json")["figures"][
        baselines.quality_key("mrpc", "from_logits", "linear-decay", 3, None, 8)]
    assert group["provenance"]["seeds"] == [0, 1, 2] and group["accuracy"]["values"] == [0.79, 0.80, 0.82]
    cli, bench = group["provenance"]["command"].split("; ")
    assert cli.startswith("GLUE_DIR=") and cli.endswith("--seed {1,2} --json RESULT.json")
    assert bench == "pytest bench/ --benchmark-json=full.json (seeds [0])"


def test_ingest_adds_seeds_to_a_group_of_the_same_versions(tmp_path):
    from bench.store.ingest import ingest

    key = baselines.quality_key("mrpc", "from_logits", "linear-decay", 3, None, 8)
    stored = tmp_path / "minilm-l6__cpu-some-cpu-2c.json"
    ingest([cli_result(tmp_path, "a", 0, 0.80), cli_result(tmp_path, "b", 1, 0.82)], tmp_path)
    ingest([cli_result(tmp_path, "c", 1, 0.83), cli_result(tmp_path, "d", 2, 0.84)], tmp_path)
    document = baselines.load(stored)
    assert baselines.figure_of(document, key, "accuracy").values == (0.80, 0.83, 0.84)  # seed 1 re-measured
    assert document["figures"][key]["provenance"]["seeds"] == [0, 1, 2]
    assert "kept seeds [0]" in document["figures"][key]["provenance"]["command"]

    ingest([cli_result(tmp_path, "e", 5, 0.70, tensorflow="2.21.0")], tmp_path)  # other versions: a new group
    assert baselines.figure_of(baselines.load(stored), key, "accuracy").values == (0.70,)
    ingest([cli_result(tmp_path, "f", 6, 0.71, tensorflow="2.21.0")], tmp_path, replace=True)
    assert baselines.figure_of(baselines.load(stored), key, "accuracy").values == (0.71,)


def test_other_machines_baselines_are_named_with_the_machine_in_words(tmp_path):
    from tests.hosts import AVX2

    legacy = {"hardware": {"cpu": "AMD EPYC", "cpu_count": 2}, "figures": {}}
    described = {"hardware": {"described": {"cpu": AVX2.describe("cpu")}}, "figures": {}}
    baselines.write_atomic(tmp_path / "minilm-l6__cpu-amd-epyc-2c.json", legacy)
    baselines.write_atomic(tmp_path / f"minilm-l6__{AVX2.key('cpu')}.json", described)
    baselines.write_atomic(tmp_path / "tiny__cpu-other.json", described)  # another model: not listed
    found = dict(baselines.others(tmp_path, "minilm-l6", "cpu-this-machine-2c-000000"))
    assert found == {"cpu-amd-epyc-2c": "AMD EPYC, 2 cores, recorded before fingerprints",
                     AVX2.key("cpu"): "AMD EPYC (AuthenticAMD 25/1/1; avx2; 2 usable cores)"}
    assert dict(baselines.others(tmp_path, "minilm-l6", AVX2.key("cpu"))).keys() == {"cpu-amd-epyc-2c"}


def test_a_truncated_baseline_of_another_machine_is_named_not_listed_as_a_machine(tmp_path):
    (tmp_path / "minilm-l6__cpu-broken-2c-123456.json").write_text('{"hardware": {"descr', encoding="utf-8")
    ((key, described),) = baselines.others(tmp_path, "minilm-l6", "cpu-this-machine-2c-000000")
    assert key == "cpu-broken-2c-123456" and "?" not in described and "\n" not in described
    assert described.startswith("UNREADABLE baseline file minilm-l6__cpu-broken-2c-123456.json: not valid JSON")


def test_a_band_that_holds_a_collapse_score_is_no_gate_against_collapse():
    """MRPC's CI tier: the fix's F1 band (5 seeds, about [0.80, 0.83]) holds 0.8122, the F1 of predicting
    'equivalent' for every pair, so F1 cannot tell a collapse from a run that learned; its accuracy band can."""
    from finetune import metrics
    from finetune.tasks import TASKS

    labels = [1] * 279 + [0] * 129  # MRPC's validation split: 279 of 408 pairs equivalent
    collapse = metrics.constant_scores(TASKS["mrpc"], labels)
    assert collapse["f1"][1] == pytest.approx(2 * 279 / (2 * 279 + 129)) and collapse["f1"][0] == 0.0
    assert collapse["accuracy"] == {0: pytest.approx(129 / 408), 1: pytest.approx(279 / 408)}
    f1 = Figure.of([0.8201, 0.8195, 0.8196, 0.8197, 0.8132])
    accuracy = Figure.of([0.7108, 0.7181, 0.7206, 0.7132, 0.7083])
    passed, message = verdicts.check("f1", 0.8122, f1, "here", 1 / 408, limits=verdicts.SCORE_RANGE,
                                  collapse=collapse["f1"])
    assert passed is None and "0.8122, the score of predicting label 1" in message and "--seeds" in message
    assert verdicts.check("accuracy", 279 / 408, accuracy, "here", 1 / 408, limits=verdicts.SCORE_RANGE,
                       collapse=collapse["accuracy"])[0] is False  # accuracy still fails the collapse
    three = Figure.of([0.5596, 0.5704, 0.5379])  # RTE's fix, 3 seeds: t(0.995, 2) = 9.92 makes the band wide
    rte = metrics.constant_scores(TASKS["rte"], [0] * 146 + [1] * 131)
    assert verdicts.check("accuracy", 0.5, three, "here", 1 / 277, limits=verdicts.SCORE_RANGE,
                       collapse=rte["accuracy"])[0] is None


def test_a_truncated_baseline_file_is_one_clear_line(tmp_path):
    path = tmp_path / "m__hw.json"
    path.write_text('{"figures": {"quality/mrpc', encoding="utf-8")
    with pytest.raises(FinetuneError, match=r"m__hw.json: not valid JSON .*git checkout -- m__hw.json"):
        baselines.load(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(FinetuneError, match="not a baseline file"):
        baselines.load(path)


def test_a_truncated_baseline_stops_pytest_bench_with_one_line(tmp_path):
    """End to end: the session's own baseline file is cut short; pytest exits 4 with one line, no INTERNALERROR.
    The file is in a folder of the test's own (--baselines): one cut short in baselines/ would stop every other
    `pytest bench/` session of the unit tests running beside this one."""
    import subprocess
    import sys

    path = baselines.path_for(tmp_path, "tiny", environment.hardware_key())
    path.write_text('{"figures": {', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", "bench", "--model", "tiny", "--co", "-q", "--baselines",
                           str(tmp_path), "-p", "no:cacheprovider"], cwd=baselines_dir().parent, capture_output=True,
                          text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 4, output[-2000:]
    assert "INTERNALERROR" not in output and "Traceback" not in output
    (line,) = [line for line in output.splitlines() if "finetune:" in line and "not valid JSON" in line]
    assert path.name in line and "--update-baselines" in line
