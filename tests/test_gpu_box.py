"""The GPU box, rebuilt on a CPU: what a GPU runner without TensorFlow gets (docs/engines.md), as close as a CPU can.

- its Python environment: Python 3.12, JAX 0.11, transformers 5, no TensorFlow, keras, keras-hub, datasets or
  evaluate (.ci/gpu-box-venv builds it; $FINETUNE_GPU_BOX_PYTHON names its interpreter);
- a copy of the working tree alone: no .venv, no ../shared, no Hub (HF_HUB_OFFLINE), no GLUE_DIR, no PYTHONPATH;
- the carried folder `bench/gpu/check.py wheels` makes (wheels, the tokenizer, MRPC's GLUE files), which with the
  tree must fit in what one call carries (64 MiB);
- the check run there on JAX's CPU (JAX_PLATFORMS=cpu) under a wall-clock limit, and its records rendered by
  `python -m bench.report` beside a CPU runner's.

It failed on the code before it for each defect it was written for: the timing processes dropped the carried
packages from PYTHONPATH, and no GLUE data travelled.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CARRY_LIMIT = 64 * 2 ** 20
RUN_LIMIT_S = 900
BUDGET_S = 160  # install 20 + report 10 + two JAX sessions of 63 s, by bench/gpu/budget.py's GPU estimates
# the fix's fine-tune and the gated step time (its timing processes); the variants' step times: the prepared command's
SELECTION = ("bench/test_quality.py::test_quality[seed0-from_logits-linear-decay]", "bench/test_step_time.py")


def size(paths) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


def tree_copy(target: Path) -> Path:
    """The working tree as a GPU call carries it: the files git tracks, and new ones it does not ignore."""
    source_tree = Path(os.environ.get("FINETUNE_GPU_BOX_TREE") or ROOT)  # another tree: to show it fail on old code
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=source_tree,
                            capture_output=True, check=True, timeout=60).stdout
    for name in filter(None, listed.split(b"\0")):
        source = source_tree / os.fsdecode(name)
        if source.is_file():
            (target / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / os.fsdecode(name))
    return target


@pytest.fixture(scope="module")
def box(real_glue_dir, tmp_path_factory):
    python = os.environ.get("FINETUNE_GPU_BOX_PYTHON")
    if not python:
        pytest.skip("the GPU box's environment is not built: .ci/gpu-box-venv out/gpu-box/venv, then "
                    "FINETUNE_GPU_BOX_PYTHON=out/gpu-box/venv/bin/python python3 dev.py test tests/test_gpu_box.py")
    python = str(Path(python).absolute())  # the run's working directory is the tree's copy
    here = tmp_path_factory.mktemp("box")
    tree, carry, out = tree_copy(here / "tree"), here / "carry", here / "out"
    made = subprocess.run([sys.executable, "bench/gpu/check.py", "wheels", str(carry), "--tasks", "mrpc",
                           "--glue-dir", str(real_glue_dir)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-2000:]
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([python, "bench/gpu/check.py", "run", "--wheels", str(carry),
                           "--out", str(out), "--backends", "jax", "--model", "tiny", "--tier", "ci",
                           "--platform", "cpu", "--", *SELECTION, "--progress", "off", "--tb=short"],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_S)
    # the prepared command, with a budget that the plan's (GPU) estimates fill with two of JAX's four sessions
    budgeted = subprocess.run([python, "bench/gpu/check.py", "run", "--wheels", str(carry), "--out", str(out),
                               "--backends", "jax", "--model", "tiny", "--platform", "cpu", "--budget-s",
                               str(BUDGET_S)], cwd=tree, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_S)
    return {"tree": tree, "carry": carry, "out": out, "done": done, "python": python, "budgeted": budgeted}


def test_the_box_has_its_packages_and_not_ours(box):
    """The rehearsal is only worth what its environment resembles: Python 3.12, JAX 0.11, transformers 5, and none
    of what must travel."""
    code = ("import importlib.util, sys, jax, transformers; print(sys.version_info[:2], jax.__version__, "
            "transformers.__version__, [m for m in ('tensorflow', 'tf_keras', 'keras', 'keras_hub', 'datasets', "
            "'evaluate') if importlib.util.find_spec(m)])")
    done = subprocess.run([box["python"], "-c", code], capture_output=True, text=True, timeout=120, cwd=box["tree"])
    version, jax_version, transformers_version, present = done.stdout.strip().rsplit(" ", 3)
    assert version == "(3, 12)" and jax_version.startswith("0.11") and transformers_version.startswith("5.")
    assert present == "[]", f"the box has none of these; they travel as wheels: {present}"


def test_the_tree_and_the_carried_folder_fit_one_call(box):
    assert not (box["tree"] / ".venv").exists()
    tree = size(box["tree"].rglob("*"))
    carried = size(box["carry"].rglob("*"))
    assert (box["carry"] / "glue" / "MRPC" / "train.tsv").is_file() and (box["carry"] / "tokenizer").is_dir()
    assert tree + carried <= CARRY_LIMIT, f"tree {tree / 2**20:.1f} MiB + carried {carried / 2**20:.1f} MiB"


def test_the_check_runs_the_suite_on_the_box(box):
    done = box["done"]
    failures = done.stdout.find("= FAILURES =")
    assert done.returncode == 0, (done.stdout[failures:failures + 4000] if failures >= 0 else "") + \
        done.stdout[-3000:] + done.stderr[-3000:]
    assert f"data from GLUE TSV in {(box['carry'] / 'glue').resolve()}" in done.stdout  # the carried MRPC
    document = json.loads((box["out"] / "jax.json").read_text())
    infos = [b["extra_info"] for b in document["benchmarks"]]
    steps = [i for i in infos if i["kind"] == "step_time"]
    assert steps and all(i["engine"] == "keras3-jax" for i in infos)
    assert len(steps[0]["blocks_ms"]) >= 2, "the gated step time runs in timing processes (which need the carried keras)"
    versions = document["machine_info"]["finetune"]["versions"]
    assert versions["transformers"].startswith("5.") and versions["jax"].startswith("0.11")
    assert {i["kind"] for i in infos} >= {"quality", "step_time"}


def test_the_prepared_command_runs_what_fits_its_budget_and_names_the_rest(box):
    """`run --budget-s`: the plan printed first, the sessions that fit run (one JAX row each: its own peak memory),
    the others named as left out, the fixed-shape rows recorded at batch 32 and the report written."""
    done = box["budgeted"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.index("gpu_check: plan for NVIDIA H100 80GB HBM3, budget 160 s") < out.index("-k test_variant_step_time")
    assert "left out, over the budget: jax: bf16 batch 8" in out and "left out, over the budget: jax: fp32 batch 8" in out
    assert "jax: fp32 batch 32: " in out and " s measured, 63 s estimated (pytest exit 0)" in out
    records = [b["extra_info"] for b in json.loads((box["out"] / "jax-1.json").read_text())["benchmarks"]]
    assert [(r["kind"], r["variant"], r["batch_size"], r["precision"]) for r in records] == [
        ("variant_step_time", "fixed", 32, "fp32")]
    assert records[0]["distinct_shapes"] == 1 and records[0]["tier"] == "quick"
    assert (box["out"] / "report" / "report.md").is_file() and not (box["out"] / "jax-2.json").exists()


def test_its_records_render_beside_a_cpu_runners(box, tmp_path):
    report = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "bench.report", str(box["out"] / "jax.json"),
                           str(box["out"] / "jax-1.json"), str(FIXTURES / "cpu_epyc_bench.json"), "--out", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    text = (report / "report.md").read_text()
    assert "keras3-jax" in text and "cpu-amd-epyc-7b13-2c" in text and "jax.json" in text
    assert any("jax-1.json" in line and "| 32 |" in line and "| fixed |" in line for line in text.splitlines())
