"""The result contract (bench.store.contract): every kind writes and reads back, old files are migrated in one place,
docs/contract.md's table is the classes', and reading results imports neither TensorFlow nor transformers."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.store import contract
from finetune import FinetuneError
from finetune.perf import PerfConfig

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def minimal(cls) -> dict:
    """The required fields of a kind, with values of their types."""
    values = {str: "x", "str": "x", int: 8, "int": 8, float: 0.5, "float": 0.5, "float | None": 0.5}
    return {f.name: values[f.type] for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}


@pytest.mark.parametrize("kind", list(contract.KINDS))
def test_every_kind_writes_schema_and_kind_and_reads_back_equal(kind):
    cls = contract.KINDS[kind]
    record = cls(**minimal(cls), seed=3, gate={"accuracy": "passed"})
    info = json.loads(json.dumps(record.to_extra_info()))  # through JSON, as pytest-benchmark writes it
    assert info["schema"] == contract.SCHEMA and info["kind"] == kind
    assert contract.read(info) == record and contract.validate(info) == record


def test_a_record_without_a_required_field_is_one_line_naming_it():
    info = contract.Quality(**minimal(contract.Quality)).to_extra_info()
    del info["accuracy"]
    with pytest.raises(FinetuneError, match="run.json: a quality record without accuracy"):
        contract.read(info, "run.json")


def test_a_key_that_is_no_field_of_its_kind_is_refused_so_nothing_is_lost_to_readers():
    info = {**contract.StepTime(**minimal(contract.StepTime)).to_extra_info(), "tokens_per_watt": 3.0}
    with pytest.raises(FinetuneError, match="tokens_per_watt"):
        contract.validate(info)


@pytest.mark.parametrize("old, kind", [
    ({"model": "m", "device": "cpu", "batch_size": 8, "step_time_ms": 1.0, "examples_per_s": 8.0,
      "tokens_per_s": 9.0}, contract.StepTime),
    ({"model": "m", "device": "cpu", "batch_size": 8, "step_time_ms": 1.0, "examples_per_s": 8.0,
      "tokens_per_s": 9.0, "variant": "xla"}, contract.VariantStepTime),
    ({"model": "m", "loss": "string", "optimizer": "adam", "epochs": 1, "batch_size": 8, "accuracy": 0.7,
      "f1": 0.8}, contract.Quality),
    ({"model": "m", "variant": "bf16", "epochs": 1, "batch_size": 8, "variant_accuracy": 0.7, "variant_f1": 0.8},
     contract.VariantQuality),
    ({"device": "cpu", "variant": "bucket", "step_time_ms": 3.0, "course_step_time_ms": 4.0,
      "variant_accuracy": 0.7, "variant_f1": 0.8}, contract.Faster),
    ({"model": "m", "device": "cpu", "batch_size": 16, "step_time_ms": 1.0, "examples_per_s": 8.0,
      "variant": "mirrored", "single_device_step_time_ms": 0.6, "per_replica_batch": 8,
      "scaling_efficiency": 0.8}, contract.Scaling),
])
def test_schema_1_records_are_migrated_to_their_kind(old, kind):
    record = contract.read(old)
    assert type(record) is kind
    if "variant_accuracy" in old:
        assert (record.accuracy, record.f1) == (old["variant_accuracy"], old["variant_f1"])
    if kind is contract.VariantQuality:  # files from before it recorded the recipe: the course's fix
        assert (record.loss, record.optimizer) == ("from_logits", "linear-decay")


def test_a_benchmark_of_no_known_kind_is_left_out_and_a_newer_schema_is_refused():
    assert contract.read({"something": 1}) is None
    with pytest.raises(FinetuneError, match="newer than this suite"):
        contract.read({"schema": contract.SCHEMA + 1, "kind": "quality"})
    with pytest.raises(FinetuneError, match="unknown kind 'energy'"):
        contract.read({"schema": contract.SCHEMA, "kind": "energy"})


def test_every_field_the_suite_writes_is_a_field_of_its_record():
    """The writers' building blocks: peak memory (every kind), a fine-tune's speed, a bench's rates, perf fields."""
    from bench.session.recording import fit_fields, perf_fields
    from finetune import steptime

    common = {f.name for f in dataclasses.fields(contract.Record)}
    assert {"peak_rss_mb", "rss_scope", "peak_gpu_memory_mb", "gate"} <= common
    result = SimpleNamespace(fit={"ms_per_step": 1, "compile_s": 1, "epoch_s": [1], "steps": 1}, examples_per_s=1,
                             step_time={"median_ms": 1, "iqr_ms": 1}, peak_rss_mb=1, compile_cache="off")
    assert set(fit_fields(result)) <= {f.name for f in dataclasses.fields(contract.FitSpeed)}
    shape = {"flops_per_step": 1.0, "tokens_per_batch": 1.0, "padded_tokens_per_batch": 2.0, "batch_size": 8,
             "precision": "fp32", "batches": 16, "rows": 128}
    rates = steptime.rates(shape, 100.0)
    assert rates["examples_per_s"] == 80.0 and rates["padding_waste"] == 0.5
    assert set(rates) <= {f.name for f in dataclasses.fields(contract.StepTime)}
    assert set(perf_fields(PerfConfig())) <= {f.name for f in dataclasses.fields(contract.VariantStepTime)}


def test_the_docs_json_contract_table_is_the_classes():
    readme = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    assert contract.markdown() in readme, "regenerate it: python -c 'from bench.store import contract; print(contract.markdown())'"


def test_the_report_of_two_old_files_renders_as_before_the_contract(tmp_path):
    """tests/fixtures/report_gpu_and_cpu.md: the report of the two schema-1 fixtures, as rendered before the
    contract (changed since: the name of the baselines module in one sentence; the quality table's task, train
    rows, scores and bands columns, from when the suite ran every GLUE task; the step table's task column, the chart's
    sentence, and speed-ups only within the reference's task and batch size: the EPYC's batch-8 row against the
    H100 host's batch-32 CPU row is no longer a "7.84x"; the engine column, tf-keras for files from before engines, and
    the Engines section; a speed-up's 90% interval from the rows' passes, and the step table's legend on which rows
    the gated step and the named variants time; the quality table shows the gate recorded at run time, bands only
    with --rejudge; the legend's GPU peaks, measured matmul beside the datasheet, and memory of the process that ran
    the step)."""
    from bench.report import cli as report

    assert report.main([str(FIXTURES / "gpu_h100_bench.json"), str(FIXTURES / "cpu_epyc_bench.json"),
                        "--out", str(tmp_path)]) == 0
    assert (tmp_path / "report.md").read_text() == (FIXTURES / "report_gpu_and_cpu.md").read_text()


def test_reading_merging_and_reporting_import_neither_tensorflow_nor_transformers(tmp_path):
    script = f"""
import sys
from pathlib import Path
from bench.store import ingest
from bench.report import cli as report
from bench.report import runs
fixtures = Path({str(FIXTURES)!r})
assert report.main([str(fixtures / "gpu_h100_bench.json"), "--out", {str(tmp_path / "out")!r}]) == 0
ingest.ingest([fixtures / "cpu_epyc_bench.json"], directory=Path({str(tmp_path / "baselines")!r}))
print(sorted(m for m in ("tensorflow", "transformers", "tf_keras", "keras", "datasets") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert list((tmp_path / "baselines").glob("*.json")), "ingest wrote nothing: the check proved nothing"


def test_a_step_time_records_blocks_per_process_and_reads_them_back():
    record = contract.StepTime(**minimal(contract.StepTime), blocks_ms=[[100.0, 200.0], [150.0]], processes=2)
    again = contract.read(record.to_extra_info())
    assert again.blocks_ms == [[100.0, 200.0], [150.0]] and again.processes == 2


def test_every_kind_carries_the_planted_factor_and_an_old_record_reads_as_unplanted():
    """--plant-slowdown's factor is a field of every kind (0.0: a real measurement), kept through JSON, so a planted
    run can never pass for a real one; a file from before the field is read as unplanted."""
    for kind, cls in contract.KINDS.items():
        record = cls(**minimal(cls), planted_slowdown=0.5)
        assert contract.read(json.loads(json.dumps(record.to_extra_info()))).planted_slowdown == 0.5, kind
        assert cls(**minimal(cls)).planted_slowdown == 0.0
    old = {"model": "m", "device": "cpu", "batch_size": 8, "step_time_ms": 1.0, "examples_per_s": 8.0,
           "tokens_per_s": 9.0}
    assert contract.read(old).planted_slowdown == 0.0


def test_every_record_the_suite_writes_carries_its_sessions_planted_factor():
    """bench.session.recording builds each kind from the session's Context, whose planted factor has no default (a writer
    that forgot it would fail, not write a planted run as 0.0)."""
    from bench.session import recording
    from finetune import steptime

    with pytest.raises(TypeError, match="planted_slowdown"):
        recording.Context("tiny", "ci", 1, "tf-keras")
    ctx = recording.Context("tiny", "ci", 1, "tf-keras", 0.25)
    config = {"task": "mrpc", "device": "cpu", "batch_size": 8, "seed": 0, "epochs": 1, "loss": "from_logits",
              "optimizer": "linear-decay", "max_train_samples": 2400}
    run = SimpleNamespace(config=config, fit={"ms_per_step": 2.0, "compile_s": 1.0, "epoch_s": [1.0], "steps": 1},
                          examples_per_s=4.0, step_time={"median_ms": 2.0, "iqr_ms": 0.1}, peak_rss_mb=1.0, compile_cache="off",
                          accuracy=0.7, f1=0.8, scores={"accuracy": 0.7, "f1": 0.8}, collapsed=None,
                          majority_accuracy=0.68, epoch_losses=[0.6], num_train_steps=300, metric_source="x",
                          num_eval_examples=408, data_source="x", wall_time_s={"total": 1.0}, perf_choice="bucket",
                          num_train_examples=2400)
    shape = {"flops_per_step": 1.0, "tokens_per_batch": 1.0, "padded_tokens_per_batch": 2.0, "batch_size": 8,
             "precision": "fp32", "batches": 4, "rows": 32}
    c = SimpleNamespace(task="mrpc", device="cpu", batch_size=8, seed=0, perf=PerfConfig())
    bench = SimpleNamespace(config=c, rates=lambda ms: steptime.rates(shape, ms), replicas=1, rows=32,
                            shapes={(8, 32)}, traces=lambda: 1)
    written = [recording.quality(ctx, run), recording.variant_quality(ctx, "bucket", run),
               recording.faster(ctx, run, run, "bucket", None, PerfConfig()),
               recording.step_time(ctx, c, {"shape": shape}, [[2.0, 2.0]], [0.1, 0.1]),
               recording.variant_step_time(ctx, "bucket", bench, 2.0, 8)]
    for record in written:
        assert record.planted_slowdown == 0.25 and contract.validate(record.to_extra_info()) == record, record.KIND


def planted_bench_file(tmp_path, factor: float) -> Path:
    """The fixture session's pytest-benchmark JSON, its records marked as planted by `factor` (as a session run
    with --plant-slowdown writes them)."""
    document = json.loads((FIXTURES / "cpu_epyc_bench.json").read_text())
    for b in document["benchmarks"]:
        b["extra_info"]["planted_slowdown"] = factor
    path = tmp_path / f"planted-{factor}.json"
    path.write_text(json.dumps(document))
    return path


def test_ingest_refuses_a_planted_session_in_one_line_and_writes_nothing(tmp_path, capsys):
    """A session run with --plant-slowdown is no measurement: `python -m bench.ingest` names the file and the factor
    and writes no baseline; the same file unplanted is ingested."""
    from bench.store import ingest

    baselines = tmp_path / "baselines"
    with pytest.raises(SystemExit) as caught:
        ingest.ingest([planted_bench_file(tmp_path, 0.5)], directory=baselines)
    message = str(caught.value.code)
    assert message.startswith(f"error: {tmp_path / 'planted-0.5.json'} was run with --plant-slowdown 0.5")
    assert message.endswith("ingest a session run without --plant-slowdown") and "\n" not in message
    assert not baselines.exists() or not list(baselines.iterdir())
    assert ingest.ingest([planted_bench_file(tmp_path, 0.0)], directory=baselines)  # unplanted: written
