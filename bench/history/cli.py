"""Each runner judged against its own nights: the series of every figure in a history folder, their change points,
and the verdicts stored beside the nights.

    python -m bench.history [list] DIR [--fingerprint FP] [--figure TEXT] [--charts OUT] [--json OUT] [--fail-on-new]
    python -m bench.history confirm DIR [--fingerprint FP] [A/B options]   # A/B each unjudged step-time slowdown
    python -m bench.history bisect --good REV --bad REV [--night DIR/FP/NIGHT.json] [A/B options]
    python -m bench.history ack DIR [--fingerprint FP] --figure SERIES (--night NIGHT | --revision REV) --reason WHY
    python -m bench.history publish DIR [RESULT.json ...] --out SITE    # the static site (bench/history/site/)

DIR holds the nights `pytest bench/ --history DIR` appends (bench/history/nights.py). `list` prints, per fingerprint, each
figure's series (the gated step time, ms/step over whole epochs, each GLUE metric, peak memory) and its change
points (bench/judge/changes.py): the first night of each, its size with an interval, the revision range, the library
versions that changed, and the verdicts stored beside it. `--charts` draws a PNG per figure with its change points
(bench/history/trend.py). `--fail-on-new` exits 1 while any change for the worse (step time, score, memory; however old)
has no verdict that judges it. `confirm` re-measures a suspected step-time slowdown with the A/B mode (bench.ab)
between the revisions on either side of its change point, on this machine, and stores the verdict beside the
night; `bisect` narrows a revision range to the first slow commit, one A/B decision per step (bench/history/bisection.py);
`ack` stores beside the night that someone looked at one change of one series and accepts it (who, when, why);
`publish` writes every runner's series, status and hardware as a static site (bench/history/site/publish.py).
What judges a change: a whole A/B or bisect verdict beside its night (step-time series only: that is what the A/B
mode measures), or an ack naming its series. A verdict file that cannot be read is reported in one line and
judges nothing. Listing imports neither TensorFlow nor transformers. Exit status: 0; 1 an unjudged change for the
worse (--fail-on-new), a confirmed slowdown (confirm) or a slow commit found (bisect); 2 bad input.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import sys
from pathlib import Path

from bench.judge import changes, series
from bench.history import nights
from bench.store import baselines
from finetune.errors import FinetuneError

# the first word of the command line; none: list. `publish` (bench/history/site/publish.py) is routed by __main__.py:
# the site reads the history through this module's functions, so this module must not import it
COMMANDS = ("list", "confirm", "bisect", "ack")


def analysed(directory: Path, fingerprint: str, problems: list | None = None) -> tuple[list, list]:
    """(the fingerprint's nights, [(Series, [Change])]) with every series' change points."""
    found = nights.load(directory, fingerprint, problems)
    return found, [(s, changes.detect(s.values(), changes.rule_for(s.figure))) for s in nights.series(found)]


def baseline_group(directory: Path, fingerprint: str, key: str, versions: dict) -> tuple[dict | None, str]:
    """A step-time group (bench.judge.verdicts.check_blocks's) of this runner's nights of `key`: those with the library
    versions of `versions` (the session's engine's, engine.versions()) whose own gate did not fail, after the last
    change point of their series, the most recent baselines.MAX_SESSIONS of them; (None, why) with fewer than
    baselines.MIN_SESSIONS."""
    all_nights = nights.load(directory, fingerprint)
    like, found, of_key = gating_points(all_nights, key, versions)
    if len(like) < baselines.MIN_SESSIONS:
        other = [all_nights[p.night] for p in of_key if not series.same_versions(all_nights[p.night].versions, versions)]
        recorded = {name: other[-1].versions.get(name, "not recorded") for name in versions} if other else {}
        moved = f" ({len(other)} more with other versions: {versions_moved(recorded, versions)})" if other else ""
        return None, (f"this runner's history ({directory}) holds {len(like)} night(s) of {key} with these library "
                      f"versions since its last change{moved}: the gate from nights needs {baselines.MIN_SESSIONS}")
    dates = [all_nights[p.night].date for p in like]
    described = (f"{len(like)} nights on {len(set(dates))} date(s), {dates[0]} to {dates[-1]}"
                 + (f", since the change at {all_nights[like[0].night].name}" if found else ""))
    return {"sessions_ms": [p.blocks_ms for p in like], "session_dates": dates,
            "provenance": {"described": described, "nights": [all_nights[p.night].name for p in like]}}, ""


def gating_points(all_nights: list, key: str, versions: dict) -> tuple[list, list, list]:
    """(the points of `key`'s step-time series that form its gate from nights, the change points found among those
    of `versions`, every point that could: a night that kept its blocks and whose own gate did not fail)."""
    of_key = [p for s in nights.series(all_nights) if s.key == key and s.figure == "step_time_ms" for p in s.points
              if p.blocks_ms and p.gate != "failed"]
    like, found = series.baseline_nights(of_key, lambda p: all_nights[p.night].versions, versions)
    return like, found, of_key


def revision_range(found: list, change: changes.Change, points: list) -> tuple[nights.Night, nights.Night]:
    """The nights on either side of a change: the last that is surely of the old level and the last that may be
    the first of the new (the change's span of likely first nights: bisect searches between their revisions)."""
    first = change.first if change.first >= 0 else change.index
    last = change.last if change.last >= 0 else change.index
    return found[points[first - 1].night], found[points[last].night]


def versions_changed(before: nights.Night, after: nights.Night) -> str:
    return versions_moved(before.versions, after.versions)


def versions_moved(before: dict, after: dict) -> str:
    """The libraries whose versions differ, "name old -> new" ("-": not recorded)."""
    moved = [f"{name} {before.get(name, '-')} -> {after.get(name, '-')}"
             for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]
    return ", ".join(moved)


def about(verdicts: list, s: nights.Series) -> list:
    """The verdicts beside a night that concern a series' change there: those that judge it, and the files that
    could not be read (they may have been meant for it)."""
    return [v for v in verdicts if "problem" in v or series.judges(v, s.figure, s.name)]


def night_verdicts(directory: Path, fingerprint: str) -> tuple[dict, list[str]]:
    """({night: [its verdicts]}, [one line per verdict file that judges nothing]): the folder read once."""
    stored = {night: nights.verdicts(directory, fingerprint, night, paths)
              for night, paths in nights.verdict_index(directory, fingerprint).items()}
    return stored, [v["problem"] for found in stored.values() for v in found if "problem" in v]


def change_entry(found, s, change, stored: dict) -> dict:
    before, after = revision_range(found, change, s.points)
    night = found[s.points[change.index].night]  # the likeliest first night: verdicts are stored beside it
    verdicts_ = about(stored.get(night.name, []), s)
    return {"series": s.name, "first_night": night.name, "when": night.when, "describe": change.describe(),
            "effect": change.effect, "low": change.low, "high": change.high, "p": change.p, "worse": change.worse,
            "revisions": [before.revision, after.revision], "versions_changed": versions_changed(before, after),
            "verdicts": verdicts_, "judged": any(series.judges(v, s.figure, s.name) for v in verdicts_)}


def listing(directory: Path, fingerprint: str, figure: str | None, problems: list) -> tuple[list[str], dict]:
    found, analysed_ = analysed(directory, fingerprint, problems)
    stored, unreadable = night_verdicts(directory, fingerprint)
    problems.extend(unreadable)
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
        entries = [change_entry(found, s, c, stored) for c in found_changes]
        for e in entries:
            judged = "; ".join([verdict_text(v) for v in e["verdicts"]] + ([] if e["judged"] else ["no verdict yet"]))
            moved = f"; versions changed: {e['versions_changed']}" if e["versions_changed"] else ""
            lines.append(f"    change at {e['first_night']} ({e['when']}): {e['describe']}; revisions "
                         f"{e['revisions'][0]} .. {e['revisions'][1]}{moved}; {judged}")
        document["series"].append({"key": s.key, "figure": s.figure, "values": s.values(),
                                   "nights": [found[p.night].name for p in s.points], "changes": entries})
    firsts = [(s, found[s.points[c.index].night].name) for s, cs in analysed_ for c in cs]  # filtered or not
    at = {night for _, night in firsts}
    shown = {v["file"] for s, night in firsts for v in about(stored.get(night, []), s)}
    for night in found:  # verdicts of a range someone bisected by hand, or of a change no longer detected
        for verdict in stored.get(night.name, []):
            if verdict["file"] not in shown:
                where = "it judges none of the changes there" if night.name in at else "no change point there"
                lines.append(f"  verdict beside {night.name} ({where}): {verdict_text(verdict)}")
    return lines, document


def verdict_text(verdict: dict) -> str:
    if "problem" in verdict:
        return f"{verdict['file']}: unreadable, judges nothing"
    if verdict.get("what") == "bisect":
        return f"bisected to {verdict.get('first_slow') or 'no slow commit'} ({verdict['file']})"
    if verdict.get("what") == "ack":
        return f"acknowledged by {verdict['by']}: {verdict['reason']} ({verdict['file']})"
    return f"A/B {verdict.get('described', '?')} ({verdict['file']})"


def new_changes(directory: Path, fingerprint: str, loaded: tuple | None = None) -> list[str]:
    """Changes for the worse, of any figure and however old, that no stored verdict judges: each stays red until
    someone records one (confirm's A/B for a step time, ack for any), since a change that merely ages out of the
    newest nights has still been seen by no one. NEW: its first night is among the newest changes.FORE.
    `loaded`: (analysed(), night_verdicts()) of this fingerprint, where the caller has read them already."""
    if loaded is None:
        loaded = analysed(directory, fingerprint), night_verdicts(directory, fingerprint)
    (found, analysed_), (stored, _) = loaded
    out = []
    for s, found_changes in analysed_:
        for c in found_changes:
            night = found[s.points[c.index].night]
            if not c.worse or any(series.judges(v, s.figure, s.name) for v in stored.get(night.name, [])):
                continue
            age = len(s.points) - c.index
            word = "NEW" if age <= changes.FORE else f"UNJUDGED ({age} nights old)"
            ack_ = (f"python -m bench.history ack {shlex.quote(str(directory))} --fingerprint {fingerprint} "
                    f"--figure {shlex.quote(s.name)} --night {night.name} --reason WHY")
            how = (f"confirm it with python -m bench.history confirm {shlex.quote(str(directory))}, or acknowledge it "
                   f"with {ack_}" if s.figure in series.STEP_FIGURES else f"acknowledge it with {ack_}")
            out.append(f"{fingerprint}: {s.name}: {word} change at {night.name}: {c.describe()}: {how}")
    return out


def parse_args(argv: list[str]):
    argv = list(argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "list"
    parser = argparse.ArgumentParser(prog=f"python -m bench.history {command}", description=__doc__.splitlines()[0])
    if command != "bisect":
        parser.add_argument("directory", type=Path, nargs="?",
                            default=Path(os.environ.get("FINETUNE_HISTORY", "history")),
                            help="the history folder (default: $FINETUNE_HISTORY, else ./history)")
    if command != "bisect":
        parser.add_argument("--fingerprint", default=None, help="only this machine's nights")
    if command == "list":
        parser.add_argument("--figure", default=None, help="only series whose name contains this")
        parser.add_argument("--charts", type=Path, default=None, help="draw a PNG per series here")
        parser.add_argument("--json", type=Path, default=None, help="write the series and changes here")
        parser.add_argument("--fail-on-new", action="store_true",
                            help="exit 1 while a change for the worse has no verdict (A/B or ack) that judges it")
    elif command == "ack":
        add_ack_arguments(parser)
    else:
        from bench.history import bisection

        bisection.add_arguments(parser, command)
    args = parser.parse_args(argv)
    args.command = command
    return args


def add_ack_arguments(parser) -> None:
    parser.add_argument("--figure", required=True,
                        help="the series, as the listing names it (KEY FIGURE), or a part of its name naming one")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--night", default=None, help="the change's first night, as listed: change at NIGHT")
    where.add_argument("--revision", default=None, help="or that night's revision (a prefix of its commit)")
    parser.add_argument("--reason", required=True, help="why the change is accepted: kept beside the night")
    parser.add_argument("--by", default=None, help="who acknowledges it (default: your login name)")


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "bisect":
            from bench.history import bisection

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
        if args.command == "ack":
            return ack(args, one_fingerprint(args.directory, prints))
        return list_command(args, prints)
    except FinetuneError as err:
        print(f"bench.history: {err}", file=sys.stderr)
        return 2


def one_fingerprint(directory: Path, prints: list[str]) -> str:
    """The machine an ack is for: --fingerprint, or the folder's only one."""
    if len(prints) != 1:
        raise FinetuneError(f"{directory}: " + (f"nights of {len(prints)} machines: name one with --fingerprint "
                                                f"({', '.join(prints)})" if prints else
                                                "no nights yet: nothing to acknowledge"))
    return prints[0]


def ack(args, fingerprint: str) -> int:
    """Store beside a change's first night that someone looked at it and accepts it (who, when, why): what silences
    --fail-on-new for a change the A/B mode cannot judge (a score, memory) or one judged by other means. Append-
    only, like every verdict: a new file, never a rewrite."""
    reason = " ".join(args.reason.split())
    if not reason:
        raise FinetuneError("--reason is empty: say why the change is accepted (it is kept beside the night)")
    by = " ".join((args.by or login_name()).split())
    if not by:
        raise FinetuneError("--by is empty: name who acknowledges the change")
    found, analysed_ = analysed(args.directory, fingerprint)
    s, change, night = acknowledged_change(args, fingerprint, found, analysed_)
    before, after = revision_range(found, change, s.points)
    document = {"series": s.name, "key": s.key, "figure": s.figure, "change": change.describe(),
                "revisions": [before.revision, after.revision], "by": by, "reason": reason}
    path = nights.write_verdict(args.directory, fingerprint, night.name, "ack", document)
    print(f"bench.history: {s.name}: the change at {night.name} ({change.describe()}) acknowledged by {by}; stored "
          f"beside the night: {path}")
    return 0


def login_name() -> str:
    """Who runs the command, for an ack's record (getpass: $LOGNAME, $USER, then the password database)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        raise FinetuneError("cannot tell who you are: give --by NAME") from None


def acknowledged_change(args, fingerprint: str, found: list, analysed_: list) -> tuple:
    """(series, change, its first night) that --figure and --night/--revision name: exactly one change for the
    worse, else one line saying what they name instead."""
    where = f"{args.directory}/{fingerprint}"
    named = [s for s, _ in analysed_ if s.name == args.figure] or [s for s, _ in analysed_ if args.figure in s.name]
    if not named:
        raise FinetuneError(f"--figure {args.figure!r}: no series of {where} is named so: list them with python -m "
                            f"bench.history {args.directory} --fingerprint {fingerprint}")
    worse = [(s, c, found[s.points[c.index].night]) for s, cs in analysed_ if s in named for c in cs if c.worse]
    if args.night is not None:
        wanted = Path(args.night).name.removesuffix(".json")
        if wanted not in {n.name for n in found}:
            raise FinetuneError(f"--night {args.night}: no such night in {where}"
                                + (f" (its nights: {found[0].name} .. {found[-1].name})" if found else ""))
        at, asked = [w for w in worse if w[2].name == wanted], f"at {wanted}"
    else:
        rev = args.revision.strip().lower()
        if len(rev) < 4 or not any(n.revision.startswith(rev[:12]) for n in found):
            raise FinetuneError(f"--revision {args.revision}: no night of {where} ran at it (give at least 4 "
                                "characters of a revision the listing names)")
        at, asked = [w for w in worse if w[2].revision.startswith(rev[:12])], f"at revision {args.revision}"
    if len(at) == 1:
        return at[0]
    if not at:
        elsewhere = ", ".join(f"{s.name} at {n.name}" for s, _, n in worse[:4]) or "none"
        raise FinetuneError(f"--figure {args.figure!r}: no change for the worse {asked} in {len(named)} series; "
                            f"their changes for the worse: {elsewhere}")
    raise FinetuneError(f"--figure {args.figure!r} {asked} names {len(at)} changes "
                        f"({', '.join(f'{s.name} at {n.name}' for s, _, n in at[:4])}): give one series' whole name")


def confirm(args, fingerprint: str) -> int:
    """A/B every unjudged slowdown of the gated step-time series (and of its ratio to a reference); 1 if one is
    confirmed."""
    from bench.history.bisection import bisect, decide

    found, analysed_ = analysed(args.directory, fingerprint)
    for problem in night_verdicts(args.directory, fingerprint)[1]:
        print(f"bench.history: {problem}", file=sys.stderr)
    status = 0
    for s, found_changes in analysed_:
        if s.figure not in series.STEP_FIGURES:
            continue
        for change in found_changes:
            before, after = revision_range(found, change, s.points)
            night = found[s.points[change.index].night].name  # the likeliest first night: the verdict's place
            if not change.worse or any(series.judges(v, s.figure, s.name) for v in nights.verdicts(args.directory, fingerprint, night)):
                continue  # read again each time: a verdict stored for one series may judge the next
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
            c.worse for s, cs in analysed_ if s.figure in series.STEP_FIGURES for c in cs) else
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
            from bench.history import trend

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
