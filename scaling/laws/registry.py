"""The one list of scaling laws. The run-table check, the fit engine, the allocation, the CLI
choices, the published constants and the reports all read it.

Adding a law: write one module in scaling/laws/ that defines a ``Law`` subclass (see `law.py`)
and ends with ``LAWS = (MyLaw,)``, then add the module's name to ``LAW_MODULES`` below. A law
defined elsewhere (a notebook, a plugin) joins with ``register(MyLaw)``.
"""
from __future__ import annotations

import importlib

from scalefit.errors import InputError, a_type, suggestion

LAW_MODULES = ("kaplan", "chinchilla", "isoflop", "muennighoff", "momentum", "multipower")

REGISTRY: dict = {}  # law name -> Law subclass, in registration order
ALIASES: dict[str, str] = {}  # alias -> law name


def register(law_class):
    """Add a Law subclass under its ``law_name`` and ``aliases``; returns it (a decorator too)."""
    name = law_class.law_name
    if not name:
        raise ValueError(f"{law_class.__name__}: a law needs a law_name")
    for key in (name, *law_class.aliases):
        owner = REGISTRY.get(ALIASES.get(key, key))
        if owner is not None and owner is not law_class:
            raise ValueError(f"{law_class.__name__}: the law name '{key}' is taken")
    REGISTRY[name] = law_class
    for alias in law_class.aliases:
        ALIASES[alias] = name
    return law_class


for _module in LAW_MODULES:
    for _law in importlib.import_module(f"scalefit.scaling.laws.{_module}").LAWS:
        register(_law)


def canonical_law(law: str) -> str:
    """Map a user's law name (``kaplan``, ``Chinchilla``) to the engine's name, or fail."""
    if not isinstance(law, str):
        raise InputError(f"law: got {a_type(law)}; give a law's name (choose from "
                         f"{', '.join(law_choices())})")
    key = law.strip().lower()
    name = ALIASES.get(key, key)
    if name not in REGISTRY:
        raise InputError(f"unknown law '{law}'{suggestion(key, law_choices(), cutoff=0.75, otherwise='')}"
                         f" (choose from {', '.join(law_choices())})")
    return name


def law_for(law: str):
    """A fresh instance of the law named ``law`` (or one of its aliases)."""
    return REGISTRY[canonical_law(law)]()


def law_choices() -> list[str]:
    """Every name the CLI accepts: the laws in registry order, then their aliases."""
    return list(REGISTRY) + list(ALIASES)


def laws_frame():
    """The registry as a table: one row per law with its aliases, what it reads and predicts."""
    import pandas as pd

    rows = []
    for name, cls in REGISTRY.items():
        law = cls()
        rows.append({"law": name, "aliases": ", ".join(a for a, n in ALIASES.items() if n == name),
                     "params": ", ".join(law.paper_names), "needs": ", ".join(law.needs),
                     "predicts_loss": bool(law.predicts_loss), "doc": (cls.__doc__ or "").strip().split("\n")[0]})
    return pd.DataFrame(rows)
