"""scalefit: scaling laws, loss-to-loss prediction and weight statistics for LM suites.

The three layers live in ``scalefit.evals`` (measure checkpoints), ``scalefit.weightstats``
(measure weight distributions) and ``scalefit.scaling`` (fit laws to the tables). They meet
only through tidy tables keyed on (model, step).
"""

__version__ = "0.1.0"
