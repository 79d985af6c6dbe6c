"""The GPU box's plan (bench/gpu/budget.py) and its prepared command (bench/gpu/check.py run --budget-s): the rows it
covers, that it fits an H100's and an H200's few minutes, the -k expressions that select its rows, and its bad input in
one line. Its run on the rehearsed box is tests/test_gpu_box.py's."""

import subprocess
import sys
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

from bench.gpu import budget as plan, check
from bench.session.tiers import TIERS
from finetune import perf

ROOT = Path(__file__).resolve().parent.parent


def test_the_plan_covers_both_backends_precisions_and_batch_sizes_and_fits_under_7_minutes_on_h100_and_h200():
    rows = [row for session in plan.sessions() for row in session.rows]
    assert sorted((r.backend, r.precision, r.batch_size) for r in rows) == sorted(
        (b, p, n) for b in ("jax", "torch") for p in ("bf16", "fp32") for n in (8, 32))
    for device in plan.DEVICES.values():
        fitted = plan.fit(plan.sessions(), device, 420)
        assert not fitted.left_out and fitted.seconds < 7 * 60, (device.name, fitted.seconds)
    # JAX keeps one peak memory per process: each of its rows is a session of its own; torch resets it per row
    assert [len(s.rows) for s in plan.sessions() if s.backend == "jax"] == [1, 1, 1, 1]
    assert [s.backend for s in plan.sessions()][0] == "torch"  # the cheapest first, for a budget cut short


def test_the_plan_agrees_with_the_quick_tier_it_runs():
    quick = TIERS[plan.TIER]
    assert (quick.variant_batches, quick.variant_passes) == (plan.VARIANT_BATCHES, plan.VARIANT_PASSES)
    assert set(quick.step_variants) == set(plan.PRECISION_VARIANTS.values())
    assert set(quick.variant_batch_sizes) == set(plan.BATCH_SIZES)
    assert perf.VARIANTS["bf16-fixed"] == perf.PerfConfig(padding="fixed", precision="mixed_bfloat16")
    assert perf.VARIANTS["fixed"].precision == "float32"


def selected(keyword: str) -> list[str]:
    """The quick tier's test_variant_step_time ids that `-k keyword` selects (pytest's own expression, matched as
    pytest matches a test's name: any substring)."""
    names = [f"test_variant_step_time[seed0-batch{n}-{v}]" for n in (8, 32) for v in perf.VARIANTS]
    names += [f"test_step_time[seed0-batch{n}-gpu]" for n in (8, 32)]
    expression = Expression.compile(keyword)
    return [name for name in names if expression.evaluate(lambda part, name=name: part in name)]


def test_each_session_selects_exactly_its_rows():
    for session in plan.sessions():
        wanted = sorted(f"test_variant_step_time[seed0-batch{r.batch_size}-{r.variant}]" for r in session.rows)
        assert sorted(selected(session.keyword())) == wanted, session.describe()


def test_the_expected_bert_base_step_at_30_percent_of_the_measured_bf16_rate_is_the_docs_figure():
    row = plan.Row("jax", "bf16", 32)
    length = plan.FIXED_LENGTH
    plan_ms = row.step_ms(plan.DEVICES["h100"])
    assert plan_ms == pytest.approx(2.145449705472e12 * (length / 128) / (0.30 * 790e12) * 1e3, rel=0.05)
    assert plan.Row("torch", "fp32", 32).step_ms(plan.DEVICES["h100"]) > 5 * plan_ms  # true float32 on torch


def test_a_budget_keeps_the_sessions_that_fit_in_order_and_names_the_rest():
    device = plan.DEVICES["h100"]
    sessions = plan.sessions()
    first = plan.INSTALL_S + plan.REPORT_S + sessions[0].seconds(device) + sessions[1].seconds(device)
    fitted = plan.fit(sessions, device, first + 1)
    assert fitted.runs == tuple(sessions[:2]) and fitted.left_out == tuple(sessions[2:])
    lines = plan.describe(fitted, device, first + 1)
    assert sum("left out, over the budget" in line for line in lines) == len(sessions) - 2


def test_the_device_is_nvidia_smis_or_an_h100_said_so():
    assert plan.device_for(["NVIDIA H200"])[0] is plan.DEVICES["h200"]
    assert plan.device_for(["NVIDIA H100 80GB HBM3"])[0] is plan.DEVICES["h100"]
    device, why = plan.device_for([])
    assert device is plan.DEVICES["h100"] and why == "planned as an H100 (no GPU named by nvidia-smi)"


def test_a_budget_too_small_for_any_row_is_one_line_and_exit_2():
    done = subprocess.run([sys.executable, "bench/gpu/check.py", "plan", "--budget-s", "60"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "gpu_check: --budget-s 60: too small for any row of the plan (the cheapest session, with the install and the "
        f"report, is about {min(s.seconds(plan.DEVICES['h100']) for s in plan.sessions()) + plan.INSTALL_S + plan.REPORT_S:.0f} s): "
        f"give at least --budget-s {min(s.seconds(plan.DEVICES['h100']) for s in plan.sessions()) + plan.INSTALL_S + plan.REPORT_S:.0f}"]


def test_the_plan_for_h100_and_h200_prints_under_7_minutes():
    for device in ("h100", "h200"):
        done = subprocess.run([sys.executable, "bench/gpu/check.py", "plan", "--gpu", device], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        last = done.stdout.strip().splitlines()[-1]
        minutes = float(last.rsplit("(", 1)[1].split(" min")[0])
        assert minutes < 7 and "left out" not in done.stdout


def test_a_folder_missing_one_wheel_is_one_line_naming_it_and_the_command(tmp_path):
    folder = tmp_path / "wheels"
    folder.mkdir()
    for spec in check.WHEELS[1:]:  # all but keras
        name = spec.split("=")[0].replace("-", "_")
        (folder / f"{name}-1.0-py3-none-any.whl").write_bytes(b"")
    done = subprocess.run([sys.executable, "bench/gpu/check.py", "run", "--wheels", str(folder), "--out",
                           str(tmp_path / "out"), "--budget-s", "420"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"gpu_check: --wheels {folder}: no wheel of keras==3.15.1 in it; make the folder again where PyPI is "
        f"reachable: python bench/gpu/check.py wheels {folder}")


def test_a_tier_beside_the_budget_is_refused_in_one_line(tmp_path):
    """--budget-s runs the plan's own tier: another --tier would be silently dropped, so it is refused."""
    done = subprocess.run([sys.executable, "bench/gpu/check.py", "run", "--wheels", str(tmp_path), "--out",
                           str(tmp_path / "out"), "--budget-s", "420", "--tier", "full"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "gpu_check: --tier full with --budget-s: the budgeted plan runs its own tier, quick (bench/gpu/budget.py); "
        "leave --tier out, or drop --budget-s to run whole tiers"]
