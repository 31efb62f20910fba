"""Loose ends of `scalefit trajectory` and `scalefit transitions`: the fitted floor E agrees with
the --E a user may give (a cross-entropy's floor, >= 0), --json names what was left out as the
text does, and odd small tables get an answer or one line with exit status 2."""
from __future__ import annotations

import json

import lmfit
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.trajectories import collapse, correlation, stat_law, trajectory as tj
from test_cli_audit import one_line_error  # one line naming what is wrong, exit 2, no traceback

STEPS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]


def run_cli(args):
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


def flat_floor_table(models=("run-a", "run-b")) -> pd.DataFrame:
    """Weight and loss rows whose statistic follows 1 + 30 (L + 2)^-2: a curve whose least-squares
    floor lies at E = -2, below any cross-entropy's."""
    rng = np.random.default_rng(4)
    rows = []
    for k, model in enumerate(models):
        for step in STEPS:
            loss = 3.0 + 2.0 / (1 + step) ** 0.4 + 0.01 * k
            rows.append({"model": model, "step": step, "tensor": "*", "group": "mlp_in", "layer": -1,
                         "stat": "t_nu", "value": 1 + 30 * (loss + 2) ** -2 + rng.normal(0, 1e-4)})
            rows.append({"model": model, "step": step, "dataset": "train-val", "metric": "loss",
                         "value": loss})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def flat_floor_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("floor") / "t.csv"
    flat_floor_table().to_csv(path, index=False)
    return str(path)


def test_the_fitted_floor_is_a_cross_entropys_as_a_given_one_must_be(flat_floor_path):
    """The fit found E = -2 (the pooled QKV kurtosis of the shipped suite: E = -13.9) while --E -1
    was refused as 'a loss is never below 0': E is now fitted in [0, min L) and a fit that ends on
    0 says so; --E 0, the bound, is accepted, and --E below it refused."""
    code, out = run_cli(["trajectory", "--stat", "t_nu", "--data", flat_floor_path, "--json"])
    assert code == 0, out
    report = json.loads(out)
    for name, fit in [("pooled", report["pooled_fit"]), *report["per_model"].items()]:
        assert fit["params"]["E"]["value"] >= 0, name
        assert stat_law.E_AT_FLOOR in report["warnings"][name], name
    code, text = run_cli(["trajectory", "--stat", "t_nu", "--data", flat_floor_path])
    assert code == 0 and "E ends at its bound 0 in pooled, run-a, run-b" in text, text
    assert "(L + 0)" not in text and " L^" in text, text
    code, out = run_cli(["trajectory", "--stat", "t_nu", "--data", flat_floor_path, "--E", "0", "--json"])
    assert code == 0 and json.loads(out)["pooled_fit"]["params"]["E"]["value"] == 0, out
    one_line_error(["trajectory", "--stat", "t_nu", "--data", flat_floor_path, "--E", "-1"],
                   "--E", "negative")


def test_the_api_fit_refuses_a_floor_below_0_and_losses_at_or_below_0():
    """fit_stat_vs_loss(E=-1) fitted (L + 1)^p where collapse_report refused it; a loss <= 0 is no
    cross-entropy, and leaves no room for E in [0, min L)."""
    from scalefit.errors import InputError

    loss = np.linspace(3, 5, 12)
    value = 1 + 30 * (loss + 2) ** -2
    with pytest.raises(InputError, match=r"E \(--E\): '-1.0' is negative"):
        stat_law.fit_stat_vs_loss(loss, value, E=-1.0)
    with pytest.raises(InputError, match="'0.0' is not a loss"):
        stat_law.fit_stat_vs_loss(np.r_[0.0, loss], np.r_[1.0, value])
    assert stat_law.fit_stat_vs_loss(loss, value, E=0.0).params["E"].value == 0.0


def test_the_replayed_search_ends_where_lmfit_ends_with_the_floor_bound():
    """fit_stat_vs_loss replays lmfit's leastsq from each start and refits only the lowest: with
    E bounded on both sides (lmfit's arcsin transform) the replay must still end at lmfit's
    chi-square to the bit, from starts on the floor and inside it."""
    table = flat_floor_table(("run-a",))
    loss = table.loc[table["metric"] == "loss", "value"].to_numpy()
    value = table.loc[table["stat"] == "t_nu", "value"].to_numpy()
    model = lmfit.Model(stat_law.stat_power_law, independent_vars=["L"])
    starts = stat_law._grid_starts(loss, value, None) + [(1.0, -2.0, 1.0, 30.0)]
    assert any(s[0] == stat_law.E_FLOOR for s in starts)
    for start in starts:
        result = model.fit(value, stat_law.start_params(model, loss, *start), L=loss, nan_policy="omit",
                           max_nfev=stat_law.REFINE_MAX_NFEV)
        assert stat_law._replayed_chisqr(stat_law.start_params(model, loss, *start), loss, value) == result.chisqr


@pytest.fixture(scope="module")
def holed_path(tmp_path_factory):
    """Three runs: run-a's t_nu is nan at step 64, run-c has no loss rows."""
    table = flat_floor_table(("run-a", "run-b", "run-c"))
    table.loc[(table["stat"] == "t_nu") & (table["model"] == "run-a") & (table["step"] == 64), "value"] = np.nan
    table = table[~((table["model"] == "run-c") & (table["metric"] == "loss"))]
    path = tmp_path_factory.mktemp("holed") / "t.csv"
    table.to_csv(path, index=False)
    return str(path)


def cli_json(args):
    """(--json's document, the 'note:' lines on stderr)."""
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), [line[len("note: "):] for line in result.stderr.splitlines()
                                       if line.startswith("note: ")]


@pytest.mark.parametrize("command", [["trajectory"], ["transitions", "--bootstrap", "0"]])
def test_json_names_what_was_left_out_as_the_note_lines_do(holed_path, command):
    """`trajectory --json` and `transitions --json` said nothing of the checkpoints and runs left
    out (a nan statistic, a run without losses) that the terminal's 'note:' lines and report.md
    named: a script reading the JSON saw a fit of every checkpoint."""
    doc, noted = cli_json([*command, "--stat", "t_nu", "--data", holed_path])
    assert noted and doc["notes"] == noted
    assert any("run-a: steps 64" in n for n in doc["notes"])
    if command[0] == "trajectory":
        assert any("run-c" in n and "no loss" in n for n in doc["notes"])


def test_trajectory_report_md_names_what_was_left_out(holed_path, tmp_path):
    """trajectory's report.md (--out) did not name the checkpoints left out, as transitions' did;
    the terminal's report does not repeat the 'note:' lines it printed on stderr."""
    result = CliRunner().invoke(main, ["trajectory", "--stat", "t_nu", "--data", holed_path,
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Left out:" in report and "run-a: steps 64" in report and "run-c" in report
    assert "Left out:" not in result.stdout and "run-a: steps 64" in result.stderr


def test_warmup_study_json_names_what_was_left_out_and_what_a_dash_means(tmp_path):
    """warmup-study's --json had neither its 'note:' lines nor what a '-' in its rows means (a
    run without a transition, a family without a regression)."""
    from test_trajectory_inputs import long_table

    table = long_table()
    table.loc[(table["stat"] == "t_nu") & (table["model"] == "a") & (table["step"] == 700), "value"] = np.nan
    flat = (table["stat"] == "t_nu") & (table["model"] == "c")  # no kink: no transition in run c
    table.loc[flat, "value"] = 5 + 0.2 * np.log10(table.loc[flat, "step"].clip(lower=1))
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    doc, noted = cli_json(["warmup-study", "--panel", "t_nu/mlp_in", "--bootstrap", "0", "--data", str(path)])
    assert doc["rows"][0]["first_steps"].endswith(",-")
    assert noted and doc["notes"][:len(noted)] == noted and "a: steps 700" in noted[0]
    assert doc["notes"][len(noted):] == [
        "-: not enough runs with a transition for a regression (it needs 3 with different warmup ends)",
        "'-' in the steps: that run has no transition (in the matched-change steps: none of the matched sign)"]


def test_a_run_still_in_warmup_at_its_last_checkpoint_has_no_inferred_warmup_end():
    """An lr that rises to the last checkpoint (a run stopped, or sampled, inside its warmup) was
    read as a warmup ending at that checkpoint: transitions were placed 'N steps from warmup end'
    of a warmup that had not ended, and the warmup regression took those ends as real."""
    from scalefit.scaling.trajectories.landmarks import infer_landmarks, landmarks_for_run

    steps = np.array(STEPS, dtype=float)
    ramp = infer_landmarks(steps, 1e-3 * steps / 3000)
    assert np.isnan(ramp.warmup_end) and "lr still rises at the last checkpoint (step 2048)" in ramp.source
    assert ramp.phase(108) == "in warmup" and ramp.phase(4000) == "schedule unknown"
    run = pd.DataFrame({"model": "a", "step": steps, "lr": 1e-3 * steps / 3000, "warmup_steps": 3000})
    assert landmarks_for_run(run).warmup_end == 3000  # a warmup the table states is taken as it is
    held = infer_landmarks(np.r_[steps, 4096], 1e-3 * np.minimum(np.r_[steps, 4096] / 2048, 1))
    assert held.warmup_end == 2048  # the peak held at a later checkpoint: the warmup ended there


def test_a_run_of_one_checkpoint_is_not_called_constant(tmp_path):
    """transitions said of a run with one checkpoint after step 0 'the statistic is constant (5.4
    at every checkpoint)': one number is no evidence that the statistic does not move."""
    table = flat_floor_table(("run-a",))
    path = tmp_path / "t.csv"
    table[table["step"].isin([1, 2])].assign(
        value=lambda t: t["value"].where(t["stat"].isna(), 5.0)).to_csv(path, index=False)
    code, out = run_cli(["transitions", "--stat", "t_nu", "--data", str(path), "--bootstrap", "0"])
    assert code == 0 and "2 checkpoints after step 0" in out and "constant (5 at every" in out, out
    table[table["step"] == 1].to_csv(path, index=False)
    code, out = run_cli(["transitions", "--stat", "t_nu", "--data", str(path), "--bootstrap", "0"])
    assert code == 0 and "1 checkpoint after step 0" in out and "constant" not in out, out


def test_a_loss_that_never_changes_is_refused_or_its_run_named_not_fitted(tmp_path):
    """With the loss one number at every checkpoint (a final loss copied to each row) the fit
    returned c = 1e-15 and R^2 0, a RuntimeWarning leaked from the AR(1) likelihood, and the verdict
    read 'near 1: one curve serves every run'. Every loss the same: one line, exit 2; one run's:
    that run is named and not fitted alone."""
    table = flat_floor_table(("run-a", "run-b", "run-c"))
    loss_rows = table["metric"] == "loss"
    one_loss = table.assign(value=table["value"].where(~loss_rows, 3.5))
    one_loss.to_csv(tmp_path / "t.csv", index=False)
    one_line_error(["trajectory", "--stat", "t_nu", "--data", str(tmp_path / "t.csv")],
                   "the loss is 3.5 at every checkpoint")
    with pytest.raises(InputError, match="the loss is 3.5 at every checkpoint"):
        stat_law.fit_stat_vs_loss(np.full(8, 3.5), np.arange(8.0))
    from scalefit.scaling.trajectories.table import join_stat_and_loss
    with pytest.raises(InputError, match="the loss is 3.5 at every checkpoint"):
        collapse.collapse_report(join_stat_and_loss(one_loss, "t_nu"))
    a_only = table.assign(value=table["value"].where(~(loss_rows & (table["model"] == "run-a")), 3.5))
    report = tj.trajectory_report(a_only, "t_nu")
    assert report.collapse["same_loss_models"] == {"run-a": 3.5}
    assert set(report.collapse["per_model"]) == {"run-b", "run-c"}
    assert report.collapse["pooled_models"] == ["run-b", "run-c"]
    assert "so no curve in L): run-a (3.5)." in report.markdown()
    assert report.to_dict()["same_loss_models"] == {"run-a": 3.5}
    # nor in the partial correlation, where its detrended loss is rounding noise
    joined = report.joined
    others = correlation.partial_correlation(joined[joined["model"] != "run-a"])
    assert report.correlation["n_points"] == others["n_points"]


def test_a_constant_statistic_is_not_printed_as_a_power_law():
    """A statistic that never moves printed 'value = 7 + 0 (L - 3.4)^-5' and, per run, an E and a
    p where c = 0 leaves both arbitrary (wherever the search stopped)."""
    table = flat_floor_table(("run-a", "run-b"))
    flat = table.assign(value=table["value"].where(table["stat"].isna(), 7.0))
    text = tj.trajectory_report(flat, "t_nu").markdown()
    assert "value = 7 at every checkpoint (no curve in L)" in text and "(L " not in text, text
    assert "| run-a | 12 | 7 | 0 | - | - | - (constant) |" in text, text


def test_a_constant_run_has_no_measured_error_autocorrelation_in_json(tmp_path):
    """The listing says nothing of the autocorrelation of a run whose statistic never moves (there
    is no scatter to measure it on), but --json gave it as error_rho 0.0, a measured value."""
    table = flat_floor_table(("run-a", "run-b"))
    flat = table.assign(value=table["value"].where((table["stat"].isna()) | (table["model"] != "run-a"), 7.0))
    flat.to_csv(tmp_path / "t.csv", index=False)
    doc, _ = cli_json(["transitions", "--stat", "t_nu", "--data", str(tmp_path / "t.csv"), "--bootstrap", "0"])
    rho = {run["model"]: run["error_rho"] for run in doc["runs"]}
    assert rho["run-a"] is None and isinstance(rho["run-b"], float), rho
