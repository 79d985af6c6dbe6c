"""The store: stored baselines, each figure's measured spread (mean, std, min, max, n), and the band derived from it.

One JSON file per model x hardware: `baselines/<model>__<hardware>.json`. A band is never typed in:

    half-width = t(q, n-1) * std * sqrt(1 + 1/n)     (prediction interval for one new run)
    band       = [mean - half, mean + half], widened to cover every stored value,
                 plus the figure's resolution (one validation example for accuracy and F1)

with q = 0.995 two-sided for quality, and q = 0.99 one-sided (upper bound only) for step time. A step time
above its bound is timed once more before it fails (check_confirmed): one stall of a shared host is not a
regression.
A figure measured once (n = 1) has no spread, so no band: its comparison is skipped and says so. So is one
whose band covers every value the figure can take (accuracy and F1 of a variant whose outcome depends on the
seed: collapsing to one class or the other, learning or not): such a band could never fail.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from scipy import stats as _stats

from finetune.errors import FinetuneError

BASELINE_DIR = Path(__file__).resolve().parent.parent / "baselines"
QUALITY_QUANTILE = 0.995  # two-sided 99% prediction interval
SPEED_QUANTILE = 0.99  # one-sided: only a slower step is a regression
SCORE_RANGE = (0.0, 1.0)  # what accuracy and F1 can be


@dataclass(frozen=True)
class Figure:
    mean: float
    std: float
    min: float
    max: float
    n: int
    values: tuple

    @classmethod
    def of(cls, values) -> "Figure":
        values = tuple(float(v) for v in values)
        return cls(
            mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else 0.0,
            min=min(values), max=max(values), n=len(values), values=values,
        )

    @classmethod
    def from_dict(cls, data: dict) -> "Figure":
        return cls(**{**data, "values": tuple(data["values"])})

    def to_dict(self) -> dict:
        return {**asdict(self), "values": list(self.values)}


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    half_width: float
    how: str  # the derivation, for messages


def band(figure: Figure, resolution: float = 0.0, upper_only: bool = False) -> Band | None:
    """The band a new run is expected in, or None when one measurement gives no spread."""
    if figure.n < 2:
        return None
    quantile = SPEED_QUANTILE if upper_only else QUALITY_QUANTILE
    t = float(_stats.t.ppf(quantile, figure.n - 1))
    half = t * figure.std * math.sqrt(1 + 1 / figure.n)
    low = (-math.inf if upper_only else min(figure.mean - half, figure.min) - resolution)
    high = max(figure.mean + half, figure.max) + resolution
    how = f"t({quantile}, {figure.n - 1})={t:.2f} x std x sqrt(1+1/n)"
    if resolution:
        how += f" + resolution {resolution:.4g}"
    return Band(low, high, half, how)


def covers(derived: Band, limits: tuple[float, float] | None) -> bool:
    """True when the band holds every value in `limits`, the range the figure can take: it cannot fail."""
    return limits is not None and derived.low <= limits[0] and derived.high >= limits[1]


CREATE = "pytest bench/ --update-baselines --seeds 5"


def check(name: str, value: float, figure: Figure | None, where: str, resolution: float = 0.0,
          upper_only: bool = False, limits: tuple[float, float] | None = None,
          create: str = CREATE, collapse: dict | None = None) -> tuple[bool | None, str]:
    """(passed, message); passed is None when there is nothing to compare against, when the band covers
    `limits` (every value the figure can take) and so cannot tell a regression from noise, or when it holds a
    score of `collapse` ({label: the score of predicting it always}) and so cannot tell a collapse from a run that
    learned. `create`: the command that measures the missing baseline (the session's engine and tier in it)."""
    if figure is None:
        return None, f"no baseline for {name} ({where}): create it with {create}"
    derived = band(figure, resolution, upper_only)
    stored = f"baseline mean {figure.mean:.4g}, std {figure.std:.3g}, n={figure.n}"
    if derived is None:
        return None, f"baseline for {name} ({where}) has n=1, too few for a band: re-measure with --seeds 2 or more"
    shown = f"<= {derived.high:.4g}" if upper_only else f"[{derived.low:.4g}, {derived.high:.4g}]"
    if covers(derived, limits):
        return None, (f"baseline band for {name} ({where}; {stored}) is {shown}, every possible value: this "
                      f"variant's outcome depends on the seed, so no band can gate it; the claims test does")
    held = [(label, score) for label, score in sorted((collapse or {}).items())
            if derived.low <= score <= derived.high]
    if held:
        label, score = held[0]
        return None, (f"baseline band for {name} ({where}; {stored}) is {shown}, which holds {score:.4f}, the score of "
                      f"predicting label {label} for every example: no gate against a collapse. Narrow it with more "
                      f"seeds ({create}); the claims test checks that the fix learns")
    inside = derived.low <= value <= derived.high
    verdict = "inside" if inside else "OUTSIDE"
    return inside, (f"{name} {value:.4g} is {verdict} the baseline band {shown} ({where}; {stored}; "
                    f"tolerance {derived.half_width:.3g} = {derived.how})")


def all_collapsed(group: dict | None) -> bool:
    """Every stored run of a quality group collapsed to one class: a band of such runs (often identical, std 0)
    gates only which class the next collapse lands on, and that depends on the seed."""
    collapsed = (group or {}).get("collapsed") or []
    return bool(collapsed) and all(collapsed)


def check_quality(name: str, value: float, group: dict | None, where: str, resolution: float = 0.0,
                  limits: tuple[float, float] | None = SCORE_RANGE, create: str = CREATE,
                  collapse: dict | None = None) -> tuple[bool | None, str]:
    """check() of an accuracy or F1 against its stored group; no gate where every stored run collapsed."""
    if all_collapsed(group):
        classes = ", ".join(sorted(set(group["collapsed"])))
        return None, (f"baseline for {name} ({where}): every stored run collapsed ({classes}); which class a collapse "
                      "lands on depends on the seed, so no band can gate it; the claims test does")
    figure = Figure.from_dict(group[name]) if group and name in group else None
    return check(name, value, figure, where, resolution=resolution, limits=limits, create=create, collapse=collapse)


def check_confirmed(name: str, value: float, figure: Figure | None, where: str, confirm,
                    create: str = CREATE) -> tuple[bool | None, str]:
    """check() of a step time (upper bound only). A value above the bound is measured once more (`confirm()`,
    the same work timed again) and the faster of the two is judged: a one-off stall of a shared host passes,
    a real slowdown slows both measurements and fails."""
    passed, message = check(name, value, figure, where, upper_only=True, create=create)
    if passed is not False:
        return passed, message
    again = confirm()
    passed, message = check(name, min(value, again), figure, where, upper_only=True)
    return passed, f"{message} [above the bound at first ({value:.4g}), timed again: {again:.4g}]"


MIN_SESSIONS = 3  # stored sessions before the block gate decides: their spread is its noise model
MAX_SESSIONS = 20  # the most recent sessions kept in a step-time group


def stored_sessions(group: dict | None) -> list:
    """A step-time group's sessions, each a list of processes, each a list of passes (ms/step). Groups written
    before sessions spanned processes hold `blocks_ms`, one process per session."""
    group = group or {}
    if group.get("sessions_ms"):
        return [[list(p) for p in session] for session in group["sessions_ms"]]
    return [[list(p)] for p in group.get("blocks_ms") or []]


def step_group(blocks_ms: list[list[float]], stored: dict | None, provenance: dict) -> dict:
    """A step-time baseline group with this session's blocks (a list of passes, ms/step, per process) as one more
    session: the stored sessions are kept when they were measured with the same library versions (else they are
    replaced), the most recent MAX_SESSIONS of them. `step_time_ms` is the Figure of the sessions' mean passes (as
    each record's step_time_ms); `noise` is the spread the gate draws on, by level (bench.blocks.session_spread)."""
    from bench import blocks

    kept, dates = [], []
    if stored and (stored.get("provenance") or {}).get("versions") == provenance["versions"]:
        kept = stored_sessions(stored)
        dates = list(stored.get("session_dates") or [None] * len(kept))
    sessions = (kept + [[list(p) for p in blocks_ms]])[-MAX_SESSIONS:]
    dates = (dates + [_dt.datetime.now(_dt.timezone.utc).date().isoformat()])[-MAX_SESSIONS:]
    return {"step_time_ms": Figure.of(statistics.fmean(v for p in s for v in p) for s in sessions), "sessions_ms": sessions,
            "session_dates": dates, "noise": blocks.session_spread(sessions),
            "provenance": {**provenance, "sessions": len(sessions), "processes": sum(len(s) for s in sessions)}}


def check_blocks(name: str, blocks_ms: list[list[float]], group: dict | None, where: str,
                 confirm=None) -> tuple[bool | None, str, dict | None]:
    """(passed, message, verdict) of a session's blocks (a list of passes, ms/step, per process) against the stored
    sessions (bench.blocks.stored_gate): fails only on a slowdown that is significant and at least the minimum
    effect. A slower verdict is timed once more (`confirm()`: the same processes, as many passes again) and the
    faster session is judged: a one-off stall of a shared host passes, a real slowdown slows both. Skipped (None)
    with fewer than MIN_SESSIONS stored sessions."""
    from bench import blocks

    stored = stored_sessions(group)
    if len(stored) < MIN_SESSIONS:
        return None, (f"{name} ({where}): the baseline holds {len(stored)} session(s) of blocks, the gate needs "
                      f"{MIN_SESSIONS}: run --update-baselines in {MIN_SESSIONS - len(stored)} more session(s)"), None

    def mean_ms(processes) -> float:
        return math.exp(blocks.session_value(processes))

    days = len({d for d in (group or {}).get("session_dates") or [] if d}) or 1  # undated (older): one day
    verdict = blocks.stored_gate(blocks_ms, stored, days=days)
    shape = f"{len(blocks_ms)} process(es) x {len(blocks_ms[0])} blocks"
    shown = f"{name} {mean_ms(blocks_ms):.4g} ms ({shape})"
    if verdict.slower and confirm is not None:
        again = confirm()
        first = mean_ms(blocks_ms)
        if mean_ms(again) < first:
            verdict, blocks_ms = blocks.stored_gate(again, stored, days=days), again
        shown = (f"{name} {mean_ms(blocks_ms):.4g} ms ({shape}; slower at first, {first:.4g} ms; timed again: "
                 f"{mean_ms(again):.4g} ms; the faster judged)")
    return not verdict.slower, f"{shown} against the baseline ({where}): {verdict.describe()}", verdict.to_dict()


def path_for(directory: Path, model: str, hardware_key: str) -> Path:
    safe_model = model.replace("/", "--")
    return Path(directory) / f"{safe_model}__{hardware_key}.json"


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
