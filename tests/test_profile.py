"""--profile: self times that count nested events once, names put in the categories the issue asks for, and the
CLI's real profile of a tiny fine-tune read from TensorFlow's own trace."""

from __future__ import annotations

import json

import pytest

from finetune import __main__ as cli
from finetune import profile
from finetune.profile import Event


def test_self_times_count_each_nested_microsecond_once():
    found = [Event("host/t1", "__inference_train_function", 0, 100), Event("host/t1", "MatMul", 10, 30),
             Event("host/t1", "Softmax", 50, 20), Event("host/t1", "Exp", 55, 5),  # inside Softmax
             Event("host/t2", "ResourceApplyAdam", 0, 40)]  # another thread: no parent
    times = dict(profile.self_times(found))
    assert times == {"__inference_train_function": 50, "MatMul": 30, "Softmax": 15, "Exp": 5, "ResourceApplyAdam": 40}
    assert sum(times.values()) == 140  # the busy time of both threads, nothing twice


def test_op_names_land_in_their_categories():
    cases = {"model/bert/encoder/layer_._0/attention/self/MatMul:BatchMatMulV2": "attention matmuls",
             "dense/Tensordot/MatMul:_MklMatMul": "dense matmuls", "attention/Softmax:Softmax": "softmax",
             "LayerNorm/batchnorm/Rsqrt:Rsqrt": "layer norm and GELU", "Adam/ResourceApplyAdam": "optimizer update",
             "IteratorGetNext": "input and host work", "fusion.12": "XLA fused kernels", "AddV2": profile.OTHER,
             # names seen in real traces (the AMX Xeon, 2026-12-04): JAX's Python frames and compiles, dispatch
             "$compiler.py:292 backend_compile_and_load": "compiles", "JitCompiler::Compile": "compiles",
             "$batching.py:10 pad": "input and host work", "ExecutorState::Process": "framework dispatch"}
    assert {name: profile.category(name) for name in cases} == cases


def test_a_callers_wait_for_the_pools_threads_is_not_busy_time(tmp_path, monkeypatch):
    """KernelAndDeviceFunc::Run on the caller's thread spans the whole step while its ops run on the pool's threads
    (measured: 289 of a 294 ms step, once the largest "op"): it is waiting_ms, outside busy_ms and the categories."""
    found = [Event("host/main", "KernelAndDeviceFunc::Run", 0, 100), Event("host/pool1", "MatMul", 5, 60),
             Event("host/pool2", "ResourceApplyAdam", 5, 30), Event("host/pool2", "ExecutorState::Process", 40, 10),
             Event("host/main", "$threading.py:295 wait", 100, 20), Event("host/main", "$numpy array", 120, 5)]
    trace = tmp_path / "plugins" / "profile" / "run"
    trace.mkdir(parents=True)
    (trace / "host.xplane.pb").write_bytes(b"")
    monkeypatch.setattr(profile, "events", lambda path: found)
    summary = profile.summarize(tmp_path, steps=2)
    assert summary["waiting_ms"] == pytest.approx(125 / 1e6 / 2) and summary["busy_ms"] == pytest.approx(100 / 1e6 / 2)
    assert set(summary["categories"]) == {"dense matmuls", "optimizer update", "framework dispatch"}
    assert all(not profile.waiting(name) for name, _, _ in summary["top"])


def test_the_cli_profiles_steady_steps_from_the_frameworks_trace(capsys, generated_glue_dir):
    code = cli.main(["--model", "tiny", "--epochs", "1", "--max-train-samples", "40", "--warmup-steps", "1",
                     "--glue-dir", str(generated_glue_dir), "--profile"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    found = result["profile"]
    assert code == 0 and found["steps"] == 3 and found["wall_ms"] > 0, captured.err[-2000:]
    assert found["categories"].get("dense matmuls", 0) > 0 and found["busy_ms"] == sum(found["categories"].values())
    assert found["waiting_ms"] > 0 and not any(profile.waiting(name) for name, _, _ in found["top"])
    assert "profile: " in captured.err and "dense matmuls" in captured.err
