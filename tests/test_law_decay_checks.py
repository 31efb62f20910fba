"""The momentum decay lambda is refused where it is given: a Python call names its argument
(lam), a command its option (--lambda), each before any fitting."""
import numpy as np
import pytest

from scalefit.errors import InputError


def _tiny_curves():
    """One short curve: the decay is checked before the curves are."""
    from scalefit.scaling.laws.curves import curves_from_schedules
    from scalefit.schedule import LRSchedule
    steps = np.arange(50, 501, 50)
    return curves_from_schedules({"r": LRSchedule(1e-3, 10, 500)}, {"r": steps},
                                 loss={"r": 3.0 + 1.0 / np.sqrt(steps)})


@pytest.mark.parametrize("lam", [1.5, 1.0, -0.1])
def test_fit_curves_names_its_argument(lam):
    """fit_curves(lam=1.5) said '--lambda: ...' (compare --schedules' wording) to a notebook."""
    from scalefit import fit_curves
    with pytest.raises(InputError) as info:
        fit_curves(_tiny_curves(), "momentum", n_bootstrap=0, lam=lam)
    assert str(info.value) == f"lam (--lambda): must be in [0, 1), got {lam}"


@pytest.mark.parametrize("command", [["fit", "schedule-law", "--law", "momentum"],
                                     ["predict", "curve", "--law", "momentum", "--schedule", "constant:100"]])
def test_schedule_commands_refuse_the_decay_in_their_own_words_first(command, tmp_path):
    """fit schedule-law / predict curve took --lambda as any number >= 0: 1.5 was refused only
    after the table was read, in the Python wording 'lam (--lambda): ...'. A table that does
    not exist shows the check comes first."""
    from click.testing import CliRunner

    from scalefit.cli import main
    result = CliRunner().invoke(main, [*command, "--data", str(tmp_path / "absent.csv"),
                                       "--lambda", "1.5"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "error: --lambda: must be in [0, 1), got 1.5"
