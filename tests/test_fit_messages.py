"""Messages of the fitting core after an audit: near-name suggestions, holdout refusals, notes."""
import pandas as pd
import pytest

from scalefit.errors import InputError, suggestion


def test_suggestion_takes_a_cutoff_and_loss_to_loss_offers_only_a_near_column():
    # the default (0.5) offers a loose match; a table's columns ask for a near one
    assert suggestion("val_loss", ["train_loss_5"]) == "; did you mean 'train_loss_5'?"
    assert suggestion("val_loss", ["train_loss_5"], cutoff=0.8) == " (known: train_loss_5)"
    assert suggestion("val_loss", ["train_loss_5"], cutoff=0.8, otherwise="") == ""
    assert suggestion("val_los", ["val_loss"], cutoff=0.8) == "; did you mean 'val_loss'?"
    from scalefit.scaling.relations.loss_pairs import pair_losses
    table = pd.DataFrame({"params": [1e6, 2e6, 4e6], "tokens": [1e9] * 3,
                          "train_loss_5": [3.0, 2.9, 2.8], "val_loss": [3.1, 3.0, 2.9]})
    with pytest.raises(InputError, match=r"column 'val_loss' is missing \(columns: params, "
                                         r"tokens, train_loss_5\)$"):
        pair_losses(table.drop(columns="val_loss"), "train_loss_5", "val_loss", source="t.csv")
    with pytest.raises(InputError, match="column 'val_los' is missing; did you mean 'val_loss'"):
        pair_losses(table, "train_loss_5", "val_los", source="t.csv")


def test_a_holdout_that_leaves_too_few_says_why_and_how_many_it_can_take():
    import numpy as np

    from scalefit.scaling.holdout import held_out_mask
    compute = np.repeat(np.geomspace(1e18, 1e20, 40), 2)  # 80 pairs, two at each compute
    with pytest.raises(InputError) as more:  # it said "keeping 1000 of 80 pairs out leaves -920"
        held_out_mask(compute, 1000, min_fit=3, what="pairs")
    assert str(more.value) == ("--holdout 1000: there are only 80 pairs; the fit needs at least 3 "
                               "(hold out at most 76)")
    with pytest.raises(InputError) as tie:  # it said "keeping 80 of 80 pairs out" for 79
        held_out_mask(compute, 79, min_fit=3, what="pairs")
    assert str(tie.value) == (
        "--holdout: the 79 largest-compute pairs reach down to compute 1e+18, which 2 pairs share; "
        "pairs of equal compute stay on one side (every held-out one lies beyond the fit), so 80 "
        "are held out and 0 left; the fit needs at least 3 (hold out at most 76)")
    assert held_out_mask(compute, 76, min_fit=3).sum() == 76  # the most it said it can take
    with pytest.raises(InputError, match="0.99 of 80 runs is 80; keeping 80 of 80 runs out leaves 0"):
        held_out_mask(compute, "0.99", min_fit=3)


def test_an_accuracy_fit_says_which_points_it_left_out():
    import numpy as np

    from scalefit.scaling.relations.accuracy import fit_accuracy
    L = np.linspace(2.5, 4.5, 7)
    acc = 0.25 + 0.5 / (1 + np.exp(3 * (L - 3.5)))
    acc[3] = np.nan  # 7 points in, 6 fitted, without a word
    fit = fit_accuracy(L, acc, "sigmoid", n_bootstrap=0)
    assert fit.n_points == 6
    assert "1 of 7 points left out: L or y is missing (NaN); fitted to 6" in fit.warnings
    full = fit_accuracy(L[np.isfinite(acc)], acc[np.isfinite(acc)], "sigmoid", n_bootstrap=0)
    assert not any("left out" in w for w in full.warnings)


def test_the_error_laws_asymptote_is_an_error_rate():
    """eps, the error as the loss grows without bound (chance error at most), was unbounded: these
    points, in [0, 1], gave eps = 1.2 and a curve that passed 1 at high loss."""
    import numpy as np

    from scalefit.scaling.relations.accuracy import fit_accuracy, predict_accuracy
    from scalefit.scaling.relations.forms import exponential_error
    L = np.linspace(2.0, 4.0, 8)
    err = exponential_error(L, eps=1.2, k=2.0, gamma=0.5)
    assert 0 < err.min() and err.max() < 1
    fit = fit_accuracy(L, err, "exponential-error", n_bootstrap=20)
    assert 0 <= fit.value("eps") <= 1 and "parameter eps is at its upper bound" in fit.warnings
    assert np.all(predict_accuracy(fit, np.array([6.0, 10.0, 100.0])) <= 1)
    assert np.all(np.asarray(fit.draws["eps"]) <= 1)
