"""Command-line options and process-wide settings shared by tests/ and bench/.

Environment variables are read here, once (GLUE_DIR), and nowhere deeper in the code.
"""

from __future__ import annotations

import os

import pytest

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow is imported by any plugin)


def pytest_addoption(parser):
    group = parser.getgroup("finetune", "fine-tuning benchmarks")
    group.addoption("--model", default=None,
                    help="minilm-l6, bert-base-uncased, tiny, a Hub id or a directory "
                         "(default: bert-base-uncased when TensorFlow sees a GPU, else minilm-l6)")
    group.addoption("--epochs", type=int, default=None, help="override the tier's epochs")
    group.addoption("--device", default=None, choices=["cpu", "gpu"],
                    help="run the step-time benchmarks on this device only (default: both; gpu skips without one)")
    group.addoption("--glue-dir", default=os.environ.get("GLUE_DIR"),
                    help="GLUE data in the download layout (default: $GLUE_DIR; unset: the Hugging Face Hub)")
    group.addoption("--seeds", type=int, default=1, help="seeds (repeats) per benchmark: 0..N-1")
    group.addoption("--tier", default="full", choices=["full", "ci"],
                    help="full: the course's 3 epochs; ci: a shorter run of every parametrization")
    group.addoption("--update-baselines", action="store_true",
                    help="measure and rewrite baselines/<model>__<hardware>.json instead of comparing")
    group.addoption("--plant-slowdown", type=float, default=0.0,
                    help="test hook: make every timed step this fraction slower (e.g. 0.2), to see the gate fail")


@pytest.fixture(scope="session")
def glue_dir(pytestconfig):
    return pytestconfig.getoption("--glue-dir")


def pytest_benchmark_update_machine_info(config, machine_info):
    """pytest-benchmark's machine_info, plus what step times depend on: libraries, and the host's description
    and fingerprint (finetune.hardware); bench/conftest.py adds the session's calibration."""
    from finetune import environment

    machine_info.setdefault("finetune", {}).update(
        {"versions": environment.versions(), "hardware": environment.hardware(),
         "hardware_key": environment.hardware_key()})
