"""The engine interface (finetune/engines): the registry, engines that import no framework until they run, no
import circle, the versions each engine records, and the hooks a training loop calls (finetune.hooks) as the Keras
engines hand them to fit(). The numpy engine's whole `pytest bench/` session: tests/test_engine_bench.py."""

import ast
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from finetune import FinetuneError, RunConfig, engines
from finetune.engines.keras_callbacks import keras_callbacks
from finetune.hooks import HookList, Hooks
from finetune.step_recorder import StepRecorder

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


def test_the_base_engine_needs_no_framework():
    """An engine that sets a name and nothing else: its defaults (one device, the recipe's libraries, no distribute)
    run with TensorFlow, tf-keras, Keras and JAX unimportable."""
    code = ("import sys\n"
            "for m in ('tensorflow', 'tf_keras', 'keras', 'jax', 'torch'): sys.modules[m] = None\n"
            "from finetune import perf\n"
            "from finetune.engines import Engine\n"
            "class Bare(Engine): name = 'bare'\n"
            "e = Bare()\n"
            "print(e.replicas('cpu'), e.device_kind('cpu'), e.array_backend, sorted(e.versions()), e.profiler(),\n"
            "      e.unsupported(perf.COURSE), e.unsupported(perf.VARIANTS['mirrored']), e.flags())\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ("1 cpu numpy ['datasets', 'evaluate', 'numpy', 'pytest-benchmark', 'python', "
                                   "'transformers'] None None bare runs on one device: it has no --distribute "
                                   "mirrored ['--engine', 'bare']")


def test_each_engine_records_the_versions_it_recorded_before_it_listed_its_libraries():
    """Stored baselines and nights are compared on these: the same keys, in the same order, and the installed
    versions, for tf-keras and keras3 on every backend."""
    recipe = ("tensorflow", "tf_keras", "transformers", "datasets", "evaluate", "numpy", "pytest-benchmark")
    expected = {("tf-keras", None): recipe, ("keras3", "jax"): recipe + ("keras", "keras-hub", "jax", "torch")}
    expected[("keras3", "torch")] = expected[("keras3", "tensorflow")] = expected[("keras3", "jax")]
    for (name, backend), libraries in expected.items():
        found = engines.get(name, backend).versions()
        assert tuple(found) == ("python",) + libraries, (name, backend)
        for library in libraries:
            try:
                assert found[library] == metadata.version(library)
            except metadata.PackageNotFoundError:
                assert found[library] is None


class Recorder(Hooks):
    def __init__(self, events):
        super().__init__()
        self.events = events

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch", epoch, self.params["steps"]))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch", batch, logs["loss"]))


def test_a_loop_without_keras_calls_every_hook_in_order_with_its_params():
    events = []
    timer = StepRecorder()
    hooks = HookList([timer, Recorder(events)], steps=2, epochs=1)
    hooks.on_train_begin()
    hooks.on_epoch_begin(0)
    for batch, mean in enumerate((1.0, 0.75)):
        hooks.on_train_batch_begin(batch)
        hooks.on_train_batch_end(batch, {"loss": mean})
    hooks.on_epoch_end(0, {"loss": 0.75})
    hooks.on_train_end()
    assert events == [("epoch", 0, 2), ("batch", 0, 1.0), ("batch", 1, 0.75)]
    assert timer.params == {"steps": 2, "epochs": 1} and timer.step_losses == [1.0, 0.5]
    assert len(timer.step_times_s) == 2 and len(timer.epoch_s) == 1


def test_the_keras_engines_hand_the_hooks_to_fit_as_callbacks_of_their_keras():
    """finetune/engines/keras_callbacks.py: a tf-keras callback that forwards the events the hook overrides, hands on
    Keras' params, and leaves the others Keras' defaults (so Keras still skips batch events nobody asked for)."""
    tf_keras = pytest.importorskip("tf_keras")  # `import finetune` above set TF_USE_LEGACY_KERAS
    from tf_keras.src.utils import generic_utils

    events = []
    (callback,) = keras_callbacks(tf_keras.callbacks.Callback, [Recorder(events)])
    assert isinstance(callback, tf_keras.callbacks.Callback)
    tf_keras.callbacks.CallbackList([callback], add_history=False, add_progbar=False, steps=3, epochs=1, verbose=0)
    callback.on_epoch_begin(0)
    callback.on_train_batch_end(0, {"loss": 0.5})
    assert events == [("epoch", 0, 3), ("batch", 0, 0.5)]
    assert callback.params["steps"] == 3 and callback._implements_train_batch_hooks()
    assert generic_utils.is_default(callback.on_train_batch_begin) and "on_train_end" not in vars(type(callback))
    (quiet,) = keras_callbacks(tf_keras.callbacks.Callback, [Hooks()])
    assert not quiet._implements_train_batch_hooks()
