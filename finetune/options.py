"""Every command-line option, once: `python -m finetune`, pytest (root conftest.py) and the tools of bench/ (add_to)
build their flags from OPTIONS, so names, defaults, help and validation cannot drift apart.

A row says what its flag means (`help`, shared) and how a value is checked (a converter that raises
argparse.ArgumentTypeError with one line naming the value and the fix, so a bad value is refused while the
command line is parsed, the same way on both surfaces); `cli` and `pytest` say how the flag looks on each surface
where the two truly differ (default, choices, the rest of the help), or None where it is not a flag there; a tool
has the CLI's (pytest's, for an option the CLI lacks), or its own Surface where its flag truly differs.
Cheap to import: nothing here imports TensorFlow or transformers.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path

from finetune.config import BACKENDS, DEVICES, ENGINES, RunConfig
from finetune.models import MODELS
from finetune.perf import DISTRIBUTES, PADDINGS, PRECISIONS, UPDATES, VARIANTS
from finetune.recipes import LOSSES, OPTIMIZERS
from finetune.tasks import TASKS

RUN = {field.name: field.default for field in dataclasses.fields(RunConfig)}  # the CLI's defaults are RunConfig's
BENCH_DEVICES = ("cpu", "gpu")  # the step-time benchmarks' devices
FROM_CALLER = "from the caller"  # choices finetune/ cannot know (it does not import bench/): add_pytest gets them


def either(names) -> str:
    """'a, b or c'."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def glue_dir_from_env() -> str | None:
    """--glue-dir's default, read when a parser is built: $GLUE_DIR, else None (the Hub)."""
    return os.environ.get("GLUE_DIR")


def history_from_env() -> Path | None:
    """--history's default, read when a parser is built: $FINETUNE_HISTORY, else None (no history)."""
    value = os.environ.get("FINETUNE_HISTORY")
    return Path(value) if value else None


def reference_from_env() -> str | None:
    """--reference's default, read when a parser is built: $FINETUNE_REFERENCE, else None (no reference)."""
    return os.environ.get("FINETUNE_REFERENCE") or None


# --- converters: argparse's `type`, one line on a bad value ----------------------------------------------------
@dataclass(frozen=True)
class Whole:
    """A whole number of at least `minimum`."""
    minimum: int = 1
    example: int = 3  # in the fix: "pass e.g. --epochs 3"
    omit: str = ""  # what leaving the flag out means, when that is the other fix
    flag: str = ""  # filled in from the Option

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < self.minimum:
            kind = "a positive whole number" if self.minimum == 1 else f"a whole number of at least {self.minimum}"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}: pass e.g. {self.flag} {self.example}"
                                             + (f", or leave it out for {self.omit}" if self.omit else ""))
        return value


@dataclass(frozen=True)
class NonNegative:
    """A finite number, 0 or more."""
    example: float = 0.2
    flag: str = ""

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 0):
            raise argparse.ArgumentTypeError(f"must be a number, 0 or more, got {text!r}: "
                                             f"pass e.g. {self.flag} {self.example}")
        return value


@dataclass(frozen=True)
class OneOf:
    """One of `choices`, named as in RunConfig's errors: "unknown loss 'mse': choose one of ..."."""
    noun: str
    choices: tuple
    flag: str = ""

    def __call__(self, text: str) -> str:
        if text not in self.choices:
            raise argparse.ArgumentTypeError(f"unknown {self.noun} {text!r}: choose one of {', '.join(self.choices)}")
        return text


@dataclass(frozen=True)
class SomeOf(OneOf):
    """A comma-separated list of `choices` (each at most once), as a tuple; each name checked as OneOf does."""

    def __call__(self, text: str) -> tuple:
        names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
        if not names:
            raise argparse.ArgumentTypeError(f"no {self.noun} in {text!r}: choose among {', '.join(self.choices)}, "
                                             f"comma-separated, e.g. {self.flag} {','.join(self.choices[:2])}")
        return tuple(OneOf.__call__(self, name) for name in names)


# the gates --require-live can ask for: those that need no baseline (bench/session/summary.py says what each is)
REQUIRABLE_GATES = ("claims", "best-learns", "contract")

# --- the table -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Surface:
    """How an option looks on one surface (the CLI or pytest)."""
    default: object = None  # a value, or a function of nothing called when the parser is built ($GLUE_DIR)
    choices: tuple | str | None = None  # the values allowed here, checked by a OneOf converter; or FROM_CALLER
    help: str = ""  # follows the shared help: what differs here, e.g. the default


@dataclass(frozen=True)
class Option:
    flag: str
    help: str  # the meaning, on every surface; "{choices}" becomes the surface's choices
    type: object = None  # converter (Whole, NonNegative, Path) of an option without choices
    noun: str = ""  # what a choice is called in an error (OneOf)
    action: object = None  # argparse action: store_true, BooleanOptionalAction
    metavar: str | None = None
    cli: Surface | None = None  # None: not a flag of `python -m finetune`
    pytest: Surface | None = None  # None: not a pytest option

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def surface(self, name: str | Surface) -> Surface:
        """The surface `name` ("cli" or "pytest"), or `name` itself where it is a tool's own Surface (add_to)."""
        if isinstance(name, Surface):
            return name
        side = getattr(self, name)
        if side is None:
            raise ValueError(f"{self.flag} is not an option of {name}")
        return side

    def choices(self, surface: str | Surface, given=None) -> tuple | None:
        """The surface's choices; `given` fills in those the table leaves to the caller (FROM_CALLER)."""
        choices = self.surface(surface).choices
        if choices != FROM_CALLER:
            return choices
        if given is None:
            raise ValueError(f"{self.flag}: its choices come from the caller, e.g. choices={{{self.flag!r}: (...)}}")
        return tuple(given)

    def converter(self, surface: str | Surface, given=None):
        choices = self.choices(surface, given)
        if choices is not None:
            return OneOf(self.noun, tuple(choices), self.flag)
        if dataclasses.is_dataclass(self.type):
            return dataclasses.replace(self.type, flag=self.flag)
        return self.type

    def kwargs(self, surface: str | Surface, given=None) -> dict:
        """add_argument's keyword arguments on `surface` ("cli", "pytest" or a tool's Surface); pytest's addoption
        takes the same.
        `given`: the choices, where the table leaves them to the caller."""
        side, choices = self.surface(surface), self.choices(surface, given)
        shared = self.help if choices is None else self.help.replace("{choices}", either(choices))
        kwargs = {"default": side.default() if callable(side.default) else side.default,
                  "help": f"{shared} {side.help}".strip()}
        extras = {"type": self.converter(surface, given), "action": self.action, "metavar": self.metavar}
        for name, value in extras.items():
            if value is not None:
                kwargs[name] = value
        return kwargs


SAME = Surface()  # default None, no choices, nothing more to say
DEFAULT = "(default: %(default)s)"  # argparse fills it in
MODEL_DEFAULT = "(default: bert-base-uncased when TensorFlow sees a GPU, else minilm-l6)"  # the CLI's and pytest's

OPTIONS = (
    Option("--task", "the GLUE task: {choices}", noun="task", cli=Surface(RUN["task"], tuple(TASKS), DEFAULT),
           pytest=Surface(RUN["task"], tuple(TASKS), "(default: %(default)s; a large task's tiers train on a slice of "
                                                     "its rows, bench/session/tiers.py)")),
    Option("--model", f"{', '.join(MODELS)}, a Hub id or a directory", cli=Surface(help=MODEL_DEFAULT),
           pytest=Surface(help=MODEL_DEFAULT)),
    Option("--engine", "{choices}: transformers' TF classes on tf-keras (the course's), or Keras 3 + keras-hub "
                       "(finetune/engines/keras3.py)", noun="engine", cli=Surface(RUN["engine"], ENGINES, DEFAULT),
           pytest=Surface(RUN["engine"], ENGINES, "(default: %(default)s; one engine per session, each in its own "
                                                  "baseline keys)")),
    Option("--backend", "{choices}: Keras 3's backend, for --engine keras3", noun="backend",
           cli=Surface(None, BACKENDS), pytest=Surface(None, BACKENDS, "(fixed for the session: Keras 3 fixes its "
                                                                       "backend at import)")),
    Option("--loss", "{choices}", noun="loss", cli=Surface(RUN["loss"], LOSSES, DEFAULT)),
    Option("--optimizer", "{choices}", noun="optimizer", cli=Surface(RUN["optimizer"], OPTIMIZERS, DEFAULT)),
    Option("--epochs", "passes over the training rows", type=Whole(1, 3), metavar="N",
           cli=Surface(RUN["epochs"], help=DEFAULT),
           pytest=Surface(None, help="(default: the tier's; baselines are keyed by epochs)")),
    Option("--batch-size", "examples per training step (with --distribute mirrored: over all replicas)",
           type=Whole(1, 8), metavar="N", cli=Surface(RUN["batch_size"], help=DEFAULT)),
    Option("--seed", "the run's random seed", type=Whole(0, 1), metavar="N", cli=Surface(RUN["seed"], help=DEFAULT)),
    Option("--max-train-samples", "first N training rows only", type=Whole(1, 100, "every row"), metavar="N",
           cli=Surface(RUN["max_train_samples"])),
    Option("--max-eval-samples", "first N validation rows only", type=Whole(1, 100, "every row"), metavar="N",
           cli=Surface(RUN["max_eval_samples"])),
    Option("--glue-dir", "GLUE data in the download layout ($GLUE_DIR/MRPC/train.tsv, dev.tsv) "
                         "(default: $GLUE_DIR; unset: the Hugging Face Hub)",
           cli=Surface(glue_dir_from_env), pytest=Surface(glue_dir_from_env)),
    Option("--device", "{choices}: where to run", noun="device",
           cli=Surface(RUN["device"], DEVICES, "(default: %(default)s, TensorFlow's placement)"),
           pytest=Surface(None, BENCH_DEVICES, "the step-time benchmarks (default: both; gpu skips without one)")),
    Option("--warmup-steps", "steps left out of the steady-state step time", type=Whole(0, 10), metavar="N",
           cli=Surface(RUN["warmup_steps"], help=DEFAULT)),
    Option("--json", "also write the result JSON here", type=Path, metavar="PATH", cli=SAME),
    Option("--profile", "where a steady training step's time goes, from the framework's profiler (finetune/profile.py):"
                        " ms per step by category (matmuls, softmax, layer norm and GELU, the optimizer, input); "
                        "the CLI profiles 3 steps after the warm-up, pytest one pass of each variant's step-time "
                        "benchmark", action="store_true", cli=Surface(False), pytest=Surface(False)),
    # speed (finetune/perf.py): --perf picks a row of VARIANTS; each flag after it, when given, overrides its field
    Option("--perf", "{choices}: a row of finetune.perf.VARIANTS; best: the fastest one this host supports "
                     "(finetune.perf.BEST_BY_HOST; the result's perf_choice says which and why). The flags below "
                     "override its fields",
           noun="perf variant", metavar="VARIANT", cli=Surface("course", (*VARIANTS, "best"), DEFAULT)),
    Option("--padding", "{choices}: per batch (the course), per batch rounded up to --pad-multiple, batches of "
                        "similar length, or every batch to the longest pair",
           noun="padding", cli=Surface(None, PADDINGS)),
    Option("--pad-multiple", "round padded lengths up to a multiple of N", type=Whole(1, 8), metavar="N", cli=SAME),
    Option("--jit-compile", "compile the training step with XLA (one compile per distinct batch shape)",
           action=argparse.BooleanOptionalAction, cli=SAME),
    Option("--precision", "{choices} (mixed_float16 needs a GPU; mixed_bfloat16 a CPU with AVX512_BF16/AMX or an "
                          "Ampere+ GPU)", noun="precision", cli=Surface(None, PRECISIONS)),
    Option("--distribute", "{choices}: data-parallel over every device of the kind (mirrored) or over the workers "
                           "of python -m bench.launch (multi-worker, docs/multi-worker.md); --batch-size stays the "
                           "global batch, split over the replicas", noun="distribute", cli=Surface(None, DISTRIBUTES)),
    # pytest only (bench/session/tiers.py Options.from_pytest reads them)
    Option("--update", "{choices}: how Adam applies (finetune/adam.py): the course's op by op, one kernel per variable "
                       "(the same arithmetic), or the word embedding's touched rows only (other arithmetic)",
           noun="update", cli=Surface(None, UPDATES)),
    Option("--seeds", "seeds (repeats) per benchmark: 0..N-1", type=Whole(1, 3), metavar="N",
           pytest=Surface(1, help=DEFAULT)),
    Option("--tier", "how long the benchmarks train: {choices} (full: the course's 3 epochs; ci: one epoch over the "
                     "first rows, every parametrization)", noun="tier",
           pytest=Surface(None, FROM_CALLER, "(default: full where TensorFlow sees a GPU, else ci)")),
    Option("--progress", "{choices}: the fine-tunes' progress on the terminal (bench/session/progress.py): live, one line "
                         "rewritten in place; lines, one per epoch (for logs); auto: live on a terminal, else off "
                         "(default: %(default)s)", noun="progress mode", pytest=Surface("auto", FROM_CALLER)),
    Option("--update-baselines", "measure and rewrite baselines/<model>__<hardware>.json instead of comparing",
           action="store_true", pytest=Surface(False)),
    Option("--history", "append this session's JSON to DIR/<fingerprint>/ as one night (bench/history/nights.py), and judge "
                        "the gated step time against this runner's own nights there (default: $FINETUNE_HISTORY; "
                        "unset: no history)", type=Path, metavar="DIR", pytest=Surface(history_from_env)),
    Option("--reference", "time the gated step time beside revision REV's in alternating processes (checked out "
                          "with git worktree): the record's ratio to it, and the history's step_vs_reference series, "
                          "are free of the host's drift between nights (bench/timing/reference_revision.py; default: "
                          "$FINETUNE_REFERENCE; unset: none)", metavar="REV", pytest=Surface(reference_from_env)),
    Option("--baselines", "the folder of stored baselines, <model>__<fingerprint>.json (default: the repository's "
                          "baselines/)", type=Path, metavar="DIR", pytest=SAME),
    Option("--require-live", "fail the session (exit 1) when one of these gates, which need no baseline, did not "
                             f"run live (passed or failed): {', '.join(REQUIRABLE_GATES)}; the session's last lines "
                             "say which gates were live (bench/session/summary.py; .ci/run asks for all three)",
           type=SomeOf("gate", REQUIRABLE_GATES), metavar="GATE,...", pytest=Surface(())),
    Option("--plant-slowdown", "test hook: make every timed step this fraction slower (e.g. 0.2), to see the gate "
                               "fail; every record carries it (planted_slowdown), and it is refused with "
                               "--update-baselines or --history: a planted session is never stored",
           type=NonNegative(0.2), metavar="F", pytest=Surface(0.0)),
)
BY_FLAG = {option.flag: option for option in OPTIONS}


def flags(surface: str) -> tuple:
    """The flags of `surface` ("cli" or "pytest"), in the table's order."""
    return tuple(option.flag for option in OPTIONS if getattr(option, surface) is not None)


def add_cli(target, chosen) -> None:
    """Add the options `chosen` (flags) to an argparse parser or argument group, as `python -m finetune` has them."""
    for flag in chosen:
        target.add_argument(flag, **BY_FLAG[flag].kwargs("cli"))


def add_to(target, chosen, choices=None, **differs) -> None:
    """Add the options `chosen` (flags) to a tool's argparse parser or argument group (bench/'s commands), with the
    table's help and converter: as `python -m finetune` has them, or pytest for an option the CLI lacks. `differs`
    ({dest: Surface}) is the tool's own surface of a flag that truly differs there (a default, the rest of the help:
    say why beside it); `choices` ({flag: names}) fills in those the table leaves to the caller (--tier)."""
    unknown = set(differs) - {BY_FLAG[flag].dest for flag in chosen}
    if unknown:
        raise ValueError(f"add_to: no flag of {', '.join(sorted(unknown))} among those added: a tool's own surface "
                         "is for a flag it adds")
    for flag in chosen:
        option = BY_FLAG[flag]
        side = differs.get(option.dest) or ("cli" if option.cli is not None else "pytest")
        target.add_argument(flag, **option.kwargs(side, (choices or {}).get(flag)))


def add_pytest(group, chosen, choices=None) -> None:
    """Add the options `chosen` (flags) to a pytest option group (parser.getgroup(...)), as pytest has them;
    `choices` ({flag: names}) fills in those the table leaves to the caller (--tier: bench.session.tiers.TIERS)."""
    for flag in chosen:
        group.addoption(flag, **BY_FLAG[flag].kwargs("pytest", (choices or {}).get(flag)))
