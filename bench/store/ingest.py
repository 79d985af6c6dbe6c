"""Add fine-tunes measured with the CLI (`python -m finetune --json`) to the stored baselines.

    python -m bench.ingest out/runs/*.json [out/bench.json]

Accepts the CLI's result files and pytest-benchmark JSON files (their quality benchmarks).

For long measurements run outside pytest (e.g. many seeds in parallel sessions). Each result carries
its configuration, versions and hardware; the command that made it is rebuilt from its configuration.
Figures are grouped by model x hardware x variant. A stored group measured with the same library versions
keeps its other seeds (a new run of a stored seed replaces it); with other versions, or with --replace, the
new runs replace the group. Each file is written atomically. A session run with --plant-slowdown (its records'
planted_slowdown) is refused, as is a performance variant's run: baselines hold the course's measurements only.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path

from bench.store import contract
from bench.store import baselines
from bench.store.baselines import BASELINE_DIR, quality_groups
from finetune import environment
from finetune.perf import PerfConfig


def engine_flags(config: dict) -> list[str]:
    """The flags that chose the result's engine (finetune.engines.Engine.flags: none for the default engine, and for
    results from before engines, which have no engine)."""
    if not config.get("engine"):
        return []
    from finetune import engines

    return engines.get(config["engine"], config.get("backend")).flags()


def command_of(config: dict, seeds: list) -> str:
    train = f" --max-train-samples {config['max_train_samples']}" if config["max_train_samples"] else ""
    return (f"GLUE_DIR=../shared/data/glue python -m finetune --task {config.get('task') or 'mrpc'} "
            f"--model {config['model']}"
            + "".join(f" {flag}" for flag in engine_flags(config))
            + f" --loss {config['loss']} "
            f"--optimizer {config['optimizer']} --epochs {config['epochs']} --batch-size {config['batch_size']}"
            f"{train} --seed {{{','.join(map(str, seeds))}}} --json RESULT.json")


def commands_of(runs: list[dict]) -> str:
    """What made the runs: the CLI command over the seeds it ran, then each pytest-benchmark file's, with its seeds."""
    by_command: dict = {}
    for run in runs:
        by_command.setdefault(run.get("command"), []).append(run["config"]["seed"])
    cli = by_command.pop(None, None)
    return "; ".join(([command_of(runs[0]["config"], sorted(cli))] if cli else [])
                     + [f"{command} (seeds {sorted(seeds)})" for command, seeds in by_command.items()])


COURSE_PERF = dataclasses.asdict(PerfConfig())
CONFIG_FIELDS = ("task", "model", "loss", "optimizer", "epochs", "batch_size", "max_train_samples", "seed")


def results_in(path: Path) -> list[dict]:
    """The fine-tune results a file holds: one CLI result, or a pytest-benchmark run's quality benchmarks."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if "benchmarks" not in document:
        return [document]
    machine = document["machine_info"]["finetune"]
    found = [contract.read(b["extra_info"], f"{path}: benchmark {b.get('name', '?')}") for b in document["benchmarks"]]
    refuse_planted(path, found)
    return [
        {"config": {name: getattr(r, name) for name in CONFIG_FIELDS}, "accuracy": r.accuracy, "f1": r.f1,
         "scores": r.scores, "collapsed": r.collapsed, "versions": machine["versions"], "hardware": machine["hardware"],
         "calibration": machine.get("calibration"),
         "measured_at": document["datetime"], "command": f"pytest bench/ --benchmark-json={path.name}"}
        for r in found if type(r) is contract.Quality
    ]


def refuse_planted(path: Path, records: list) -> None:
    """A session run with --plant-slowdown (a test hook) is no measurement: its file is refused whole, in one line,
    before anything is written (its fine-tunes slept too, and a planted file may hold what else the hook changes)."""
    planted = sorted({r.planted_slowdown for r in records if r is not None and r.planted_slowdown})
    if planted:
        raise SystemExit(f"error: {path} was run with --plant-slowdown {planted[0]:g} (planted_slowdown in its "
                         "records), a test hook that slows every timed step: baselines hold measurements only: "
                         "ingest a session run without --plant-slowdown")


def stored_runs(group: dict | None, versions: dict, new_seeds: set) -> list[dict]:
    """The stored group's runs to keep beside new ones: those of other seeds, if measured with `versions`."""
    if not group or group.get("provenance", {}).get("versions") != versions:
        return []
    seeds = group["provenance"]["seeds"]
    names = [name for name, figure in group.items() if isinstance(figure, dict) and "values" in figure]
    return [{"config": {"seed": seed}, "scores": {name: group[name]["values"][i] for name in names},
             "collapsed": group["collapsed"][i]}
            for i, seed in enumerate(seeds) if seed not in new_seeds]


def ingest(paths: list[Path], directory: Path = BASELINE_DIR, replace: bool = False) -> list[str]:
    by_file: dict = {}
    for result, path in ((r, p) for p in paths for r in results_in(p)):
        perf = result["config"].get("perf")
        if perf and perf != COURSE_PERF:
            raise SystemExit(f"error: {path} was measured with performance variant {perf}; baselines hold the "
                             "course's configuration only: ingest runs made without --perf/--padding/--precision")
        result.setdefault("measured_at", dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
                          .isoformat(timespec="seconds"))
        target = baselines.path_for(directory, result["config"]["model"], environment.key_for(result["hardware"]))
        by_file.setdefault(target, []).append(result)
    written = []
    for target, results in by_file.items():
        first = results[0]
        groups = {}
        stored = baselines.load(target)
        for variant in {command_of(r["config"], []) for r in results}:
            runs = {r["config"]["seed"]: r for r in results if command_of(r["config"], []) == variant}
            runs = list(runs.values())  # a seed given twice (runs are deterministic per seed): the last one
            provenance = {"versions": runs[0]["versions"], "hardware": runs[0]["hardware"],
                          "measured_at": sorted(r["measured_at"] for r in runs),
                          "calibration": [r.get("calibration") for r in runs]}  # None: a result from before it
            (key, group), = quality_groups(runs, provenance).items()
            previous = None if replace else (stored or {}).get("figures", {}).get(key)
            kept = stored_runs(previous, runs[0]["versions"], {r["config"]["seed"] for r in runs})
            command = commands_of(runs)
            if kept:
                (key, group), = quality_groups(runs + [{**k, "config": {**runs[0]["config"], **k["config"]}}
                                                       for k in kept], provenance).items()
                earlier = previous["provenance"]
                provenance["measured_at"] = sorted(set(provenance["measured_at"] + earlier.get("measured_at", [])))
                command = f"{command}; kept seeds {[k['config']['seed'] for k in kept]} of: {earlier['command']}"
            group["provenance"]["command"] = command
            groups[key] = group
        header = {"model": first["config"]["model"], "hardware_key": target.stem.split("__")[1],
                  "hardware": first["hardware"]}
        baselines.write_atomic(target, baselines.merged(stored, header, groups))
        written.append(f"{target}: {', '.join(groups)}")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--replace", action="store_true",
                        help="replace each stored group with these runs instead of adding to it")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.results if not p.is_file()]
    if missing:
        print(f"error: no such result file: {', '.join(missing)}", file=sys.stderr)
        return 2
    for line in ingest(args.results, replace=args.replace):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
