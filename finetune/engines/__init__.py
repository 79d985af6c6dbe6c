"""The engines a fine-tune runs on, behind one interface (finetune/engines/base.py), imported only when chosen.

    ENGINES[name] = "module:Class"        # adding an engine: one file and one row here (docs/engines.md)

`$FINETUNE_ENGINES` adds rows for a process and its children (the timing processes inherit it): comma-separated
`name=module:Class`, e.g. the unit tests' numpy engine, `fake=tests.fake_engine:FakeEngine`. Imports no framework.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from finetune.engines.base import Engine, Trained
from finetune.errors import FinetuneError

__all__ = ["Engine", "Trained", "ENGINES", "Row", "names", "all_backends", "engine_class", "validate", "get"]


@dataclass(frozen=True)
class Row:
    where: str  # "module:Class"
    backends: tuple = ()  # the engine's --backend values (its class's `backends`), for the flags' choices


ENGINES = {
    "tf-keras": Row("finetune.engines.tf_keras:TfKeras"),  # transformers' TF classes on tf-keras: the course's
    "keras3": Row("finetune.engines.keras3:Keras3", ("jax", "tensorflow", "torch")),  # Keras 3 + keras-hub
}


def _rows() -> dict:
    rows = dict(ENGINES)
    for item in filter(None, (part.strip() for part in os.environ.get("FINETUNE_ENGINES", "").split(","))):
        name, _, where = item.partition("=")
        if not name or ":" not in where:
            raise FinetuneError(f"FINETUNE_ENGINES: {item!r} is not name=module:Class")
        rows[name.strip()] = Row(where.strip())
    return rows


def all_backends() -> tuple:
    """Every engine's backends, in the table's order (the --backend flag's choices)."""
    return tuple(dict.fromkeys(b for row in _rows().values() for b in row.backends))


def names() -> tuple:
    """Every engine's name, the default first."""
    return tuple(_rows())


def engine_class(name: str) -> type[Engine]:
    rows = _rows()
    if name not in rows:
        raise FinetuneError(f"unknown engine {name!r}: choose one of {', '.join(rows)}")
    module, _, cls = rows[name].where.partition(":")
    try:
        found = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as err:
        raise FinetuneError(f"engine {name!r}: cannot import {rows[name].where} ({err})") from None
    return found


def validate(name: str, backend: str | None) -> None:
    """A bad engine, or a backend its engine does not take: one line (each engine checks its own options)."""
    engine_class(name).validate(backend)


def get(name: str, backend: str | None = None) -> Engine:
    """The engine `name` on `backend`, validated (a bad pair: one line)."""
    return engine_class(name)(backend)
