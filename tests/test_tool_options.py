"""The tools of bench/ take the suite's flags from the one table of options (finetune/options.py add_to), as
`python -m finetune` and pytest do: a flag the table has is declared nowhere else (each exception below says why),
a tool's flag of the table's name has the table's help and converter, and a bad value is the table's one line."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from bench.gpu import check
from bench.history import cli as history
from bench.history import replay
from bench.launch import cli as launch
from bench.store import baselines, lending
from bench.session import sensitivity
from bench.timing import ab, timed_process
from bench.tune import cli as tune
from finetune import options

ROOT = Path(__file__).resolve().parent.parent
TIMED = "bench/timing/timed_process.py"

# (file, flag) declared outside the table, and why: another option of a table flag's name, or a file left as it was
NOT_THE_TABLES = {
    **{(TIMED, flag): "run with the revision under test's finetune, whose table may lack add_to (its comment)"
       for flag in ("--task", "--model", "--glue-dir", "--batch-size", "--device", "--seed", "--plant-slowdown",
                    "--engine", "--backend", "--perf")},
    ("bench/tune/cli.py", "--engine"): "an engine label (keras3-jax, a test's fake), checked by bench.tune.candidates",
    ("bench/tune/cli.py", "--plant-slowdown"): "CANDIDATE=F, repeatable: one candidate's passes, not every step",
    ("bench/history/replay.py", "--history"): "nights read, never appended to; no $FINETUNE_HISTORY default",
    ("bench/gpu/check.py", "--tier"): "the tier names are bench.session.tiers', which needs numpy (not there yet)",
    ("bench/report/cli.py", "--reference"): "the text of the step-time row speed-ups are relative to, not a revision",
    ("bench/report/cli.py", "--baselines"): "not among issue 43 item 4's tools: left for a later change",
    ("bench/history/cli.py", "--json"): "not among issue 43 item 4's tools: left for a later change",
}


class Built(BaseException):
    """Raised where a tool starts parsing: carries the parser it built."""

    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def built(entry, *argv) -> argparse.ArgumentParser:
    """The parser `entry(argv)` builds, taken as it starts to parse (nothing of the tool runs)."""
    def taken(parser, *args, **kwargs):
        raise Built(parser)

    with mock.patch.object(argparse.ArgumentParser, "parse_known_args", taken), pytest.raises(Built) as caught:
        entry(list(argv))
    return caught.value.parser


# each tool of issue 43 item 4 (the file its flags are declared in): its parser, as its command builds it
TOOLS = {
    "bench/timing/ab.py": lambda: built(ab.parse_args),
    "bench/session/sensitivity.py": lambda: built(sensitivity.main),
    TIMED: lambda: built(timed_process.main),
    "bench/tune/cli.py": lambda: built(tune.parse_args),
    "bench/history/bisection.py bisect": lambda: built(history.parse_args, "bisect"),
    "bench/history/bisection.py confirm": lambda: built(history.parse_args, "confirm"),
    "bench/history/replay.py": lambda: built(replay.main),
    "bench/store/lending.py": lambda: built(lending.main),
    "bench/launch/cli.py": lambda: built(launch.parse),
    "bench/gpu/check.py": lambda: built(check.main, "run"),
}


def table_actions(parser):
    """(flag, action) of each option string of `parser` (its sub-commands' included) that the table has."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from table_actions(sub)
        for flag in action.option_strings:
            if flag in options.BY_FLAG:
                yield flag, action


def declared(path: Path):
    """The table's flags that `path` declares itself: add_argument or addoption called with the flag as a literal."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("add_argument", "addoption"):
            yield from (arg.value for arg in node.args
                        if isinstance(arg, ast.Constant) and arg.value in options.BY_FLAG)


def test_no_file_declares_a_table_flag_again_but_the_documented_exceptions():
    files = [p for folder in ("bench", "finetune", "tests") for p in (ROOT / folder).rglob("*.py")]
    files += list(ROOT.glob("*.py"))
    found = {(path.relative_to(ROOT).as_posix(), flag) for path in files if path != ROOT / "finetune" / "options.py"
             for flag in declared(path)}
    assert not found - set(NOT_THE_TABLES), "declared again: build them with finetune.options.add_to"
    assert not set(NOT_THE_TABLES) - found, "no longer declared there: take it out of NOT_THE_TABLES"


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tools_flag_of_a_table_name_has_the_tables_help_converter_and_metavar(tool):
    path = tool.split()[0]
    for flag, action in table_actions(TOOLS[tool]()):
        if (path, flag) in NOT_THE_TABLES:
            continue
        option = options.BY_FLAG[flag]
        assert action.dest == option.dest and action.metavar == option.metavar, (tool, flag)
        for shared in option.help.split("{choices}"):
            assert shared in action.help, (tool, flag)
        if option.noun:  # its choices: the table's, or the caller's (--tier)
            assert isinstance(action.type, options.OneOf) and (action.type.noun, action.type.flag) == (option.noun, flag)
        else:
            assert action.type == option.converter("cli" if option.cli else "pytest"), (tool, flag)


@pytest.mark.parametrize("tool, argv, expected", [
    ("bench/timing/ab.py", [], {"model": "minilm-l6", "glue_dir": "GLUE", "json": None}),
    ("bench/session/sensitivity.py", ["stored"], {"model": "minilm-l6", "glue_dir": "GLUE", "tier": "ci", "json": None}),
    ("bench/tune/cli.py", [], {"task": "mrpc", "model": "minilm-l6", "engine": "tf-keras", "glue_dir": "GLUE",
                               "baselines": baselines.BASELINE_DIR, "json": None, "plant_slowdown": []}),
    ("bench/history/bisection.py bisect", ["--good", "a", "--bad", "b"], {"model": None, "glue_dir": "GLUE"}),
    ("bench/history/bisection.py confirm", [], {"model": None, "glue_dir": "GLUE"}),
    ("bench/history/replay.py", [], {"baselines": baselines.BASELINE_DIR, "history": None, "seed": 0, "json": None}),
    ("bench/store/lending.py", [], {"baselines": baselines.BASELINE_DIR, "model": "minilm-l6"}),
    ("bench/gpu/check.py", ["run", "--wheels", "w", "--out", "o"], {"model": "bert-base-random", "tier": None}),  # None: full, or with --budget-s the plan's quick
])
def test_the_tools_defaults_are_as_they_were(tool, argv, expected, monkeypatch):
    """The model is each tool's own where it truly differs from the CLI's pick by GPU (the reason is beside it)."""
    monkeypatch.setenv("GLUE_DIR", "GLUE")
    parsed = vars(TOOLS[tool]().parse_args(argv))
    assert {name: parsed[name] for name in expected} == expected


@pytest.mark.parametrize("entry, argv, message", [
    (tune.parse_args, ["--task", "sts-b"], "argument --task: unknown task 'sts-b': choose one of cola, sst2, mrpc"),
    (sensitivity.main, ["stored", "--tier", "slow"], "argument --tier: unknown tier 'slow': choose one of full, ci, quick"),
    (replay.main, ["--seed", "-1"], "argument --seed: must be a whole number of at least 0, got '-1': pass e.g. "
                                    "--seed 1"),
])
def test_a_tool_refuses_a_bad_value_with_the_tables_one_line_and_exit_2(entry, argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        entry(argv)
    assert stopped.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], errors


def test_a_tool_run_as_a_command_refuses_a_bad_value_in_one_line():
    done = subprocess.run([sys.executable, "-m", "bench.replay", "--seed", "-1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == ("python -m bench.replay: error: argument --seed: must be a whole number "
                                            "of at least 0, got '-1': pass e.g. --seed 1")


def test_the_gpu_check_stays_standard_library_only_with_the_table():
    """It runs by path before anything is installed: -S leaves site-packages out, -I PYTHONPATH."""
    done = subprocess.run([sys.executable, "-I", "-S", "bench/gpu/check.py", "run", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "(default: bert-base-random)" in " ".join(done.stdout.split())


def test_add_to_takes_a_tools_own_surface_and_the_callers_choices():
    parser = argparse.ArgumentParser()
    options.add_to(parser, ("--seed", "--baselines", "--tier"), {"--tier": ("full", "ci")},
                   baselines=options.Surface(Path("stored")), tier=options.Surface("ci", options.FROM_CALLER))
    assert vars(parser.parse_args([])) == {"seed": 0, "baselines": Path("stored"), "tier": "ci"}
    with pytest.raises(ValueError, match="--tier: its choices come from the caller"):
        options.add_to(argparse.ArgumentParser(), ("--tier",))
    with pytest.raises(ValueError, match="add_to: no flag of model among those added"):
        options.add_to(argparse.ArgumentParser(), ("--seed",), model=options.Surface("tiny"))
