"""The history: every `pytest bench/ --history DIR` session kept as one night, append-only, and the series of each
figure read back from the nights.

    DIR/<fingerprint>/<YYYYmmddTHHMMSSZ>__<revision>.json        a night: the session's pytest-benchmark JSON
    DIR/<fingerprint>/<night>.<what>-<YYYYmmddTHHMMSSZ>.json     a verdict beside its night: ab, bisect (bench.history
                                                                 confirm, bisect) or ack (bench.history ack)

A night is keyed by the suite's own fingerprint (finetune.hardware: CPU model, instruction set, cores; GPU model),
not by pytest-benchmark's machine id (`Linux-CPython-3.11-64bit`, the same on every x86 Linux runner), then by its
date and revision. A file is written beside its final name and linked into place, so a night is whole or absent
and an existing file is never replaced. A file that cannot be read as a night of its folder's fingerprint is
named in one line and left out; the series go on without it. A verdict file that cannot be read, or is not one of
the verdicts this suite writes, is named in one line too, and judges nothing. Imports neither TensorFlow nor
transformers.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.judge import blocks
from bench.judge.series import REFERENCE_FIGURE  # noqa: F401 (nights.REFERENCE_FIGURE)
from bench.store import contract
from bench.store import baselines
from finetune.errors import FinetuneError

SCHEMA = 1  # of the "finetune_history" entry a night adds to pytest-benchmark's JSON
NIGHT = re.compile(r"^(\d{8}T\d{6}Z)__([0-9a-z]+(?:-dirty)?)(?:\.\d+)?\.json$")  # verdicts do not match


@dataclass(frozen=True)
class Night:
    name: str  # the file name's stem: <stamp>__<revision>
    fingerprint: str
    when: str  # ISO UTC, to the second
    revision: str  # the commit id (12 characters), "-dirty" when the tree had changes, or "unknown"
    versions: dict
    records: tuple  # bench.store.contract records, in file order
    path: Path
    cpu_fingerprint: str | None = None  # the host's CPU's, where the night recorded it (a GPU runner's differs)

    @property
    def date(self) -> str:
        return self.when[:10]

    @property
    def commit(self) -> str | None:
        """The revision to check out, or None (a dirty tree or no git)."""
        return None if self.revision == "unknown" or self.revision.endswith("-dirty") else self.revision


def stamp(when: _dt.datetime) -> str:
    return when.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def revision_of(commit_info: dict | None) -> str:
    commit = (commit_info or {}).get("id")
    if not commit:
        return "unknown"
    return str(commit)[:12] + ("-dirty" if (commit_info or {}).get("dirty") else "")


def append(directory: Path, fingerprint: str, document: dict) -> Path:
    """Write `document` (a session's pytest-benchmark JSON, with its "finetune_history" entry) as a new night of
    `fingerprint`; never over an existing file (a second night in the same second gets a suffix)."""
    entry_ = document["finetune_history"]
    when = _dt.datetime.fromisoformat(entry_["when"])
    return append_named(Path(directory) / fingerprint, f"{stamp(when)}__{entry_['revision']}", document)


def entry(fingerprint: str, commit_info: dict | None, when: _dt.datetime, command: str, tests: dict) -> dict:
    """What a night adds to its JSON: its key (fingerprint, revision, date) and how its session ended."""
    return {"schema": SCHEMA, "fingerprint": fingerprint, "revision": revision_of(commit_info),
            "when": when.astimezone(_dt.timezone.utc).isoformat(timespec="seconds"), "command": command,
            "tests": tests}


def fingerprints(directory: Path) -> list[str]:
    directory = Path(directory)
    return sorted(p.name for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []


def load(directory: Path, fingerprint: str, problems: list | None = None) -> list[Night]:
    """The nights of `fingerprint`, oldest first. A file that is not a night of this fingerprint is named in
    `problems` (one line each) and left out."""
    folder = Path(directory) / fingerprint
    nights = []
    for path in sorted(folder.glob("*.json")):
        if not NIGHT.match(path.name):
            continue  # a verdict beside its night, or another file: not a night
        try:
            nights.append(read(path, fingerprint))
        except FinetuneError as err:
            if problems is not None:
                problems.append(str(err))
    return sorted(nights, key=lambda n: (n.when, n.name))


def read(path: Path, fingerprint: str) -> Night:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise FinetuneError(f"{path}: left out of the history: cannot be read ({err.__class__.__name__})") from None
    except json.JSONDecodeError as err:
        raise FinetuneError(f"{path}: left out of the history: not JSON, truncated? ({err.msg}, line {err.lineno})"
                            ) from None
    ours = document.get("finetune_history") if isinstance(document, dict) else None
    if not isinstance(ours, dict) or not isinstance(document.get("benchmarks"), list):
        raise FinetuneError(f"{path}: left out of the history: not a night (no 'finetune_history' entry; write "
                            "nights with pytest bench/ --history DIR)")
    if ours.get("fingerprint") != fingerprint:
        raise FinetuneError(f"{path}: left out of the history: a night of {ours.get('fingerprint')!r} in the folder "
                            f"of {fingerprint!r}: move it to its own machine's folder")
    records = []
    for bench in document["benchmarks"]:
        info = bench.get("extra_info") if isinstance(bench, dict) else None
        if not isinstance(info, dict):
            raise FinetuneError(f"{path}: left out of the history: a benchmark without extra_info")
        record = contract.read(info, f"{path}: benchmark {bench.get('name', '?')}")
        if record is not None:
            records.append(record)
    machine = (document.get("machine_info") or {}).get("finetune") or {}
    versions = machine.get("versions") or {}
    cpu = ((machine.get("hardware") or {}).get("fingerprint") or {}).get("cpu")
    return Night(path.stem, fingerprint, str(ours.get("when", "")), str(ours.get("revision", "unknown")), versions,
                 tuple(records), path, cpu)


# --- series ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    night: int  # index into the fingerprint's nights
    value: float
    gate: str | None = None  # the night's gate outcome of this figure, where it had one
    blocks_ms: list | None = None  # a gated step time's passes per process (the history's baseline sessions)


@dataclass
class Series:
    key: str  # the baseline key of the record (bench.store.baselines), with the seed for fine-tunes
    figure: str  # step_time_ms, fit_ms_per_step, a GLUE metric, peak_rss_mb, peak_gpu_memory_mb
    points: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.key} {self.figure}"

    def values(self) -> list[float]:
        return [p.value for p in self.points]


def step_key_of(record: contract.StepTime) -> str | None:
    """The baseline key of a gated step time's record (None when it kept no blocks)."""
    if not record.blocks_ms or not record.steps_timed:
        return None
    passes = len(record.blocks_ms[0])
    batches = round(record.steps_timed / sum(map(len, record.blocks_ms)))
    return baselines.step_key(record.task, record.device, record.batch_size, passes, batches, len(record.blocks_ms),
                          record.engine)


def session_ms(blocks_ms: list) -> float:
    """A session's step time as the gate sees it (bench.judge.blocks.session_value), in ms."""
    return math.exp(blocks.session_value(blocks_ms))


def figures_of(record) -> list[tuple[str, str, float, str | None, list | None]]:
    """(key, figure, value, gate outcome, blocks) of each figure a record carries into the history."""
    gate = record.gate or {}
    memory = [(name, getattr(record, name)) for name in ("peak_rss_mb", "peak_gpu_memory_mb")
              if getattr(record, name, None)]
    if type(record) is contract.StepTime:
        key = step_key_of(record)
        if key is None:
            return []
        found = [(key, "step_time_ms", session_ms(record.blocks_ms), gate.get("step_time_ms"), record.blocks_ms)]
        reference = record.reference or {}
        if reference.get("blocks_ms") and reference.get("commit"):  # --reference: the drift-free ratio's series
            from bench.timing.reference_revision import paired

            ratio = paired(record.blocks_ms, reference["blocks_ms"])[0]
            found.append((f"{key}/reference={reference['commit']}", REFERENCE_FIGURE, ratio, None, None))
        return found + [(key, name, value, None, None) for name, value in memory]
    if type(record) in (contract.Quality, contract.VariantQuality):
        loss, optimizer = record.loss, record.optimizer
        key = baselines.quality_key(record.task, loss, optimizer, record.epochs, record.max_train_samples,
                                record.batch_size, record.engine)
        if type(record) is contract.VariantQuality:
            key += f"/variant={record.variant}"
        key += f"/seed={record.seed}"
        scores = record.scores or {"accuracy": record.accuracy, "f1": record.f1}
        found = [(key, "fit_ms_per_step", record.step_time_ms, None, None)] if record.step_time_ms else []
        found += [(key, name, value, gate.get(name), None) for name, value in scores.items() if value is not None]
        return found + [(key, name, value, None, None) for name, value in memory]
    return []


def on_its_cpu(key: str, night: Night) -> str:
    """A CPU step time's series key on a GPU runner: with its CPU's fingerprint (`.../cpu=<fingerprint>`), since
    the nights are kept under the GPU's fingerprint and hosts with the same GPUs may have other CPUs."""
    if baselines.device_of_key(key) != "cpu" or not night.cpu_fingerprint or night.cpu_fingerprint == night.fingerprint:
        return key
    return f"{key}/cpu={night.cpu_fingerprint}"


def series(nights: list[Night]) -> list[Series]:
    """Every figure's series over `nights` (oldest first), by key and figure."""
    found: dict = {}
    for index, night in enumerate(nights):
        for record in night.records:
            for key, figure, value, gate, blocks_ms in figures_of(record):
                key = on_its_cpu(key, night)
                entry_ = found.setdefault((key, figure), Series(key, figure))
                entry_.points.append(Point(index, float(value), gate, blocks_ms))
    return [found[k] for k in sorted(found)]


def verdict_index(directory: Path, fingerprint: str) -> dict:
    """{night: [paths of the verdicts beside it]}, the folder read once."""
    found: dict = {}
    for path in sorted((Path(directory) / fingerprint).glob("*.*-*.json")):
        if not NIGHT.match(path.name):
            found.setdefault(path.name.split(".", 1)[0], []).append(path)
    return found


def verdicts(directory: Path, fingerprint: str, night: str, paths: list | None = None) -> list[dict]:
    """The verdicts stored beside a night (bench.history confirm, bisect, ack), oldest first (`paths`: from
    verdict_index, instead of reading the folder). A file that is not a whole verdict comes back as
    {"file", "problem": one line naming it and what is wrong}: it must be reported, and judges nothing (an
    interrupted copy would otherwise silence the change it sits beside)."""
    found = []
    for path in (sorted((Path(directory) / fingerprint).glob(f"{night}.*-*.json")) if paths is None else paths):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            found.append({"file": path.name, "problem": f"{path}: a verdict that cannot be read "
                                                        f"({err.__class__.__name__}): it judges nothing"})
            continue
        except json.JSONDecodeError as err:
            found.append({"file": path.name, "problem": f"{path}: a verdict that is not JSON, truncated? ({err.msg}, "
                                                        f"line {err.lineno}): it judges nothing; remove it and "
                                                        "judge the change again (confirm or ack)"})
            continue
        problem = verdict_problem(document)
        found.append({**document, "file": path.name} if problem is None else
                     {"file": path.name, "problem": f"{path}: {problem}: it judges nothing; remove it and judge the "
                                                    "change again (confirm or ack)"})
    return found


# What each kind of verdict must hold to judge a change: a field missing means a file this suite did not write whole.
VERDICT_FIELDS = {
    "ab": "a bench.ab decision (verdict.slower: true or false)",
    "bisect": "a bisection's result (first_slow, described)",
    "ack": "an acknowledgement (series, by, reason)",
}


def verdict_problem(document) -> str | None:
    """What keeps a parsed verdict file from judging a change (None: nothing). Checked on read, not trusted from
    the file name, since any file beside a night with a dash in its name is taken for a verdict."""
    if not isinstance(document, dict):
        return "not a verdict (not a JSON object)"
    what = document.get("what")
    if what not in VERDICT_FIELDS:
        return f"not a verdict this suite writes (what = {what!r}; one of {', '.join(VERDICT_FIELDS)})"
    verdict = document.get("verdict")
    whole = {
        "ab": isinstance(verdict, dict) and isinstance(verdict.get("slower"), bool),
        "bisect": "first_slow" in document and isinstance(document.get("described"), str),
        "ack": all(isinstance(document.get(name), str) and document[name].strip()
                   for name in ("series", "by", "reason")),
    }[what]
    return None if whole else f"a {what} verdict without {VERDICT_FIELDS[what]}"


def write_verdict(directory: Path, fingerprint: str, night: str, what: str, document: dict) -> Path:
    """A verdict beside its night, under a new name (never over an earlier verdict)."""
    now = _dt.datetime.now(_dt.timezone.utc)
    wrapped = {"night": night, "what": what, "when": now.isoformat(timespec="seconds"), **document}
    return append_named(Path(directory) / fingerprint, f"{night}.{what}-{stamp(now)}", wrapped)


def append_named(folder: Path, stem: str, document: dict) -> Path:
    """`document` as folder/<stem>.json, or <stem>.<n>.json where that name is taken: written beside its name and
    linked into place, so it is whole or absent, and no file is ever replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".verdict-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
            out.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep the nights from the runner's other users
        for attempt in range(100):
            path = folder / (f"{stem}.json" if attempt == 0 else f"{stem}.{attempt}.json")
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                continue
        raise FinetuneError(f"{folder}: no free name for {stem}")
    finally:
        os.unlink(tmp)
