"""Fine-tune one model on one GLUE task and print the result as JSON.

    GLUE_DIR=../shared/data/glue python -m finetune --model minilm-l6 --loss from_logits \
        --optimizer linear-decay --epochs 3 --batch-size 8 --seed 0 [--max-train-samples N] [--json PATH] \
        [--perf best | --padding bucket --pad-multiple 8 --jit-compile --precision mixed_bfloat16 --distribute mirrored]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import tempfile
from pathlib import Path

import finetune  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from finetune import options
from finetune.config import RunConfig
from finetune.errors import FinetuneError
from finetune import profile, tuned_choice
from finetune.perf import VARIANTS, variant

# The flags, from the one table of options (finetune/options.py), in the groups of --help.
MAIN_FLAGS = ("--task", "--model", "--engine", "--backend", "--loss", "--optimizer", "--epochs", "--batch-size",
              "--seed", "--max-train-samples", "--max-eval-samples", "--glue-dir", "--device", "--warmup-steps",
              "--json", "--profile")
SPEED_FLAGS = ("--perf", "--padding", "--pad-multiple", "--jit-compile", "--precision", "--distribute", "--update")
# --perf picks a row of finetune.perf.VARIANTS; each of the other speed flags, when given, overrides that field of it.
PERF_FLAGS = tuple(options.BY_FLAG[flag].dest for flag in SPEED_FLAGS if flag != "--perf")


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors: a bad flag or value raises FinetuneError("argument --epochs: ...")."""

    def error(self, message):
        raise FinetuneError(message)


def build_parser() -> Parser:
    parser = Parser(prog="python -m finetune", description=__doc__.splitlines()[0])
    options.add_cli(parser, MAIN_FLAGS)
    options.add_cli(parser.add_argument_group("speed (finetune/perf.py); the defaults are the course's"), SPEED_FLAGS)
    return parser


def parse_args(argv):
    return build_parser().parse_args(argv)


def device_kind(args) -> str:
    from finetune import runtime

    return runtime.device_kind(args.device)


def best(args):
    """What --perf best stands for in this run: the choice bench.tune stored for this machine, else the rule."""
    from finetune import engines
    from finetune.models import default_model

    model = args.model or default_model()[0]
    return tuned_choice.best_choice(device_kind(args), model, args.task, args.batch_size,
                             engines.get(args.engine, args.backend).label)


def perf_choice(args) -> str:
    """Which variant --perf names, and for `best` why it is the one here."""
    if args.perf != "best":
        return args.perf
    row = best(args)
    return f"best = {row.variant} (for {row.needs}; {row.evidence})"


def perf_config(args):
    """The --perf variant with the fields given as flags replaced."""
    changes = {name: getattr(args, name) for name in PERF_FLAGS if getattr(args, name) is not None}
    if changes.get("padding") == "dynamic" and args.pad_multiple is None:
        changes["pad_multiple"] = None  # the course's padding, not the variant's rounding
    chosen = VARIANTS[best(args).variant] if args.perf == "best" else variant(args.perf)
    return chosen.replace(**changes)


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
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
            warmup_steps=args.warmup_steps, perf=perf_config(args), engine=args.engine, backend=args.backend,
        )
        from finetune import cluster, engines

        cluster.check(config.perf.distribute, cluster.World.from_env())  # before a strategy waits on its peers
        engine = engines.get(config.engine, config.backend)
        engine.prepare_process()  # before anything imports its framework
        from finetune.train import MEASURE, finetune

        with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory(prefix="profile-") as logdir:
            profiled = (profile.callback(engine, Path(logdir), config.warmup_steps),) if args.profile else ()
            result = finetune(config, model_choice=choice, perf_choice=perf_choice(args), calibration=MEASURE,
                              callbacks=profiled)
            if profiled:
                result = dataclasses.replace(result, profile=profiled[0].summary)
                print("profile: " + (profile.shares_text(result.profile) if result.profile else "the first epoch "
                      f"ended before step {config.warmup_steps + 3}: nothing profiled"), file=sys.stderr)
    except FinetuneError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not cluster.World.from_env().chief:
        return 0  # the chief alone writes and prints the result
    text = result.to_json()
    if args.json is not None:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(args.json)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
