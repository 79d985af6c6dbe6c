"""Each runner judged against its own nights: the series of every figure in a history folder, their change points,
and the verdicts stored beside the nights.

    python -m bench.history [list] DIR [--fingerprint FP] [--figure TEXT] [--charts OUT] [--json OUT] [--fail-on-new]
    python -m bench.history confirm DIR [--fingerprint FP] [A/B options]   # A/B each unjudged step-time slowdown
    python -m bench.history bisect --good REV --bad REV [--night DIR/FP/NIGHT.json] [A/B options]

DIR holds the nights `pytest bench/ --history DIR` appends (bench/nights.py). `list` prints, per fingerprint, each
figure's series (the gated step time, ms/step over whole epochs, each GLUE metric, peak memory) and its change
points (bench/changes.py): the first night of each, its size with an interval, the revision range, the library
versions that changed, and the verdicts stored beside it. `--charts` draws a PNG per figure with its change points
(bench/trend.py). `--fail-on-new` exits 1 while a change for the worse in the newest nights has no verdict. `confirm` re-measures a suspected step-time slowdown with the A/B mode (bench.ab) between the revisions on
either side of its change point, on this machine, and stores the verdict beside the night; `bisect` narrows a
revision range to the first slow commit, one A/B decision per step (bench/bisection.py). Listing imports neither
TensorFlow nor transformers. Exit status: 0; 1 a new or confirmed slowdown (--fail-on-new, confirm) or a slow
commit found (bisect); 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bench import changes, nights, store
from finetune.errors import FinetuneError

COMMANDS = ("list", "confirm", "bisect")  # the first word of the command line; none: list


def analysed(directory: Path, fingerprint: str, problems: list | None = None) -> tuple[list, list]:
    """(the fingerprint's nights, [(Series, [Change])]) with every series' change points."""
    found = nights.load(directory, fingerprint, problems)
    return found, [(s, changes.detect(s.values(), changes.rule_for(s.figure))) for s in nights.series(found)]


def baseline_group(directory: Path, fingerprint: str, key: str, versions: dict) -> tuple[dict | None, str]:
    """A step-time group (bench.verdicts.check_blocks's) of this runner's nights of `key`: those with these library
    versions whose own gate did not fail, after the last change point of their series, the most recent
    store.MAX_SESSIONS of them; (None, why) with fewer than store.MIN_SESSIONS."""
    all_nights = nights.load(directory, fingerprint)
    like = [p for s in nights.series(all_nights) if s.key == key and s.figure == "step_time_ms" for p in s.points
            if p.blocks_ms and p.gate != "failed" and all_nights[p.night].versions == versions]
    found = changes.detect([p.value for p in like], changes.RULES["step_time_ms"])
    if found:
        like = like[found[-1].index:]  # the level since the last change
    like = like[-store.MAX_SESSIONS:]
    if len(like) < store.MIN_SESSIONS:
        return None, (f"this runner's history ({directory}) holds {len(like)} night(s) of {key} with these library "
                      f"versions since its last change: the gate from nights needs {store.MIN_SESSIONS}")
    dates = [all_nights[p.night].date for p in like]
    described = (f"{len(like)} nights on {len(set(dates))} date(s), {dates[0]} to {dates[-1]}"
                 + (f", since the change at {all_nights[like[0].night].name}" if found else ""))
    return {"sessions_ms": [p.blocks_ms for p in like], "session_dates": dates,
            "provenance": {"described": described, "nights": [all_nights[p.night].name for p in like]}}, ""


def revision_range(found: list, change: changes.Change, points: list) -> tuple[nights.Night, nights.Night]:
    """The nights on either side of a change: the last that is surely of the old level and the last that may be
    the first of the new (the change's span of likely first nights: bisect searches between their revisions)."""
    first = change.first if change.first >= 0 else change.index
    last = change.last if change.last >= 0 else change.index
    return found[points[first - 1].night], found[points[last].night]


def versions_changed(before: nights.Night, after: nights.Night) -> str:
    moved = [f"{name} {before.versions.get(name, '-')} -> {after.versions.get(name, '-')}"
             for name in sorted(set(before.versions) | set(after.versions))
             if before.versions.get(name) != after.versions.get(name)]
    return ", ".join(moved)


def change_entry(directory, fingerprint, found, s, change) -> dict:
    before, after = revision_range(found, change, s.points)
    night = found[s.points[change.index].night]  # the likeliest first night: verdicts are stored beside it
    return {"series": s.name, "first_night": night.name, "when": night.when, "describe": change.describe(),
            "effect": change.effect, "low": change.low, "high": change.high, "p": change.p, "worse": change.worse,
            "revisions": [before.revision, after.revision], "versions_changed": versions_changed(before, after),
            "verdicts": nights.verdicts(directory, fingerprint, night.name)}


def listing(directory: Path, fingerprint: str, figure: str | None, problems: list) -> tuple[list[str], dict]:
    found, analysed_ = analysed(directory, fingerprint, problems)
    dates = sorted({n.date for n in found})
    lines = [f"{fingerprint}: {len(found)} night(s) on {len(dates)} date(s)"
             + (f", {found[0].when} to {found[-1].when}; revisions {found[0].revision} .. {found[-1].revision}"
                if found else "")]
    document = {"fingerprint": fingerprint, "nights": [n.name for n in found], "dates": dates, "series": []}
    for s, found_changes in analysed_:
        if figure and figure not in s.name:
            continue
        rule = changes.rule_for(s.figure)
        last = s.points[-1].value
        lines.append(f"  {s.name}: {len(s.points)} night(s), last {last:.4g}{' ' + rule.unit if rule.unit else ''}; "
                     f"{len(found_changes) or 'no'} change(s)")
        entries = [change_entry(directory, fingerprint, found, s, c) for c in found_changes]
        for e in entries:
            judged = "; ".join(verdict_text(v) for v in e["verdicts"]) or "no verdict yet"
            moved = f"; versions changed: {e['versions_changed']}" if e["versions_changed"] else ""
            lines.append(f"    change at {e['first_night']} ({e['when']}): {e['describe']}; revisions "
                         f"{e['revisions'][0]} .. {e['revisions'][1]}{moved}; {judged}")
        document["series"].append({"key": s.key, "figure": s.figure, "values": s.values(),
                                   "nights": [found[p.night].name for p in s.points], "changes": entries})
    shown = {found[s.points[c.index].night].name for s, cs in analysed_ for c in cs}  # every series', filtered or not
    beside = nights.verdict_index(directory, fingerprint)
    for night in found:  # verdicts of a range someone bisected by hand, or of a change no longer detected
        paths = [] if night.name in shown else beside.get(night.name, [])
        for verdict in (nights.verdicts(directory, fingerprint, night.name, paths) if paths else []):
            lines.append(f"  verdict beside {night.name} (no change point there): {verdict_text(verdict)}")
    return lines, document


def verdict_text(verdict: dict) -> str:
    if verdict.get("unreadable"):
        return f"{verdict['file']}: unreadable"
    if verdict.get("what") == "bisect":
        return f"bisected to {verdict.get('first_slow') or 'no slow commit'} ({verdict['file']})"
    return f"A/B {verdict.get('described', '?')} ({verdict['file']})"


def new_changes(directory: Path, fingerprint: str) -> list[str]:
    """Changes for the worse that no stored verdict has judged and whose first night is among the series' newest
    changes.FORE nights (an older one is listed, and no longer fails a night)."""
    found, analysed_ = analysed(directory, fingerprint)
    out = []
    for s, found_changes in analysed_:
        for c in found_changes:
            after = found[s.points[c.index].night]
            if c.worse and c.index >= len(s.points) - changes.FORE \
                    and not nights.verdicts(directory, fingerprint, after.name):
                out.append(f"{fingerprint}: {s.name}: NEW change at {after.name}: {c.describe()}: confirm it with "
                           f"python -m bench.history confirm {directory}")
    return out


def parse_args(argv: list[str]):
    argv = list(argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "list"
    parser = argparse.ArgumentParser(prog=f"python -m bench.history {command}", description=__doc__.splitlines()[0])
    if command != "bisect":
        parser.add_argument("directory", type=Path, nargs="?",
                            default=Path(os.environ.get("FINETUNE_HISTORY", "history")),
                            help="the history folder (default: $FINETUNE_HISTORY, else ./history)")
        parser.add_argument("--fingerprint", default=None, help="only this machine's nights")
    if command == "list":
        parser.add_argument("--figure", default=None, help="only series whose name contains this")
        parser.add_argument("--charts", type=Path, default=None, help="draw a PNG per series here")
        parser.add_argument("--json", type=Path, default=None, help="write the series and changes here")
        parser.add_argument("--fail-on-new", action="store_true",
                            help="exit 1 while a change for the worse among the newest nights has no verdict")
    else:
        from bench import bisection

        bisection.add_arguments(parser, command)
    args = parser.parse_args(argv)
    args.command = command
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "bisect":
            from bench import bisection

            return bisection.run_bisect(args)
        if not args.directory.is_dir():
            raise FinetuneError(f"{args.directory}: no such history folder: write nights with pytest bench/ "
                                f"--history {args.directory}")
        prints = [args.fingerprint] if args.fingerprint else nights.fingerprints(args.directory)
        if args.fingerprint and args.fingerprint not in nights.fingerprints(args.directory):
            raise FinetuneError(f"{args.directory}: no nights of {args.fingerprint}; it has: "
                                f"{', '.join(nights.fingerprints(args.directory)) or 'none'}")
        if args.command == "confirm":
            return max([confirm(args, fp) for fp in prints] or [0])
        return list_command(args, prints)
    except FinetuneError as err:
        print(f"bench.history: {err}", file=sys.stderr)
        return 2


# The series confirm A/B-tests: the gated step time, and its ratio to a pinned --reference (bench/reference.py). A
# night flagged in both is A/B-tested once (the first verdict beside it judges it).
STEP_FIGURES = ("step_time_ms", nights.REFERENCE_FIGURE)


def confirm(args, fingerprint: str) -> int:
    """A/B every unjudged slowdown of the gated step-time series (and of its ratio to a reference); 1 if one is
    confirmed."""
    from bench.bisection import bisect, decide

    found, analysed_ = analysed(args.directory, fingerprint)
    status = 0
    for s, found_changes in analysed_:
        if s.figure not in STEP_FIGURES:
            continue
        for change in found_changes:
            before, after = revision_range(found, change, s.points)
            night = found[s.points[change.index].night].name  # the likeliest first night: the verdict's place
            if not change.worse or nights.verdicts(args.directory, fingerprint, night):
                continue
            if before.commit is None or after.commit is None:
                print(f"bench.history: {s.name}: change at {night}: cannot A/B revisions {before.revision} .. "
                      f"{after.revision} (a dirty tree or no git): re-run those nights from commits", file=sys.stderr)
                continue
            model = next((r.model for r in after.records), None)
            result = decide(args, before.commit, after.commit, model)
            document = {"series": s.name, "change": change.describe(), "good": before.commit, "bad": after.commit,
                        "described": result["described"], "verdict": result["verdict"], "ab": result}
            path = nights.write_verdict(args.directory, fingerprint, night, "ab", document)
            print(f"bench.history: verdict stored beside the night: {path}")
            status = max(status, 1 if result["verdict"]["slower"] else 0)
            if result["verdict"]["slower"] and getattr(args, "bisect", False):
                narrowed = bisect(args, before.commit, after.commit, known_end=result, model=model)
                path = nights.write_verdict(args.directory, fingerprint, night, "bisect", narrowed)
                print(f"bench.history bisect: {narrowed['described']}; stored beside the night: {path}")
    if status == 0:
        print(f"bench.history: {fingerprint}: no unjudged step-time slowdown left" if not any(
            c.worse for s, cs in analysed_ if s.figure in STEP_FIGURES for c in cs) else
            f"bench.history: {fingerprint}: every step-time slowdown has a verdict")
    return status


def list_command(args, prints: list[str]) -> int:
    documents, status = [], 0
    for fp in prints:
        problems: list = []
        lines, document = listing(args.directory, fp, args.figure, problems)
        for problem in problems:
            print(f"bench.history: {problem}", file=sys.stderr)
        print("\n".join(lines))
        documents.append(document)
        if args.charts:
            from bench import trend

            for path in trend.draw(document, args.charts):
                print(f"  chart: {path}")
        if args.fail_on_new:
            for line in new_changes(args.directory, fp):
                print(line)
                status = 1
    if not prints:
        print(f"{args.directory}: no nights yet (pytest bench/ --history {args.directory} writes one per session)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"fingerprints": documents}, indent=1) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
