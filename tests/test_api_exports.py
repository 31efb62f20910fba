"""The top-level API: every name a notebook starts from is `from scalefit import NAME`, is the
defining module's own object, and importing scalefit loads no layer (torch stays unloaded)."""
import importlib
import subprocess
import sys

import pytest

import scalefit


@pytest.mark.parametrize("name", sorted(scalefit.API))
def test_each_top_level_name_is_the_modules_own(name):
    module = importlib.import_module(f"scalefit.{scalefit.API[name]}")
    assert getattr(scalefit, name) is getattr(module, name)
    assert (getattr(scalefit, name).__doc__ or "").strip(), f"{name} has no docstring"


def test_import_scalefit_loads_no_layer_and_unknown_names_fail():
    code = ("import sys, scalefit; from scalefit import fit_law; "
            "print(sorted(m for m in ('torch', 'transformers', 'lm_eval', 'scalefit.evals') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    with pytest.raises(AttributeError, match="no attribute 'fit_lwa'"):
        scalefit.fit_lwa  # noqa: B018
    assert "fit_law" in dir(scalefit)
