"""The store: stored baselines, one JSON file per model x hardware (`baselines/<model>__<fingerprint>.json`): each
figure's measured spread (mean, std, min, max, n), a step time's sessions of blocks, their keys, loading, merging
and atomic writes. Every judgement against them is bench/judge/verdicts.py's.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import statistics
import tempfile
from pathlib import Path

from bench.judge.figures import MAX_SESSIONS, MIN_SESSIONS, Figure, stored_sessions  # noqa: F401
from finetune import tuned_choice
from finetune.errors import FinetuneError

BASELINE_DIR = tuned_choice.BASELINE_DIR


def step_group(blocks_ms: list[list[float]], stored: dict | None, provenance: dict) -> dict:
    """A step-time baseline group with this session's blocks (a list of passes, ms/step, per process) as one more
    session: the stored sessions are kept when they were measured with the same library versions (else they are
    replaced), the most recent MAX_SESSIONS of them. `step_time_ms` is the Figure of the sessions' mean passes (as
    each record's step_time_ms); `noise` is the spread the gate draws on, by level (bench.judge.blocks.session_spread)."""
    from bench.judge import blocks

    kept, dates = [], []
    if stored and (stored.get("provenance") or {}).get("versions") == provenance["versions"]:
        kept = stored_sessions(stored)
        dates = list(stored.get("session_dates") or [None] * len(kept))
    sessions = (kept + [[list(p) for p in blocks_ms]])[-MAX_SESSIONS:]
    dates = (dates + [_dt.datetime.now(_dt.timezone.utc).date().isoformat()])[-MAX_SESSIONS:]
    return {"step_time_ms": Figure.of(statistics.fmean(v for p in s for v in p) for s in sessions), "sessions_ms": sessions,
            "session_dates": dates, "noise": blocks.session_spread(sessions),
            "provenance": {**provenance, "sessions": len(sessions), "processes": sum(len(s) for s in sessions)}}


def path_for(directory: Path, model: str, hardware_key: str) -> Path:
    return tuned_choice.baseline_path(directory, model, hardware_key)  # one naming rule: finetune reads these files too


def load(path: Path) -> dict | None:
    """The baseline document at `path`, None when there is none, or FinetuneError naming the file and the fix."""
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FinetuneError(f"{path}: not valid JSON ({err}): restore it with git checkout -- {path.name}, or delete "
                            "it and measure anew with --update-baselines --seeds 5") from None
    if not isinstance(document, dict) or not isinstance(document.get("figures", {}), dict):
        raise FinetuneError(f"{path}: not a baseline file (no 'figures' object): restore it with git checkout, "
                            "or delete it and measure anew with --update-baselines --seeds 5")
    return document


def others(directory: Path, model: str, hardware_key: str) -> list[tuple[str, str]]:
    """(fingerprint, machine in words) of every other machine with a baseline file for `model`."""
    found = []
    for path in sorted(Path(directory).glob(f"{model.replace('/', '--')}__*.json")):
        key = path.stem.split("__", 1)[1]
        if key == hardware_key:
            continue
        try:
            hardware = (load(path) or {}).get("hardware") or {}
        except FinetuneError as err:  # e.g. truncated: named, so that nobody mistakes it for a machine
            found.append((key, f"UNREADABLE baseline file {path.name}: {str(err).split(': ', 1)[-1]}"))
            continue
        described = (hardware.get("described") or {}).get("gpu" if key.startswith("gpu") else "cpu")
        if not described:
            described = f"{hardware.get('cpu', '?')}, {hardware.get('cpu_count', '?')} cores, recorded before fingerprints"
        found.append((key, described))
    return found


def device_of_key(key: str) -> str | None:
    """The device of a step-time group's key (`step_time/<task>/<device>/...`, or the older
    `step_time/<device>/...`), None for other groups (quality: the session's device)."""
    parts = key.split("/")
    if parts[0] != "step_time":
        return None
    return next((part for part in parts[1:3] if part in ("cpu", "gpu")), None)


def cpu_groups_kept_by_a_gpu_file(document: dict | None, cpu_fingerprint: str) -> dict:
    """The migration of a GPU runner's CPU step times: before they were keyed by the CPU's fingerprint, a GPU
    runner stored its `cpu` step-time groups in its GPU's file, shared by every host with those GPUs whatever its
    CPU. Those measured on this CPU (their provenance names its fingerprint) are this CPU's; the others are no one's
    here."""
    found = {}
    for key, group in ((document or {}).get("figures") or {}).items():
        fingerprint = ((group.get("provenance") or {}).get("hardware") or {}).get("fingerprint") or {}
        if device_of_key(key) == "cpu" and fingerprint.get("cpu") == cpu_fingerprint:
            found[key] = group
    return found


def without_cpu_groups(document: dict, cpu_fingerprint: str) -> dict:
    """A GPU fingerprint's document less the `cpu` step-time groups measured on `cpu_fingerprint` (an update moves
    them to that CPU's file); other CPUs' stay, as no one's here."""
    moved = cpu_groups_kept_by_a_gpu_file(document, cpu_fingerprint)
    return {**document, "figures": {k: g for k, g in (document.get("figures") or {}).items() if k not in moved}}


def figure_of(document: dict | None, key: str, name: str) -> Figure | None:
    group = (document or {}).get("figures", {}).get(key)
    if not group or name not in group:
        return None
    return Figure.from_dict(group[name])


def merged(document: dict | None, header: dict, groups: dict) -> dict:
    """The document with `groups` (key -> {figure name: Figure or provenance}) replaced, others kept."""
    updated = dict(document or {})
    updated.update(header)
    figures = dict(updated.get("figures", {}))
    for key, group in groups.items():
        figures[key] = {name: (value.to_dict() if isinstance(value, Figure) else value)
                        for name, value in group.items()}
    updated["figures"] = dict(sorted(figures.items()))
    updated["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return updated


def write_atomic(path: Path, document: dict) -> None:
    """Write to a temporary file beside `path`, then rename over it: an interruption leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


DEFAULT_ENGINE = "tf-keras"  # the course's engine: its keys are those of the baselines measured before engines


def engine_name(engine: str | None, backend: str | None) -> str:
    """A result's engine as keys name it (finetune.engines.Engine.label): <engine>[-<backend>]; records from
    before engines have none, and were tf-keras's (old data, not a branch on an engine)."""
    return "tf-keras" if engine is None else engine if backend is None else f"{engine}-{backend}"


def quality_key(task: str, loss: str, optimizer: str, epochs: int, max_train_samples: int | None,
                batch_size: int, engine: str = "tf-keras") -> str:
    """A quality group's key; another engine than tf-keras (the course's) is a suffix, so that tf-keras's keys stay
    those of the baselines measured before engines."""
    train = "all" if max_train_samples is None else max_train_samples
    suffix = "" if engine == DEFAULT_ENGINE else f"/engine={engine}"  # old keys: those from before engines
    return f"quality/{task}/{loss}/{optimizer}/epochs={epochs}/train={train}/batch={batch_size}{suffix}"


def step_key(task: str, device: str, batch_size: int, passes: int, batches: int, processes: int,
             engine: str = "tf-keras") -> str:
    """A step-time group's key: the task (its lengths), the device, the batch size and the design of a session
    (processes x passes each x batches a pass), since the gate compares sessions of one design. (Groups of
    one-process sessions, from before, are keyed step_time/<device>/batch=<b>/passes=<n>x<k>: MRPC only.)"""
    suffix = "" if engine == DEFAULT_ENGINE else f"/engine={engine}"  # old keys: those from before engines
    return f"step_time/{task}/{device}/batch={batch_size}/blocks={processes}x{passes}x{batches}{suffix}"


def quality_groups(results: list[dict], provenance: dict) -> dict:
    """Baseline figure groups from fine-tune results (Result.to_dict(), or the CLI's --json files)."""
    grouped: dict = {}
    for r in sorted(results, key=lambda r: r["config"]["seed"]):
        c = r["config"]
        key = quality_key(c["task"], c["loss"], c["optimizer"], c["epochs"], c["max_train_samples"], c["batch_size"],
                          engine_name(c.get("engine"), c.get("backend")))
        grouped.setdefault(key, []).append(r)
    def metrics(r) -> dict:  # the task's GLUE metrics; results from before `scores`: MRPC's accuracy and F1
        return r.get("scores") or {"accuracy": r["accuracy"], "f1": r["f1"]}

    return {
        key: {
            **{name: Figure.of(metrics(r)[name] for r in runs) for name in metrics(runs[0])},
            "collapsed": [r["collapsed"] for r in runs],
            "provenance": {**provenance, "seeds": [r["config"]["seed"] for r in runs]},
        }
        for key, runs in grouped.items()
    }
