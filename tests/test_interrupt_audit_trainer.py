"""The suite trainer's long commands, audited for interruption and progress: `suite train`'s
Ctrl-C line names runs.csv only when a run has finished, its progress bar is drawn every
`mininterval` (not once per optimizer step), and `suite ship` never leaves a new runs.csv beside
the old provenance.json."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

import scalefit.trainer.ship as ship  # noqa: E402
import scalefit.trainer.train as suite_train  # noqa: E402
from scalefit.cli import main  # noqa: E402
from scalefit.trainer.spec import load_spec  # noqa: E402
from scalefit.trainer.train import TrainingInterrupted, train_run  # noqa: E402
from tinyspec import MICRO_RECIPE, S1, micro_spec  # noqa: E402

torch.set_num_threads(1)
STEPS = 40
SPEC = micro_spec(("[long]", {"tokens": [32 * STEPS], "n_even_checkpoints": 2}), name="audit",
                  recipe={**MICRO_RECIPE, "resume_every": 100000}, sizes=(S1,))


@pytest.fixture(scope="module")
def corpus(micro_corpus):
    """The session's micro corpus (read only)."""
    return micro_corpus[0] / "corpus"


def test_the_training_bar_is_drawn_every_few_seconds_not_every_step(corpus, tmp_path, capfd):
    """set_postfix(...) redrew the bar at every step (its refresh=True default overrode
    mininterval=2): a Slurm log got one bar per optimizer step, 143000 for a Pythia-length run."""
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    (run,) = load_spec(spec_path, vocab_size=320).runs
    assert run.steps == STEPS
    capfd.readouterr()
    train_run(load_spec(spec_path, vocab_size=320), run, corpus, tmp_path / "out", progress=True,
              stop_after_step=STEPS)  # (its evaluation draws no bar)
    draws = capfd.readouterr().err.count(f"{run.run}:")
    print(f"{draws} draws of the bar in {STEPS} steps")
    assert 1 <= draws < STEPS // 2, draws  # first and last draws, and one per 2 s of training


@pytest.mark.parametrize("stop", ["inside a step", "before training"])
def test_ctrl_c_before_a_run_finished_names_no_runs_csv(corpus, tmp_path, monkeypatch, stop):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)

    def train_suite(*args, **kwargs):
        if stop == "inside a step":
            raise TrainingInterrupted("long/s1", 7, STEPS, tmp_path / "out" / "long" / "resume")
        raise KeyboardInterrupt

    monkeypatch.setattr(suite_train, "train_suite", train_suite)
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec_path), "--corpus", str(corpus),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 130, result.output
    runs = tmp_path / "out" / "runs.csv"
    assert "finished runs are in" not in result.stderr, result.stderr
    assert f"no run has finished yet (none in {runs})" in result.stderr
    runs.parent.mkdir(parents=True)
    runs.write_text("run\nlong/s0\n")
    again = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec_path), "--corpus", str(corpus),
                                      "--out", str(tmp_path / "out")])
    assert again.exit_code == 130 and f"finished runs are in {runs}" in again.stderr, again.output


def test_a_stop_while_ship_writes_leaves_both_old_files(tmp_path, monkeypatch):
    out = tmp_path / "mini"
    ship.write_shipped_runs(pd.DataFrame({"run": ["a"], "loss": [3.0]}), {"runs": 1}, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ship, "write_json", stop)  # runs.csv written, provenance.json not yet
    with pytest.raises(KeyboardInterrupt):
        ship.write_shipped_runs(pd.DataFrame({"run": ["a", "b"], "loss": [3.0, 2.5]}), {"runs": 2}, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert json.loads((out / "provenance.json").read_text()) == {"runs": 1}


def test_a_rebuild_stopped_half_way_leaves_the_corpus_as_it_was(micro_corpus, tmp_path, monkeypatch, capfd):
    """A rebuild after the sources changed (same settings, so it is let in) wrote the new tokenizer
    and token files over the old ones one by one: stopped half-way, the folder held the new
    tokenizer beside old token files under the old manifest, a corpus that `suite train` took as
    built. It also showed no progress (a minute or more for the default sources)."""
    import shutil

    import scalefit.trainer.corpus as corpus_module
    from tests.test_interrupt_audit import _stop_at_call

    prose, folder = tmp_path / "prose", tmp_path / "corpus"
    shutil.copytree(micro_corpus[0] / "prose_src", prose)
    sources = ([prose], [micro_corpus[0] / "code_src"])
    settings = {"vocab_size": 320, "seed": 3, "val_frac": 0.1, "test_frac": 0.1}
    corpus_module.build_corpus(folder, *sources, **settings, progress=True)
    assert "tokenize: " in capfd.readouterr().err  # the documents tokenized, counted
    before = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    (prose / "added.rst.txt").write_text("Quokka zyzzyva quux. " * 300)
    _stop_at_call(monkeypatch, corpus_module, "tokenize_split", 2)  # prose train written, then Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        corpus_module.build_corpus(folder, *sources, **settings)
    assert {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob("*.tmp-*"))  # the staging folder is gone


def test_a_tables_folder_of_another_recipe_is_refused_before_training(corpus, tmp_path):
    """`suite train --tables T` of a spec whose seed (or any recipe key) differs from the runs T
    holds appended its rows beside theirs (or replaced a run's row) under a provenance.json that
    then described only the last spec; the run folders' own check did not see it (a new --out)."""
    from dataclasses import asdict

    from scalefit.trainer.run_settings import check_table_settings

    spec_a, spec_b = tmp_path / "a.toml", tmp_path / "b.toml"
    spec_a.write_text(micro_spec(("[grid]", {"tokens": [320]}), sizes=(S1,)))
    spec_b.write_text(micro_spec(("[grid]", {"tokens": [320]}), sizes=(S1,), recipe={**MICRO_RECIPE, "seed": 8}))
    a = load_spec(spec_a, vocab_size=320)
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "provenance.json").write_text(json.dumps({"recipe": asdict(a.recipe), "vocab_size": 320}))
    pd.DataFrame([{"run": a.runs[0].run, "seed": 7, "lr_peak": S1["lr"], "steps": 10}]).to_csv(tables / "runs.csv",
                                                                                               index=False)
    check_table_settings(a, a.runs, corpus, tables)  # the same spec again (another lane, a resume): let in
    args = ["suite", "train", "--spec", str(spec_b), "--corpus", str(corpus), "--out", str(tmp_path / "b"),
            "--tables", str(tables)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: --tables {tables}: holds runs trained with seed 7") and \
        len(result.stderr.strip().splitlines()) == 1, result.stderr
    (tables / "provenance.json").unlink()  # the run's row says it too
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and f"its runs.csv holds {a.runs[0].run} trained with seed 7" in result.stderr
    assert not (tmp_path / "b").exists()


def test_a_stopped_suite_report_leaves_the_plots_as_they_were(tmp_path, monkeypatch, capfd):
    """`suite report` drew its plots into DATA_DIR/plots one by one (tens of seconds on the
    shipped suite, with no progress): a stop after the first left it redrawn from the new tables
    beside plots of the old ones."""
    from scalefit.trainer import report
    from test_cli_audit3_trajectories import shipped_suite_folder

    folder = shipped_suite_folder(tmp_path / "suite", table=lambda t: t[t["model"].isin(["mini-1", "mini-2"])])
    (folder / "plots").mkdir()
    for name in ("loss_vs_compute.png", "loss_vs_compute.svg", "loss_vs_tokens.png", "loss_vs_tokens.svg"):
        (folder / "plots" / name).write_text("an earlier report's plot")

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "plot_loss_vs_tokens", stop)  # the second plot: the first is drawn
    with pytest.raises(KeyboardInterrupt):
        report.write_plots(folder, progress=True)
    assert "suite report: " in capfd.readouterr().err
    assert {p.name: p.read_bytes() for p in (folder / "plots").iterdir()} == dict.fromkeys(
        ["loss_vs_compute.png", "loss_vs_compute.svg", "loss_vs_tokens.png", "loss_vs_tokens.svg"],
        b"an earlier report's plot")


@pytest.mark.parametrize("name, text", [("runs.csv", "params,tokens,loss\n1e6,2e7,3.1\n"), ("runs.csv", ""),
                                        ("provenance.json", '{"recipe": {"seed": 7'),
                                        ("provenance.json", '["a list"]')])
def test_a_tables_folder_of_foreign_files_is_refused_in_one_line(corpus, tmp_path, name, text):
    """A --tables folder whose runs.csv is another table (a law fit's, no 'run' column; empty) or
    whose provenance.json is cut or not an object was met by a KeyError, EmptyDataError or
    JSONDecodeError traceback from check_table_settings, before anything trained."""
    spec = tmp_path / "a.toml"
    spec.write_text(micro_spec(("[grid]", {"tokens": [320]}), sizes=(S1,)))
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / name).write_text(text)
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(corpus),
                                       "--out", str(tmp_path / "b"), "--tables", str(tables)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stderr.startswith(f"error: --tables {tables}: {tables / name}") and \
        len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "b").exists()
