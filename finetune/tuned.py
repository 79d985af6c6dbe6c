"""`--perf best` as measured on this machine: the choice `python -m bench.tune --store` wrote into this fingerprint's
baseline file (`baselines/<model>__<fingerprint>.json`, its "tuned" object), and today's rule (perf.BEST_BY_HOST,
unmeasured here) where nothing is stored.

    "tuned": {"mrpc/cpu/batch=8": {"by_engine": {"tf-keras": {"variant": "xla-buckets", "ratio": 0.62, ...}}, ...}}

A choice is per task (lengths differ: SST-2's sentences are short), device kind, batch size and engine (the
engine is the caller's choice; bench.tune also names the fastest engine overall). The file is read, never written,
here: bench/tune.py writes it.
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
    """A model x machine's baseline file (bench.store keeps the same files)."""
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
    return {**row, "measured_at": entry.get("measured_at"), "revision": entry.get("revision"), "path": path.name}


def describe(row: dict) -> str:
    """The evidence of a stored choice, in words."""
    text = (f"bench.tune at {row.get('revision') or '?'} on {row.get('measured_at') or '?'}: training step "
            f"{row['ratio']:.3f}x [{row['low']:.3f}, {row['high']:.3f}] the course's")
    quality = row.get("quality")
    if quality:
        text += f"; quality {quality}"
    return text


def best_choice(device_kind: str, model: str, task: str = "mrpc", batch_size: int = 8, engine: str = "tf-keras",
                host: Host | None = None, directory: Path | None = None) -> perf.BestChoice:
    """The stored choice for this machine where there is one; else perf.BEST_BY_HOST's rule, marked unmeasured
    where it claims nothing. A stored choice carries no speed target: the tuned ratio is a steady-state step's,
    and the whole fine-tune's is measured (and reported) by test_faster_than_the_course."""
    host = host or Host.here()
    row = stored(model, task, device_kind, batch_size, engine, host, directory)
    if row is None:
        rule = perf.best_choice(device_kind, host)
        if rule.target is None:
            rule = dataclasses.replace(rule, evidence=f"{rule.evidence}; not tuned on this machine "
                                                      "(python -m bench.tune --store measures it)")
        return rule
    return perf.BestChoice(device_kind, f"this machine ({host.key(device_kind)}), {engine}, measured",
                           lambda _: True, row["variant"], None, describe(row))
