"""Where a training step's time goes, from the framework's own profiler: TensorFlow's (tf.profiler, for tf-keras and
keras3-tensorflow) or JAX's (jax.profiler, keras3-jax). Both write an XSpace (`<logdir>/plugins/profile/<run>/
<host>.xplane.pb`): planes (a device, or the host), lines (a thread, or a stream) and timed events on each.

    summary = profile.summarize(logdir, steps)      # {"categories": {name: ms per step}, "busy_ms": ..., ...}

Each event's self time (its duration less that of the events nested inside it on the same line) goes to the first
FIRST or CATEGORIES row whose patterns its name holds (lower case), so that nothing is counted twice and every busy
microsecond of every thread lands somewhere: the totals are thread time, which on 2 cores can exceed the wall
time. A caller's wait for work on other threads (WAITING) is no busy time: it is counted apart. XLA compiles the
step into fused kernels, whose names say less (a fusion holds the GELU and the layer norm alike): they get their
own row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from finetune.errors import FinetuneError

# (category, substrings of an event's name), first match wins: the order matters (batchmatmul before matmul).
CATEGORIES = (
    ("attention matmuls", ("batchmatmul", "einsum")),
    ("dense matmuls", ("matmul", "gemm", "dot", "conv", "__onednn$", "mkl_")),
    ("softmax", ("softmax",)),
    ("layer norm and GELU", ("layernorm", "layer_norm", "fusedbatchnorm", "rsqrt", "squareddifference", "gelu",
                             "erf", "tanh", "moments", "mean")),
    ("optimizer update", ("adam", "resourceapply", "optimizer", "assignaddvariable", "assignsubvariable",
                          "assignvariable", "polynomialdecay")),
    ("input and host work", ("iterator", "getnext", "dataset", "prefetch", "memcpy", "recv", "send", "copy",
                             "host", "python", "callback")),
    ("XLA fused kernels", ("fusion", "xla", "cluster", "thunk", "jit_", "pjit")),
)
OTHER = "other ops"
# Before the categories: compiles (tracing, XLA; a profiled step that meets a new shape compiles it), the framework's
# dispatch of ops to the thread pool, and Python (JAX's tracer names a Python frame "$file.py:line name").
FIRST = (
    ("compiles", ("compile", "autotun", "lower_jaxpr", "trace_to_jaxpr")),
    ("framework dispatch", ("executorstate::process", "taskdispatcher", "eagerexecute", "eagerkernel")),
)
PYTHON = "input and host work"  # where a "$..." frame's self time goes
# Events that hold other threads' work or wait for it: their self time is the caller's wait, not busy time (the
# caller of a function waits in KernelAndDeviceFunc::Run while its ops run on the pool's threads; measured: 289 of
# a 294 ms step). They are counted apart, as waiting_ms, and left out of busy_ms and the categories.
# JAX's "$numpy array" frame is the step's result read back into numpy: it blocks until the jitted step is done
# (measured, keras3-jax: 375 of a 386 ms step).
WAITING = ("kernelanddevicefunc::run", "processasync::start", "wait", "stop_trace", "start_trace",
           "block_until_ready", "$numpy array")


@dataclass(frozen=True)
class Event:
    line: str  # plane/line
    name: str
    start_ns: float
    duration_ns: float


def _tensorflow_events(path: Path) -> list[Event]:
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(path.read_bytes())
    found = []
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            base = line.timestamp_ns
            found += [Event(f"{plane.name}/{line.name or line.id}", names.get(e.metadata_id, "?"),
                            base + e.offset_ps / 1e3, e.duration_ps / 1e3) for e in line.events]
    return found


def _jax_events(path: Path) -> list[Event]:
    from jax.profiler import ProfileData

    data = ProfileData.from_file(str(path))
    return [Event(f"{plane.name}/{line.name}", event.name, event.start_ns, event.duration_ns)
            for plane in data.planes for line in plane.lines for event in line.events]


def events(path: Path) -> list[Event]:
    """The timed events of one .xplane.pb, read with whichever profiler library this environment has."""
    try:
        return _tensorflow_events(path)
    except ImportError:
        return _jax_events(path)


def self_times(found: list[Event]) -> list[tuple[str, float]]:
    """(name, self time in ns) of every event: its duration less its direct children's on the same line."""
    result = []
    by_line: dict = {}
    for event in found:
        by_line.setdefault(event.line, []).append(event)
    for line_events in by_line.values():
        line_events.sort(key=lambda e: (e.start_ns, -e.duration_ns))
        stack: list = []  # [event, children's time]
        for event in line_events:
            while stack and event.start_ns >= stack[-1][0].start_ns + stack[-1][0].duration_ns:
                done, inner = stack.pop()
                result.append((done.name, max(done.duration_ns - inner, 0.0)))
            if stack:
                stack[-1][1] += event.duration_ns
            stack.append([event, 0.0])
        result += [(done.name, max(done.duration_ns - inner, 0.0)) for done, inner in stack]
    return result


def waiting(name: str) -> bool:
    """Whether an event's self time is a wait on other threads (WAITING), not work."""
    lowered = name.lower()
    return any(p in lowered for p in WAITING)


def category(name: str) -> str:
    lowered = name.lower()
    for label, patterns in FIRST:
        if any(p in lowered for p in patterns):
            return label
    if name.startswith("$"):
        return PYTHON
    return next((label for label, patterns in CATEGORIES if any(p in lowered for p in patterns)), OTHER)


def summarize(logdir: Path, steps: int, wall_s: float | None = None) -> dict:
    """ms per step by category over every trace under `logdir` (the profiled `steps` steps), the busy thread time,
    and the largest events by self time (what to look at first)."""
    paths = sorted(Path(logdir).glob("plugins/profile/*/*.xplane.pb"))
    if not paths:
        raise FinetuneError(f"the profiler wrote no trace under {logdir}")
    timed = [item for path in paths for item in self_times(events(path))]
    totals: dict = {}
    by_name: dict = {}
    waited = 0.0
    for name, ns in timed:
        if waiting(name):
            waited += ns
            continue
        totals[category(name)] = totals.get(category(name), 0.0) + ns
        by_name[name] = by_name.get(name, 0.0) + ns
    per_step = {label: ns / 1e6 / steps for label, ns in sorted(totals.items(), key=lambda kv: -kv[1])}
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:8]
    return {"steps": steps, "categories": per_step, "busy_ms": sum(per_step.values()),
            "waiting_ms": waited / 1e6 / steps, "wall_ms": None if wall_s is None else 1000.0 * wall_s / steps,
            "top": [[name, ns / 1e6 / steps, category(name)] for name, ns in top]}


def shares_text(summary: dict) -> str:
    """One line: each category's share of the busy thread time."""
    busy = summary["busy_ms"] or 1.0
    return ", ".join(f"{label} {100 * ms / busy:.0f}%" for label, ms in summary["categories"].items())


def profiler_of(engine) -> tuple:
    """The engine's (start, stop), or one line saying it has none."""
    found = engine.profiler()
    if found is None:
        raise FinetuneError(f"--profile: engine {engine.label} has no profiler wired (finetune/profile.py reads "
                            "TensorFlow's and JAX's traces)")
    return found


def profile_pass(bench, engine, logdir: Path) -> dict:
    """One whole pass of a step bench (finetune.steptime) under the engine's profiler, summarized per step."""
    import time

    start, stop = profiler_of(engine)
    start(str(logdir))
    try:
        began = time.perf_counter()
        bench.timed_pass()
        wall = time.perf_counter() - began
    finally:
        stop()
    return summarize(logdir, len(bench.batches), wall)


def callback(engine, logdir: Path, first: int, count: int = 3):
    """Hooks of the training loop (finetune.hooks; the Keras engines make them a callback) that profile, with the
    engine's profiler, steps first .. first + count - 1 of the first epoch; `.summary` holds the result once they
    have run (None before, or when the epoch was shorter)."""
    import time

    from finetune.hooks import Hooks

    start, stop = profiler_of(engine)

    class ProfileSteps(Hooks):
        summary = None
        _began = None

        def on_train_batch_begin(self, batch, logs=None):
            if batch == first and self._began is None:
                start(str(logdir))
                self._began = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch == first + count - 1 and self._began is not None and self.summary is None:
                wall = time.perf_counter() - self._began  # fit() reads each step's loss back: the steps are done
                stop()
                self.summary = summarize(logdir, count, wall)

        def on_train_end(self, logs=None):
            if self._began is not None and self.summary is None:
                stop()  # the epoch ended inside the profiled steps: no figure

    return ProfileSteps()
