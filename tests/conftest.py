"""Fixtures for the unit tests: real MRPC rows where GLUE_DIR is given, generated GLUE files otherwise."""

from __future__ import annotations

import os

import pytest

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from finetune import RunConfig, data
from finetune.tasks import TASKS

MRPC = TASKS["mrpc"]
MRPC_HEADER = ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")  # the GLUE download's MRPC files

# `dev.py test` runs these tests in pytest-xdist workers. A worker's environment names it (PYTEST_XDIST_WORKER), and
# a `pytest bench/` session a test starts would inherit that and take itself for a worker: pytest-benchmark then
# disables every benchmark. xdist itself reads its worker's identity from the config, not from these.
for _name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
    os.environ.pop(_name, None)
# On a GPU runner the workers (and the processes their tests start) share its GPUs: TensorFlow would otherwise take
# nearly all of a GPU's memory in the first process to touch it (finetune.hardware sets growth only where it is
# asked for the host before anything else initialised the GPU).
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


@pytest.fixture(scope="session")
def real_glue_dir(glue_dir):
    if glue_dir is None:
        pytest.skip("real MRPC files not given: set GLUE_DIR (e.g. GLUE_DIR=../shared/data/glue) or --glue-dir")
    return glue_dir


def write_glue_tsv(path, rows, header=MRPC_HEADER, bom=True):
    """A file in the GLUE download's format: UTF-8 BOM, tab-separated, bare quotes, CRLF-free (header None: none)."""
    text = ("" if header is None else "\t".join(header) + "\n") + "".join("\t".join(map(str, row)) + "\n"
                                                                          for row in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")


def generated_rows(count, offset=0):
    """Synthetic sentence pairs (not MRPC's): paraphrases share their words, others do not."""
    rows = []
    for i in range(offset, offset + count):
        label = i % 3 != 0
        first = f'the "item" number {i} was sold for {i * 7} dollars on day {i % 31}'
        second = first.replace("sold", "bought") if label else f"weather report {i}: rain and wind"
        rows.append((int(label), 1000 + i, 2000 + i, first, second))
    return rows


@pytest.fixture(scope="session")
def generated_glue_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("glue")
    write_glue_tsv(root / "MRPC" / "train.tsv", generated_rows(40))
    write_glue_tsv(root / "MRPC" / "dev.tsv", generated_rows(12, offset=100))
    return root


@pytest.fixture(scope="session")
def tiny_config(generated_glue_dir):
    return RunConfig(model="tiny", epochs=2, glue_dir=str(generated_glue_dir), warmup_steps=1)


@pytest.fixture(scope="session")
def tiny_prepared(tiny_config):
    return data.prepare(tiny_config)
