"""Generated nights for the site's tests and its timing: a runner's history of N nights as `pytest bench/ --history`
writes them (bench.history.nights.append), each with the gated step time (its blocks and a --reference ratio), a
fine-tune's ms/step and GLUE scores, and peak memory; a planted slowdown from one night on.

    .venv/bin/python tests/site_nights.py HISTORY [--nights 1000] [--slower-from 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.history import nights  # noqa: E402

FINGERPRINT = "cpu-generated-test-host-2c-0a1b2c"
VERSIONS = {"tensorflow": "2.20.0", "transformers": "4.54.1"}


def revision(index: int) -> str:
    return hashlib.sha1(f"night {index}".encode()).hexdigest()


def step_record(ms: float, rng: random.Random, ratio: float, gate: str = "passed") -> dict:
    blocks = [[ms * math.exp(rng.gauss(0, 0.01)) for _ in range(5)] for _ in range(3)]
    reference = [[ms / ratio * math.exp(rng.gauss(0, 0.01)) for _ in range(5)] for _ in range(3)]
    return {"schema": 2, "kind": "step_time", "model": "minilm-l6", "task": "mrpc", "device": "cpu",
            "batch_size": 8, "seed": 0, "epochs": 1, "tier": "ci", "engine": "tf-keras", "precision": "fp32",
            "step_time_ms": ms, "examples_per_s": 8000 / ms, "tokens_per_s": 1.0, "steps_timed": 15 * 16,
            "flop_per_s": 4.2e10 / (ms / 1000), "blocks_ms": blocks, "processes": 3, "gate": {"step_time_ms": gate},
            "peak_rss_mb": 850.0 + rng.gauss(0, 5),
            "reference": {"rev": "v1.0", "commit": "5d799d563835", "blocks_ms": reference, "ratio": ratio,
                          "low": ratio * 0.99, "high": ratio * 1.01}}


def quality_record(rng: random.Random) -> dict:
    accuracy = 0.84 + rng.gauss(0, 0.004)
    return {"schema": 2, "kind": "quality", "model": "minilm-l6", "task": "mrpc", "device": "cpu", "batch_size": 8,
            "seed": 0, "epochs": 1, "tier": "ci", "engine": "tf-keras", "loss": "from_logits",
            "optimizer": "linear-decay", "accuracy": accuracy, "f1": 0.88, "scores": {"accuracy": accuracy, "f1": 0.88},
            "max_train_samples": 2400, "step_time_ms": 450.0 * math.exp(rng.gauss(0, 0.01)), "epoch_s": [135.0],
            "gate": {"accuracy": "passed"}, "peak_rss_mb": 1500.0}


def write_nights(directory: Path, count: int, slower_from: int | None = None, fingerprint: str = FINGERPRINT,
                 seed: int = 0, failed_gate_at: int | None = None, failed_tests_at: int | None = None) -> list[Path]:
    """`count` nights of `fingerprint`, one a day from 2024-01-01; 12% slower from night index `slower_from`."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1, 1, 43, tzinfo=dt.timezone.utc)
    written = []
    for i in range(count):
        slower = 1.12 if slower_from is not None and i >= slower_from else 1.0
        when = start + dt.timedelta(days=i)
        records = [step_record(290.0 * slower, rng, 1.0 * slower, "failed" if i == failed_gate_at else "passed"),
                   quality_record(rng)]
        commit = {"id": revision(i), "dirty": False}
        document = {"machine_info": {"finetune": {"versions": VERSIONS, "hardware_key": fingerprint,
                                                  "calibration": {"fp32_gflops": 350.0, "size": 1024}}},
                    "commit_info": commit, "datetime": when.isoformat(),
                    "benchmarks": [{"name": f"b{n}", "stats": {}, "extra_info": r} for n, r in enumerate(records)]}
        tests = {"collected": 3, "failed": 1 if i == failed_tests_at else 0}
        document["finetune_history"] = nights.entry(fingerprint, commit, when, "pytest bench/", tests)
        written.append(nights.append(directory, fingerprint, document))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("history", type=Path)
    parser.add_argument("--nights", type=int, default=1000)
    parser.add_argument("--slower-from", type=int, default=500)
    args = parser.parse_args(argv)
    write_nights(args.history, args.nights, args.slower_from)
    print(f"wrote {args.nights} nights of {FINGERPRINT} in {args.history}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
