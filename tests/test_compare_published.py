"""`scalefit compare --published/--no-published`: the published constants (data/published_laws.toml)
beside the fits of any runs, not only the shipped ones; the default stays as it was (shown for the
shipped runs, not with --data)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.laws.published import published_laws

BESIROGLU = "Besiroglu 2024 replication"
HEADING = "published constants:"


def _run(args):
    return CliRunner().invoke(main, ["compare", *args, "--bootstrap", "0"])


def _ok(args):
    result = _run(args)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def grid_csv(grid, tmp_path_factory):
    """The shipped suite's 20 grid runs as a user's own --data file."""
    path = tmp_path_factory.mktemp("published") / "grid.csv"
    grid.to_csv(path, index=False)
    return str(path)


def _shown_e(text: str) -> float:
    """The E of the Besiroglu row of the text's published constants table (its source label is
    three words, so the column is counted from the row's end)."""
    lines = text.split(HEADING)[1].splitlines()
    header = lines[1].split()
    row = next(line for line in lines if BESIROGLU in line).split()
    return float(row[header.index("E") - len(header)])


def test_published_beside_the_fits_of_given_runs_in_text_json_and_report(grid_csv, tmp_path):
    out = tmp_path / "report"
    text = _ok(["kaplan", "chinchilla", "--data", grid_csv, "--published", "--out", str(out)])
    ref = published_laws()["besiroglu2024"]
    assert HEADING in text
    assert _shown_e(text) == pytest.approx(ref["E"], rel=1e-3)  # printed to 4 digits
    assert "Kaplan 2020" in text.split(HEADING)[1]
    report = (out / "report.md").read_text()
    assert "## Published constants" in report and BESIROGLU in report
    assert json.loads((out / "compare.json").read_text())["published"]["chinchilla"][BESIROGLU]["E"] \
        == ref["E"]
    doc = json.loads(_ok(["kaplan", "chinchilla", "--data", grid_csv, "--published", "--json"]))
    assert doc["published"]["chinchilla"][BESIROGLU]["E"] == ref["E"]
    assert doc["published"]["kaplan"]["Kaplan 2020 Table 2 L(N, D)"]["alpha_N"] \
        == published_laws()["kaplan2020"]["kaplan-nd"]["alpha_N"]
    assert grid_csv in doc["data"]  # the fits are of the given runs, not the shipped table


def test_default_is_unchanged_off_with_data_on_for_the_shipped_runs(grid_csv):
    text = _ok(["kaplan", "chinchilla", "--data", grid_csv])
    assert HEADING not in text and BESIROGLU not in text
    assert "published" not in json.loads(_ok(["kaplan", "chinchilla", "--data", grid_csv, "--json"]))
    shipped = json.loads(_ok(["kaplan", "chinchilla", "--json"]))
    assert BESIROGLU in shipped["published"]["chinchilla"]
    off = json.loads(_ok(["kaplan", "chinchilla", "--json", "--no-published"]))
    assert "published" not in off and off["fits"] == shipped["fits"]


def test_a_law_with_no_published_constants_gets_no_empty_heading(grid_csv):
    """compare kaplan-n kaplan-nde on the shipped runs printed 'published constants:' over an
    empty table, and --json 'published': {'kaplan-n': {}, ...}; a law with none is left out, and
    --published where no law has any is refused before the fits."""
    text = _ok(["kaplan-n", "kaplan-nde"])
    assert HEADING not in text
    mixed = json.loads(_ok(["kaplan-nde", "chinchilla", "--data", grid_csv, "--published", "--json"]))
    assert list(mixed["published"]) == ["chinchilla"]
    refused = _run(["kaplan-n", "kaplan-nde", "--data", grid_csv, "--published"])
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1
    assert refused.output.startswith("error: --published: no published constants for kaplan-n "
                                     "or kaplan-nde; data/published_laws.toml has them for ")
    assert "chinchilla" in refused.output


def test_published_is_refused_with_schedules():
    result = _run(["kaplan", "chinchilla", "--schedules", "--published"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --published: not used with --schedules"


def test_published_beside_a_fit_of_epochs_runs(anchors, tmp_path):
    """Epoch's 240 runs (Besiroglu et al. 2024's own data), fitted and shown beside the constants
    Besiroglu published for them: the fitted E lies within 0.01 of theirs (as test_scaling_anchors
    finds with fit_law)."""
    from tests.test_scaling_anchors import epoch_runs

    path = tmp_path / "epoch.csv"
    epoch_runs(anchors).to_csv(path, index=False)
    doc = json.loads(_ok(["kaplan", "chinchilla", "--data", str(path), "--published", "--json"]))
    ref = doc["published"]["chinchilla"][BESIROGLU]
    assert ref["E"] == published_laws()["besiroglu2024"]["E"]
    assert doc["fits"]["chinchilla"]["params"]["E"]["value"] == pytest.approx(ref["E"], abs=0.01)
