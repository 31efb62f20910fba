"""Weights as torch tensors: every function of this layer that takes a tensor also takes a numpy
array (or a nested list of numbers), converted here without a copy where torch can share its
memory (`torch.from_numpy`); nothing in this layer writes to the weights it reads.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import torch

from scalefit.errors import InputError, a_type

ACCEPTED = "a torch tensor, a numpy array or a nested list of numbers"
STATE_DICT = "{name: tensor or numpy array}"


def as_weights(values, what: str = "weights") -> torch.Tensor:
    """`values` as a torch tensor (detached); InputError naming `what` for anything but numbers."""
    if isinstance(values, torch.Tensor):
        return values.detach()
    if isinstance(values, (Mapping, str, bytes, torch.nn.Module)):
        raise InputError(f"{what}: {a_type(values)} is not one tensor (give {ACCEPTED})")
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:  # a ragged list
        raise InputError(f"{what}: cannot read {a_type(values)} as an array of numbers "
                         f"({str(exc).splitlines()[0]})") from None
    if array.dtype.kind not in "biuf":
        raise InputError(f"{what}: {a_type(values)} of {array.dtype} is not numbers (give {ACCEPTED})")
    with warnings.catch_warnings():  # read-only arrays (memory maps) are fine: they are only read
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        try:
            return torch.from_numpy(array)
        except (TypeError, ValueError):  # negative strides, a foreign byte order, a dtype torch lacks
            native = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
            try:
                return torch.from_numpy(native)
            except TypeError:  # float128, uint64 on an older torch
                return torch.from_numpy(native.astype(np.float64))


def named_weights(state: Mapping, what: str = "weight statistics") -> dict[str, torch.Tensor]:
    """{name: tensor} of a state dict whose values are tensors or numpy arrays.

    An empty dict, or an entry that is neither (a training checkpoint's 'step', a nested
    'model' dict), is an InputError naming it rather than a silently shorter table.
    """
    if not state:
        raise InputError(f"{what}: the dict is empty (give a state dict {STATE_DICT})")
    out = {}
    for name, value in state.items():
        if isinstance(value, (torch.Tensor, np.ndarray)):
            out[str(name)] = as_weights(value, f"{what}: '{name}'")
            continue
        hint = (f"; pass that dict itself, e.g. checkpoint['{name}']" if isinstance(value, Mapping) else "")
        raise InputError(f"{what}: entry '{name}' is {a_type(value)}, not a tensor or numpy "
                         f"array (give a state dict {STATE_DICT}){hint}")
    return out
