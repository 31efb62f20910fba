"""Validated option values: every bad numeric value is one line naming the option, exit 2."""
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.options import bootstrap_count, holdout_spec, positive_float


BAD = [
    (["fit", "chinchilla", "--holdout", "nan"], "--holdout"),
    (["fit", "chinchilla", "--holdout", "inf"], "--holdout"),
    (["fit", "chinchilla", "--holdout", "-1"], "--holdout"),
    (["fit", "chinchilla", "--holdout", "2.5"], "--holdout"),
    (["compare", "kaplan", "chinchilla", "--holdout", "nan"], "--holdout"),
    (["fit", "chinchilla", "--bootstrap", "1"], "at least 2 resamples, or 0 for none"),
    (["fit", "chinchilla", "--seed", "-1"], "--seed"),
    (["fit", "chinchilla", "--delta", "nan"], "--delta"),
    (["compare", "kaplan", "chinchilla", "--delta", "0"], "--delta"),
    (["transitions", "--stat", "t_nu", "--warmup-steps", "nan"], "--warmup-steps"),
    (["transitions", "--stat", "t_nu", "--warmup-steps", "-5"], "--warmup-steps"),
    (["transitions", "--stat", "t_nu", "--total-steps", "0"], "--total-steps"),
    (["transitions", "--stat", "t_nu", "--min-delta-bic", "nan"], "--min-delta-bic"),
    (["warmup-study", "--bootstrap", "1"], "--bootstrap"),
    (["trajectory", "--stat", "t_nu", "--E", "inf"], "--E"),
]


@pytest.mark.parametrize("args,named", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_value_is_one_line_exit_2(args, named):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and named in lines[0]
    assert "Traceback" not in result.output


def test_trajectory_E_above_the_losses_is_refused_not_ignored():
    result = CliRunner().invoke(main, ["trajectory", "--stat", "t_nu", "--group", "attn_out",
                                       "--E", "100"])
    if "shipped suite table is missing" in result.output:
        pytest.skip("shipped checkpoint table absent")
    assert result.exit_code == 2
    assert "--E: 100 is not below the smallest loss" in result.output


def test_parsers():
    assert holdout_spec("--holdout", None) is None
    assert holdout_spec("--holdout", "0") is None
    assert holdout_spec("--holdout", "none") is None
    assert holdout_spec("--holdout", "0.2") == 0.2
    assert holdout_spec("--holdout", "5") == 5 and isinstance(holdout_spec("--holdout", 5.0), int)
    assert bootstrap_count("--bootstrap", "0") == 0 and bootstrap_count("--bootstrap", 2) == 2
    for bad in ("nan", "-inf", "-0.5", "1.5", "abc"):
        with pytest.raises(InputError, match="--holdout"):
            holdout_spec("--holdout", bad)
    with pytest.raises(InputError, match="at least 2"):
        bootstrap_count("--bootstrap", 1)
    with pytest.raises(InputError, match="> 0"):
        positive_float("--delta", -1e-3)
