"""The paper-named scales of a law (A = exp(log_A)) that ``Law.fit`` leaves out of lmfit's loop
and adds after it: the fitted Parameters, stderr propagated through the expression, uvars, init
values and the fit report must be lmfit's own, as if it had evaluated the expressions at every
step (lmfit.Model.fit called directly is the reference)."""
from __future__ import annotations

import lmfit
import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.laws.fit import _fit_one, fit_law
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.runtable import as_run_table
from scalefit.scaling.objective import HUBER_DELTA


def chinchilla_runs():
    N = np.geomspace(1e7, 1e10, 5).repeat(4)
    D = N * np.tile([5.0, 20.0, 50.0, 200.0], 5)
    L = law_forms.chinchilla(N, D, E=1.8, A=480.0, B=2000.0, alpha=0.35, beta=0.37)
    return pd.DataFrame({"params": N, "tokens": D,
                         "loss": L * np.exp(np.random.default_rng(3).normal(0, 0.004, L.size))})


def kaplan_n_runs():
    N = np.geomspace(1e6, 1e12, 25)
    L = law_forms.kaplan_n(N, N_c=8.8e13, alpha_N=0.076)
    return pd.DataFrame({"params": N, "loss": L * np.exp(np.random.default_rng(4).normal(0, 0.003, 25))})


RUNS = {"chinchilla": chinchilla_runs, "kaplan-n": kaplan_n_runs}


def state(params):
    """Everything a Parameter holds that a user or report reads, with its type (its stored value
    first: reading ``value`` evaluates an expression)."""
    return [(name, repr(vars(p)["_val"]), repr(p.value), repr(p.stderr), repr(p.init_value), p.correl, p.expr, p.vary,
             p.min, p.max) for name, p in params.items()]


def engine_fit(law, fit):
    """The engine's fit (its options) of the law's best start, through ``fit`` (a Model.fit)."""
    model = law_for(law)
    table = as_run_table(RUNS[law](), law)
    indep = table.variables(model.needs)
    params = model.starts(table.L, k=1, **indep)[0]
    return model, params, _fit_one(_With(model, fit), params, np.log(table.L), indep, HUBER_DELTA)


class _With:
    """The model, its ``fit`` replaced (lmfit's own, to get the reference)."""

    def __init__(self, model, fit):
        self.model, self.fit_method = model, fit

    def fit(self, *args, **kwargs):
        return self.fit_method(self.model, *args, **kwargs)


@pytest.mark.parametrize("law", sorted(RUNS))
def test_derived_scales_are_what_lmfit_gives(law):
    model, given, ours = engine_fit(law, type(law_for(law)).fit)
    _, _, reference = engine_fit(law, lmfit.Model.fit)
    derived = [name for name in reference.params if reference.params[name].expr]
    assert derived == list(model.log_scales)
    assert state(ours.params) == state(reference.params)
    assert state(ours.init_params) == state(reference.init_params)
    assert [(k, repr(u.nominal_value), repr(u.std_dev)) for k, u in ours.uvars.items()] == \
        [(k, repr(u.nominal_value), repr(u.std_dev)) for k, u in reference.uvars.items()]
    assert ours.fit_report() == reference.fit_report()
    for name in derived:  # the caller's Parameters keep their expression, untouched
        assert given[name].expr == f"exp(log_{name})" and given[name].stderr is None


def test_fit_law_reports_each_scale_as_exp_of_its_log_with_propagated_stderr():
    result = fit_law(chinchilla_runs(), "chinchilla", n_bootstrap=0)
    fitted = result.model_result.params
    out = result.to_dict()["params"]
    for name in ("A", "B"):
        log = fitted[f"log_{name}"]
        assert out[name]["value"] == float(np.exp(log.value))
        # first-order propagation: d exp(x) = exp(x) dx (lmfit's derivative is numerical)
        assert out[name]["stderr_fit"] == pytest.approx(np.exp(log.value) * log.stderr, rel=1e-6)
        assert out[name]["stderr_fit"] > 0
