"""What silences the history's `--fail-on-new` (bench.history, bench/history/nights.py; issue 42, item 6): only a verdict that
judges a change, a whole A/B decision (step-time series) or an acknowledgement of that one series (`bench.history
ack`); an unreadable verdict file is named in one line and judges nothing, and an unjudged change for the worse stays
red however old it gets."""

import json
import random
import subprocess
import sys

import pytest

from bench.history import bisection
from bench.judge import changes
from bench.history import cli as history
from bench.history import nights
from tests.test_history import FP, ROOT, quality_record, step_record, write_night

QUALITY = "quality/mrpc/from_logits/linear-decay/epochs=1/train=2400/batch=8/seed=0"
STEP = "step_time/mrpc/cpu/batch=8/blocks=3x5x16"


def run_history(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.history", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def write_series(directory, count: int, at: int, step=1.0, rss=1.0, accuracy=0.0) -> list:
    """`count` nights (each of its own revision: night i's is i in hex), every figure level until night `at`, where
    the step time is multiplied by `step`, the peak memory by `rss`, and `accuracy` is added to the score."""
    rng = random.Random(7)
    for i in range(count):
        after = i >= at
        record = step_record(400.0 * (step if after else 1.0) * (1 + rng.gauss(0, 0.01)), rng=random.Random(i))
        record["peak_rss_mb"] = 1500.0 * (rss if after else 1.0) * (1 + rng.gauss(0, 0.01))
        score = quality_record(0.80 + (accuracy if after else 0.0) + rng.gauss(0, 0.003))
        write_night(directory, i, [record, score], revision=f"{i:x}" * 40)
    return nights.load(directory, FP)


def failing(done: subprocess.CompletedProcess) -> list[str]:
    """The series --fail-on-new names as unjudged."""
    return [line.split(": ")[1] for line in done.stdout.splitlines() if " change at " in line and ": " in line
            and ("NEW" in line or "UNJUDGED" in line)]


def test_an_unreadable_verdict_is_reported_in_one_line_and_silences_nothing(tmp_path, monkeypatch):
    """A truncated A/B verdict (an interrupted copy) and a JSON file beside the night that is no verdict used to
    silence the change they sit beside; now each is named in one line on stderr, the night stays red, and confirm
    A/B-tests the change as unjudged."""
    found = write_series(tmp_path, 8, 4, step=1.12)
    night = found[4].name
    truncated = tmp_path / FP / f"{night}.ab-20261201T000000Z.json"
    truncated.write_text('{"night": "%s", "what": "ab", "verdict": {"slow' % night)
    hollow = tmp_path / FP / f"{night}.ab-20261201T000001Z.json"
    hollow.write_text(json.dumps({"night": night, "what": "ab", "described": "SLOWER"}))  # no decision in it
    done = run_history(tmp_path, "--fail-on-new")
    assert done.returncode == 1, done.stdout + done.stderr
    assert failing(done) == [f"{STEP} step_time_ms"]
    problems = done.stderr.strip().splitlines()
    assert len(problems) == 2, done.stderr
    assert truncated.name in problems[0] and "not JSON" in problems[0] and "judges nothing" in problems[0]
    assert hollow.name in problems[1] and "without" in problems[1] and "verdict.slower" in problems[1]
    (change,) = [line for line in done.stdout.splitlines() if line.startswith("    change at")]
    assert "unreadable, judges nothing" in change and "no verdict yet" in change
    asked = []
    monkeypatch.setattr(bisection, "decide", lambda args, good, bad, model=None: asked.append((good, bad)) or {
        "verdict": {"slower": False}, "described": "no significant change"})
    assert history.confirm(history.parse_args(["confirm", str(tmp_path)]), FP) == 0
    assert asked == [("3" * 12, "4" * 12)]  # measured: the bad files judged nothing
    assert run_history(tmp_path, "--fail-on-new").returncode == 0  # the A/B verdict does


def test_a_change_older_than_the_newest_nights_stays_red_until_acknowledged(tmp_path):
    """A score's drop cannot be A/B-tested: it used to stop failing once its first night left the newest
    changes.FORE nights, with no one having looked. Now it fails every night until an ack is stored beside it, with
    who, when and why, in a new file; then the listing shows the ack and the night is green."""
    found = write_series(tmp_path, 4 + changes.FORE + 6, 4, accuracy=-0.05)
    night = found[4].name
    done = run_history(tmp_path, "--fail-on-new")
    assert done.returncode == 1 and failing(done) == [f"{QUALITY} accuracy"], done.stdout + done.stderr
    assert f"UNJUDGED ({changes.FORE + 6} nights old) change at {night}" in done.stdout
    assert f"ack {tmp_path} --fingerprint {FP} --figure '{QUALITY} accuracy' --night {night}" in done.stdout
    before = set((tmp_path / FP).iterdir())
    acked = run_history("ack", tmp_path, "--figure", f"{QUALITY} accuracy", "--night", night, "--reason",
                        "a new tokenizer: accepted, see issue 50", "--by", "alice")
    assert acked.returncode == 0, acked.stdout + acked.stderr
    (stored,) = set((tmp_path / FP).iterdir()) - before
    assert stored.name.startswith(f"{night}.ack-")
    ack = json.loads(stored.read_text())
    assert (ack["what"], ack["series"], ack["by"], ack["reason"]) == (
        "ack", f"{QUALITY} accuracy", "alice", "a new tokenizer: accepted, see issue 50")
    assert ack["when"] and ack["night"] == night and ack["revisions"] == ["3" * 12, "4" * 12]
    done = run_history(tmp_path, "--fail-on-new")
    assert done.returncode == 0 and not failing(done), done.stdout
    assert "acknowledged by alice: a new tokenizer: accepted, see issue 50" in done.stdout


def test_an_ack_silences_exactly_its_change_and_an_ab_verdict_only_the_step_time(tmp_path):
    """Three changes for the worse at one night: the step time, the peak memory and the accuracy. An ack of the
    memory's (named by its revision) silences that one alone; an A/B verdict beside the night judges the step
    time's, not the score's; an ack of the score's leaves the night green."""
    found = write_series(tmp_path, 8, 4, step=1.12, rss=1.25, accuracy=-0.05)
    done = run_history(tmp_path, "--fail-on-new")
    assert sorted(failing(done)) == [f"{QUALITY} accuracy", f"{STEP} peak_rss_mb", f"{STEP} step_time_ms"], done.stdout
    acked = run_history("ack", tmp_path, "--figure", "peak_rss_mb", "--revision", "4" * 7, "--reason", "bigger batches",
                        "--by", "bob")
    assert acked.returncode == 0, acked.stderr
    done = run_history(tmp_path, "--fail-on-new")
    assert done.returncode == 1 and sorted(failing(done)) == [f"{QUALITY} accuracy", f"{STEP} step_time_ms"]
    nights.write_verdict(tmp_path, FP, found[4].name, "ab", {"described": "SLOWER: ratio 1.12",
                                                              "verdict": {"slower": True}})
    done = run_history(tmp_path, "--fail-on-new")
    assert done.returncode == 1 and failing(done) == [f"{QUALITY} accuracy"]
    assert run_history("ack", tmp_path, "--figure", f"{QUALITY} accuracy", "--night", found[4].path, "--reason",
                       "expected", "--by", "bob").returncode == 0  # the night's file, as `bisect --night` takes it
    assert run_history(tmp_path, "--fail-on-new").returncode == 0


@pytest.mark.parametrize("args, words", [
    (["--figure", "no_such_figure", "--night", "{night}"], ["--figure", "no_such_figure", "no series"]),
    (["--figure", "accuracy", "--night", "20990101T000000Z__abcdef"], ["--night", "no such night"]),
    (["--figure", "accuracy", "--night", "{quiet}"], ["no change for the worse at", "accuracy at {night}"]),
    (["--figure", "accuracy", "--revision", "fedcba9"], ["--revision", "no night"]),
    (["--figure", "blocks=3x5x16", "--night", "{night}"], ["names 2 changes", "whole name"]),
    (["--figure", "accuracy", "--night", "{night}", "--reason", "  "], ["--reason is empty"]),
])
def test_bad_ack_input_is_one_line_exit_2_and_stores_nothing(tmp_path, capsys, args, words):
    found = write_series(tmp_path, 8, 4, step=1.12, rss=1.25, accuracy=-0.05)
    fill = {"night": found[4].name, "quiet": found[6].name}
    argv = ["ack", str(tmp_path), *[a.format(**fill) for a in args]]
    argv += [] if "--reason" in args else ["--reason", "why not"]
    before = sorted((tmp_path / FP).iterdir())
    assert history.main(argv + ["--by", "carol"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("bench.history: "), err
    assert all(w.format(**fill) in err for w in words), err
    assert sorted((tmp_path / FP).iterdir()) == before


def test_bad_ack_input_exits_2_from_the_command_line(tmp_path):
    write_series(tmp_path, 8, 4, accuracy=-0.05)
    done = run_history("ack", tmp_path, "--figure", "no_such_figure", "--revision", "4444", "--reason", "r")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "no_such_figure" in done.stderr and "Traceback" not in done.stderr
