"""IsoFLOP's intervals are parametric draws (its line's (a, log G) from t about the fit, with HC3
covariance: isoflop.DRAWN), not a bootstrap of the runs, yet `fit isoflop` labelled its columns
'bootstrap se / bootstrap 95%' and its budget table '95% intervals from the bootstrap draws'
(an audit of the printed numbers, s44): a researcher quoting it would call it a bootstrap CI.
The labels now come from the fit's draws (report.spread_source)."""
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.laws.report import spread_source
from tests.test_reconcile import isoflop_grid


def test_isoflop_text_and_report_name_parametric_draws(tmp_path):
    data = tmp_path / "iso.csv"
    isoflop_grid(0.34, 0.28, "a", 1).drop(columns="condition").to_csv(data, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["fit", "isoflop", "--data", str(data), "--bootstrap", "200",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    for text in (result.stdout, (out / "report.md").read_text()):
        assert "bootstrap se" not in text and "bootstrap 95%" not in text
        assert "from the bootstrap" not in text
        assert "parametric se" in text and "parametric 95% lo" in text
        assert "95% intervals from the parametric draws" in text
        assert "note: parametric se: half the central 68% range of the parametric draws" in text
    report = (out / "report.md").read_text()
    assert "(the bootstrap's)" not in report and "95% interval (the parametric draws')" in report


def test_a_table_of_both_kinds_names_both():
    boot = {"bootstrap": {"n": 100}}
    para = {"bootstrap": {"n": 100, "drawn": "parametric: (a, log G) drawn from t"}}
    assert spread_source([boot]) == "bootstrap"
    assert spread_source([para]) == "parametric"
    assert spread_source([boot, para]) == "bootstrap / parametric"
    assert spread_source([{"bootstrap": {"n": 0}}]) == "bootstrap"


def test_the_readme_loss_to_loss_runs_are_the_grid_and_the_constant_lr_parents():
    """README says the loss-to-loss fit's 21 prose runs are the 18 grid runs not held out and the 3
    constant-LR WSD runs (the cooldowns share the grid runs' tokens and drop out): the shipped
    table's shipped_runs holds exactly those (an audit found the constant-LR runs unstated)."""
    import pandas as pd

    from scalefit.data import data_path
    from scalefit.scaling.relations.downstream import shipped_runs

    runs = shipped_runs(pd.read_csv(data_path("suites", "mini", "runs.csv")))
    prose = runs[runs["distribution"] == "prose"]
    assert prose.groupby(["part", "schedule"]).size().to_dict() == {("grid", "cosine"): 20,
                                                                      ("wsd", "constant"): 3}
