"""What every part of the tune shares: the recipe each candidate fine-tunes with, the steps of the whole fine-tune a
projection is for, and its one-line messages."""

from __future__ import annotations

import sys

from finetune.tasks import TASKS

RECIPE = ("from_logits", "linear-decay")  # the course's fix: what every candidate fine-tunes with


def warn(text: str) -> None:
    print(f"bench.tune: {text}", file=sys.stderr, flush=True)


def whole_steps(args) -> int:
    """The steps of the fine-tune the projection is for: --quality-epochs over --quality-rows (default: all)."""
    rows = args.quality_rows or TASKS[args.task].hub_rows["train"]
    return args.quality_epochs * -(-rows // 8)
