"""Training FLOPs per step of a BERT-style encoder classifier, and the peak they are compared with (MFU).

The count is for the padded batch actually fed to the model (batch_size x seq_len): pad tokens go
through every matmul, the attention mask only hides them from the softmax. 2 FLOPs per multiply-add.

    per token, per layer:  Q, K, V projections   3 * 2*h*h
                           attention output      2*h*h
                           feed-forward          2 * 2*h*i
                           scores Q.K^T, and the weighted sum of V     2 * 2*seq_len*h
    per sequence:          pooler 2*h*h (the [CLS] token only), classifier 2*h*num_labels

Not counted: embedding lookups (gathers, not matmuls), layer norm, softmax, GELU, biases and dropout
(elementwise, O(h) per token against O(h*h)). Training = 3 x forward: the backward pass computes, for
every matmul, the gradient of its input and of its weight, each as costly as the forward product
(the usual approximation, e.g. Kaplan et al. 2020 "C = 6N per token"; PaLM's MFU, Chowdhery et al. 2022, app. B).
As with every sequence-length-dependent count, average the FLOPs of each timed batch, never the FLOPs
of the average length: the attention term is quadratic in seq_len.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

FIELDS = ("hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "vocab_size", "num_labels")


@dataclass(frozen=True)
class Architecture:
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    num_attention_heads: int
    vocab_size: int  # only the embedding table uses it, and lookups cost no FLOPs; kept to describe the model
    num_labels: int

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of "
                             f"num_attention_heads {self.num_attention_heads}")

    @classmethod
    def from_config(cls, cfg, num_labels: int | None = None) -> "Architecture":
        """From a transformers config (e.g. `model.config`) or a dict of the same keys (config.json).

        `num_labels` overrides the config's: a checkpoint's config.json describes its pre-training
        head, the fine-tune replaces it (MRPC: 2 labels).
        """
        get = cfg.get if isinstance(cfg, dict) else (lambda name: getattr(cfg, name, None))
        values = {name: get(name) for name in FIELDS}
        if num_labels is not None:
            values["num_labels"] = num_labels
        elif values["num_labels"] is None and get("id2label"):
            values["num_labels"] = len(get("id2label"))
        missing = [name for name, value in values.items() if value is None]
        if missing:
            raise ValueError(f"model config has no {', '.join(missing)}: not a BERT-style encoder config")
        return cls(**{name: int(value) for name, value in values.items()})


def forward_flops(arch: Architecture, batch_size: int, seq_len: int) -> float:
    """FLOPs of one forward pass over a padded batch (see the module docstring for what is counted)."""
    h, i = arch.hidden_size, arch.intermediate_size
    per_token_per_layer = 3 * 2 * h * h + 2 * h * h + 2 * 2 * h * i + 2 * 2 * seq_len * h
    per_sequence = 2 * h * h + 2 * h * arch.num_labels
    return float(arch.num_hidden_layers * batch_size * seq_len * per_token_per_layer + batch_size * per_sequence)


def training_flops(arch: Architecture, batch_size: int, seq_len: int) -> float:
    """FLOPs of one training step: forward + backward, the backward taken as 2 x forward."""
    return 3 * forward_flops(arch, batch_size, seq_len)


@dataclass(frozen=True)
class Peak:
    tflops: float  # dense: NVIDIA's headline figures assume 2:4 structured sparsity and are halved here
    precision: str  # the matmul input type the figure is for: bf16, fp16, tf32
    source: str


# Peak dense tensor-core throughput per GPU and precision. TensorFlow and JAX run float32 matmuls as TF32 on
# Ampere and newer unless turned off (tf.config.experimental.enable_tensor_float_32_execution(False), JAX's
# default matmul precision "highest"); PyTorch only with torch.backends.cuda.matmul.allow_tf32: such runs are
# "tf32", the others "fp32", whose peak is the datasheet's FP32 (no tensor cores). Turing (T4) and Volta (V100)
# have no bf16 or tf32 tensor cores.
PEAK_FLOPS = {
    ("H100 SXM", "bf16"): Peak(989.4, "bf16", "NVIDIA H100 datasheet, SXM5: 1,979 with sparsity"),
    ("H100 SXM", "tf32"): Peak(494.7, "tf32", "NVIDIA H100 datasheet, SXM5: 989 with sparsity"),
    ("H100 SXM", "fp32"): Peak(67.0, "fp32", "NVIDIA H100 datasheet, SXM5: FP32"),
    ("H100 PCIe", "bf16"): Peak(756.0, "bf16", "NVIDIA H100 datasheet, PCIe: 1,513 with sparsity"),
    ("H100 PCIe", "tf32"): Peak(378.0, "tf32", "NVIDIA H100 datasheet, PCIe: 756 with sparsity"),
    ("H100 PCIe", "fp32"): Peak(51.0, "fp32", "NVIDIA H100 datasheet, PCIe: FP32"),
    ("H200", "bf16"): Peak(989.4, "bf16", "NVIDIA H200 datasheet, SXM: 1,979 with sparsity (H100 SXM compute)"),
    ("H200", "tf32"): Peak(494.7, "tf32", "NVIDIA H200 datasheet, SXM: 989 with sparsity"),
    ("H200", "fp32"): Peak(67.0, "fp32", "NVIDIA H200 datasheet, SXM: FP32"),
    ("A100", "bf16"): Peak(312.0, "bf16", "NVIDIA A100 datasheet (SXM4 and PCIe, 40 and 80 GB): 624 with sparsity"),
    ("A100", "tf32"): Peak(156.0, "tf32", "NVIDIA A100 datasheet: 312 with sparsity"),
    ("A100", "fp32"): Peak(19.5, "fp32", "NVIDIA A100 datasheet: FP32"),
    ("L40S", "bf16"): Peak(362.05, "bf16", "NVIDIA L40S datasheet: 733 with sparsity"),
    ("L40S", "tf32"): Peak(183.0, "tf32", "NVIDIA L40S datasheet: 366 with sparsity"),
    ("L4", "bf16"): Peak(121.0, "bf16", "NVIDIA L4 datasheet: 242 with sparsity"),
    ("L4", "tf32"): Peak(60.0, "tf32", "NVIDIA L4 datasheet: 120 with sparsity"),
    ("A10G", "bf16"): Peak(70.0, "bf16", "approximate: NVIDIA publishes no A10G datasheet; 70 as cited by AWS "
                                         "partners (Baseten, 'NVIDIA A10 vs A10G'); the A10 is 125"),
    ("A10G", "tf32"): Peak(35.0, "tf32", "approximate: half the bf16 rate, as on all Ampere parts; no datasheet"),
    ("T4", "fp16"): Peak(65.0, "fp16", "NVIDIA T4 datasheet: mixed-precision FP16/FP32 tensor"),
    ("V100 SXM2", "fp16"): Peak(125.0, "fp16", "NVIDIA V100 datasheet, SXM2: tensor performance"),
    ("V100 PCIe", "fp16"): Peak(112.0, "fp16", "NVIDIA V100 datasheet, PCIe: tensor performance"),
}
# Ampere and newer datacenter parts run fp16 and bf16 tensor matmuls at the same rate (their datasheets
# list the two side by side), so a bf16 row also answers for fp16.
SAME_RATE = {"fp16": "bf16"}
PRECISION_NAMES = {"bfloat16": "bf16", "mixed_bfloat16": "bf16", "float16": "fp16", "mixed_float16": "fp16",
                   "tensorfloat32": "tf32", "float32": "fp32"}

# TensorFlow's device names, e.g. "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "Tesla T4": the first
# rule whose words all appear in the name wins. TF names the H100 SXM without its form factor, so an H100
# is SXM unless the name says PCIe; NVL parts have their own clocks and power limits and no row here.
DEVICE_RULES = (
    (("h100", "pcie"), "H100 PCIe"),
    (("h100", "nvl"), None),
    (("h100",), "H100 SXM"),
    (("h200", "nvl"), None),
    (("h200",), "H200"),
    (("a100",), "A100"),
    (("a10g",), "A10G"),
    (("l40s",), "L40S"),
    (("l4",), "L4"),
    (("t4",), "T4"),
    (("v100", "pcie"), "V100 PCIe"),
    (("v100",), "V100 SXM2"),
)


def gpu_model(device_name: str) -> str | None:
    """The PEAK_FLOPS name of a TensorFlow GPU device name, or None (CPUs, GPUs not in the table).

    A step runs on the first GPU only, so of "NVIDIA H100 80GB HBM3, NVIDIA H100 80GB HBM3" the first counts.
    """
    words = set(re.findall(r"[a-z0-9]+", device_name.split(",")[0].lower()))
    for needed, model in DEVICE_RULES:
        if words.issuperset(needed):
            return model
    return None


def peak_for(device_name: str, precision: str) -> Peak | None:
    """The dense peak of this device at this precision, or None where none is known (then MFU is n/a)."""
    model = gpu_model(device_name or "")
    if model is None:
        return None
    precision = PRECISION_NAMES.get(precision.lower(), precision.lower())
    if (model, precision) in PEAK_FLOPS:
        return PEAK_FLOPS[model, precision]
    same = PEAK_FLOPS.get((model, SAME_RATE.get(precision)))
    if same is None:
        return None
    return replace(same, precision=precision, source=f"{same.source} ({precision} runs at the {same.precision} rate)")


def mfu(achieved_flops_per_s: float, peak: Peak | None) -> float | None:
    """Model FLOPs utilisation: achieved / peak, as a fraction; None without a peak."""
    if peak is None:
        return None
    return achieved_flops_per_s / (peak.tflops * 1e12)
