"""finetune: the Hugging Face course's Keras fine-tuning recipe (chapter 3) as a small library.

    python -m finetune --model minilm-l6 --loss from_logits --optimizer linear-decay --epochs 3

This module is the one place where process-wide environment for TensorFlow is set: transformers'
TF models need Keras 2 (tf-keras), which TensorFlow 2.16+ only uses when TF_USE_LEGACY_KERAS=1
is set *before* TensorFlow is first imported. Import `finetune` before `tensorflow`.
"""

import glob
import os

# The environment as this process found it, before this package (and what it imports) set anything: the reference
# revision's timing processes start from it (bench.timing.processes.initial_environment).
STARTING_ENVIRONMENT = dict(os.environ)

# TensorFlow's C++ log: where no NVIDIA driver is installed, its CUDA probe logs an error on every start ("failed
# call to cuInit: ... UNKNOWN ERROR (303)"), so only fatal messages are shown there; elsewhere warnings are hidden
# and errors shown. TF_CPP_MIN_LOG_LEVEL set by the caller wins (0 shows everything, the probe included).
NVIDIA_DRIVER = bool(glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/dxg"))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if NVIDIA_DRIVER else "3")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
# $FINETUNE_COMPILE_CACHE: XLA's persistent caches (TensorFlow's and JAX's), which both read when they start
from finetune import compile_cache  # noqa: E402

compile_cache.configure()

from finetune.config import RunConfig  # noqa: E402
from finetune.errors import FinetuneError  # noqa: E402

__all__ = ["RunConfig", "FinetuneError", "finetune"]


def __getattr__(name: str):
    """`finetune.finetune` is `finetune.train.finetune` (one fine-tune), imported on first use: importing the
    package stays free of TensorFlow."""
    if name == "finetune":
        from finetune.train import finetune

        return finetune
    raise AttributeError(f"module 'finetune' has no attribute {name!r}")
