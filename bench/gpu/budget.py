"""The GPU box's plan: which rows `bench/gpu/check.py run --budget-s S` measures, in which pytest sessions, and about
how long each takes, so that a few minutes of a scarce GPU end with records, not with a time-out. Standard library
only (finetune.flops is too): it is printed before anything is installed.

The rows are the quick tier's (bench/session/tiers.py): the training step of one fixed shape (every batch padded to the
task's longest pair, MRPC's 103 tokens), float32 and bf16 (variants `fixed` and `bf16-fixed`), batch 8 and 32, on
torch and on JAX, bert-base's architecture with random weights. torch runs its four rows in one session: its peak GPU
memory is reset per benchmark (torch.cuda.reset_peak_memory_stats, bench/conftest.py). JAX keeps one peak for a
process, so each JAX row is a session of its own and its peak is that row's (with the session's calibration matmul,
0.8 GB at 8192^3 float32: the record says `gpu_memory_scope: process`).

The estimate of a session: SESSION_S (start Python, import Keras 3 and its backend, tokenize the task, the calibration
matmul), then per row MODEL_S (build the model, prepare its batches), FIRST_STEP_S (torch's first eager step) or one
XLA compile of the training step per shape (COMPILE_S, JAX: every batch has one shape here), and the steps: one
untimed pass and the tier's timed passes, each step its training FLOPs at STEP_EFFICIENCY of the rate its precision
runs at. The constants are guesses (no GPU has run this yet); `run` prints each session's estimate beside its
measured time, to set them from the first run. The budget is the whole check's: INSTALL_S for the wheels, the
sessions, REPORT_S for bench.report. A session that does not fit in what is left is not started, and each started
one is killed at what is left (bench.timing.timeouts), so the check ends within the budget with the rows it has.
"""

from __future__ import annotations

from dataclasses import dataclass

from finetune import flops

TIER = "quick"  # bench/session/tiers.py: QUICK_VARIANTS at variant_batch_sizes, variant_batches x variant_passes
VARIANT_BATCHES, VARIANT_PASSES = 8, 3  # the quick tier's (tests/test_gpu_plan.py checks they agree)
PRECISION_VARIANTS = {"bf16": "bf16-fixed", "fp32": "fixed"}
BATCH_SIZES = (32, 8)  # the larger first: the docs' expected figure is at batch 32
FIXED_LENGTH = 103  # MRPC's longest tokenized pair (finetune.data.longest_row): the fixed padding's length
BERT_BASE = flops.Architecture(hidden_size=768, num_hidden_layers=12, intermediate_size=3072, num_attention_heads=12,
                               vocab_size=30522, num_labels=2)

# Guessed costs in seconds (not yet measured on a GPU: `run` prints estimate against measured per session).
INSTALL_S = 20.0  # pip install --no-index of the carried wheels into <out>/site
SESSION_S = 25.0  # a pytest session's start: imports, the task's tokenization, the calibration matmuls
MODEL_S = 8.0  # a row's model (bert-base from its config) and batches
COMPILE_S = 30.0  # JAX: one XLA compile of bert-base's training step
FIRST_STEP_S = 3.0  # torch: the first (eager) step's kernel selection
REPORT_S = 10.0  # python -m bench.report over the records
STEP_EFFICIENCY = 0.30  # of the rate the row's precision runs at (the low end of the expected 30-50%)


@dataclass(frozen=True)
class Device:
    """A GPU the plan is made for: its name as the driver gives it, and the matmul rates in TFLOP/s that a step's
    precisions run at (bf16: measured, dense, 8192^3; float32: TF32 on JAX, true float32 on torch, datasheet)."""
    name: str
    bf16_tflops: float
    tf32_tflops: float
    fp32_tflops: float
    source: str

    def rate(self, backend: str, precision: str) -> float:
        if precision == "bf16":
            return self.bf16_tflops
        return self.tf32_tflops if backend == "jax" else self.fp32_tflops  # XLA's DEFAULT precision is TF32


DEVICES = {
    "h100": Device("NVIDIA H100 80GB HBM3", 790.0, 494.7, 67.0,
                   "bf16: an 8192^3 matmul measured 769-798 TFLOP/s on an H100 80GB HBM3; TF32 and FP32: datasheet"),
    "h200": Device("NVIDIA H200", 788.0, 494.7, 67.0,
                   "bf16: an 8192^3 matmul measured 788 TFLOP/s on an H200; TF32 and FP32: datasheet"),
}


@dataclass(frozen=True)
class Row:
    backend: str  # jax or torch
    precision: str  # fp32 or bf16
    batch_size: int

    @property
    def variant(self) -> str:
        return PRECISION_VARIANTS[self.precision]

    def step_ms(self, device: Device) -> float:
        work = flops.training_flops(BERT_BASE, self.batch_size, FIXED_LENGTH)
        return 1e3 * work / (STEP_EFFICIENCY * device.rate(self.backend, self.precision) * 1e12)

    def seconds(self, device: Device) -> float:
        steps = (VARIANT_PASSES + 1) * VARIANT_BATCHES
        first = COMPILE_S if self.backend == "jax" else FIRST_STEP_S
        return MODEL_S + first + steps * self.step_ms(device) / 1e3

    def describe(self) -> str:
        return f"{self.backend} {self.precision} batch {self.batch_size}"


@dataclass(frozen=True)
class Session:
    """One pytest session of the plan: its backend, its rows and the -k expression that selects them."""
    backend: str
    rows: tuple

    def seconds(self, device: Device) -> float:
        return SESSION_S + sum(row.seconds(device) for row in self.rows)

    def keyword(self) -> str:
        """pytest's -k for exactly these rows of test_variant_step_time (ids: seed0-batch32-bf16-fixed)."""
        if len(self.rows) > 1:
            return "test_variant_step_time and fixed"
        row = self.rows[0]
        precision = "bf16-fixed" if row.precision == "bf16" else "fixed and not bf16"
        return f"test_variant_step_time and batch{row.batch_size} and {precision}"

    def describe(self) -> str:
        return f"{self.backend}: {', '.join(row.describe().removeprefix(self.backend + ' ') for row in self.rows)}"


def sessions(backends: tuple = ("torch", "jax")) -> list[Session]:
    """The default plan, the cheapest rows first: torch's four rows in one session (no compiles, its peak memory reset
    per row), then each JAX row alone (a fresh process: its own peak), bf16 before float32 and batch 32 before 8."""
    ordered = [backend for backend in ("torch", "jax") if backend in backends]
    rows = [Row(b, p, n) for b in ordered for n in BATCH_SIZES for p in ("bf16", "fp32")]
    made = []
    for backend in ordered:
        mine = tuple(row for row in rows if row.backend == backend)
        made += [Session(backend, mine)] if backend == "torch" else [Session(backend, (row,)) for row in mine]
    return made


@dataclass(frozen=True)
class Fitted:
    """What fits in a budget: the sessions that run, those left out, and the estimate of the whole check."""
    runs: tuple
    left_out: tuple
    seconds: float  # install + the sessions that run + the report


def fit(planned: list[Session], device: Device, budget_s: float) -> Fitted:
    """The sessions that fit in `budget_s` in their order (a later, cheaper one may fill what a dearer one left)."""
    spent, runs, left = INSTALL_S + REPORT_S, [], []
    for session in planned:
        cost = session.seconds(device)
        if spent + cost <= budget_s:
            runs.append(session)
            spent += cost
        else:
            left.append(session)
    return Fitted(tuple(runs), tuple(left), spent)


def device_for(driver_names: list[str]) -> tuple[Device, str]:
    """The DEVICES row of this machine's first GPU (nvidia-smi's names), or the H100's, saying which and why."""
    for name in driver_names:
        for key, device in DEVICES.items():
            if key in name.lower():
                return device, f"{name} (nvidia-smi)"
    seen = ", ".join(driver_names) if driver_names else "no GPU named by nvidia-smi"
    return DEVICES["h100"], f"planned as an H100 ({seen})"


def describe(fitted: Fitted, device: Device, budget_s: float) -> list[str]:
    """The plan as printed: one line per session with its estimate, the rows left out, and the total."""
    lines = [f"plan for {device.name}, budget {budget_s:.0f} s (estimates: bench/gpu/budget.py, guessed until a GPU "
             f"has run it): install {INSTALL_S:.0f} s"]
    for session in fitted.runs:
        lines.append(f"  {session.describe()}: about {session.seconds(device):.0f} s "
                     f"(-k \"{session.keyword()}\")")
    for session in fitted.left_out:
        lines.append(f"  left out, over the budget: {session.describe()} (about {session.seconds(device):.0f} s)")
    lines.append(f"  report {REPORT_S:.0f} s; in all about {fitted.seconds:.0f} s ({fitted.seconds / 60:.1f} min)")
    return lines
