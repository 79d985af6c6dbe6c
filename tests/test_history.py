"""The history (bench/history/nights.py, bench.history): nights kept append-only and keyed by fingerprint, change points
found where a level moved (bench/judge/changes.py), bad files named and left out, the gate from a runner's own nights,
and bisection (bench/history/bisection.py) with the A/B decisions replaced by a rule."""

import datetime as dt
import importlib.util
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bench.history import bisection
from bench.judge import changes
from bench.history import cli as history
from bench.history import nights

ROOT = Path(__file__).resolve().parent.parent
FP = "cpu-test-machine-2c-000000"
KEY = "step_time/mrpc/cpu/batch=8/blocks=3x5x16"
VERSIONS = {"tensorflow": "2.20.0", "transformers": "4.54.1"}


def step_record(ms: float, gate: str = "passed", rng=None, engine: str = "tf-keras") -> dict:
    rng = rng or random.Random(0)
    blocks = [[ms * math.exp(rng.gauss(0, 0.01)) for _ in range(5)] for _ in range(3)]
    return {"schema": 2, "kind": "step_time", "model": "minilm-l6", "task": "mrpc", "device": "cpu",
            "batch_size": 8, "seed": 0, "epochs": 1, "tier": "ci", "engine": engine,
            "step_time_ms": ms, "examples_per_s": 8000 / ms, "tokens_per_s": 1.0, "steps_timed": 15 * 16,
            "blocks_ms": blocks, "processes": 3, "gate": {"step_time_ms": gate}, "peak_rss_mb": 1500.0}


def quality_record(accuracy: float) -> dict:
    return {"schema": 2, "kind": "quality", "model": "minilm-l6", "task": "mrpc", "device": "cpu", "batch_size": 8,
            "seed": 0, "epochs": 1, "tier": "ci", "engine": "tf-keras", "loss": "from_logits",
            "optimizer": "linear-decay", "accuracy": accuracy, "f1": 0.82, "scores": {"accuracy": accuracy, "f1": 0.82},
            "max_train_samples": 2400, "step_time_ms": 450.0, "gate": {"accuracy": "passed"}}


def write_night(directory: Path, index: int, records: list, revision: str | None = None, versions=VERSIONS,
                fingerprint: str = FP, day: int = 0) -> Path:
    when = dt.datetime(2026, 11, 1, 2, 17, tzinfo=dt.timezone.utc) + dt.timedelta(days=day + index)
    document = {"machine_info": {"finetune": {"versions": versions, "hardware_key": fingerprint}},
                "commit_info": {"id": revision or f"{index:040x}", "dirty": False},
                "datetime": when.isoformat(), "benchmarks": [{"name": "b", "stats": {}, "extra_info": r}
                                                             for r in records]}
    document["finetune_history"] = nights.entry(fingerprint, document["commit_info"], when, "pytest bench/", {})
    return nights.append(directory, fingerprint, document)


def stepped(n: int, at: int, ratio: float, seed: int = 0, sd: float = 0.01) -> list[float]:
    rng = random.Random(seed)
    return [400.0 * (ratio if i >= at else 1.0) * math.exp(rng.gauss(0, sd)) for i in range(n)]


# --- change detection ----------------------------------------------------------------------------------------
def test_a_ten_percent_step_is_found_at_its_first_night_with_its_size():
    found = changes.detect(stepped(8, 4, 1.10), changes.RULES["step_time_ms"])
    assert [c.index for c in found] == [4]
    (change,) = found
    assert change.worse and change.low < 1.10 < change.high and change.effect == pytest.approx(1.10, abs=0.03)


def test_a_flat_noisy_series_has_no_change_and_a_small_significant_step_is_below_the_minimum_effect():
    rule = changes.RULES["step_time_ms"]
    assert changes.detect(stepped(30, 30, 1.0, sd=0.05), rule) == []
    assert changes.detect(stepped(20, 10, 1.03, sd=0.002), rule) == []  # 3%: far outside the noise, below 5%
    assert changes.detect(stepped(20, 10, 1.08, sd=0.002), rule)


def test_the_newest_nights_wait_for_enough_nights_after_a_step():
    rule = changes.RULES["step_time_ms"]
    values = stepped(10, 8, 1.5)
    assert changes.detect(values, rule) == []  # two nights of the new level: fewer than MIN_FORE, none earlier
    assert [c.index for c in changes.detect(values + stepped(1, 0, 1.5, seed=3), rule)] == [8]


def test_two_steps_are_two_changes_and_a_score_that_drops_is_worse():
    values = stepped(24, 8, 1.2)
    values[16:] = [v * 1.2 for v in values[16:]]
    assert [c.index for c in changes.detect(values, changes.RULES["step_time_ms"])] == [8, 16]
    scores = [0.72] * 6 + [0.68] * 6
    (drop,) = changes.detect(scores, changes.rule_for("accuracy"))
    assert drop.index == 6 and drop.worse and drop.effect == pytest.approx(-0.04)


# --- nights ----------------------------------------------------------------------------------------------------
def test_a_regression_reverted_after_four_nights_stays_found_and_its_revert_is_found_too():
    """The AMX series of 2026-12-05 (docs/history.md): the ratio to the reference, 4 nights at the old level, 4 at
    +8% (a padding change), then reverted. Judged only as the whole series stands, the first night after the
    revert diluted the change's fore window and the change vanished; as the nights arrived, it stays found, with
    the size it had before the revert blurred it, and 3 nights after the revert the revert is a change too."""
    ratios = [1.005, 1.025, 1.011, 1.003, 1.082, 1.083, 1.089, 1.082]
    rule = changes.RULES[nights.REFERENCE_FIGURE]
    (found,) = changes.detect(ratios, rule)
    assert found.index == 4 and found.worse and 1.03 < found.low and found.after == 4
    for after_revert in ([1.010], [1.010, 1.008]):
        (kept,) = changes.detect(ratios + after_revert, rule)
        assert (kept.index, kept.worse) == (4, True) and kept.low > 1.0
    up, down = changes.detect(ratios + [1.010, 1.008, 1.012], rule)
    assert (up.index, up.worse, down.index, down.worse) == (4, True, 8, False)
    assert down.high < 1.0 and down.before == 4  # judged against the raised level alone, not the nights before it


def test_nights_are_kept_append_only_under_their_fingerprint(tmp_path):
    first = write_night(tmp_path, 0, [step_record(400)], revision="a" * 40)
    again = write_night(tmp_path, 0, [step_record(500)], revision="a" * 40)  # the same second and revision
    assert first != again and first.parent.name == FP and first.name.endswith(f"__{'a' * 12}.json")
    assert json.loads(first.read_text())["benchmarks"][0]["extra_info"]["step_time_ms"] == 400  # not replaced
    loaded = nights.load(tmp_path, FP)
    assert [n.revision for n in loaded] == ["a" * 12] * 2 and all(n.versions == VERSIONS for n in loaded)


def test_a_truncated_or_foreign_night_is_named_in_one_line_and_the_series_goes_on(tmp_path):
    for i in range(3):
        write_night(tmp_path, i, [step_record(400)])
    truncated = write_night(tmp_path, 3, [step_record(400)])
    truncated.write_text(truncated.read_text()[:200])  # an interrupted copy
    foreign = write_night(tmp_path, 4, [step_record(400)], fingerprint="cpu-other-2c-111111")
    moved = tmp_path / FP / foreign.name
    foreign.rename(moved)
    problems = []
    loaded = nights.load(tmp_path, FP, problems)
    assert len(loaded) == 3 and len(problems) == 2
    assert any(truncated.name in p and "not JSON" in p for p in problems)
    assert any(moved.name in p and "cpu-other-2c-111111" in p for p in problems)
    assert all("\n" not in p for p in problems)
    (step,) = [s for s in nights.series(loaded) if s.figure == "step_time_ms"]
    assert len(step.points) == 3


def test_every_figure_of_a_night_becomes_a_series():
    found = nights.series([nights.Night("n", FP, "2026-11-01T00:00:00+00:00", "r", {},
                                        (nights.contract.read(step_record(400)),
                                         nights.contract.read(quality_record(0.71))), Path("n.json"))])
    names = {s.name for s in found}
    assert f"{KEY} step_time_ms" in names and f"{KEY} peak_rss_mb" in names
    quality = "quality/mrpc/from_logits/linear-decay/epochs=1/train=2400/batch=8/seed=0"
    assert {f"{quality} accuracy", f"{quality} f1", f"{quality} fit_ms_per_step"} <= names


# --- the gate from a runner's own nights ---------------------------------------------------------------------------
def test_a_new_runner_gates_after_three_nights_of_its_own(tmp_path):
    for i in range(2):
        write_night(tmp_path, i, [step_record(400, rng=random.Random(i))])
    group, why = history.baseline_group(tmp_path, FP, KEY, VERSIONS)
    assert group is None and "holds 2 night(s)" in why and "needs 3" in why
    write_night(tmp_path, 2, [step_record(400, gate="failed")])  # a night whose own gate failed: not a baseline
    write_night(tmp_path, 3, [step_record(400)], versions={**VERSIONS, "tensorflow": "2.21.0"})  # other versions
    assert history.baseline_group(tmp_path, FP, KEY, VERSIONS)[0] is None
    write_night(tmp_path, 4, [step_record(400, rng=random.Random(4))])
    group, _ = history.baseline_group(tmp_path, FP, KEY, VERSIONS)
    assert len(group["sessions_ms"]) == 3 and len(set(group["session_dates"])) == 3  # three dates: no floor


def test_the_gate_from_nights_keeps_only_the_level_since_the_last_change(tmp_path):
    for i, ms in enumerate(stepped(10, 5, 1.25)):
        write_night(tmp_path, i, [step_record(ms, rng=random.Random(i))])
    group, _ = history.baseline_group(tmp_path, FP, KEY, VERSIONS)
    assert len(group["sessions_ms"]) == 5 and "since the change" in group["provenance"]["described"]
    assert min(min(map(min, s)) for s in group["sessions_ms"]) > 450  # the new level only


class SessionConfig:
    """What the root conftest.py's machine_info hook reads of pytest's config: the session's options."""

    def __init__(self, engine: str, backend: str | None):
        self.options = {"--engine": engine, "--backend": backend}

    def getoption(self, name):
        return self.options[name]


def recorded_versions(engine: str, backend: str | None, monkeypatch) -> dict:
    """The versions a night of `engine` records: the root conftest.py's pytest-benchmark hook, as a session runs it
    (the host's description stubbed: it is not what this is about)."""
    from finetune import environment

    monkeypatch.setattr(environment, "hardware", lambda: {})
    monkeypatch.setattr(environment, "hardware_key", lambda device="auto": FP)
    spec = importlib.util.spec_from_file_location("root_conftest_under_test", ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    machine_info: dict = {}
    root_conftest.pytest_benchmark_update_machine_info(SessionConfig(engine, backend), machine_info)
    return machine_info["finetune"]["versions"]


def test_a_keras3_night_series_feeds_the_gate_from_nights(tmp_path, monkeypatch):
    """Issue 42.3: a night recorded environment.versions() (no engine) and the gate compared engine.versions(),
    which for keras3 adds keras, keras-hub, jax and torch: no keras3 night ever fed the gate. Now a night records
    its engine's versions() and is compared on that engine's libraries: three keras3 nights gate a keras3 session,
    three tf-keras nights beside them a tf-keras one, and a keras3 library that moved (or was never recorded, as in
    the keras3 nights from before) keeps a night out."""
    from finetune import engines

    keras3 = recorded_versions("keras3", "jax", monkeypatch)
    own = set(engines.engine_class("keras3").libraries) - set(engines.engine_class("tf-keras").libraries)
    assert own == {"keras", "keras-hub", "jax", "torch"} and own <= set(keras3)
    key3 = f"{KEY}/engine=keras3-jax"
    for i in range(3):
        write_night(tmp_path, i, [step_record(400, rng=random.Random(i), engine="keras3-jax")], versions=keras3)
    session3 = engines.get("keras3", "jax").versions()
    group, why = history.baseline_group(tmp_path, FP, key3, session3)
    assert group is not None and len(group["sessions_ms"]) == 3, why
    for i in range(3, 6):
        write_night(tmp_path, i, [step_record(400, rng=random.Random(i))],
                    versions=recorded_versions("tf-keras", None, monkeypatch))
    group, why = history.baseline_group(tmp_path, FP, KEY, engines.get("tf-keras").versions())
    assert group is not None and len(group["sessions_ms"]) == 3, why
    group, why = history.baseline_group(tmp_path, FP, key3, {**session3, "keras": "99.0.0"})
    assert group is None and "3 more with other versions: keras" in why and "99.0.0" in why
    old = {name: version for name, version in keras3.items() if name not in own}
    write_night(tmp_path, 6, [step_record(400, engine="keras3-jax")], versions=old)  # a keras3 night from before
    group, _ = history.baseline_group(tmp_path, FP, key3, session3)
    assert len(group["sessions_ms"]) == 3  # its keras version unknown: not one of these versions


# --- the command -------------------------------------------------------------------------------------------------
def run_history(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.history", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_listing_names_the_change_its_revisions_and_says_when_it_is_new(tmp_path):
    for i, ms in enumerate(stepped(8, 4, 1.12)):
        write_night(tmp_path, i, [step_record(ms, rng=random.Random(i))], revision=f"{i:x}" * 40)
    done = run_history(tmp_path, "--figure", "step_time_ms", "--fail-on-new", "--json", tmp_path / "h.json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{FP}: 8 night(s) on 8 date(s)" in done.stdout
    change = next(line for line in done.stdout.splitlines() if "change at" in line)
    assert "worse: 1.1" in change and f"revisions {'3' * 12} .. {'4' * 12}" in change
    assert "NEW change at" in done.stdout and "no verdict yet" in change
    listed = json.loads((tmp_path / "h.json").read_text())["fingerprints"][0]["series"][0]
    assert listed["changes"][0]["first_night"].endswith("4" * 12) and len(listed["values"]) == 8
    night = listed["changes"][0]["first_night"]
    nights.write_verdict(tmp_path, FP, night, "ab", {"described": "SLOWER: ratio 1.110", "verdict": {"slower": True}})
    done = run_history(tmp_path, "--figure", "step_time_ms", "--fail-on-new")
    assert done.returncode == 0 and "A/B SLOWER: ratio 1.110" in done.stdout, done.stdout
    assert len(list((tmp_path / FP).glob("*.json"))) == 9  # nothing rewritten: 8 nights and one verdict


def test_the_committed_amx_series_finds_its_real_regression_at_night_5_confirmed_and_bisected():
    """docs/nights-amx (docs/history.md): 11 real nights, padding to 24 tokens landed before night 5 and reverted
    before night 9. Both step-time series name night 5 as the change's only likely first night, still significant
    after the revert (the raw series, which does not find the revert, must not blur it with the nights after), the
    revisions around it, and the A/B verdict and bisection stored beside it (the commit that padded); the ratio
    series finds the revert at night 9."""
    amx = "cpu-intel-r-xeon-r-processor-amx-2c-21bda8"
    found, analysed_ = history.analysed(ROOT / "docs" / "nights-amx" / "history", amx)
    assert len(found) >= 11 and found[4].revision == "0a0bf93e55b0" and found[8].revision == "f0e63cbade0b"
    flagged = {s.figure: c for s, cs in analysed_ for c in cs if c.worse}
    assert set(flagged) == {"step_time_ms", nights.REFERENCE_FIGURE}
    for change in flagged.values():
        assert change.index == change.first == change.last == 4 and change.low > 1.0
    (revert,) = [c for s, cs in analysed_ if s.figure == nights.REFERENCE_FIGURE for c in cs if not c.worse]
    assert revert.index == 8 and revert.high < 1.0
    stored = nights.verdicts(ROOT / "docs" / "nights-amx" / "history", amx, found[4].name)
    assert [v["what"] for v in stored] == ["ab", "bisect"] and stored[0]["verdict"]["slower"]
    assert stored[1]["first_slow"].startswith("0d6f09e") and "pad every batch" in stored[1]["subject"]


def test_the_listing_reads_no_framework_and_refuses_a_missing_folder_in_one_line(tmp_path):
    write_night(tmp_path, 0, [step_record(400)])
    code = ("import sys; from bench.history import cli; cli.main([sys.argv[1]]); "
            "print(sorted(m for m in ('tensorflow', 'transformers', 'tf_keras', 'datasets') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
    missing = run_history(tmp_path / "absent")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "no such history folder" in missing.stderr and "--history" in missing.stderr


def test_charts_are_drawn_with_their_change_points(tmp_path):
    pytest.importorskip("matplotlib")
    for i, ms in enumerate(stepped(8, 4, 1.12)):
        write_night(tmp_path / "h", i, [step_record(ms, rng=random.Random(i))])
    done = run_history(tmp_path / "h", "--figure", "step_time_ms", "--charts", tmp_path / "charts")
    assert done.returncode == 0, done.stderr
    (png,) = (tmp_path / "charts").glob("*.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


# --- bisection ---------------------------------------------------------------------------------------------------
@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository of 6 commits; bench.history.bisection reads its history."""
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True,
                              text=True).stdout.strip()
    git("init", "-q")
    revs = []
    for i in range(6):
        (tmp_path / "f").write_text(str(i))
        git("add", "f")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", f"commit {i}")
        revs.append(git("rev-parse", "HEAD"))
    monkeypatch.setattr(bisection, "ROOT", tmp_path)
    return revs


@pytest.mark.parametrize("culprit", [1, 3, 5])
def test_bisect_names_the_first_slow_commit_in_few_decisions(repo, culprit):
    asked = []

    def decide(args, good, rev, model=None):
        asked.append(rev)
        slower = repo.index(rev) >= culprit
        return {"verdict": {"slower": slower}, "described": "SLOWER" if slower else "no significant change"}

    found = bisection.bisect(None, repo[0], repo[-1], decide_=decide)
    assert found["first_slow"] == repo[culprit] and found["commits"] == repo[1:]
    assert len(asked) <= 1 + math.ceil(math.log2(len(repo) - 1)) and asked[0] == repo[-1]


def test_bisect_blames_nothing_when_the_range_is_not_slower(repo):
    found = bisection.bisect(None, repo[0], repo[-1], decide_=lambda *a, **k: {"verdict": {"slower": False},
                                                                           "described": "no significant change"})
    assert found["first_slow"] is None and "nothing to bisect" in found["described"]


def test_bisect_refuses_a_reversed_range_in_one_line(repo):
    with pytest.raises(nights.FinetuneError, match="not after"):
        bisection.commits(repo[-1], repo[0])


def test_confirm_ab_tests_the_revisions_around_each_unjudged_slowdown_and_stores_the_verdict(tmp_path, monkeypatch):
    """bench.history confirm: the last night of the old level against the first of the new, once; the verdict
    beside the night; a change with a verdict is not measured again; --bisect narrows a confirmed range."""
    for i, ms in enumerate(stepped(8, 4, 1.12)):
        write_night(tmp_path, i, [step_record(ms, rng=random.Random(i))], revision=f"{i:x}" * 40)
    asked = []

    def decide(args, good, bad, model=None):
        asked.append((good, bad, model))
        return {"verdict": {"slower": True}, "described": "SLOWER: ratio 1.120"}

    monkeypatch.setattr(bisection, "decide", decide)
    monkeypatch.setattr(bisection, "bisect", lambda args, good, bad, **kw: {"first_slow": bad, "described": "found"})
    args = history.parse_args(["confirm", str(tmp_path), "--bisect"])
    assert history.confirm(args, FP) == 1
    assert asked == [("3" * 12, "4" * 12, "minilm-l6")]  # the nights' revisions, the night's model
    night = next(p for p in (tmp_path / FP).glob("*.json") if nights.NIGHT.match(p.name) and p.stem.endswith("4" * 12))
    stored = nights.verdicts(tmp_path, FP, night.stem)
    assert [v["what"] for v in stored] == ["ab", "bisect"] and stored[0]["verdict"]["slower"]
    assert history.confirm(args, FP) == 0 and len(asked) == 1  # judged: not measured again


def test_confirm_judges_a_night_flagged_in_the_step_and_in_its_reference_ratio_once(tmp_path, monkeypatch):
    """A slowdown shows in the gated step time and in its ratio to --reference at the same night: confirm A/B-tests
    and bisects it once, and goes on to the second series without tripping over the first's bisection (it once
    crashed there: the bisection's result took the nights' name)."""
    for i, ms in enumerate(stepped(8, 4, 1.12)):
        record = step_record(ms, rng=random.Random(i))
        record["reference"] = {"rev": "v1", "commit": "b" * 12,
                               "blocks_ms": step_record(400.0, rng=random.Random(100 + i))["blocks_ms"]}
        write_night(tmp_path, i, [record], revision=f"{i:x}" * 40)
    flagged = [s.figure for s, found in history.analysed(tmp_path, FP)[1] for c in found if c.worse]
    assert sorted(flagged) == ["step_time_ms", nights.REFERENCE_FIGURE]
    asked, bisected = [], []
    monkeypatch.setattr(bisection, "decide", lambda args, good, bad, model=None: asked.append((good, bad)) or {
        "verdict": {"slower": True}, "described": "SLOWER: ratio 1.120"})
    monkeypatch.setattr(bisection, "bisect", lambda args, good, bad, **kw: bisected.append((good, bad)) or {
        "first_slow": bad, "described": "found"})
    args = history.parse_args(["confirm", str(tmp_path), "--bisect"])
    assert history.confirm(args, FP) == 1
    assert asked == bisected == [("3" * 12, "4" * 12)]
