"""One table of options (finetune/options.py): `python -m finetune` and pytest get names, defaults, help and
validation from it, and a bad value is one line naming the flag, the value and the fix, on both."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.session.tiers import TIERS
from bench.session.progress import MODES
from finetune import FinetuneError, RunConfig, options
from finetune import __main__ as cli

ROOT = Path(__file__).resolve().parent.parent
SHARED = ("--task", "--model", "--engine", "--backend", "--epochs", "--glue-dir", "--device", "--profile")  # the flags of both surfaces
PYTEST_CHOICES = {"--tier": tuple(TIERS), "--progress": MODES}  # as the root conftest fills them in


class RaisingParser(argparse.ArgumentParser):
    """argparse whose errors raise with argparse's message, as pytest's parser does (a UsageError)."""

    def error(self, message):
        raise ValueError(message)


class PytestGroup:
    """What options.add_pytest uses of pytest's option group: addoption, with add_argument's keywords."""

    def __init__(self, parser):
        self.addoption = parser.add_argument


def pytest_parser() -> RaisingParser:
    parser = RaisingParser()
    options.add_pytest(PytestGroup(parser), options.flags("pytest"), PYTEST_CHOICES)
    return parser


def actions(parser) -> dict:
    return {action.option_strings[0]: action for action in parser._actions if action.option_strings != ["-h", "--help"]}


def parse_error(parser, *argv) -> str:
    with pytest.raises((ValueError, FinetuneError)) as caught:
        parser.parse_args(list(argv))
    return str(caught.value)


def test_importing_the_options_imports_neither_tensorflow_nor_transformers():
    code = "import sys, finetune.options; print(sorted({'tensorflow', 'tf_keras', 'transformers'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_python_m_finetune_has_exactly_the_tables_cli_options_in_its_two_help_groups():
    assert cli.MAIN_FLAGS + cli.SPEED_FLAGS == options.flags("cli")
    parser = cli.build_parser()
    built = actions(parser)
    assert set(built) == set(options.flags("cli"))
    speed = next(group for group in parser._action_groups if group.title.startswith("speed"))
    assert [action.option_strings[0] for action in speed._group_actions] == list(cli.SPEED_FLAGS)
    for flag, action in built.items():
        expected = options.BY_FLAG[flag].kwargs("cli")
        assert (action.help, action.default) == (expected["help"], expected["default"])
        assert action.type == expected.get("type")


def test_the_shared_options_have_one_name_one_converter_and_the_tables_help_on_both_surfaces():
    both = [option.flag for option in options.OPTIONS if option.cli and option.pytest]
    assert tuple(both) == SHARED
    on_cli, on_pytest = actions(cli.build_parser()), actions(pytest_parser())
    for flag in SHARED:
        option, mine, theirs = options.BY_FLAG[flag], on_cli[flag], on_pytest[flag]
        assert mine.dest == theirs.dest == option.dest
        if flag != "--device":  # the one whose choices differ: auto, cpu, gpu on the CLI; cpu, gpu for step times
            assert mine.type == theirs.type
        for shared in option.help.split("{choices}"):
            assert shared in mine.help and shared in theirs.help
    assert on_cli["--model"].help == on_pytest["--model"].help
    assert on_cli["--glue-dir"].help == on_pytest["--glue-dir"].help


@pytest.mark.parametrize("value", ["0", "-1", "abc", "2.5", ""])
def test_a_bad_epochs_is_refused_with_the_same_line_by_the_cli_and_by_pytest(capsys, value):
    message = parse_error(pytest_parser(), "--epochs", value)
    assert message == f"argument --epochs: must be a positive whole number, got {value!r}: pass e.g. --epochs 3"
    assert cli.main(["--epochs", value]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


@pytest.mark.parametrize("surface, flag, value, fix", [
    ("cli", "--batch-size", "0", "pass e.g. --batch-size 8"),
    ("cli", "--seed", "-1", "must be a whole number of at least 0, got '-1': pass e.g. --seed 1"),
    ("cli", "--max-train-samples", "0", "pass e.g. --max-train-samples 100, or leave it out for every row"),
    ("cli", "--max-eval-samples", "x", "pass e.g. --max-eval-samples 100, or leave it out for every row"),
    ("cli", "--warmup-steps", "-1", "pass e.g. --warmup-steps 10"),
    ("cli", "--pad-multiple", "0", "pass e.g. --pad-multiple 8"),
    ("cli", "--task", "sts-b", "unknown task 'sts-b': choose one of cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli"),
    ("pytest", "--task", "SST2", "unknown task 'SST2': choose one of cola, sst2, mrpc"),
    ("cli", "--loss", "mse", "unknown loss 'mse': choose one of string, from_logits"),
    ("cli", "--device", "tpu", "unknown device 'tpu': choose one of auto, cpu, gpu"),
    ("cli", "--perf", "turbo", "unknown perf variant 'turbo': choose one of course, multiple8"),
    ("cli", "--padding", "sorted", "unknown padding 'sorted': choose one of dynamic, multiple, bucket, fixed"),
    ("cli", "--precision", "float16", "unknown precision 'float16'"),
    ("cli", "--distribute", "horovod", "unknown distribute 'horovod': choose one of none, mirrored"),
    ("pytest", "--seeds", "0", "must be a positive whole number, got '0': pass e.g. --seeds 3"),
    ("pytest", "--device", "auto", "unknown device 'auto': choose one of cpu, gpu"),
    ("pytest", "--tier", "slow", "unknown tier 'slow': choose one of full, ci, quick"),
    ("pytest", "--progress", "bar", "unknown progress mode 'bar': choose one of auto, live, lines, off"),
    ("pytest", "--plant-slowdown", "-0.2", "must be a number, 0 or more, got '-0.2': pass e.g. --plant-slowdown 0.2"),
    ("pytest", "--plant-slowdown", "nan", "got 'nan'"),
    ("pytest", "--require-live", "claims,nope", "unknown gate 'nope': choose one of claims, best-learns, contract"),
    ("pytest", "--require-live", ",", "no gate in ',': choose among claims, best-learns, contract, comma-separated"),
])
def test_each_bad_value_is_one_line_naming_the_flag_the_value_and_the_fix(surface, flag, value, fix):
    message = parse_error(cli.build_parser() if surface == "cli" else pytest_parser(), flag, value)
    assert message.startswith(f"argument {flag}: ") and fix in message and "\n" not in message


def test_require_live_is_each_named_gate_once_in_order():
    parsed = pytest_parser().parse_args(["--require-live", "contract, claims,contract"])
    assert parsed.require_live == ("contract", "claims") and pytest_parser().parse_args([]).require_live == ()


def test_the_clis_defaults_are_runconfigs(monkeypatch):
    monkeypatch.delenv("GLUE_DIR", raising=False)
    args = cli.parse_args([])
    for field in dataclasses.fields(RunConfig):
        if field.name not in ("model", "perf"):  # model: chosen by GPU visibility; perf: from --perf (test_perf)
            assert getattr(args, field.name) == field.default, field.name
    assert args.model is None and args.perf == "course"


def test_epochs_and_device_differ_between_the_surfaces_as_the_table_says():
    on_cli, on_pytest = cli.parse_args([]), pytest_parser().parse_args([])
    assert (on_cli.epochs, on_pytest.epochs) == (RunConfig().epochs, None)  # None: the tier's
    assert (on_cli.device, on_pytest.device) == ("auto", None)  # None: both devices
    assert cli.parse_args(["--device", "auto"]).device == "auto"
    assert pytest_parser().parse_args(["--device", "gpu", "--tier", "ci"]).tier == "ci"


def test_glue_dir_defaults_to_GLUE_DIR_as_it_is_when_the_parser_is_built(monkeypatch, tmp_path):
    monkeypatch.setenv("GLUE_DIR", str(tmp_path))
    assert cli.parse_args([]).glue_dir == pytest_parser().parse_args([]).glue_dir == str(tmp_path)
    monkeypatch.delenv("GLUE_DIR")
    assert cli.parse_args([]).glue_dir is pytest_parser().parse_args([]).glue_dir is None


def test_the_tier_choices_must_be_given_by_the_caller():
    with pytest.raises(ValueError, match="--tier: its choices come from the caller"):
        options.add_pytest(PytestGroup(RaisingParser()), ["--tier"])


def run_pytest(*argv):
    return subprocess.run([sys.executable, "-m", "pytest", *argv, "-p", "no:cacheprovider"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_pytest_help_shows_each_option_with_the_tables_help():
    done = run_pytest("--help")
    assert done.returncode == 0, done.stderr
    shown = "".join(done.stdout.split())  # argparse wraps (and breaks at hyphens); compare without whitespace
    for action in actions(pytest_parser()).values():
        assert "".join((action.help % {"default": action.default}).split()) in shown, action.option_strings


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--epochs", "abc"), ("--seeds", "0")])
def test_a_bad_value_stops_a_real_pytest_run_with_one_line_and_no_traceback(flag, value):
    done = run_pytest("bench/", flag, value, "--co", "-q")
    assert done.returncode == 4  # pytest's usage error
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    assert f"argument {flag}: must be a positive whole number, got {value!r}: pass e.g. {flag} 3" in errors[0]
    assert "Traceback" not in done.stdout + done.stderr


def test_python_m_finetune_refuses_epochs_0_in_one_line_with_exit_status_2():
    done = subprocess.run([sys.executable, "-m", "finetune", "--epochs", "0"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: argument --epochs: must be a positive whole number, got '0': pass e.g. --epochs 3\n"


@pytest.mark.parametrize("flags, message", [
    (("--backend", "jax"), "finetune: --backend jax is for --engine keras3; tf-keras runs on TensorFlow"),
    (("--engine", "keras3"), "finetune: --engine keras3 needs --backend: choose one of jax, tensorflow, torch"),
])
def test_a_bad_engine_and_backend_pair_stops_pytest_bench_in_one_line(flags, message):
    done = run_pytest("bench/", *flags, "--co", "-q")
    assert done.returncode == 4 and "Traceback" not in done.stdout + done.stderr
    assert [line for line in done.stderr.splitlines() if "finetune:" in line] == [f"ERROR: {message}" + (
        ": leave --backend out, or pass --engine keras3" if flags[0] == "--backend" else "")], done.stderr


@pytest.mark.parametrize("stored, flag", [({"update": True}, "--update-baselines"),
                                          ({"history": Path("nights")}, "--history")])
def test_a_planted_slowdown_cannot_be_an_option_set_that_stores_the_session(stored, flag, monkeypatch):
    """The test hook never becomes a baseline or a night: Options refuses the pair in one line naming both flags and
    the fix (a non-chief worker's replace() and every other construction included); each alone is fine."""
    from bench.session.tiers import Options

    monkeypatch.delenv("FINETUNE_HISTORY", raising=False)

    def built(plant, **more):
        return Options("tiny", "test", "mrpc", TIERS["ci"], "test", 1, None, (0,), None,
                       **{"update": False, "plant_slowdown": plant, **more})

    with pytest.raises(FinetuneError) as caught:
        built(0.5, **stored)
    message = str(caught.value)
    assert message.startswith(f"--plant-slowdown 0.5 with {flag}: a planted session would be kept as ")
    assert f"leave out {flag} to watch the gate fail, or --plant-slowdown to keep this session" in message
    assert "\n" not in message
    assert built(0.0, **stored) and built(0.5)
    with pytest.raises(FinetuneError):
        dataclasses.replace(built(0.5), **stored)
    if flag == "--history":  # set by the environment: the fix says so
        monkeypatch.setenv("FINETUNE_HISTORY", "nights")
        with pytest.raises(FinetuneError, match=r"leave out --history \(unset \$FINETUNE_HISTORY\)"):
            built(0.5, **stored)


@pytest.mark.parametrize("flags", [("--update-baselines",), ("--history",)])
def test_pytest_bench_refuses_a_planted_session_it_would_store_in_one_line_and_stores_nothing(flags, tmp_path):
    """The issue's run: `pytest bench/test_step_time.py -k cpu --model tiny --plant-slowdown 0.5 --update-baselines
    --baselines DIR` exited 0 and wrote the planted sessions to DIR as a figure group. Now: exit 4 before any test, one
    line, nothing written (to the baselines' folder, or as a night)."""
    store = tmp_path / "store"
    store.mkdir()
    argv = ["--update-baselines", "--baselines", str(store)] if flags[0] == "--update-baselines" else [
        "--history", str(store), "--baselines", str(tmp_path / "none")]
    env = {k: v for k, v in os.environ.items() if k != "FINETUNE_HISTORY"}
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/test_step_time.py", "-k", "cpu", "--model", "tiny",
                           "--tier", "ci", "--plant-slowdown", "0.5", *argv, "-p", "no:cacheprovider", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert [line for line in done.stderr.splitlines() if "finetune:" in line] == [
        f"ERROR: finetune: --plant-slowdown 0.5 with {flags[0]}: a planted session would be kept as "
        + ("this machine's baseline, against which its later sessions are gated" if flags[0] == "--update-baselines"
           else "a night of this machine's history, never rewritten, against which its later nights are gated and in "
                "whose series change points are found")
        + f"; a test hook is no measurement: leave out {flags[0]} to watch the gate fail, or --plant-slowdown to "
          "keep this session"], done.stderr
    assert "Traceback" not in done.stdout + done.stderr and not list(store.rglob("*"))
