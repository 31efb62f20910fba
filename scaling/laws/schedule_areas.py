"""The LR-schedule sums that the schedule-aware laws read: the forward area S1, the momentum
annealing area S2 (Tissue et al. 2024) and the multi-power loss drop LD (Luo et al. 2025).

Pure numpy. ``eta`` is the LR at every step 0..T in any unit (the laws divide it by a reference
LR first, the largest LR of the fitted table, which only rescales their A, C and B).

Timing: ``eta[s]`` is the ``lr`` logged at step s, what ``lr_at_step(schedule, s)`` returns, and
the LR of the update that takes the model from step s to s + 1. That is GPT-NeoX's timing (its
scheduler steps after each update), so Pythia's and scalefit's trainer's: the first update runs
at eta_0, which is 0 after a warmup from 0. The checkpoint at step t is made by the t updates at
eta_0 .. eta_{t-1}, and the papers' eta_i (the LR of the i-th update) is our eta_{i-1}:

    S1(t) = sum_{j=0..t-1} eta_j                   forward area of the t updates, warmup included
                                                   (Tissue's S1; Luo's S1(t) + S_W)
    d_j   = eta_{j-1} - eta_j                      the LR's fall from update j to update j + 1
    m_i   = lambda m_{i-1} + d_{i-1},  S2(t) = sum_{i=1..t} m_i        (Tissue eq. 4, m_i of the
                                                                      i-th update)
    LD(t) = sum_{k=1..t-1} d_k G(eta_k^-gamma S_k(t)),  S_k(t) = sum_{tau=k..t-1} eta_tau,
            G(x) = 1 - (C x + 1)^-beta                                (Luo eq. 6-7, without B)

S1 is 0 at step 0 and, after a warmup from LR 0, at step 1 too (its one update ran at LR 0:
Pythia's step 1 holds the weights of its step 0); there the laws' A S1^-alpha has no value, and
``first_trained_step`` is the first step past it. A table whose logger writes at step s the LR of
the update that made step s (the update from s - 1 to s) counts one update late: give its lr
column, at each step s, the LR that log shows at step s + 1 (the LR its schedule gives the next
update), or the laws count each checkpoint's last update at the next one's LR and its first not
at all. There is no option for the other timing: the suites, the trainer and lr_at_step share this
one.

The LR changes of the warmup (rises before the LR first reaches its peak) enter neither S2 nor LD:
both papers measure annealing from the end of warmup.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from scalefit.errors import InputError

TISSUE_LAMBDA = 0.999  # Tissue et al.'s momentum decay (they report 0.99-0.999 all fit well)
ETA_FLOOR = 1e-12  # an LR of 0 in eta_k^-gamma is read as this (G is then 1)


def lr_per_step(steps, lr, last_step: int | None = None) -> np.ndarray:
    """The LR at every step 0..last_step from an ``lr`` column at some steps (linear between
    the steps given, held flat past the ends): a table's checkpoints become a whole schedule."""
    steps = np.asarray(steps, float)
    lr = np.asarray(lr, float)
    if steps.size == 0 or not np.all(np.isfinite(lr)) or np.any(lr < 0):
        raise InputError("lr column: needs finite, non-negative values at one step or more")
    order = np.argsort(steps)
    last = int(steps.max()) if last_step is None else int(last_step)
    return np.interp(np.arange(last + 1), steps[order], lr[order])


def warmup_end(eta) -> int:
    """The first step at which the LR reaches its maximum (0 for a schedule without warmup)."""
    return int(np.argmax(np.asarray(eta, float)))


def lr_drops(eta) -> np.ndarray:
    """d_k = eta_{k-1} - eta_k for k = 0..T (d_0 = 0), zero up to the end of warmup."""
    eta = np.asarray(eta, float)
    d = np.zeros_like(eta)
    d[1:] = eta[:-1] - eta[1:]
    d[: warmup_end(eta) + 1] = 0.0
    return d


def first_trained_step(eta) -> int:
    """The first step whose checkpoint an update at an LR above 0 made, where S1 > 0: 1, or 2
    after a warmup from LR 0 (len(eta) if the LR is 0 at every step)."""
    positive = np.asarray(eta, float) > 0
    return int(np.argmax(positive)) + 1 if positive.any() else positive.size


def forward_area(eta) -> np.ndarray:
    """S1(t) for t = 0..T: the sum of the LR of the t updates made before step t, eta_0 ..
    eta_{t-1} (0 at step 0)."""
    eta = np.asarray(eta, float)
    s1 = np.zeros_like(eta)
    s1[1:] = np.cumsum(eta)[:-1]
    return s1


def annealing_area(eta, lam: float = TISSUE_LAMBDA) -> np.ndarray:
    """S2(t) for t = 0..T: the sum of the momentum m_i = lam m_{i-1} + d_{i-1} of the t updates
    made before step t (the i-th update runs at eta_{i-1}, and d_{i-1} is its fall from the one
    before it)."""
    if not 0.0 <= lam < 1.0:
        raise InputError(f"lambda: the momentum decay must be in [0, 1), got {lam}")
    d = lr_drops(eta)
    m, momentum = [0.0], 0.0
    for drop in d[:-1].tolist():  # a first-order filter on Python floats: T steps, ~0.1 us each
        momentum = lam * momentum + drop
        m.append(momentum)
    return np.cumsum(np.array(m, float))


def loss_drop(eta, steps, C: float, beta: float, gamma: float) -> np.ndarray:
    """LD(t)/B at the given steps: the multi-power law's loss reduction from the LR drops of the
    updates made before each step (a drop d_k counts from step k + 1, once the update from k to
    k + 1 has run at the lower LR)."""
    live, d_k, eta_k, cols, s_kt, recent = drop_terms(eta, steps)
    if d_k.size == 0:
        return np.zeros(live.shape[0], float)
    # a finite-difference Jacobian moves L0, A, alpha, B at the same (C, beta, gamma): LD again
    key = (C, beta, gamma) if np.ndim(C) == np.ndim(beta) == np.ndim(gamma) == 0 else None
    if key is not None and key in recent:
        return recent[key].copy()
    g = (eta_k ** (-gamma))[cols]  # in place from here: G(x) of the live entries
    g *= s_kt
    g *= C
    g += 1.0
    g **= -beta
    np.subtract(1.0, g, out=g)
    full = _zeroed(live.shape)
    full[live] = g
    out = full @ d_k
    if key is not None:
        if len(recent) >= 4:
            recent.clear()
        recent[key] = out.copy()
    return out


_BUFFER = threading.local()  # each thread's scratch (steps x k) matrix for loss_drop


def _zeroed(shape) -> np.ndarray:
    """A zero (steps x k) matrix in this thread's reused buffer: a fresh one of ~1 MB per LD
    evaluation cost more in page faults than the arithmetic."""
    size = shape[0] * shape[1]
    buffer = getattr(_BUFFER, "array", None)
    if buffer is None or buffer.size < size:
        buffer = _BUFFER.array = np.empty(max(size, 1), float)
    out = buffer[:size].reshape(shape)
    out.fill(0.0)
    return out


_DROP_TERMS: OrderedDict = OrderedDict()  # (eta, steps) bytes -> drop_terms, most recent last
_DROP_TERMS_KEPT = 32  # a fit evaluates LD thousands of times on the same few runs
_DROP_TERMS_LOCK = threading.Lock()


def drop_terms(eta, steps) -> tuple:
    """What LD reads of a schedule at ``steps``, whatever C, beta, gamma: (live, d_k, eta_k,
    cols, s_kt, recent). k are the steps where the LR fell (d_k = eta_{k-1} - eta_k > 0), eta_k the LR
    there (floored at ETA_FLOOR); ``live`` (steps x k) marks k <= t - 1 (the update from k ran
    before step t), and ``cols`` and ``s_kt`` give, for each live entry in row-major order, its k
    and S_k(t) = sum_{tau=k..t-1} eta_tau.
    Only the live entries are raised to powers (the rest of G is 0), and a fit's thousands of
    evaluations on the same runs reuse these (kept for the last few (eta, steps)); ``recent``
    holds LD at the last few (C, beta, gamma) asked for."""
    eta = np.ascontiguousarray(eta, float)
    steps = np.ascontiguousarray(steps, int)
    key = (eta.tobytes(), steps.tobytes())
    with _DROP_TERMS_LOCK:
        if key in _DROP_TERMS:
            _DROP_TERMS.move_to_end(key)
            return _DROP_TERMS[key]
    d = lr_drops(eta)
    k = np.flatnonzero(d)  # only the steps where the LR changed contribute
    csum = np.cumsum(eta)
    last = steps - 1  # the last update made before step t, the one from t - 1 to t
    live = k[None, :] <= last[:, None]
    rows, cols = np.nonzero(live)
    # S_k(t) = csum[t-1] - csum[k-1] for k <= t - 1 (k >= 1: d_0 = 0)
    s_kt = np.maximum(csum[last[rows]] - csum[k[cols] - 1], 0.0)
    terms = (live, d[k], np.maximum(eta[k], ETA_FLOOR), cols, s_kt)
    for array in terms:
        array.setflags(write=False)
    terms += ({},)
    with _DROP_TERMS_LOCK:
        _DROP_TERMS[key] = terms
        while len(_DROP_TERMS) > _DROP_TERMS_KEPT:
            _DROP_TERMS.popitem(last=False)
    return terms
