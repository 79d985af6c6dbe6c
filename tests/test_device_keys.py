"""A GPU runner's figures are keyed by the device they ran on: its CPU step times by its CPU's fingerprint (not by
its GPUs', which every host with those GPUs shares whatever its CPU), its GPU step times and its quality by the
GPU's; CPU step times an older update left in the GPU's file are migrated to the CPU's."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bench.store import baselines
from bench.store import update
from bench.session.comparisons import StoredFigures

GPU, CPU, OTHER_CPU = "gpu-nvidia-h100-x1-aaaaaa", "cpu-intel-xeon-amx-16c-bbbbbb", "cpu-amd-epyc-avx2-16c-cccccc"
CPU_STEP = "step_time/mrpc/cpu/batch=8/blocks=3x5x16"
GPU_STEP = "step_time/mrpc/gpu/batch=8/blocks=3x5x16"
QUALITY = "quality/mrpc/from_logits/linear-decay/epochs=3/train=all/batch=8"


def sessions(level: float) -> dict:
    return {"sessions_ms": [[[level] * 5] * 3] * 3, "session_dates": ["2026-12-01", "2026-12-02", "2026-12-03"]}


def measured_on(cpu: str, group: dict) -> dict:
    return {**group, "provenance": {"versions": {}, "hardware": {"fingerprint": {"cpu": cpu, "gpu": GPU}}}}


class GpuRunner(StoredFigures):
    """The session's judgements on a GPU runner whose CPU is `CPU`, over a baseline folder."""

    def __init__(self, directory):
        self.options = SimpleNamespace(update=False, model="bert", history=None, tier=SimpleNamespace(name="full"))
        self.baseline_dir, self.hardware_key = directory, GPU
        self.baseline = baselines.load(baselines.path_for(directory, "bert", GPU))
        self._device_baselines, self._lent = {}, {}

    def key_of(self, device):
        return {"cpu": CPU, "gpu": GPU}.get(device, GPU)


@pytest.fixture
def old_gpu_file(tmp_path):
    """A GPU runner's file as updates wrote it before: its CPU step times of two different CPUs among its own."""
    baselines.write_atomic(baselines.path_for(tmp_path, "bert", GPU), {"model": "bert", "hardware_key": GPU, "figures": {
        CPU_STEP: measured_on(CPU, sessions(100.0)),
        CPU_STEP + "/engine=keras3-jax": measured_on(OTHER_CPU, sessions(300.0)),
        GPU_STEP: measured_on(CPU, sessions(10.0)), QUALITY: {"accuracy": baselines.Figure.of([0.8, 0.81]).to_dict()}}})
    return tmp_path


def test_each_figure_is_judged_by_the_file_of_its_device(old_gpu_file):
    runner = GpuRunner(old_gpu_file)
    document, fingerprint = runner.stored_for(CPU_STEP)
    assert fingerprint == CPU and document["figures"][CPU_STEP]["sessions_ms"][0][0][0] == 100.0  # migrated on read
    assert CPU_STEP + "/engine=keras3-jax" not in document["figures"]  # another CPU's: no one's here
    assert runner.stored_for(GPU_STEP)[1] == GPU and runner.stored_for(QUALITY)[1] == GPU
    baselines.write_atomic(baselines.path_for(old_gpu_file, "bert", CPU), {"figures": {CPU_STEP: sessions(120.0)}})
    fresh = GpuRunner(old_gpu_file)
    assert fresh.stored_for(CPU_STEP)[0]["figures"][CPU_STEP]["sessions_ms"][0][0][0] == 120.0  # the CPU's own wins


def test_an_update_writes_cpu_step_times_to_the_cpu_file_and_moves_the_old_ones_out(old_gpu_file, monkeypatch):
    runner = GpuRunner(old_gpu_file)
    record = SimpleNamespace(blocks_ms=[[101.0] * 5] * 3, device_name="cpu")
    gpu_record = SimpleNamespace(blocks_ms=[[11.0] * 5] * 3, device_name="H100")
    runner.options.update = True
    runner.quality_results, runner.step_results = {}, {("cpu", 8, 0): record, ("gpu", 8, 0): gpu_record}
    runner.step_key = lambda device, batch: {"cpu": CPU_STEP, "gpu": GPU_STEP}[device]
    runner.provenance = lambda: {"versions": {}, "hardware": {"fingerprint": {"cpu": CPU, "gpu": GPU}}}
    runner._calibration = {"fp32_gflops": 1.0}
    monkeypatch.setattr(update.environment, "hardware", lambda: {"described": {}})
    message = update.write_baselines(runner)
    assert f"bert__{CPU}.json" in message and f"bert__{GPU}.json" in message
    cpu_file = baselines.load(baselines.path_for(old_gpu_file, "bert", CPU))
    gpu_file = baselines.load(baselines.path_for(old_gpu_file, "bert", GPU))
    assert len(cpu_file["figures"][CPU_STEP]["sessions_ms"]) == 4  # the 3 migrated sessions and this one
    assert CPU_STEP not in gpu_file["figures"] and GPU_STEP in gpu_file["figures"] and QUALITY in gpu_file["figures"]
    assert CPU_STEP + "/engine=keras3-jax" in gpu_file["figures"]  # another CPU's stays where it was


def test_a_step_keys_device_is_read_from_the_key_in_both_layouts():
    assert baselines.device_of_key(CPU_STEP) == "cpu" and baselines.device_of_key(GPU_STEP) == "gpu"
    assert baselines.device_of_key("step_time/cpu/batch=8/passes=5x16") == "cpu"  # one-process groups, from before
    assert baselines.device_of_key(QUALITY) is None


def test_a_gpu_runners_cpu_step_times_make_a_series_per_cpu_and_gate_only_their_own(tmp_path):
    """Nights are kept under the GPU's fingerprint; two runners with those GPUs and different CPUs share that
    folder (a history cached by fingerprint): each CPU's step times are a series of their own, and the gate from
    nights of one CPU never draws on the other's."""
    from bench.history import nights
    from tests.test_history import VERSIONS, step_record, write_night

    for index, (cpu, ms) in enumerate([(CPU, 100.0), (OTHER_CPU, 300.0)] * 3):
        path = write_night(tmp_path, index, [step_record(ms)], fingerprint=GPU)
        document = json.loads(path.read_text())
        document["machine_info"]["finetune"]["hardware"] = {"fingerprint": {"cpu": cpu, "gpu": GPU}}
        path.write_text(json.dumps(document))
    found = {s.key: s.values() for s in nights.series(nights.load(tmp_path, GPU)) if s.figure == "step_time_ms"}
    assert set(found) == {f"{CPU_STEP}/cpu={CPU}", f"{CPU_STEP}/cpu={OTHER_CPU}"}
    assert max(found[f"{CPU_STEP}/cpu={CPU}"]) < 110 < 290 < min(found[f"{CPU_STEP}/cpu={OTHER_CPU}"])
    runner = GpuRunner(tmp_path)
    runner.options.history, runner.engine = tmp_path, SimpleNamespace(versions=lambda: dict(VERSIONS))
    group, why = runner.history_group(CPU_STEP)
    assert group is not None and len(group["sessions_ms"]) == 3, why
    assert all(100 * 0.9 < v < 100 * 1.1 for session in group["sessions_ms"] for p in session for v in p)
