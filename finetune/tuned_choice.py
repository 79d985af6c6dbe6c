"""`--perf best` as measured on this machine: the choice `python -m bench.tune --store` wrote into this fingerprint's
baseline file (`baselines/<model>__<fingerprint>.json`, its "tuned" object), and today's rule (perf.BEST_BY_HOST,
unmeasured here) where nothing is stored.

    "tuned": {"mrpc/cpu/batch=8": {"by_engine": {"tf-keras": {"variant": "xla-buckets", "ratio": 0.62, ...}}, ...}}

A choice is per task (lengths differ: SST-2's sentences are short), device kind, batch size and engine (the
engine is the caller's choice; bench.tune also names the fastest engine overall). The file is read, never written,
here: bench/tune/cli.py writes it.

A stored choice keeps its claim (claim()): the upper end of its paired ratio's interval against the course, the
whole fine-tune's projected with its compiles where bench.tune stored one (a session of another length projects it
again: bench.judge.ranking.claim_at), else the training step's, is the speed target test_faster_than_the_course asserts
on that machine. A choice without an interval (stored before bench.tune kept one), one from a tree with
uncommitted changes, one judged against another baseline, or one whose interval reaches 1.0 (not faster) claims
nothing, and says why.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from finetune import perf
from finetune.errors import FinetuneError
from finetune.hardware import Host

BASELINE_DIR = Path(__file__).resolve().parent.parent / "baselines"


def baseline_path(directory: Path, model: str, hardware_key: str) -> Path:
    """A model x machine's baseline file (bench.store.baselines keeps the same files)."""
    return Path(directory) / f"{model.replace('/', '--')}__{hardware_key}.json"


def key(task: str, device_kind: str, batch_size: int) -> str:
    return f"{task}/{device_kind}/batch={batch_size}"


def stored(model: str, task: str, device_kind: str, batch_size: int, engine: str, host: Host | None = None,
           directory: Path | None = None) -> dict | None:
    """The stored choice for `engine` (a label: tf-keras, keras3-jax) on this machine, or None."""
    host = host or Host.here()
    path = baseline_path(directory or BASELINE_DIR, model, host.key(device_kind))
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FinetuneError(f"{path}: not valid JSON ({err}): restore it with git checkout -- {path.name}") from None
    entry = ((document.get("tuned") or {}).get(key(task, device_kind, batch_size)) or {})
    row = (entry.get("by_engine") or {}).get(engine)
    if row is None:
        return None
    if row.get("variant") not in perf.VARIANTS:
        raise FinetuneError(f"{path}: the tuned choice {row.get('variant')!r} is not a finetune.perf variant: "
                            "re-run python -m bench.tune --store, or delete its \"tuned\" entry")
    against = (entry.get("candidates") or {}).get(entry.get("baseline") or "course") or {}
    return {**row, "measured_at": entry.get("measured_at"), "revision": entry.get("revision"), "path": path.name,
            "dirty": entry.get("dirty"), "baseline": entry.get("baseline"), "engine": engine,
            "baseline_engine": entry.get("baseline_engine"), "baseline_ms_per_step": against.get("ms_per_step"),
            "baseline_compile_s": (against.get("whole") or {}).get("compile_s")}


def _has_interval(found: dict | None) -> bool:
    return bool(found) and all(isinstance(found.get(k), (int, float)) for k in ("ratio", "low", "high"))


def _judged_against(row: dict) -> tuple[str, str]:
    """(variant, engine) of the candidate the stored ratios are against: its text (course, course@keras3-jax,
    course:inter=1), the engine bench.tune stored with it, else its --engine's default (tf-keras)."""
    text = row.get("baseline") or "course"
    head = text.split(":")[0]
    variant, _, engine = head.partition("@")
    return variant, row.get("baseline_engine") or engine or "tf-keras"


def claim(row: dict) -> tuple[float | None, str]:
    """(the speed target, in words why) of a stored choice (stored()'s row): the upper end of its interval against
    the course, which test_faster_than_the_course asserts as a whole fine-tune's ratio. The whole fine-tune's
    projection (compiles included) where stored: what the test measures at that length (a session of another
    length projects it again: bench.judge.ranking.claim_at); else the training step's (a lower bound of the
    whole's: compiles only add). None, and why, where the row cannot carry a claim."""
    variant, engine = _judged_against(row)
    if row.get("dirty") or str(row.get("revision") or "").endswith("-dirty"):
        return None, (f"measured on a tree with uncommitted changes ({row.get('revision')}): no speed claim; "
                      "re-run python -m bench.tune --store from a clean checkout")
    if variant != "course" or engine != row.get("engine", engine):
        return None, f"judged against {row.get('baseline')} on {engine}, not the course on {row.get('engine')}"
    if row.get("variant") == "course":
        return None, "the course itself: nothing faster was found, nothing to claim"
    whole = row.get("whole")
    if _has_interval(whole):
        high, what = whole["high"], f"its whole fine-tune of {whole.get('steps', '?')} steps, compiles included"
    elif _has_interval(row):
        high, what = row["high"], "its training step"
    else:
        return None, ("stored without an interval (bench.tune before it kept one): re-run python -m bench.tune "
                      "--store for a speed claim")
    if high >= 1.0:
        return None, f"{what}: interval up to {high:.3f}x the course's, not faster: no speed claim"
    return round(high, 3), f"target: the upper end of {what}'s interval, {high:.3f}x the course's"


def describe(row: dict) -> str:
    """The evidence of a stored choice, in words."""
    text = f"bench.tune at {row.get('revision') or '?'} on {row.get('measured_at') or '?'}: training step "
    text += (f"{row['ratio']:.3f}x [{row['low']:.3f}, {row['high']:.3f}] the course's" if _has_interval(row)
             else "no interval stored")
    whole = row.get("whole")
    if _has_interval(whole):
        text += f", whole fine-tune {whole['ratio']:.3f}x [{whole['low']:.3f}, {whole['high']:.3f}]"
    quality = row.get("quality")
    if quality:
        text += f"; quality {quality}"
    return f"{text}; {claim(row)[1]}"


MEASURED_HERE = "this machine ("  # how a stored choice's row names what it needs: measured on this machine


def measured_here(row: perf.BestChoice) -> bool:
    """Whether `row` is this machine's stored choice (its target measured here, on its engine), not a rule's."""
    return row.needs.startswith(MEASURED_HERE)


def best_choice(device_kind: str, model: str, task: str = "mrpc", batch_size: int = 8, engine: str = "tf-keras",
                host: Host | None = None, directory: Path | None = None) -> perf.BestChoice:
    """The stored choice for this machine where there is one, its claim() the speed target; else
    perf.BEST_BY_HOST's rule, marked unmeasured where it claims nothing."""
    host = host or Host.here()
    row = stored(model, task, device_kind, batch_size, engine, host, directory)
    if row is None:
        rule = perf.best_choice(device_kind, host)
        if rule.target is None:
            rule = dataclasses.replace(rule, evidence=f"{rule.evidence}; not tuned on this machine "
                                                      "(python -m bench.tune --store measures it)")
        return rule
    return perf.BestChoice(device_kind, f"{MEASURED_HERE}{host.key(device_kind)}), {engine}, measured",
                           lambda _: True, row["variant"], claim(row)[0], describe(row))
