"""Command-line options and process-wide settings shared by tests/ and bench/.

The options come from finetune/options.py, the table `python -m finetune` is built from too (names, defaults,
help, validation). GLUE_DIR is read there, as --glue-dir's default when the parser is built, and nowhere deeper.
"""

from __future__ import annotations

import os

import pytest

# datasets' progress bars (tokenizing) are noise in a test session: its plan tokenizes before the first test
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import finetune  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TensorFlow is imported by any plugin)
from bench.session.tiers import TIERS  # noqa: E402  (imports neither TensorFlow nor transformers)
from bench.session.progress import MODES  # noqa: E402
from finetune import options  # noqa: E402


def pytest_addoption(parser):
    options.add_pytest(parser.getgroup("finetune", "fine-tuning benchmarks"), options.flags("pytest"),
                       choices={"--tier": tuple(TIERS), "--progress": MODES})


@pytest.fixture(scope="session")
def glue_dir(pytestconfig):
    return pytestconfig.getoption("--glue-dir")


def pytest_benchmark_update_machine_info(config, machine_info):
    """pytest-benchmark's machine_info, plus what step times depend on: libraries, and the host's description
    and fingerprint (finetune.hardware); bench/conftest.py adds the session's calibration."""
    from finetune import environment

    machine_info.setdefault("finetune", {}).update(
        {"versions": session_versions(config), "hardware": environment.hardware(),
         "hardware_key": environment.hardware_key()})


def session_versions(config) -> dict:
    """The library versions of the session's engine (one engine per session), from the engine's own `versions()`:
    the very function the gate from nights compares a night with (bench.history.cli.baseline_group), so that a keras3
    night records keras, keras-hub, jax and torch and can feed the gate (environment.versions() without the engine
    recorded none of them, and no keras3 night ever matched)."""
    from finetune import engines

    return engines.get(config.getoption("--engine"), config.getoption("--backend")).versions()
