"""Fine-tune one model on one GLUE task and print the result as JSON.

    GLUE_DIR=../shared/data/glue python -m finetune --model minilm-l6 --loss from_logits \
        --optimizer linear-decay --epochs 3 --batch-size 8 --seed 0 [--max-train-samples N] [--json PATH] \
        [--perf best | --padding bucket --pad-multiple 8 --jit-compile --precision mixed_bfloat16 --distribute mirrored]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from finetune.config import DEVICES, RunConfig
from finetune.errors import FinetuneError
from finetune.perf import DISTRIBUTES, PADDINGS, PRECISIONS, VARIANTS, best_choice, variant
from finetune.recipes import LOSSES, OPTIMIZERS

# --perf picks a row of finetune.perf.VARIANTS; each of these flags, when given, overrides that field of it.
PERF_FLAGS = ("padding", "pad_multiple", "jit_compile", "precision", "distribute")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m finetune", description=__doc__.splitlines()[0])
    defaults = RunConfig()
    parser.add_argument("--task", default=defaults.task)
    parser.add_argument("--model", default=None,
                        help="minilm-l6, bert-base-uncased, tiny, a Hub id or a directory "
                             "(default: bert-base-uncased when TensorFlow sees a GPU, else minilm-l6)")
    parser.add_argument("--loss", default=defaults.loss, help=" or ".join(LOSSES))
    parser.add_argument("--optimizer", default=defaults.optimizer, help=" or ".join(OPTIMIZERS))
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--max-train-samples", type=int, default=None, help="first N training rows only")
    parser.add_argument("--max-eval-samples", type=int, default=None, help="first N validation rows only")
    parser.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR"),
                        help="folder in the GLUE download layout (default: $GLUE_DIR; unset: the Hub)")
    parser.add_argument("--device", default=defaults.device, help=" or ".join(DEVICES))
    parser.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps,
                        help="steps left out of the steady-state step time")
    parser.add_argument("--json", type=Path, default=None, help="also write the result JSON here")
    speed = parser.add_argument_group("speed (finetune/perf.py); the defaults are the course's")
    speed.add_argument("--perf", default="course",
                       help=f"a variant: {', '.join(VARIANTS)}; or best: the fastest one this host supports "
                            "(finetune.perf.BEST_BY_HOST; the result's perf_choice says which and why). "
                            "The flags below override its fields")
    speed.add_argument("--padding", default=None,
                       help=f"{' or '.join(PADDINGS)}: per batch (the course), per batch rounded up to "
                            "--pad-multiple, batches of similar length, or every batch to the longest pair")
    speed.add_argument("--pad-multiple", type=int, default=None, help="round padded lengths up to a multiple of N")
    speed.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None,
                       help="compile the training step with XLA (one compile per distinct batch shape)")
    speed.add_argument("--precision", default=None,
                       help=f"{' or '.join(PRECISIONS)} (mixed_float16 needs a GPU; mixed_bfloat16 a CPU with "
                            "AVX512_BF16/AMX or an Ampere+ GPU)")
    speed.add_argument("--distribute", default=None,
                       help=f"{' or '.join(DISTRIBUTES)}: data-parallel over every device of the kind; "
                            "--batch-size stays the global batch, split over the replicas")
    return parser.parse_args(argv)


def device_kind(args) -> str:
    from finetune import runtime

    return runtime.device_kind(args.device)


def perf_choice(args) -> str:
    """Which variant --perf names, and for `best` why it is the one here."""
    if args.perf != "best":
        return args.perf
    row = best_choice(device_kind(args))
    return f"best = {row.variant} (for {row.needs})"


def perf_config(args):
    """The --perf variant with the fields given as flags replaced."""
    changes = {name: getattr(args, name) for name in PERF_FLAGS if getattr(args, name) is not None}
    if changes.get("padding") == "dynamic" and args.pad_multiple is None:
        changes["pad_multiple"] = None  # the course's padding, not the variant's rounding
    return variant(args.perf, device_kind(args) if args.perf == "best" else "cpu").replace(**changes)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.json is not None and not args.json.parent.is_dir():
            raise FinetuneError(f"--json {args.json}: folder {args.json.parent} does not exist; create it first")
        choice = "as requested"
        if args.model is None:
            from finetune.models import default_model

            args.model, choice = default_model()
        config = RunConfig(
            task=args.task, model=args.model, loss=args.loss, optimizer=args.optimizer, epochs=args.epochs,
            batch_size=args.batch_size, seed=args.seed, max_train_samples=args.max_train_samples,
            max_eval_samples=args.max_eval_samples, glue_dir=args.glue_dir, device=args.device,
            warmup_steps=args.warmup_steps, perf=perf_config(args),
        )
        from finetune.train import MEASURE, finetune

        with contextlib.redirect_stdout(sys.stderr):  # Keras' progress bar; stdout carries only the JSON
            result = finetune(config, model_choice=choice, perf_choice=perf_choice(args), calibration=MEASURE)
    except FinetuneError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = result.to_json()
    if args.json is not None:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(args.json)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
