"""The engine interface (finetune/engines): the registry, engines that import no framework until they run, no
import circle, and a numpy engine added by one file and one row running a tiny `pytest bench/` session."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finetune import FinetuneError, RunConfig, engines

ROOT = Path(__file__).resolve().parent.parent
FAKE = "fake=tests.fake_engine:FakeEngine"


def test_the_registry_names_each_engine_and_its_backends_and_refuses_a_bad_row(monkeypatch):
    assert engines.names()[:2] == ("tf-keras", "keras3") and engines.all_backends() == ("jax", "tensorflow", "torch")
    assert engines.get("keras3", "jax").label == "keras3-jax" and engines.get("tf-keras").label == "tf-keras"
    with pytest.raises(FinetuneError, match=r"unknown engine 'nope': choose one of tf-keras, keras3"):
        engines.get("nope")
    monkeypatch.setenv("FINETUNE_ENGINES", FAKE)
    assert engines.names() == ("tf-keras", "keras3", "fake") and RunConfig(engine="fake").engine == "fake"
    monkeypatch.setenv("FINETUNE_ENGINES", "fake")
    with pytest.raises(FinetuneError, match=r"FINETUNE_ENGINES: 'fake' is not name=module:Class"):
        engines.names()


@pytest.mark.parametrize("engine, backend, message", [
    ("keras3", None, "--engine keras3 needs --backend: choose one of jax, tensorflow, torch"),
    ("keras3", "mxnet", "unknown backend 'mxnet': choose one of jax, tensorflow, torch"),
    ("tf-keras", "jax", "--backend jax is for --engine keras3; tf-keras runs on TensorFlow"),
])
def test_each_engine_validates_its_own_options_in_one_line(engine, backend, message):
    with pytest.raises(FinetuneError) as err:
        RunConfig(engine=engine, backend=backend)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_the_engines_modules_import_no_framework_until_they_run():
    code = ("import sys, finetune.engines, finetune.engines.tf_keras, finetune.engines.keras3, finetune.train; "
            "print(sorted(m for m in ('tensorflow', 'tf_keras', 'keras', 'jax', 'torch', 'transformers') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr[-2000:]


def module_imports(path: Path, package_roots: tuple) -> set:
    """The repository modules `path` imports, at load or inside a function (a lazy import closes a circle too: the
    one once found, train -> keras3 -> steptime -> train, went through one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found |= {n for n in names if n.split(".")[0] in package_roots}
    return found


def test_no_import_circle_among_the_modules():
    """The imports among finetune/ and bench/ form no cycle (the one once found: train -> keras3 -> steptime ->
    train). Edges to the top-level packages are left out: `import finetune` first is how a module sets
    TensorFlow's environment (finetune/__init__.py), and a package's __init__ is no module of the recipe."""
    modules = {}
    for package in ("finetune", "bench"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    graph = {name: sorted(m for m in module_imports(path, ("finetune", "bench"))
                          if m in modules and m not in ("finetune", "bench") and m != name)
             for name, path in modules.items()}
    assert "finetune.engines.keras3" in graph and "finetune.engines" in graph["finetune.config"]
    done, cycles = set(), []

    def visit(node, trail):
        for nxt in graph[node]:
            if nxt in trail:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, trail + [nxt])
        done.add(node)

    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles[:3])


def test_an_engine_added_by_one_file_and_one_row_runs_a_pytest_bench_session(real_glue_dir, tmp_path):
    """tests/fake_engine.py (numpy, no framework), registered by $FINETUNE_ENGINES: the quality benchmark and the
    gated step time (its timing processes inherit the row) run on it, and the records name it."""
    out = tmp_path / "fake.json"
    env = {**os.environ, "FINETUNE_ENGINES": FAKE, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_quality.py", "bench/test_step_time.py", "--engine", "fake",
         "--model", "tiny", "--tier", "ci", "--glue-dir", real_glue_dir, "-k",
         "(from_logits and linear and not claims) or (test_step_time and cpu)", "--benchmark-json", str(out),
         "-p", "no:cacheprovider", "-q", "-rs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = {b["extra_info"]["kind"]: b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]}
    assert set(records) == {"quality", "step_time"}, done.stdout[-2000:]
    assert {r["engine"] for r in records.values()} == {"fake"}
    assert 0.0 <= records["quality"]["accuracy"] <= 1.0 and records["quality"]["num_train_steps"] == 300
    assert [len(p) for p in records["step_time"]["blocks_ms"]] == [5, 5, 5]
    assert "no baseline" in done.stdout  # a new engine's figures are keyed apart: a skip names the command
