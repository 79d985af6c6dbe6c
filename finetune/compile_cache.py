"""The persistent compile cache: XLA's executables kept on disk across processes, so that a variant's compiles are
paid once per runner (the nightly's first night), not once per process.

    FINETUNE_COMPILE_CACHE=~/.cache/finetune/xla python -m finetune --perf xla-buckets ...
    FINETUNE_COMPILE_CACHE=~/.cache/finetune/xla pytest bench/

Both frameworks read their cache settings when they start, so the variable is read once, by `configure`, when
`finetune` is imported (finetune/__init__.py, before TensorFlow or JAX); every process it starts inherits it:
- TensorFlow keeps each XLA cluster's executable under DIR/tf-xla (`--tf_xla_persistent_cache_directory` in
  TF_XLA_FLAGS). It still traces the step and lowers it to HLO; only XLA's compile of it is skipped.
- JAX keeps its compilation cache under DIR/jax (JAX_COMPILATION_CACHE_DIR), every compile kept (by default only
  those over 1 s are).
An entry is keyed by the compiled computation (its program and shapes; TensorFlow's also by its signature), so a
changed step is a miss, never a wrong hit; a new library version may miss everything once. Each fine-tune records how it found the cache (`Snapshot.label`): a cold run (nothing held: a fresh
runner) and a warm one (what it compiles was held) are both honest figures, and never compared unlabelled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV = "FINETUNE_COMPILE_CACHE"
TF_FLAG = "--tf_xla_persistent_cache_directory"
FOLDERS = ("tf-xla", "jax")


def configure(environ=os.environ) -> Path | None:
    """Point TensorFlow's and JAX's persistent caches into $FINETUNE_COMPILE_CACHE (a caller's own TF_XLA_FLAGS
    cache directory or JAX_COMPILATION_CACHE_DIR wins). None where the variable is unset: no cache."""
    folder = root(environ)
    if folder is None:
        return None
    flags = environ.get("TF_XLA_FLAGS", "")
    if TF_FLAG not in flags:
        environ["TF_XLA_FLAGS"] = f"{flags} {TF_FLAG}={folder / FOLDERS[0]}".strip()
    environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(folder / FOLDERS[1]))
    environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return folder


def root(environ=os.environ) -> Path | None:
    value = environ.get(ENV)
    return Path(value).expanduser().absolute() if value else None


def entries(folder: Path | None) -> int:
    """Executables held under `folder` (files; 0 where it does not exist yet)."""
    if folder is None or not folder.is_dir():
        return 0
    return sum(1 for path in folder.rglob("*") if path.is_file())


@dataclass(frozen=True)
class Snapshot:
    """The cache as a fine-tune found it; `label` says afterwards how that fine-tune used it."""

    folder: Path | None
    held: int

    @classmethod
    def take(cls, environ=os.environ) -> "Snapshot":
        folder = root(environ)
        return cls(folder, entries(folder))

    def label(self, compiles: bool) -> str:
        """off; unused (the run compiled nothing with XLA); cold (nothing held: every compile paid and stored);
        warm (something held and nothing new stored: every compile read back); partly warm."""
        if self.folder is None:
            return "off"
        stored = max(0, entries(self.folder) - self.held)
        counts = f"{self.held} held, {stored} stored"
        if not compiles:
            return f"unused: no XLA compile ({counts})"
        if self.held == 0:
            return f"cold ({counts})"
        return f"warm ({counts})" if stored == 0 else f"partly warm ({counts})"
