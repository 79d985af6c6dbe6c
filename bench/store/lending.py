"""Quality bands lent across hosts. A GLUE score depends on what decides the numbers (the model, the recipe in the
group's key, the engine, the precision, the device type and the libraries' versions), not on which CPU of a type ran
it: the same seed gave the same accuracy and F1 on three CPU kinds (docs/gates.md). So a host with no band of its
own for a quality group borrows one from another host of the same numerics, and the verdict names that host.

Whether that holds is measured, not assumed: `agreement()` compares the stored seeds of every host that has the
group, and a host whose scores fall outside another's band is named and lends to no one (it keeps its own band).

    python -m bench.bands [--baselines DIR] [--model minilm-l6]    # which hosts agree, group by group
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.store import baselines
from bench.judge.bands import (METRICS, NOT_NUMERICS, Holder, Lent, agreement, device_type, differs,  # noqa: F401
                               numerics_versions, version_difference)
from bench.judge.bands import lender as choose_lender
from finetune import options
from finetune.errors import FinetuneError


def holders(directory: Path, model: str, key: str) -> list[Holder]:
    """Every host with a stored group `key` for `model` (unreadable files are named by bench.store.baselines.others)."""
    found = []
    for fingerprint, _ in baselines.others(directory, model, hardware_key=""):
        try:
            document = baselines.load(baselines.path_for(directory, model, fingerprint)) or {}
        except FinetuneError:
            continue
        group = (document.get("figures") or {}).get(key)
        if group:
            found.append(Holder(fingerprint, group))
    return found


def lender(directory: Path, model: str, key: str, fingerprint: str, versions: dict,
           resolution: float = 0.0) -> tuple[Lent | None, str]:
    """(the band another host lends to `fingerprint` for `key`, or None; why none): the stored holders of the
    group, chosen from by bench.judge.bands.lender."""
    return choose_lender(holders(directory, model, key), key, fingerprint, versions, resolution)


def report(directory: Path, model: str) -> list[str]:
    """One line per quality key held by two or more hosts: which agree, which differ and how."""
    keys = set()
    for fingerprint, _ in baselines.others(directory, model, hardware_key=""):
        try:
            document = baselines.load(baselines.path_for(directory, model, fingerprint)) or {}
        except FinetuneError:
            continue
        keys |= {k for k in (document.get("figures") or {}) if k.startswith("quality/")}
    lines = []
    for key in sorted(keys):
        found = holders(directory, model, key)
        by_versions: dict = {}
        for h in found:
            by_versions.setdefault(tuple(sorted(h.versions.items(), key=str)), []).append(h)
        for same in by_versions.values():
            if len(same) < 2:
                continue
            agreeing, differing = agreement(same)
            lines.append(f"{key}: agree: {', '.join(h.fingerprint for h in agreeing)}"
                         + "".join(f"; DIFFERS: {how}" for _, how in differing))
    return lines or [f"no quality group of {model} is held by two hosts of the same library versions"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bands", description=__doc__.split("\n\n")[0])
    # the table's (finetune/options.py): --baselines pytest's folder, the same default (finetune/ cannot name bench/'s
    # folder: the table says it); the model the small one, whose bands every host stores, not the CLI's pick by GPU
    options.add_to(parser, ("--baselines", "--model"), baselines=options.Surface(baselines.BASELINE_DIR),
                   model=options.Surface("minilm-l6", help=options.DEFAULT))
    args = parser.parse_args(argv)
    try:
        lines = report(args.baselines, args.model)
    except FinetuneError as err:
        print(f"bench.bands: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 1 if any("DIFFERS" in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
