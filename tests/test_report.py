"""The report: tables computed from the fixtures' numbers, the chart, the Differences section, bad input."""

import json
import statistics
from types import SimpleNamespace
from pathlib import Path

import pytest

from bench.report import cli as report
from bench.report import steps
from bench.store import baselines
from bench.judge import verdicts
from bench.store.baselines import Figure

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GPU = FIXTURES / "gpu_h100_bench.json"  # H100 host: cpu and gpu step times (gpu: 3 seeds), 4 quality runs
CPU = FIXTURES / "cpu_epyc_bench.json"  # 2-core CPU: another model, tier, epochs and tensorflow version
H100 = "NVIDIA H100 80GB HBM3"


def run_report(capsys, *args):
    code = report.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def table(text: str, section: str) -> list[dict]:
    """The first markdown table under the heading `## section` (or `### section`), as one dict per row."""
    lines = text.split(f"## {section}\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    headers = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(headers, (cell.strip() for cell in line.strip("|").split("|")))))
    return rows


def infos(path, device=None, loss=None):
    found = [b["extra_info"] for b in json.loads(path.read_text())["benchmarks"]]
    return [i for i in found if (device is None or i.get("device") == device and "tokens_per_s" in i)
            and (loss is None or i.get("loss") == loss)]


@pytest.fixture
def gpu_report(tmp_path, capsys):
    code, out, err = run_report(capsys, GPU, "--out", tmp_path / "report", "--reference", "cpu batch 32")
    assert code == 0, err
    return (tmp_path / "report" / "report.md").read_text()


def test_report_writes_markdown_and_a_png_chart(tmp_path, capsys):
    code, out, _ = run_report(capsys, GPU, CPU, "--out", tmp_path / "new" / "folder")
    assert code == 0 and "report.md" in out
    assert (tmp_path / "new" / "folder" / "report.md").read_text().startswith("# Fine-tuning benchmark report")
    png = (tmp_path / "new" / "folder" / "step_time.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_gpu_row_is_the_median_of_its_seeds_with_achieved_flops_and_mfu(gpu_report):
    gpu = infos(GPU, device="gpu")
    median_ms = statistics.median(i["step_time_ms"] for i in gpu)
    flops_per_s = gpu[0]["flops_per_step"] / (median_ms / 1000)
    (row,) = [r for r in table(gpu_report, "Step time") if r["device"] == H100]
    assert len(gpu) == 3 and median_ms == 42.0 != statistics.fmean(i["step_time_ms"] for i in gpu)
    assert row["ms/step"] == "42.0" and row["n"] == "3"
    assert row["TFLOP/s"] == f"{flops_per_s / 1e12:.2f}"
    assert row["MFU"] == f"{100 * flops_per_s / 989.4e12:.1f}% of 989.4 bf16"
    assert row["examples/s"] == f"{statistics.median(i['examples_per_s'] for i in gpu):.1f}"


def test_speedup_is_relative_to_the_reference_row(gpu_report):
    cpu_ms = infos(GPU, device="cpu")[0]["step_time_ms"]
    rows = {r["device"]: r for r in table(gpu_report, "Step time")}
    assert rows["Intel(R) Xeon(R) Platinum 8480+"]["speed-up"] == "reference"
    assert rows[H100]["speed-up"].split(" [")[0] == f"{cpu_ms / 42.0:.3g}x" == "58.3x"  # then its interval


def test_reference_defaults_to_the_first_row_and_must_match_one(tmp_path, capsys):
    assert run_report(capsys, GPU, "--out", tmp_path, "--reference", "gpu batch 32")[0] == 0
    rows = table((tmp_path / "report.md").read_text(), "Step time")
    assert rows[1]["speed-up"] == "reference" and rows[0]["speed-up"].split(" [")[0] == f"{42.0 / 2450.0:.3g}x"
    code, _, err = run_report(capsys, GPU, "--out", tmp_path, "--reference", "tpu")
    assert code == 2 and err.count("\n") == 1 and "--reference 'tpu' matches no step-time row" in err


def test_cpu_rows_and_rows_without_flops_show_na(tmp_path, capsys):
    assert run_report(capsys, GPU, CPU, "--out", tmp_path)[0] == 0
    rows = {r["device"]: r for r in table((tmp_path / "report.md").read_text(), "Step time")}
    xeon = rows["Intel(R) Xeon(R) Platinum 8480+"]  # has flops_per_step, but a CPU has no peak
    assert xeon["TFLOP/s"] != "n/a" and xeon["MFU"] == "n/a"
    epyc = rows["AMD EPYC 7B13"]  # no flops_per_step or precision in extra_info
    assert epyc["TFLOP/s"] == "n/a" and epyc["MFU"] == "n/a" and epyc["file"] == CPU.name


def test_cpu_rows_get_an_mfu_against_the_calibration_of_their_own_run(tmp_path, capsys):
    document = json.loads(GPU.read_text())
    document["machine_info"]["finetune"]["calibration"] = {"device": "cpu", "size": 1024, "fp32_gflops": 120.0}
    for bench in document["benchmarks"]:
        bench["extra_info"].update(peak_rss_mb=1873.5, gate={"step_time_ms": "skipped: no baseline for it"})
    calibrated = tmp_path / "calibrated.json"
    calibrated.write_text(json.dumps(document))
    assert run_report(capsys, calibrated, "--out", tmp_path / "out")[0] == 0
    text = (tmp_path / "out" / "report.md").read_text()
    rows = {r["device"]: r for r in table(text, "Step time")}
    xeon = rows["Intel(R) Xeon(R) Platinum 8480+"]
    (cpu,) = [i for i in infos(calibrated, device="cpu")]
    achieved = cpu["flops_per_step"] / (cpu["step_time_ms"] / 1000.0)
    assert xeon["MFU"] == f"{100 * achieved / 120e9:.1f}% of 0.12 fp32" and xeon["peak memory MB"] == "1,874"
    assert rows[H100]["MFU"].endswith("of 989.4 bf16")  # GPUs keep the datasheet's peak
    assert table(text, "Inputs")[0]["calibration GFLOP/s"] == "fp32 120"
    quality = table(text, "Quality")
    assert quality and all(row["gate (recorded at run time)"].startswith("step_time_ms skipped: ") for row in quality)
    assert "re-judged today" not in quality[0]  # the recorded outcome only, unless --rejudge


def test_a_mirrored_rows_mfu_is_against_the_peak_of_every_replica(tmp_path, capsys):
    document = json.loads(GPU.read_text())
    gpu = [b for b in document["benchmarks"] if b["extra_info"].get("device") == "gpu"
           and "tokens_per_s" in b["extra_info"]]
    for bench in gpu:
        bench["extra_info"].update(variant="mirrored", replicas=8)
    mirrored = tmp_path / "mirrored.json"
    mirrored.write_text(json.dumps(document))
    assert run_report(capsys, mirrored, "--out", tmp_path / "out")[0] == 0
    (row,) = [r for r in table((tmp_path / "out" / "report.md").read_text(), "Step time") if r["device"] == H100]
    infos = [b["extra_info"] for b in gpu]
    achieved = statistics.median(i["flops_per_step"] for i in infos) / (statistics.median(
        i["step_time_ms"] for i in infos) / 1000.0)
    assert row["MFU"] == f"{100 * achieved / (8 * 989.4e12):.1f}% of {8 * 989.4:g} bf16"


def test_the_faster_record_is_not_a_second_quality_row_of_its_variant(tmp_path, capsys):
    document = json.loads(GPU.read_text())
    quality = next(b for b in document["benchmarks"] if "accuracy" in b["extra_info"])
    variant = {**quality, "extra_info": {**quality["extra_info"], "variant": "bf16-bucket", "variant_accuracy": 0.7,
                                         "variant_f1": 0.8}}
    del variant["extra_info"]["accuracy"]
    faster = {**variant, "extra_info": {**variant["extra_info"], "course_step_time_ms": 500.0, "step_time_ms": 380.0}}
    document["benchmarks"] += [variant, faster]
    both = tmp_path / "both.json"
    both.write_text(json.dumps(document))
    assert run_report(capsys, both, "--out", tmp_path / "out")[0] == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert [row["variant"] for row in table(text, "Quality")].count("bf16-bucket") == 1
    assert len(table(text, "Faster than the course")) == 1


def test_differences_name_the_files_and_the_differing_values(tmp_path, capsys):
    assert run_report(capsys, GPU, CPU, "--out", tmp_path)[0] == 0
    differences = (tmp_path / "report.md").read_text().split("## Differences")[1]
    assert f"tensorflow version: {GPU.name} 2.20.0, {CPU.name} 2.19.0" in differences
    assert f"tier: {GPU.name} full, {CPU.name} ci" in differences
    assert f"epochs: {GPU.name} 3, {CPU.name} 1" in differences
    assert f"model: {GPU.name} bert-base-uncased, {CPU.name} minilm-l6" in differences
    assert "transformers" not in differences  # the same version in both


def test_no_differences_are_claimed_between_like_runs(tmp_path, capsys):
    twin = tmp_path / "tomorrow.json"
    twin.write_text(GPU.read_text())
    assert run_report(capsys, GPU, twin, "--out", tmp_path / "out")[0] == 0
    assert "All 2 files were measured with the same library versions" in (tmp_path / "out" / "report.md").read_text()


def test_collapsed_quality_runs_are_marked(gpu_report):
    rows = {(r["loss"], r["optimizer"]): r for r in table(gpu_report, "Quality")}
    assert len(rows) == 4
    assert rows["string", "adam"]["did not learn"] == "**COLLAPSED to all-positive (constant prediction)**"
    assert rows["from_logits", "adam"]["did not learn"] == "**COLLAPSED to all-positive (constant prediction)**"
    assert rows["from_logits", "linear-decay"]["did not learn"] == ""
    assert rows["from_logits", "linear-decay"]["scores (the task's GLUE metrics)"].startswith("accuracy 0.8603  F1 ")
    assert rows["from_logits", "linear-decay"]["task"] == "mrpc"


def test_quality_rows_show_the_stored_baseline_band(tmp_path, capsys):
    key = baselines.quality_key("mrpc", "from_logits", "linear-decay", 3, None, 8)
    other = baselines.quality_key("mrpc", "string", "linear-decay", 3, None, 8)
    accuracy = Figure.of([0.855, 0.86, 0.865, 0.86, 0.86])
    groups = {k: {"accuracy": accuracy, "f1": Figure.of([0.895, 0.90, 0.905, 0.90, 0.90])} for k in (key, other)}
    path = baselines.path_for(tmp_path / "baselines", "bert-base-uncased", "gpu-nvidia-h100-80gb-hbm3-x1")
    baselines.write_atomic(path, baselines.merged(None, {}, groups))
    assert run_report(capsys, GPU, "--out", tmp_path / "out", "--baselines", tmp_path / "baselines", "--rejudge")[0] == 0
    text = (tmp_path / "out" / "report.md").read_text()
    rows = {(r["loss"], r["optimizer"]): r for r in table(text, "Quality")}
    assert f"judged again against {tmp_path / 'baselines'} today" in text  # it says that it re-judged, and by what
    band = verdicts.band(accuracy)
    bands = {key: dict(part.split(" ", 1) for part in row["re-judged today"].split("; ")) for key, row in rows.items()}
    assert bands["from_logits", "linear-decay"]["accuracy"] == f"[{band.low:.4f}, {band.high:.4f}] n=5 in"
    assert bands["string", "linear-decay"]["accuracy"].endswith("n=5 **OUT**")  # 0.7525, far below
    assert bands["string", "adam"]["accuracy"] == "no band"  # no figures for this variant


def with_performance_benchmarks(tmp_path) -> Path:
    """The GPU fixture plus what bench/test_performance.py adds: the course's pipeline and bf16-bucket timed as
    variants, their interleaved comparison, and two variants' fine-tunes (one without loss/optimizer, as files
    written before extra_info had them)."""
    document = json.loads(GPU.read_text())
    gated = next(b for b in document["benchmarks"] if b["extra_info"]["device"] == "gpu")

    def bench(name, **info):
        return {**gated, "name": name, "extra_info": {**gated["extra_info"], **info}}

    document["benchmarks"] += [
        bench("test_variant_step_time[course]", variant="course", step_time_ms=60.0),
        bench("test_variant_step_time[bf16-bucket]", variant="bf16-bucket", step_time_ms=30.0),
        {**gated, "name": "test_faster_than_the_course", "extra_info": {
            "device": "gpu", "device_name": H100, "variant": "bf16-bucket", "step_time_ms": 25.0,
            "course_step_time_ms": 50.0, "comparison": "passes interleaved"}},
        {**gated, "name": "test_variant_quality[xla]", "extra_info": {
            "model": "bert-base-uncased", "variant": "xla", "epochs": 3, "batch_size": 8, "seed": 0,
            "variant_accuracy": 0.60, "variant_f1": 0.70, "collapsed": None, "majority_accuracy": 0.6838,
            "device": "gpu"}},
        {**gated, "name": "test_variant_quality[bf16]", "extra_info": {
            "model": "bert-base-uncased", "variant": "bf16", "epochs": 3, "batch_size": 8, "seed": 0,
            "loss": "string", "optimizer": "linear-decay", "variant_accuracy": 0.6838, "variant_f1": 0.8122,
            "collapsed": "all-positive", "device": "gpu"}},
    ]
    path = tmp_path / "perf.json"
    path.write_text(json.dumps(document))
    return path


def test_performance_variants_are_rows_of_their_own(tmp_path, capsys):
    assert run_report(capsys, with_performance_benchmarks(tmp_path), "--out", tmp_path / "out",
                      "--reference", "gpu batch 32 bf16 course")[0] == 0
    text = (tmp_path / "out" / "report.md").read_text()
    gpu = {r["variant"]: r for r in table(text, "Step time") if r["device"] == H100}
    # the gated step time (3 seeds, 42 ms) is not merged with the variant benchmark of the same pipeline
    assert gpu["-"]["ms/step"] == "42.0" and gpu["-"]["n"] == "3"
    assert gpu["course"]["ms/step"] == "60.0" and gpu["course"]["n"] == "1" and gpu["course"]["speed-up"] == "reference"
    assert gpu["bf16-bucket"]["speed-up"] == "2x [1.94, 2.06]"  # its passes: an interval that excludes 1
    (faster,) = table(text, "Faster than the course")  # "### Faster..." holds "## Faster..."
    assert faster["variant"] == "bf16-bucket" and faster["speed-up"] == "2.00x" and faster["course ms/step"] == "50.0"


def test_performance_variants_fine_tunes_are_judged_by_their_recipes_band(tmp_path, capsys):
    course = baselines.quality_key("mrpc", "from_logits", "linear-decay", 3, None, 8)
    accuracy = Figure.of([0.855, 0.86, 0.865, 0.86, 0.86])
    path = baselines.path_for(tmp_path / "baselines", "bert-base-uncased", "gpu-nvidia-h100-80gb-hbm3-x1")
    baselines.write_atomic(path, baselines.merged(None, {}, {course: {"accuracy": accuracy, "f1": accuracy}}))
    assert run_report(capsys, with_performance_benchmarks(tmp_path), "--out", tmp_path / "out",
                      "--baselines", tmp_path / "baselines", "--rejudge")[0] == 0
    rows = {r["variant"]: r for r in table((tmp_path / "out" / "report.md").read_text(), "Quality")}
    band = verdicts.band(accuracy)
    assert (rows["xla"]["loss"], rows["xla"]["optimizer"]) == ("from_logits", "linear-decay")  # the default recipe
    assert rows["xla"]["scores (the task's GLUE metrics)"].startswith("accuracy 0.6000")
    assert rows["xla"]["re-judged today"].startswith(f"accuracy [{band.low:.4f}, {band.high:.4f}] n=5 **OUT**")
    assert rows["bf16"]["loss"] == "string" and rows["bf16"]["re-judged today"].startswith("accuracy no band")
    assert rows["bf16"]["did not learn"] == "**COLLAPSED to all-positive (constant prediction)**"
    assert rows["xla"]["did not learn"] == "**BELOW the majority class (0.6838): did not learn**"
    assert set(rows) == {"-", "xla", "bf16"}  # "-": the four loss x optimizer rows


@pytest.mark.parametrize("content, problem", [
    (None, "no such file"),
    ("accuracy: 0.86\n", "not JSON"),
    ('{"config": {"model": "tiny"}, "accuracy": 0.8}', "not a pytest-benchmark JSON file"),  # a CLI result
    ('[{"name": "x"}]', "not a pytest-benchmark JSON file"),
    ('{"machine_info": {}, "benchmarks": [{"name": "x"}]}', "has no 'stats' or 'extra_info'"),
])
def test_bad_input_is_one_line_naming_the_file(tmp_path, capsys, content, problem):
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run_report(capsys, GPU, path, "--out", tmp_path / "out")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and problem in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_the_chart_compares_like_with_like(tmp_path):
    """A panel per task and batch size; a row with timed passes shows their spread, one measured once a mark."""
    runs = report.load_runs([GPU, CPU])
    rows = steps.step_rows(runs)
    passes = dict(pass_times_s=[1.0, 1.25, 0.8], blocks_ms=None, examples_per_s=10.0)
    timed = steps.StepRow(**{**rows[0].__dict__, "label": "x", "task": "sst2", "n": 1,
                                    "pass_rates": tuple(steps.pass_rates(SimpleNamespace(**passes)))})
    panels = steps.chart_panels(rows + [timed])
    assert set(panels) == {("mrpc", 32), ("mrpc", 8), ("sst2", timed.batch_size)}
    for (task, batch_size), bars in panels.items():
        assert len(bars) == sum(
            1 for r in rows + [timed] if (r.task, r.batch_size) == (task, batch_size))
    gpu = [bar for bar in panels[("mrpc", 32)] if "\ngpu" in bar.label]
    # no passes kept in extra_info: pytest-benchmark's rounds (passes) of each of the 3 seeds, slowest to fastest
    benches = [b for b in json.loads(GPU.read_text())["benchmarks"] if b["extra_info"].get("device") == "gpu"
               and "tokens_per_s" in b["extra_info"]]
    low = min(b["extra_info"]["examples_per_s"] * b["stats"]["mean"] / b["stats"]["max"] for b in benches)
    high = max(b["extra_info"]["examples_per_s"] * b["stats"]["mean"] / b["stats"]["min"] for b in benches)
    assert len(gpu) == 1 and (gpu[0].low, gpu[0].high) == pytest.approx((low, high))
    assert gpu[0].n == sum(b["stats"]["rounds"] for b in benches) and low < gpu[0].examples_per_s < high
    (epyc,) = panels[("mrpc", 8)]
    assert epyc.low < epyc.examples_per_s < epyc.high and epyc.n == 3  # one seed of 3 rounds
    once = steps.StepRow(**{**rows[0].__dict__, "task": "rte", "n": 1, "pass_rates": (12.0,)})
    (mark,) = steps.chart_panels([once])[("rte", once.batch_size)]
    assert mark.low is None and mark.high is None and mark.n == 1  # measured once: a mark, no spread
    (sst2,) = panels[("sst2", timed.batch_size)]
    # passes of 1.0, 1.25 and 0.8 s around a mean of 1.0167 s: 10 examples/s scaled by mean / pass
    assert sst2.n == 3 and sst2.low == pytest.approx(10 * 1.0167 / 1.25, rel=1e-3)
    assert sst2.high == pytest.approx(10 * 1.0167 / 0.8, rel=1e-3)
    steps.plot_step_times(rows + [timed], tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")


def test_pass_rates_come_from_the_blocks_of_a_gated_step_time():
    record = SimpleNamespace(blocks_ms=[[400.0, 500.0], [450.0]], pass_times_s=None, examples_per_s=8000 / 450)
    assert steps.pass_rates(record) == pytest.approx([20.0, 16.0, 8000 / 450])
    assert steps.pass_rates(SimpleNamespace(blocks_ms=None, pass_times_s=[1.0], examples_per_s=3.0)) == []


def test_a_profiled_variant_shows_its_busy_time_by_category_and_its_waits_apart(tmp_path, capsys):
    """A profile recorded since the waits are counted apart: busy time by category with shares of it, and the
    callers' waits named as not busy (measured on the AMX Xeon: 277 ms of a 280 ms course step)."""
    path = with_performance_benchmarks(tmp_path)
    document = json.loads(path.read_text())
    profiled = next(b for b in document["benchmarks"] if b["name"] == "test_variant_step_time[course]")
    profiled["extra_info"]["profile"] = {"steps": 16, "wall_ms": 280.2, "busy_ms": 400.0, "waiting_ms": 277.4,
                                         "categories": {"dense matmuls": 300.0, "optimizer update": 100.0}}
    path.write_text(json.dumps(document))
    assert run_report(capsys, path, "--out", tmp_path / "out", "--reference", "gpu batch 32 bf16 course")[0] == 0
    text = (tmp_path / "out" / "report.md").read_text()
    (row,) = table(text, "Where the time goes")
    assert row["variant"] == "course" and "400.0" in row.values()
    (parts,) = [cell for cell in row.values() if "dense matmuls" in cell]
    assert "dense matmuls 300 ms (75%)" in parts and "the callers' waits 277 ms (not busy)" in parts
    assert "roofline" not in parts  # no bytes recorded, no bandwidth measured: no row


def test_the_optimizer_update_gets_its_roofline_row_in_thread_time(tmp_path, capsys):
    """The update's bytes (finetune.adam.bytes_per_step) at the run's triad bandwidth on its threads: 640 MB at
    40 GB/s is a 16 ms floor, 32 thread-ms on 2 threads; 128 busy ms is 4.0x it."""
    path = with_performance_benchmarks(tmp_path)
    document = json.loads(path.read_text())
    document["machine_info"]["finetune"]["calibration"] = {"size": 1024, "fp32_gflops": 180.0, "triad_gbps": 40.0,
                                                           "threads": 2}
    profiled = next(b for b in document["benchmarks"] if b["name"] == "test_variant_step_time[course]")
    profiled["extra_info"]["profile"] = {"steps": 16, "wall_ms": 280.2, "busy_ms": 400.0, "update_bytes": 640e6,
                                         "categories": {"dense matmuls": 272.0, "optimizer update": 128.0}}
    path.write_text(json.dumps(document))
    assert run_report(capsys, path, "--out", tmp_path / "out", "--reference", "gpu batch 32 bf16 course")[0] == 0
    (row,) = table((tmp_path / "out" / "report.md").read_text(), "Where the time goes")
    (parts,) = [cell for cell in row.values() if "dense matmuls" in cell]
    assert parts.endswith("update roofline: 640 MB a step at 40 GB/s on 2 thread(s) = floor 16.0 ms, busy 4.0x the "
                          "floor's 32 thread-ms"), parts


def test_gpu_rows_show_mfu_against_the_measured_matmul_and_are_judged_against_their_expected_step(capsys, tmp_path):
    """A GPU file with a calibration: MFU against the datasheet and against the matmul measured in the run, and each
    GPU row against its expected step (bench.judge.expected: its FLOPs at 30-50% of that matmul)."""
    document = json.loads(GPU.read_text())
    document["machine_info"]["finetune"]["calibration"] = {"size": 8192, "fp32_gflops": 50_000.0,
                                                           "bf16_gflops": 500_000.0}
    rows = [b for b in document["benchmarks"] if b["extra_info"].get("device") == "gpu"
            and b["name"].startswith("test_step_time")]  # bf16, batch 32, 3 seeds
    flops_per_step = rows[0]["extra_info"]["flops_per_step"]
    for record in rows:  # at 35% of the measured 500 TFLOP/s: inside the expected 30-50%
        record["extra_info"]["step_time_ms"] = flops_per_step / (0.35 * 500e12) * 1e3
    data = tmp_path / "gpu.json"
    data.write_text(json.dumps(document))
    code, _, _ = run_report(capsys, data, "--out", tmp_path / "out")
    assert code == 0
    text = (tmp_path / "out" / "report.md").read_text()
    step = next(row for row in table(text, "Step time") if row["device"] == H100)
    assert step["MFU"] == "17.7% of 989.4 bf16; 35.0% of 500 bf16 measured", step["MFU"]
    judged = table(text, "GPU rows against their expected step")
    assert len(judged) == 1 and judged[0]["verdict"] == "as expected"
    slow_ms = flops_per_step / (0.30 * 500e12) * 1e3
    assert judged[0]["expected ms/step"] == f"{slow_ms * 0.6:.3g}-{slow_ms:.3g} ms"
    assert "measured: 8192^3 bf16 matmul on this GPU in the same run" in text
    for record in rows:  # twice as slow: past the slow end, named
        record["extra_info"]["step_time_ms"] = 2 * flops_per_step / (0.35 * 500e12) * 1e3
    data.write_text(json.dumps(document))
    assert run_report(capsys, data, "--out", tmp_path / "slow")[0] == 0
    judged = table((tmp_path / "slow" / "report.md").read_text(), "GPU rows against their expected step")
    assert judged[0]["verdict"] == "slower than expected (1.71x the slow end)"
