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
    from scalefit.scaling.relations.loss2loss import pair_losses
    table = pd.DataFrame({"params": [1e6, 2e6, 4e6], "tokens": [1e9] * 3,
                          "train_loss_5": [3.0, 2.9, 2.8], "val_loss": [3.1, 3.0, 2.9]})
    with pytest.raises(InputError, match=r"column 'val_loss' is missing \(columns: params, "
                                         r"tokens, train_loss_5\)$"):
        pair_losses(table.drop(columns="val_loss"), "train_loss_5", "val_loss", source="t.csv")
    with pytest.raises(InputError, match="column 'val_los' is missing; did you mean 'val_loss'"):
        pair_losses(table, "train_loss_5", "val_los", source="t.csv")
