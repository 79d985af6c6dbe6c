"""The benchmark suite's pytest-benchmark JSON files: loaded, checked, and compared with each other.

Each file is pytest-benchmark's (`pytest bench/ --benchmark-json=PATH`) with this suite's additions:
machine_info["finetune"] (versions, hardware, hardware_key; see conftest.py) and each benchmark's
extra_info, one record of bench.store.contract (read back typed, files of older schemas migrated). Imports neither
TensorFlow nor transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.store import contract
from finetune import environment
from finetune.errors import FinetuneError

COMPARED_CONFIG = ("model", "tier", "epochs")  # what must match for figures across files to be like for like


@dataclass(frozen=True)
class Run:
    """One input file."""

    name: str  # the file name as rows and messages show it; the path given when two files share a name
    when: str
    commit: str
    versions: dict  # empty when machine_info has no "finetune" entry
    hardware: dict | None
    hardware_key: str
    benchmarks: list
    calibration: dict | None = None  # the session's calibration matmul (finetune.calibration), where recorded
    records: tuple = ()  # bench.store.contract records, one per benchmark of a known kind, in file order
    stats: tuple = ()  # pytest-benchmark's stats of each record's benchmark (min, max, mean, rounds), aligned

    def described(self) -> str:
        """The machine in words (files from before fingerprints: its model name and core count)."""
        hardware = self.hardware or {}
        kind = "gpu" if self.hardware_key.startswith("gpu") else "cpu"
        return ((hardware.get("described") or {}).get(kind)
                or f"{hardware.get('cpu', '?')}, {hardware.get('cpu_count', '?')} cores")


def load_runs(paths: list[Path]) -> list[Run]:
    names = [path.name for path in paths]
    unique = len(set(names)) == len(names)
    return [load_run(path, path.name if unique else str(path)) for path in paths]


def load_run(path: Path, name: str) -> Run:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FinetuneError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise FinetuneError(f"{path}: cannot be read ({err.__class__.__name__})") from None
    except json.JSONDecodeError as err:
        raise FinetuneError(f"{path}: not JSON ({err.msg}, line {err.lineno})") from None
    if not (isinstance(document, dict) and isinstance(document.get("benchmarks"), list)
            and isinstance(document.get("machine_info"), dict)):
        raise FinetuneError(f"{path}: not a pytest-benchmark JSON file (no 'machine_info' and 'benchmarks' list); "
                            "write one with pytest bench/ --benchmark-json=PATH")
    for bench in document["benchmarks"]:
        if not (isinstance(bench, dict) and isinstance(bench.get("extra_info"), dict)
                and isinstance(bench.get("stats"), dict)):
            raise FinetuneError(f"{path}: a benchmark has no 'stats' or 'extra_info': not pytest-benchmark's format")
    ours = document["machine_info"].get("finetune") or {}
    commit = document.get("commit_info") or {}
    read = [(contract.read(bench["extra_info"], f"{name}: benchmark {bench.get('name', '?')}"), bench["stats"])
            for bench in document["benchmarks"]]
    read = [(record, stats) for record, stats in read if record is not None]
    return Run(name=name, when=str(document.get("datetime", "unknown date"))[:19],
               commit=str(commit.get("id", "unknown"))[:10] + (" (dirty)" if commit.get("dirty") else ""),
               versions=ours.get("versions") or {}, hardware=ours.get("hardware"),
               hardware_key=ours.get("hardware_key", "unknown-hardware"), benchmarks=document["benchmarks"],
               calibration=ours.get("calibration"),
               records=tuple(record for record, _ in read), stats=tuple(stats for _, stats in read))


def records(run: Run, *kinds) -> list:
    """The run's records of these kinds (bench.store.contract classes), in file order."""
    return [record for record in run.records if type(record) in kinds]


def hardware_of(run: Run, device: str) -> str:
    """A CPU row measured on a GPU host belongs to the CPU: the same key the baselines use."""
    try:
        return environment.key_for(run.hardware, device)
    except (KeyError, TypeError):  # no or partial hardware record: the file's own key is all there is
        return run.hardware_key


def differences(runs: list[Run]) -> list[str]:
    """Markdown lines naming every library version and configuration value that differs between files."""
    if len(runs) < 2:
        return ["One input file: nothing to compare."]
    lines = [f"- {run.name} records no library versions (its machine_info has no 'finetune' entry)"
             for run in runs if not run.versions]
    recorded = [run for run in runs if run.versions]
    for library in sorted({name for run in recorded for name in run.versions}):
        values = {run.name: str(run.versions.get(library, "not installed")) for run in recorded}
        if len(set(values.values())) > 1:
            lines.append(f"- {library} version: " + ", ".join(f"{n} {v}" for n, v in values.items()))
    for field in COMPARED_CONFIG:
        values = {run.name: ", ".join(sorted({str(getattr(r, field)) for r in run.records
                                             if getattr(r, field, None) is not None})) or "not recorded"
                  for run in runs}
        if len(set(values.values())) > 1:
            lines.append(f"- {field}: " + ", ".join(f"{n} {v}" for n, v in values.items()))
    if not lines:
        return [f"All {len(runs)} files were measured with the same library versions and the same "
                f"{', '.join(COMPARED_CONFIG)}."]
    return ["The input files differ in these library versions or configurations, so their figures are not "
            "like for like:", "", *lines]
