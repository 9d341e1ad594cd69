"""Package attributes loaded on first use (PEP 562), for packages whose public API
includes heavy modules (servers, Redis, plots) that most commands never touch."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports the module ``names[attr]`` when ``attr`` is used.

    Module names are absolute (``"tracker.server"``), so a package may also re-export
    a name defined elsewhere.
    """

    def load(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return load
