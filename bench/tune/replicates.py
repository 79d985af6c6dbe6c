"""The tune's timing: one replicate at a time, fresh timing processes (one per engine and threading) time --rounds
passes of every candidate still in, the order alternating by round; a candidate its process cannot run is set aside
with the reason."""

from __future__ import annotations

import os
import sys

from bench.timing import processes
from bench.tune import candidates
from bench.tune.candidates import Candidate
from bench.tune.design import warn
from finetune import engines


def start(group: list[Candidate], args, replicate: int) -> processes.Worker:
    engine = group[0].engine
    flags = engines.get(*candidates.engine_of(engine)).flags()  # the engine's own command-line flags
    options = processes.block_options(args.model, args.batches, args.glue_dir, task=args.task, engine_flags=flags,
                                    seed=replicate)
    options += ["--perf", ",".join(c.variant for c in group), "--sample", "lengths"]
    return processes.Worker(args.pythons.get(engine, sys.executable), processes.ROOT, options,
                          name=f"{engine} {dict(group[0].threads) or ''}".strip(),
                          env={**os.environ, **group[0].env()})


def replicate(found: dict, args, r: int, times: dict, skipped: dict, firsts: dict | None = None) -> None:
    """One replicate: fresh processes, --rounds passes of every candidate still in, the order alternating.
    firsts: each candidate's first (untimed, compiling) pass in seconds, one per replicate."""
    groups: dict = {}
    for text, c in found.items():
        if text not in skipped:
            groups.setdefault(c.process, []).append(c)
    started = {key: start(group, args, r) for key, group in groups.items()}
    try:
        live = {}
        for key, worker in started.items():
            try:
                ready = worker.ready()
            except processes.WorkerFailed as err:
                for c in groups[key]:
                    skipped.setdefault(c.text, str(err))
                continue
            for c in groups[key]:
                problem = ready["skipped"].get(c.variant)
                if problem:
                    skipped.setdefault(c.text, problem)
                else:
                    live[c.text] = (worker, c)
                    first = (ready["variants"].get(c.variant) or {}).get("first_pass_s")
                    if firsts is not None and first is not None:
                        firsts.setdefault(c.text, []).append(first)
        order = list(live)
        order = order[r % len(order):] + order[:r % len(order)] if order else order
        for round_ in range(args.rounds if order else 0):
            for text in order if round_ % 2 == 0 else reversed(order):
                worker, c = live[text]
                answer = worker.ask(f"pass {c.variant} {args.planted.get(text, 0.0)}")
                times.setdefault(text, [[] for _ in range(args.replicates)])[r].append(answer["ms_per_step"])
            warn(f"replicate {r + 1}/{args.replicates}, round {round_ + 1}/{args.rounds}: " + ", ".join(
                f"{t} {times[t][r][-1]:.0f}" for t in order) + " ms/step")
    finally:
        processes.close_all(started.values())
