"""Report folders (--out) read as a researcher quotes them: report.md says what the command
prints (the same numbers, rounded the same way), names each interval's level and method, and
gives every number its unit. Small tables and few resamples: the numbers are not the point."""
from __future__ import annotations

import json
import re
import shlex

import pytest
from click.testing import CliRunner

from scalefit import __version__
from scalefit.cli import main
from scalefit.scaling.relations import cli as cli_predict
from tests.test_loss2loss_cli import mini_suite_table
from tests.test_scaling_cli import make_runs


def invoke(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + result.stderr
    return result


@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    """predict downstream on a mini-suite-shaped table: 2 held-out runs, a projection, 20
    resamples; (terminal text, report folder)."""
    root = tmp_path_factory.mktemp("downstream")
    path = root / "runs.csv"
    mini_suite_table(path)
    out = root / "report"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_predict, "default_runs_path", lambda: path)
        text = invoke(["predict", "downstream", "--holdout", "2", "--at-x", "3.5",
                       "--bootstrap", "20", "--out", str(out)]).output
        # the command report.md says made it, run again (its --json)
        line = next(ln for ln in (out / "report.md").read_text().splitlines()
                    if ln.startswith("Made with scalefit"))
        again = invoke([*shlex.split(line.split("`")[1])[1:], "--json"]).stdout
    return text, out, line, again


def test_downstream_report_gives_the_held_out_error_the_terminal_prints(downstream):
    """report.md's held-out section gave only the share inside the prediction intervals; the
    mean |relative error| and the Kaplan baseline's, the terminal's summary, were missing."""
    text, out = downstream[:2]
    summary = next(ln for ln in text.splitlines() if ln.startswith("held out 2 runs"))
    assert "mean |rel err|" in summary and "plain Kaplan law on y alone" in summary
    assert summary in (out / "report.md").read_text()


def test_downstream_report_names_its_interval_and_rounds_as_the_terminal(downstream):
    """report.md headed the parameters '## Parameters' (no level, no method) and printed the
    interval's ends to 4 digits beside the terminal's 5 ([1.217, 5.566] vs [1.2169, 5.5655])."""
    text, out = downstream[:2]
    report = (out / "report.md").read_text()
    assert "## Parameters (stderr and 95% CI from the bootstrap: 20 resamples" in report
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]]
            for ln in report.splitlines() if ln.startswith("| ") and "|---" not in ln}
    for name in ("K", "kappa", "E_x", "E_y"):
        line = next(ln for ln in text.splitlines() if ln.split()[:1] == [name])
        value, ends = line.split()[1], line.split("[")[1].split("]")[0].split(", ")
        assert [rows[name][0], rows[name][3], rows[name][4]] == [value, *ends]


@pytest.fixture(scope="module")
def laws(tmp_path_factory):
    """compare kaplan chinchilla and fit chinchilla on 35 synthetic runs, 2 held out, 20
    resamples: {command: (terminal text, report folder)}."""
    root = tmp_path_factory.mktemp("laws")
    data = root / "runs.csv"
    make_runs(data)
    done = {}
    for command in (["compare", "kaplan", "chinchilla"], ["fit", "chinchilla"]):
        out = root / command[0]
        done[command[0]] = (invoke([*command, "--data", str(data), "--holdout", "2",
                                    "--bootstrap", "20", "--out", str(out)]).output, out)
    return done


def _table(lines, start: int, split) -> dict:
    """{(law,) param: value} of the table whose header is lines[start], rows split by `split`."""
    header = split(lines[start])
    keys = header[:header.index("value")]
    rows = {}
    for ln in lines[start + 1:]:
        cells = split(ln)
        if not ln.strip() or len(cells) != len(header):
            break
        if set("".join(cells)) <= set("-|: "):  # the rule under the header
            continue
        rows[tuple(cells[:len(keys)])] = cells[len(keys)]
    return rows


@pytest.mark.parametrize("command", ["compare", "fit"])
def test_law_report_prints_each_value_as_the_terminal_does(laws, command):
    """report.md printed every parameter to 4 digits (E = 2.552, A = 155.7) where the terminal
    prints the digits the interval supports (2.6, 2e+02): one number two ways in one report."""
    text, out = laws[command]
    md = (out / "report.md").read_text().splitlines()
    md_start = next(i for i, ln in enumerate(md) if ln.startswith("|") and "| param | value |" in ln)
    shown = _table(md, md_start, lambda ln: [c.strip() for c in ln.strip().split("|")[1:-1]])
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines)
                 if {"param", "value"} <= set(re.split(r"\s{2,}", ln.strip())))
    printed = _table(lines, start, lambda ln: re.split(r"\s{2,}", ln.strip()))
    assert len(printed) >= 7 and printed == shown


def test_compare_report_budgets_say_their_units_and_intervals(laws):
    """report.md's budget table came bare: no unit for N*, D* or the loss, nothing on its
    intervals' level or source, nor the terminal's notes under it (an observed run's wider
    interval, the held-out rows' prediction intervals, the published budgets left out)."""
    text, out = laws["compare"]
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("compute-optimal allocation"))
    head = lines[start]
    assert "N* in parameters, D* in tokens, loss in nats/token" in head
    assert "95% intervals from the bootstrap draws" in head
    said = []  # the notes under the table (its header, rule and rows hold no ': ')
    for ln in lines[start + 1:]:
        if not ln.strip() or ln.startswith("held-out"):
            break
        if ": " in ln:
            said.append(ln.strip())
    report = (out / "report.md").read_text()
    assert head in report
    assert any("95% prediction interval" in ln for ln in said)
    for ln in said:
        assert f"- {ln}" in report


def test_compare_report_says_how_the_held_out_runs_fared(laws):
    """compare --holdout --out: the terminal's held-out lines (mean |relative error|, how many
    inside their 95% prediction intervals) were missing from report.md."""
    text, out = laws["compare"]
    held = [ln for ln in text.splitlines() if ln.startswith("held-out (")]
    assert len(held) == 2 and all("inside their 95% prediction intervals" in ln for ln in held)
    report = (out / "report.md").read_text()
    for ln in held:
        label = ln.split("(")[1].split(")")[0]
        assert f"- {ln} (each run: holdout_{label}.csv)" in report
        assert (out / f"holdout_{label}.csv").is_file()


def test_reports_say_what_made_them(downstream, laws):
    """report.md said neither the data file (fit's report) nor the options (any report): the
    reader of a quoted number could not re-run it. The command it names now re-runs it."""
    out, line, again = downstream[1:]
    assert line == (f"Made with scalefit {__version__}: `scalefit predict downstream --bootstrap 20 "
                    "--at-x 3.5 --holdout 2` (also in scalefit_settings.json).")
    assert json.loads(again) == json.loads((out / "result.json").read_text())
    for command, (_, folder) in laws.items():
        lines = (folder / "report.md").read_text().splitlines()
        data = str(folder.parent / "runs.csv")
        assert f"Data: {data}." in lines
        assert any(ln.startswith(f"Made with scalefit {__version__}: `scalefit {command} ")
                   and f"--data {data} --holdout 2 --bootstrap 20`" in ln for ln in lines)


def test_report_says_what_every_csv_column_holds(downstream, laws):
    """The CSV files beside report.md had column names only (kaplan_N_opt_ci95_lo,
    held_out_runs_near, stderr_fit, relative_error as a fraction): report.md's '## Files' now
    says what each column holds and in which units, a law's columns once as LAW_..."""
    import pandas as pd

    for folder in (downstream[1], laws["compare"][1], laws["fit"][1]):
        report = (folder / "report.md").read_text()
        section = report.split("## Files", 1)[1]
        for csv in sorted(folder.glob("*.csv")):
            assert f"- {csv.name}" in section
            block = section.split(f"- {csv.name}", 1)[1].split("\n- ", 1)[0].split("\n\n")[0]
            said = dict(ln.strip()[2:].split(": ", 1) for ln in block.splitlines()[1:] if ln.strip())
            shown = {c.strip("`") for names in said for c in names.split(", ")}
            for column in pd.read_csv(csv).columns:
                law = next((c for c in ("kaplan", "chinchilla") if column.startswith(c + "_")), None)
                assert (f"LAW_{column[len(law) + 1:]}" if law else column) in shown, (csv, column)
            assert "as in the input table" not in said.values()
    held = (laws["compare"][1] / "report.md").read_text()
    assert "- `relative_error`: predicted / observed - 1 (a fraction)" in held
    assert "`LAW_N_opt`, `LAW_N_opt_ci95_lo`, `LAW_N_opt_ci95_hi`: compute-optimal N* (parameters)" in held


def test_isoflop_allocation_csv_has_no_empty_loss_columns(tmp_path):
    """fit isoflop --out wrote allocation.csv with loss, loss_ci95_lo and loss_ci95_hi blank in
    every row (the law sets an allocation, no loss surface), which the terminal's table leaves
    out; compare isoflop chinchilla's budgets.csv likewise."""
    import pandas as pd

    from tests.test_reconcile import isoflop_grid

    data = tmp_path / "iso.csv"
    isoflop_grid(0.34, 0.28, "a", 1).drop(columns="condition").to_csv(data, index=False)
    for command, csv in ((["fit", "isoflop"], "allocation.csv"),
                         (["compare", "isoflop", "chinchilla"], "budgets.csv")):
        out = tmp_path / command[0]
        invoke([*command, "--data", str(data), "--bootstrap", "0", "--out", str(out)])
        frame = pd.read_csv(out / csv)
        assert not [c for c in frame.columns if frame[c].isna().all()], csv
        assert ("N_opt" if command[0] == "fit" else "isoflop_N_opt") in frame.columns


def test_a_prediction_below_the_data_says_what_that_means(tmp_path):
    """predict downstream --at-x above every fitted x printed 'below the data at x = 7 ...' and
    nothing on what that means, where a projection says no fitted run reaches it."""
    path = tmp_path / "runs.csv"
    mini_suite_table(path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_predict, "default_runs_path", lambda: path)
        text = invoke(["predict", "downstream", "--at-x", "7.5", "--bootstrap", "0",
                       "--out", str(tmp_path / "out")]).output
    lines = text.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("below the data at x = 7.5"))
    assert lines[at + 1].startswith("  below the data: x above every fitted pair's")
    assert lines[at + 1].strip() in (tmp_path / "out" / "report.md").read_text()


def test_a_parameter_at_its_bound_prints_the_bound():
    """compare on 6 runs printed chinchilla's 'E 1.053e-12 ... at its lower bound' (and kaplan's
    alpha_D at its upper bound 3 only by luck of rounding): the value is the bound, within the
    fit's tolerance, and is printed as the bound; an estimate off its bound is unchanged."""
    from scalefit.scaling.laws.report import params_text_frame

    fit = {"law": "chinchilla", "warnings": ["parameter E is at its lower bound",
                                             "parameter beta is at its upper bound"],
           "identifiability": {"E": {"status": "not identified"}, "beta": {"status": "identified"},
                               "alpha": {"status": "identified"}},
           "params": {"E": {"value": 1.0529532053032495e-12, "stderr": 0.42, "ci95": [0.0, 1.107]},
                      "beta": {"value": 2.9999987, "stderr": 0.1, "ci95": [2.5, 3.0]},
                      "alpha": {"value": 0.3412345, "stderr": 0.01, "ci95": [0.33, 0.35]}},
           "bootstrap": {"n": 20}}
    shown = params_text_frame(fit).set_index("param")["value"]
    assert shown.to_dict() == {"E": "0", "beta": "3", "alpha": "0.341"}  # to [0.330, 0.350]'s place (s45)


@pytest.fixture(scope="module")
def compare0(tmp_path_factory):
    """compare on the 35 synthetic runs without a bootstrap or held-out runs: (text, folder)."""
    root = tmp_path_factory.mktemp("compare0")
    data = root / "runs.csv"
    make_runs(data)
    out = root / "out"
    return invoke(["compare", "--data", str(data), "--bootstrap", "0", "--out", str(out)]).output, out


def test_law_report_tables_have_no_blank_cells(compare0):
    """compare --out without --holdout left the metrics' holdout_mean_abs_rel_error blank in every
    row, and the published constants and a derived row's stderr_fit blank, where the terminal
    prints '-': a blank cell reads as a lost number."""
    out = compare0[1]
    rows = [ln for ln in (out / "report.md").read_text().splitlines() if ln.startswith("| ")]
    assert len(rows) > 10
    assert not [ln for ln in rows if "|  |" in ln or "| |" in ln]
    assert any(ln.startswith("| kaplan | 35 |") and "| - |" in ln for ln in rows)


def _said_lines(text: str) -> list[str]:
    """The terminal's sentences (not table rows, rules or stderr's progress bars): what report.md
    must also say."""
    return [ln.strip() for ln in re.split(r"[\r\n]+", text) if ln.strip()
            and not re.fullmatch(r"[-\s]+", ln) and len(re.split(r"\s{2,}", ln.strip())) <= 3
            and not re.search(r"\d+%\|", ln)]


@pytest.mark.parametrize("bootstrap", ["0", "20"])
def test_compare_report_says_everything_the_terminal_says(compare0, laws, bootstrap):
    """report.md left out the terminal's first line (how many runs were fitted and held out, the
    largest fitted compute) and, without a bootstrap, its note on why a stderr prints '-'."""
    text, out = compare0 if bootstrap == "0" else laws["compare"]
    report = (out / "report.md").read_text()
    for line in _said_lines(text):
        law = re.match(r"warning \((\w+)\): (.*)", line)  # report.md lists them as '- law: ...'
        assert (f"- {law[1]}: {law[2]}" if law else line) in report


def test_downstream_report_says_everything_the_terminal_says(downstream):
    """report.md left out the terminal's note that 20 resamples give rough intervals; every
    other sentence (not a parameter or held-out row, which its tables hold) was there."""
    text, out = downstream[:2]
    report = (out / "report.md").read_text()
    rows = re.compile(r"(K|kappa|E_x|E_y)\s|N=")
    said = [ln for ln in _said_lines(text) if not rows.match(ln)]
    assert any("bootstrap resamples" in ln for ln in said)
    for line in said:
        kind = re.match(r"(note|warning): (.*)", line)  # report.md lists them under a heading
        assert line in report or (kind and f"- {kind[2]}" in report), line


def test_relation_figure_axes_carry_units(tmp_path, monkeypatch, relation_axis_labels):
    """relation.png's axes read 'loss (prose)' and 'loss_code_test (prose)': no unit."""
    from scalefit.scaling.relations import report

    path = tmp_path / "runs.csv"
    mini_suite_table(path)
    monkeypatch.setattr(cli_predict, "default_runs_path", lambda: path)
    labels = relation_axis_labels
    invoke(["predict", "downstream", "--bootstrap", "0", "--out", str(tmp_path / "out")])
    assert labels == [("loss (prose), nats/token", "loss_code_test (prose), nats/token")]
    assert report.axis_label("piqa:acc@0shot", "sigmoid") == "piqa:acc@0shot, accuracy (fraction)"
    assert report.axis_label("ln lambada_openai:ppl@0shot") == "ln lambada_openai:ppl@0shot, nats"


def test_loss_axis_names_the_fitted_column(tmp_path, monkeypatch):
    """fit --loss bpb --out labelled loss_vs_n.png's axis 'loss (nats/token)', a unit the fitted
    column (bits per byte) does not have; a loss_* column keeps nats/token and its name."""
    from scalefit.scaling.laws import report

    data = tmp_path / "runs.csv"
    frame = make_runs(data)
    frame.assign(bpb=frame["loss"] / 2.77, loss_code=frame["loss"] * 1.1).to_csv(data, index=False)
    labels = {}
    keep = report.save_figure

    def spy(fig, out_dir, stem):
        labels[stem] = fig.axes[0].get_ylabel()
        return keep(fig, out_dir, stem)

    monkeypatch.setattr(report, "save_figure", spy)
    for column in ("bpb", "loss_code"):
        invoke(["fit", "chinchilla", "--data", str(data), "--loss", column, "--bootstrap", "0",
                "--out", str(tmp_path / column)])
        assert labels["loss_vs_n"] == {"bpb": "bpb (bits/byte)", "loss_code": "loss_code (nats/token)"}[column]


def test_fit_report_prints_no_nan_where_lmfit_has_no_uncertainties(tmp_path):
    """fit kaplan on 6 runs (alpha_D on its bound, no covariance): report.md's lmfit block read
    'log_N_c: 30.97 +/- nan (nan%)' and 'N_c: 2.8153e+13 +/- 0.00000000 (0.00%)'."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    rows = [dict(params=n, tokens=d, flops=6 * n * d,
                 loss=(1.8 + 400 / n ** 0.34 + 410 / d ** 0.28) * np.exp(rng.normal(0, 0.01)))
            for n in (1e6, 3e6, 1e7) for d in (2e7, 6e7, 2e8)]
    data = tmp_path / "small.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    out = tmp_path / "out"
    invoke(["fit", "kaplan", "--data", str(data), "--holdout", "3", "--bootstrap", "0",
            "--out", str(out)])
    block = (out / "report.md").read_text().split("## lmfit report", 1)[1]
    assert "uncertainties could not be estimated" in block
    assert not re.search(r"\bnan\b", block) and "+/- 0.00000000" not in block
    assert "(no stderr)" in next(ln for ln in block.splitlines() if "log_N_c:" in ln)


def test_loss_vs_n_names_a_compared_law_it_cannot_draw(tmp_path, monkeypatch):
    """compare kaplan kaplan-c --out: loss_vs_n.png left kaplan-c (a law of compute alone) off
    the figure and its legend without a word."""
    from scalefit.scaling.laws import report

    data = tmp_path / "runs.csv"
    make_runs(data)
    legends = {}
    keep = report.save_figure

    def spy(fig, out_dir, stem):
        legends[stem] = [t.get_text() for ax in fig.axes if ax.get_legend()
                         for t in ax.get_legend().get_texts()]
        return keep(fig, out_dir, stem)

    monkeypatch.setattr(report, "save_figure", spy)
    invoke(["compare", "kaplan-n", "kaplan-c", "--data", str(data), "--bootstrap", "0",
            "--out", str(tmp_path / "out")])
    assert any(t.startswith("kaplan-n") for t in legends["loss_vs_n"])
    assert "kaplan-c (of C): not drawn" in legends["loss_vs_n"]


def test_relation_report_says_its_own_parameters(downstream):
    """predict downstream's '## Files' described params.csv's param as 'a, b: the allocation
    exponents', the law tables' words, wrong for a relation (the sigmoid's a and b)."""
    report = (downstream[1] / "report.md").read_text()
    assert "- `param`: parameter of L_y = K (L_x - E_x)^kappa + E_y" in report
    assert "allocation" not in report.split("## Files", 1)[1]


def test_isoflop_fit_says_what_its_parameters_are(tmp_path):
    """fit isoflop printed 'a 0.4522' and 'G 0.5849' with no formula: G is nowhere defined."""
    from tests.test_reconcile import isoflop_grid

    data = tmp_path / "iso.csv"
    isoflop_grid(0.34, 0.28, "a", 1).drop(columns="condition").to_csv(data, index=False)
    out = tmp_path / "out"
    text = invoke(["fit", "isoflop", "--data", str(data), "--bootstrap", "0", "--out", str(out)]).output
    line = "note: the line through the budget optima is N*(C) = G C^a (N* in parameters, C in FLOPs)"
    assert line in text.splitlines() and line in (out / "report.md").read_text()
