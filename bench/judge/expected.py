"""Whether a GPU row's step is where its FLOPs say it should be: its training FLOPs at MFU_RANGE of the rate its
precision runs at, measured in the same run (the calibration matmul), give the expected step time. A step slower than
the range's slow end leaves the tensor cores idle more than a BERT training step should (input pipeline, launches, a
precision that did not apply); one faster than its fast end means the FLOPs or the rate are miscounted.

bert-base at batch 32 and length 128 in bf16 is 2.145e12 training FLOPs a step (finetune.flops); at 30-50% of about
790 TFLOP/s, an H100's measured dense bf16, that is 5.4-9.1 ms."""

from __future__ import annotations

from dataclasses import dataclass

MFU_RANGE = (0.30, 0.50)  # what a well-fed BERT training step reaches of the measured dense matmul rate


@dataclass(frozen=True)
class Expected:
    fast_ms: float  # at the range's high end of MFU
    slow_ms: float  # at its low end

    def judge(self, step_ms: float) -> str:
        if step_ms > self.slow_ms:
            return f"slower than expected ({step_ms / self.slow_ms:.2f}x the slow end)"
        if step_ms < self.fast_ms:
            return f"faster than expected ({self.fast_ms / step_ms:.2f}x the fast end): check the FLOPs and the rate"
        return "as expected"

    def text(self) -> str:
        return f"{self.fast_ms:.3g}-{self.slow_ms:.3g} ms"


def expected(flops_per_step: float, rate_tflops: float, mfu: tuple = MFU_RANGE) -> Expected:
    """The step time of `flops_per_step` training FLOPs at `mfu` (low, high) of `rate_tflops`."""
    low, high = mfu
    if not 0 < low <= high <= 1 or rate_tflops <= 0 or flops_per_step <= 0:
        raise ValueError(f"no expected step from {flops_per_step} FLOPs at {mfu} of {rate_tflops} TFLOP/s")
    per_ms = rate_tflops * 1e12 / 1e3
    return Expected(fast_ms=flops_per_step / (high * per_ms), slow_ms=flops_per_step / (low * per_ms))
