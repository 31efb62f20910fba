"""The registry of measurements the sweep engine can run on each checkpoint, by name.

A measurement kind is a small object: its name, the table its rows go to, and `build(**options)`
that turns a command's options into the `Measurement`s to run (one per dataset for `loss`, one
lm-eval call for `tasks`, one pass over the tensors for `weights`). The module that defines a
kind registers it when it is imported:

    LOSS = register_measurement(MeasurementKind("loss", table="evals", build=loss_measurements,
                                                summary="mean NLL and bits per byte per dataset"))

`scalefit eval` and `scalefit weights` resolve what to measure here (`build_measurements`) and run
it through the one engine function, `scalefit.sweep.engine.sweep_checkpoints`. The built-in kinds:
`loss` (scalefit.evals.measures), `tasks` (scalefit.evals.downstream), `weights`
(scalefit.sweep.weights); `scalefit.evals.evaluate` imports all three.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from scalefit.errors import InputError
from scalefit.sweep.engine import Measurement


@dataclass(frozen=True)
class MeasurementKind:
    """A kind of measurement: name, output table, and how to build it from keyword options."""

    name: str
    table: str  # the long table its rows go to ("evals", "weights")
    build: Callable[..., list[Measurement]]  # (**options) -> the measurements to run
    summary: str = ""  # one line for listings


MEASUREMENTS: dict[str, MeasurementKind] = {}


def register_measurement(kind: MeasurementKind) -> MeasurementKind:
    """Add a kind to the registry (a name is registered once) and return it."""
    known = MEASUREMENTS.get(kind.name)
    if known is not None and known is not kind:
        raise ValueError(f"measurement '{kind.name}' is already registered")
    MEASUREMENTS[kind.name] = kind
    return kind


BUILT_IN = ("scalefit.evals.measures", "scalefit.evals.downstream", "scalefit.sweep.weights")


def known_measurements() -> dict[str, MeasurementKind]:
    """Every registered kind, the built-in ones loaded first (the registry filled only as their
    modules were imported, so a notebook listing it saw nothing)."""
    import importlib

    for module in BUILT_IN:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:  # an extra not installed (torch, lm-eval): its kind is absent
            pass
    return dict(MEASUREMENTS)


def measurement_kind(name: str) -> MeasurementKind:
    """The registered kind called `name`; InputError naming the known ones otherwise."""
    if name not in MEASUREMENTS:
        known_measurements()
    try:
        return MEASUREMENTS[name]
    except KeyError:
        raise InputError(f"unknown measurement '{name}' (known: {', '.join(sorted(MEASUREMENTS))})") from None


def build_measurements(requests: Mapping[str, Mapping]) -> list[Measurement]:
    """The measurements of a sweep: {kind name: its options}, in the order given.

    Every measurement a kind builds writes to that kind's table.
    """
    out = []
    for name, options in requests.items():
        kind = measurement_kind(name)
        for m in kind.build(**dict(options)):
            if m.table != kind.table:
                raise ValueError(f"measurement '{m.name}' of kind '{name}' writes to '{m.table}', "
                                 f"not to the kind's table '{kind.table}'")
            out.append(m)
    return out
