"""--store: the tune's choice written into this machine's baseline file ("tuned", read by finetune.tuned_choice for
`--perf best`), with the revision it measured; a tree with uncommitted changes is refused unless --force-dirty."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.store import baselines
from bench.timing import processes, timeouts
from finetune import environment, tuned_choice

REPO = processes.ROOT  # the source tree measured: its revision goes into a stored choice


def stored_document(args, entry: dict, fingerprint: str) -> Path:
    """This machine's baseline file with the tuned entry written (its figures kept)."""
    path = baselines.path_for(args.baselines, args.model, fingerprint)
    document = baselines.load(path) or {"model": args.model, "hardware_key": fingerprint,
                                    "hardware": environment.hardware(), "figures": {}}
    key = tuned_choice.key(args.task, entry["device"], 8)
    document = {**document, "tuned": {**(document.get("tuned") or {}), key: entry}}
    baselines.write_atomic(path, document)
    return path


def revision() -> str | None:
    done = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty", "--abbrev=7"],
                          capture_output=True, text=True, timeout=timeouts.GIT_S)  # "-dirty": uncommitted changes
    return done.stdout.strip() or None


def uncommitted() -> list[str] | None:
    """The tracked files with uncommitted changes in the measured tree (what makes `revision()` "-dirty"), or None
    where git cannot tell (not a checkout)."""
    done = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                          capture_output=True, text=True, timeout=timeouts.GIT_S)
    if done.returncode:
        return None
    return [line[3:] for line in done.stdout.splitlines() if line.strip()]


def store_refusal(args) -> str | None:
    """Why --store must not write this tree's choice: a stored choice names the revision it measured, and a tree with
    uncommitted changes is none that can be measured again. None where it may (or with --force-dirty)."""
    if not args.store or args.planted or args.force_dirty:
        return None  # planted runs are never stored
    changed = uncommitted()
    if changed is None:
        return (f"--store: git cannot tell which revision {REPO} is (not a checkout?): run from a clone, or pass "
                "--force-dirty to store the choice marked as from a dirty tree")
    if not changed:
        return None
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return (f"--store from a working tree with uncommitted changes ({shown}): commit them, or pass --force-dirty to "
            "store the choice marked as from a dirty tree (it then carries no speed claim)")
