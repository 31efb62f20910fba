"""A notebook gets the command's answer: each top-level function takes the defaults of the command
it serves (bootstrap resamples, seed, Huber delta, search bounds), and tables are named by what
they hold, with the old names still accepted for a while."""
import inspect
import warnings

import click
import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit.scaling.laws.calibrate_cli import calibrate
from scalefit.scaling.laws.cli import compare, fit
from scalefit.scaling.laws.schedule_cli import fit_schedule_law
from scalefit.scaling.relations.cli import predict
from scalefit.scaling.trajectories.cli import trajectory, transitions, warmup_study_command
from scalefit.scaling.trajectories.init_study_cli import init_study_command

# (command, the function it is a shell over); the command's option names that differ from the
# function's argument names are mapped in OPTION_ARGUMENT
SERVES = [
    (fit, "fit_law"), (compare, "compare_laws"), (calibrate, "calibrate_law"),
    (fit_schedule_law, "fit_curves"), (predict.commands["downstream"], "run_downstream"),
    (transitions, "transition_study"), (warmup_study_command, "warmup_study"),
    (trajectory, "trajectory_report"), (init_study_command, "init_study"),
]
OPTION_ARGUMENT = {"loss_column": "loss", "E_fixed": "E", "loss_dataset": "dataset"}
# options whose command default (None) means "the shipped table's column" when --data is left out
SHIPPED_DATA_ONLY = {"group"}
# options that change the speed, never the answer, whose defaults differ on purpose: warmup-study's
# --jobs is a worker per CPU, warmup_study's jobs 1 (spawned workers re-run a script without a main guard)
SPEED_ONLY = {"jobs"}


def shared_defaults(command: click.Command, function) -> list[tuple[str, object, object]]:
    """(argument, the command's default, the function's default) for each option both take."""
    arguments = inspect.signature(function).parameters
    shared = []
    for option in command.params:
        name = OPTION_ARGUMENT.get(option.name, option.name)
        if (name not in arguments or arguments[name].default is inspect.Parameter.empty
                or name in SHIPPED_DATA_ONLY or name in SPEED_ONLY):
            continue
        default = option.default
        if default is None or isinstance(default, (int, float, str, bool)):
            shared.append((name, default, arguments[name].default))
    return shared


@pytest.mark.parametrize("command, name", SERVES, ids=[name for _, name in SERVES])
def test_a_function_takes_its_commands_defaults(command, name):
    shared = shared_defaults(command, getattr(scalefit, name))
    assert shared, f"{name}: no option shared with `scalefit {command.name}`"
    differ = [(arg, cli, api) for arg, cli, api in shared if cli != api]
    assert not differ, f"{name} vs `scalefit {command.name}`: (argument, command, function) {differ}"


def test_the_bootstrap_is_on_by_default_where_the_command_has_it():
    """fit_law, fit_curves, fit_relation and fit_accuracy gave no interval unless asked, while
    the commands over them give one."""
    for name, count in (("fit_law", 1000), ("fit_curves", 200), ("compare_laws", 1000),
                        ("run_downstream", 1000), ("fit_relation", 1000), ("fit_accuracy", 1000),
                        ("transition_study", 200)):
        assert inspect.signature(getattr(scalefit, name)).parameters["n_bootstrap"].default == count


RENAMED = {"run_downstream": {"frame": "table"}, "pair_losses": {"frame": "table"},
           "fit_relation": {"lp": "loss_pairs"}, "stat_trajectory": {"df": "table"},
           "join_stat_and_loss": {"df": "table"}, "transition_study": {"traj": "trajectory"}}


@pytest.mark.parametrize("name", sorted(RENAMED))
def test_tables_are_named_by_what_they_hold(name):
    function = getattr(scalefit, name)
    first = next(iter(inspect.signature(function).parameters))
    assert first in {"runs", "table", "loss_pairs", "trajectory", "curves", "joined"}, first
    assert function.renamed_arguments == RENAMED[name]


def _runs():
    rng = np.random.default_rng(0)
    N = np.repeat([1e6, 3e6, 1e7, 3e7], 3)
    D = np.tile([2e7, 6e7, 2e8], 4)
    x = 1.7 + 400 / N ** 0.34 + 410 / D ** 0.28
    y = 0.9 * (x - 1.2) ** 1.1 + 1.6
    return pd.DataFrame({"params": N, "tokens": D, "flops": 6 * N * D,
                         "train_loss": x * np.exp(rng.normal(0, 0.003, N.size)),
                         "test_loss": y * np.exp(rng.normal(0, 0.003, N.size))})


def test_an_old_argument_name_still_works_with_a_warning_naming_the_new_one():
    runs = _runs()
    new = scalefit.pair_losses(table=runs, x="train_loss", y="test_loss")
    with pytest.warns(FutureWarning, match=r"pair_losses\(\): the argument 'frame' is now called "
                                           r"'table'; pass table="):
        old = scalefit.pair_losses(frame=runs, x="train_loss", y="test_loss")
    pd.testing.assert_frame_equal(old.pairs, new.pairs)
    with pytest.raises(TypeError, match="got both 'frame' and its new name 'table'"):
        scalefit.pair_losses(frame=runs, table=runs, x="train_loss", y="test_loss")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name and positional calls warn of nothing
        scalefit.pair_losses(runs, "train_loss", "test_loss")


def test_E_passed_to_the_function_is_used_as_the_command_uses_it():
    """run_downstream(..., E_x=, E_y=) used to fit E from Kaplan fits and drop the values given
    (e_source defaulted to 'kaplan'); the command chose 'given' when E was passed."""
    from scalefit.errors import InputError
    runs = _runs()
    given = scalefit.run_downstream(runs, "train_loss", "test_loss", E_x=1.7, E_y=1.6,
                                    n_bootstrap=0)
    assert given.fit.extra["e_source"] == "given"
    assert given.fit.value("E_x") == 1.7 and given.fit.value("E_y") == 1.6
    assert scalefit.run_downstream(runs, "train_loss", "test_loss",
                                   n_bootstrap=0).fit.extra["e_source"] == "kaplan"
    with pytest.raises(InputError, match=r"e_source \(--e\) kaplan sets E_x and E_y itself"):
        scalefit.run_downstream(runs, "train_loss", "test_loss", e_source="kaplan", E_x=1.7,
                                E_y=1.6, n_bootstrap=0)
