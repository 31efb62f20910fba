"""The fitting layer's tables and warnings, from an audit of the report folders: every CSV cell
holds one number, each column is described, and warnings say what a reader can use."""
import numpy as np

from scalefit.scaling.fitresult import flat_rows
from scalefit.scaling.outputs import files_section


def test_flat_rows_splits_prediction_intervals_as_confidence_intervals():
    """budgets.csv / allocation.csv held LAW_loss_pi95 as a '[lo, hi]' string in one cell."""
    rows = [{"flops": 1e20, "kaplan_loss": 2.5, "kaplan_loss_ci95": [2.4, 2.6],
             "kaplan_loss_pi95": [2.3, 2.7]},
            {"flops": 1e21, "kaplan_loss": 2.2, "kaplan_loss_ci95": [2.1, 2.3],
             "kaplan_loss_pi95": [2.0, 2.4]}]
    frame = flat_rows(rows)
    assert list(frame.columns) == ["flops", "kaplan_loss", "kaplan_loss_ci95_lo", "kaplan_loss_ci95_hi",
                                   "kaplan_loss_pi95_lo", "kaplan_loss_pi95_hi"]
    assert frame["kaplan_loss_pi95_lo"].tolist() == [2.3, 2.0]
    assert frame["kaplan_loss_pi95_hi"].tolist() == [2.7, 2.4]
    assert all(np.issubdtype(t, np.number) for t in frame.dtypes)


def test_files_section_describes_a_prediction_interval_once():
    """The split ends are said once, as the prediction interval of an observed run's loss."""
    columns = ["flops", "kaplan_loss", "kaplan_loss_ci95_lo", "kaplan_loss_ci95_hi",
               "kaplan_loss_pi95_lo", "kaplan_loss_pi95_hi", "pi95_lo", "pi95_hi"]
    lines = files_section({"budgets.csv": columns}, laws=("kaplan",), loss="bits/byte")
    said = [line for line in lines if "pi95" in line]
    assert said[0] == ("  - `LAW_loss_pi95_lo`, `LAW_loss_pi95_hi`: 95% prediction interval of an "
                       "observed run's loss (bits/byte), low and high end")
    # an observed value's own ends (downstream predictions) keep their own words
    assert said[1].startswith("  - `pi95_lo`: 95% prediction interval of an observed value, low end")
    assert "as in the input table" not in "\n".join(lines)
