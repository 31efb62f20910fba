"""CLI for the mini suite: `scalefit data build-corpus` and `scalefit suite train|sweep|ship|report`."""
from __future__ import annotations

import click

from scalefit.options import FRACTION, NONNEGATIVE_INT, POSITIVE, THREADS, output_file, output_folder
from scalefit.report import dumps


def _interrupted(where: str) -> None:
    """Ctrl-C (or SIGTERM) during a long suite command: where its work is, exit status 130 (143)."""
    from scalefit.signals import exit_interrupted

    exit_interrupted(f"interrupted: {where}")


@click.group()
def data():
    """Build the corpora and tokenizer the mini suite trains and evaluates on."""


@data.command("build-corpus")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for tokenizer/, prose/ and code/ token files and manifest.json.")
@click.option("--prose-dir", multiple=True, type=click.Path(file_okay=False),
              help="Folder of prose sources (*.rst.txt, *.rst, *.txt). Repeatable. "
                   "Default: Debian linux-doc-6.1 and python3.11-doc _sources.")
@click.option("--code-dir", multiple=True, type=click.Path(file_okay=False),
              help="Folder of Python sources. Repeatable. Default: this Python's stdlib.")
@click.option("--vocab-size", default=4096, show_default=True, type=int,  # the range: build_corpus's one check
              help="BPE vocabulary size, 258 to 65535.")
@click.option("--seed", default=1234, show_default=True, type=NONNEGATIVE_INT, help="Seed of the document split.")
@click.option("--val-frac", default=0.02, show_default=True, type=FRACTION, help="Share of documents in val.")
@click.option("--test-frac", default=0.02, show_default=True, type=FRACTION, help="Share of documents in test.")
@click.option("--newlines", default="keep", show_default=True, type=click.Choice(["keep", "lf"]),
              help="Line endings of the text: keep them as read (a Windows file's CRLF too; the shipped "
                   "corpus was built so), or lf: CRLF and CR become LF (recorded in manifest.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as one JSON document.")
def build_corpus_cmd(out_dir, prose_dir, code_dir, vocab_size, seed, val_frac, test_frac, newlines, as_json):
    """Read, deduplicate, split (by document) and tokenize prose and code; train the tokenizer.

    A binary source file (a NUL byte) is skipped, with a note on stderr naming it, and listed under
    "skipped" in manifest.json; a non-UTF-8 text file is read with U+FFFD for its undecodable bytes,
    as the shipped corpus was (4 of the stdlib's files), with a note on stderr naming it."""
    from scalefit.trainer.corpus import build_corpus

    output_folder("--out", out_dir)
    replaced = []
    manifest = build_corpus(out_dir, prose_dir or None, code_dir or None, vocab_size=vocab_size,
                            seed=seed, val_frac=val_frac, test_frac=test_frac, newlines=newlines,
                            progress=not as_json, replaced=replaced)
    for name, info in manifest["distributions"].items():
        for path, why in info.get("skipped", {}).items():
            click.echo(f"note: skipped {path}: {why}; {name} sources must be text", err=True)
    for path, why in replaced:
        click.echo(f"note: {path}: {why}; read with U+FFFD for the bytes that do not decode", err=True)
    if as_json:
        click.echo(dumps(manifest, indent=None))
        return
    for name, info in manifest["distributions"].items():
        sizes = ", ".join(f"{s} {info[s]['n_tokens']:,} tokens / {info[s]['n_docs']} docs"
                          for s in ("train", "val", "test"))
        click.echo(f"{name}: {sizes} ({info['n_duplicates']} duplicates dropped)")
    click.echo(f"wrote {out_dir}")


def _init_choice(ctx, param, value):
    """--init MODE[:SOURCE] -> InitChoice; a bad mode or a missing SOURCE folder exits 2."""
    if value is None:
        return None
    from scalefit.weightstats.reinit import parse_init

    choice = parse_init(value)
    if choice.source is not None:
        from scalefit.weightstats.reinit import load_source

        load_source(choice.source)  # a missing folder or one without weights: one line, before training
    return choice


def _checked_spec(ctx, param, value):
    """--spec is read as a suite spec when given, so a file of another kind (a run table, a
    corpus manifest) is named as the spec it is not, before any corpus or run folder is looked at."""
    if value is not None:
        from pathlib import Path

        from scalefit.errors import InputError
        from scalefit.trainer.spec import load_spec

        # a plain click.Path: its own "File 'x' does not exist." said not what --spec takes
        accepted = "give a suite spec TOML file's path (e.g. data/suites/mini.toml)"
        if not Path(value).exists():
            raise InputError(f"--spec {value}: file not found; {accepted}")
        if Path(value).is_dir():
            raise InputError(f"--spec {value}: is a folder; {accepted}")
        load_spec(value)
    return value


def trained_suite_options(fn):
    """--spec, --suite-dir and --corpus: where a trained suite's runs and corpus are."""
    fn = click.option("--corpus", "corpus_dir", default="runs/corpus", show_default=True,
                      type=click.Path(file_okay=False), help="Corpus folder (tokenizer and token files).")(fn)
    fn = click.option("--suite-dir", default="runs/suite", show_default=True, type=click.Path(file_okay=False),
                      help="Folder of run folders written by `scalefit suite train --out`.")(fn)
    return click.option("--spec", "spec_path", required=True, type=click.Path(),
                        callback=_checked_spec,
                        help="Suite spec TOML the runs were trained from.")(fn)


@click.group()
def suite():
    """Train, measure and report a suite from its spec TOML.

    A suite spec (the mini suite's: data/suites/mini.toml) names its runs: train trains them,
    sweep measures every checkpoint, ship merges the run tables of training lanes, report plots
    the measured suite, precision gives the SEs of its final losses."""


@suite.command("train")
@click.option("--spec", "spec_path", required=True, type=click.Path(),
              callback=_checked_spec,
              help="Suite spec TOML (e.g. data/suites/mini.toml).")
@click.option("--corpus", "corpus_dir", default="runs/corpus", show_default=True,
              type=click.Path(file_okay=False), help="Folder written by `scalefit data build-corpus`.")
@click.option("--out", "out_dir", default="runs/suite", show_default=True,
              type=click.Path(file_okay=False), help="Folder for checkpoints and per-run logs.")
@click.option("--tables", "table_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for runs.csv and provenance.json. Default: --out.")
@click.option("--part", "parts", multiple=True,
              type=click.Choice(["grid", "long", "code", "wsd", "warmup", "init"]),
              help="Train only these parts of the spec (repeatable). Default: grid, long, code and wsd, "
                   "in order; the warmup and init experiments train only when named.")
@click.option("--only", default=None, help="Train only this run (an exact id such as grid/mini-1-D245760), or the runs whose id contains this text "
                   "or whose model it is.")
@click.option("--init", "init", default=None, metavar="MODE[:SOURCE]", callback=_init_choice,
              help="Start every chosen run from this init instead of Pythia's, as runs of their own "
                   "(id ...-init-MODE-sSEED): pythia, gauss-matched, family, empirical, permuted or "
                   "source, with SOURCE a checkpoint folder trained on other data (e.g. a code run's "
                   "last step). See scalefit.weightstats.reinit.")
@click.option("--init-seed", type=click.IntRange(0), default=None,
              help="Seed of the init draw (default: the recipe's seed; the data order never changes).")
@click.option("--allow-same-data", is_flag=True,
              help="Accept an init SOURCE trained on the run's own training split (refused by default).")
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cuda.")
@click.option("--threads", default=1, show_default=True, type=THREADS, help="torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Print the finished runs as one JSON document.")
def train_cmd(spec_path, corpus_dir, out_dir, table_dir, parts, only, init, init_seed, allow_same_data,
              device, threads, as_json):
    """Train (or resume) every run of the spec; each finished run is appended to runs.csv.

    Ctrl-C or SIGTERM (a Slurm time limit) lets the current optimizer step finish, saves the run
    there (train_log.csv and a resume point), then exits 130 (143): re-running the same command
    resumes every unfinished run from the last step it trained, with the same weights as an
    uninterrupted run. A second Ctrl-C stops at once: that run resumes from its last saved step (a
    checkpoint, or the resume point written every `resume_every` steps of the spec's recipe).
    """
    import torch

    from scalefit.options import torch_device
    from scalefit.evals.cli import quiet_libraries
    from scalefit.trainer.train import train_suite

    quiet_libraries()  # transformers' 'Writing model shards' bar at every checkpoint cut through ours
    torch_device("--device", device)
    output_folder("--out", out_dir)
    if table_dir:
        output_folder("--tables", table_dir)
    torch.set_num_threads(threads)
    try:
        rows = train_suite(spec_path, corpus_dir, out_dir, parts=parts or ("grid", "long", "code", "wsd"),
                           device=device, table_dir=table_dir, progress=not as_json, only=only,
                           init=init, init_seed=init_seed, allow_same_data=allow_same_data)
    except KeyboardInterrupt as exc:  # during a step: the step ends and is saved first (scalefit.signals.DeferredSignals)
        from pathlib import Path

        from scalefit.trainer.train import TrainingInterrupted

        table = Path(table_dir or out_dir) / "runs.csv"
        runs = (f"finished runs are in {table}" if table.is_file() else
                f"no run has finished yet (none in {table})")
        _interrupted(f"{exc.message()}; {runs}" if isinstance(exc, TrainingInterrupted) else
                     f"{runs}; re-run the same command to resume (each run from the last step it saved)")
    if as_json:
        click.echo(dumps(rows, indent=None))
        return
    for r in rows:
        click.echo(f"{r['run']}: {r['distribution']} val loss {r['loss']:.4f} nats/token "
                   f"({r['tokens']:,} tokens, {r['wall_s']:.0f} s)")


@suite.command("sweep")
@click.option("--spec", "spec_path", required=True, type=click.Path(),
              callback=_checked_spec,
              help="Suite spec TOML the checkpoints were trained from.")
@click.option("--suite-dir", default="runs/suite", show_default=True, type=click.Path(file_okay=False),
              help="Folder of run folders written by `scalefit suite train --out`.")
@click.option("--corpus", "corpus_dir", default="runs/corpus", show_default=True,
              type=click.Path(file_okay=False), help="Corpus folder (tokenizer and token files).")
@click.option("--out", "out_dir", default="runs/sweep", show_default=True, type=click.Path(file_okay=False),
              help="Sweep folder: one result file per checkpoint and measurement; re-runs resume.")
@click.option("--tables", "table_dir", default=None, type=click.Path(file_okay=False),
              help="Also write the joined checkpoints.parquet and finals.parquet here. Their part is "
                   "the run's trajectory part: the grid run that is also the long run has part 'long' "
                   "(runs.csv: part grid, also long), so select the grid's finals by run id "
                   "(run starting 'grid/'), not part == 'grid'.")
@click.option("--finals/--no-finals", default=True, show_default=True,
              help="Also sweep the last checkpoint of every grid and code run.")
@click.option("--weights/--no-weights", default=True, show_default=True,
              help="Measure weight statistics (needs scalefit.weightstats.measure).")
@click.option("--max-tokens", default=None, type=click.IntRange(1),
              help="Tokens scored per dataset, in windows spread over the split (the same windows at "
                   "every checkpoint). Default: the spec's recipe eval_tokens, as the trainer scores.")
@click.option("--only", default=None, help="Sweep only this run (an exact id), or the runs whose id contains this text or whose model it is.")
@click.option("--stats", default="shipped", show_default=True,
              help="Weight statistics kept in --tables: comma-separated names, 'shipped' (a compact "
                   "set: moments, tails, spectra, Student-t nu, ...) or 'all'. Needs --tables.")
@click.option("--threads", default=1, show_default=True, type=THREADS, help="torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep summary as one JSON document.")
def sweep_cmd(spec_path, suite_dir, corpus_dir, out_dir, table_dir, finals, weights, max_tokens, only,
              stats, threads, as_json):
    """Measure every checkpoint of the suite's runs: losses (prose val/test, code test) and weights.

    Long runs and warmup variants are swept at every checkpoint, other runs at their last step.
    Killed at any moment, a re-run measures only what is missing. A checkpoint that fails to load
    (or a step folder without its weights or config) is reported and the sweep goes on; the
    command then exits with status 1.
    """
    import torch

    from scalefit.evals.cli import quiet_libraries
    from scalefit.errors import InputError
    from scalefit.sweep.weights import check_stat_names
    from scalefit.trainer.sweep import kept_stats, spec_for_corpus, suite_tables, sweep_suite, write_suite_tables

    quiet_libraries()
    torch.set_num_threads(threads)
    kept = kept_stats(stats)
    ctx = click.get_current_context()
    if ctx.get_parameter_source("stats") is not click.core.ParameterSource.DEFAULT and not table_dir:
        raise InputError(f"--stats {stats}: it chooses the weight statistics kept in --tables (the sweep "
                         "folder keeps every one); give --tables DIR too")
    output_folder("--out", out_dir)
    if table_dir:
        output_folder("--tables", table_dir)
        from pathlib import Path

        tabled = weights or next(Path(out_dir).glob("parts/*/*/weights--*.parquet"), None) is not None
        if kept is not None and tabled:  # said before sweeping, as `weights --stat` is; a category is
            # kept (the shipped tables hold best_family with its label), not refused as a plot's would be
            check_stat_names(kept, "--stats", also=", or 'shipped', 'all'", numeric=False)
    written = []
    try:
        summary = sweep_suite(spec_path, suite_dir, corpus_dir, out_dir, finals=finals, weights=weights,
                              max_tokens=max_tokens or None, only=only, progress=not as_json)
        if table_dir:  # each table is written whole (atomically): a stop here leaves the old one or none
            tables = suite_tables(spec_for_corpus(spec_path, corpus_dir), out_dir, stats=kept)
            written = [str(p) for p in write_suite_tables(tables, table_dir)]
    except KeyboardInterrupt:  # each measured checkpoint is on disk: say where, as `scalefit eval` does
        _interrupted(f"results so far are in {out_dir} (re-run the same command to measure the rest"
                     f"{' and write the tables' if table_dir else ''})")
    result = {"measured": len(summary.measured), "skipped": len(summary.skipped),
              "failed": summary.failed, "seconds": round(summary.seconds, 1), "tables": written}
    if as_json:
        click.echo(dumps(result, indent=None))
        if summary.failed:
            click.get_current_context().exit(1)
        return
    click.echo(f"measured {result['measured']}, already done {result['skipped']}, "
               f"failed {len(summary.failed)} in {result['seconds']:.0f} s")
    for f in summary.failed:
        click.echo(f"  failed: {f['model']} step {f['step']}: {f['error']}")
    for p in written:
        click.echo(f"wrote {p}")
    if summary.failed:  # as `scalefit eval`: a script sees that a checkpoint is missing from the tables
        click.get_current_context().exit(1)


@suite.command("ship")
@click.option("--spec", "spec_path", required=True, type=click.Path(),
              callback=_checked_spec,
              help="Suite spec TOML the runs were trained from.")
@click.option("--from", "table_dirs", multiple=True, required=True, type=click.Path(file_okay=False),
              help="A --tables folder of `scalefit suite train` (repeatable: one per lane).")
@click.option("--suite-dir", default="runs/suite", show_default=True, type=click.Path(file_okay=False),
              help="Run folders (their result.json times give the measured wall time).")
@click.option("--corpus", "corpus_dir", default="runs/corpus", show_default=True,
              type=click.Path(file_okay=False), help="Corpus folder (its manifest goes in provenance).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the merged runs.csv and provenance.json (e.g. data/suites/mini).")
@click.option("--note", default="", help="Free text added to the provenance's wall-time note.")
@click.option("--rescore", is_flag=True,
              help="Re-measure every run's final losses from its last checkpoint on the spec's eval sets "
                   "(for runs trained before the eval sets were unified).")
@click.option("--json", "as_json", is_flag=True, help="Print the provenance as one JSON document.")
def ship_cmd(spec_path, table_dirs, suite_dir, corpus_dir, out_dir, note, rescore, as_json):
    """Merge the run tables of several training lanes into one runs.csv with provenance."""
    from scalefit.evals.cli import quiet_libraries
    from scalefit.trainer.ship import (check_runs_of_spec, merge_run_tables, rescore_runs, suite_provenance,
                                       write_shipped_runs)

    quiet_libraries()
    output_folder("--out", out_dir)  # before a --rescore that measures every run, not after it

    runs = merge_run_tables(table_dirs, rescore=rescore)
    for warning in check_runs_of_spec(runs, spec_path):
        click.echo(f"warning: {warning}", err=True)
    if rescore:
        runs = rescore_runs(spec_path, runs, suite_dir, corpus_dir, progress=not as_json)
    prov = suite_provenance(spec_path, runs, suite_dir, corpus_dir, notes=note)
    paths = write_shipped_runs(runs, prov, out_dir)
    if as_json:
        click.echo(dumps(prov, indent=None, default=str))
        return
    click.echo(f"{len(runs)} runs ({', '.join(f'{p} {n}' for p, n in runs['part'].value_counts().items())})")
    for label, t in prov["wall_time"].items():
        click.echo(f"{label}: {t['runs']} runs, {t['busy_wall_s'] / 60:.1f} min wall "
                   f"({t['sum_of_run_wall_s'] / 60:.1f} min run after run)")
    for p in paths:
        click.echo(f"wrote {p}")


def _pair(ctx, param, values):
    """--pair A:B -> (A, B), the ids read stripped and a pair given twice kept once; anything
    else is one line, exit 2."""
    from scalefit.errors import InputError

    out = []
    for v in values:
        a, sep, b = (part.strip() for part in v.partition(":"))
        if not sep or not a or not b:
            raise InputError(f"--pair '{v}': give two model ids as A:B, e.g. mini-3-D245760:mini-4-D245760")
        if a == b:
            raise InputError(f"--pair '{v}': a run against itself (its difference is 0 with SE 0 "
                             "by construction); give two different model ids as A:B")
        if (a, b) not in out:
            out.append((a, b))
    return out


@suite.command("precision")
@trained_suite_options
@click.option("--pair", "pairs", multiple=True, callback=_pair, metavar="A:B",
              help="Model ids of two final checkpoints to compare (repeatable). Default: neighbouring "
                   "warmup variants, neighbouring sizes at each length, each WSD cooldown vs its cosine run.")
@click.option("--dataset", default="prose-val", show_default=True,
              type=click.Choice(["prose-val", "prose-test", "code-test"]), help="Eval set.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the table as CSV here (e.g. data/suites/mini/precision.csv).")
@click.option("--target-se", default=None, type=POSITIVE, metavar="NATS",
              help="Also say how many documents an eval set like this one needs for an SE of NATS "
                   "(columns docs_needed, docs_needed_paired), e.g. 0.005.")
@click.option("--threads", default=1, show_default=True, type=THREADS, help="torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON records.")
def precision_cmd(spec_path, suite_dir, corpus_dir, pairs, dataset, target_se, out_path, threads, as_json):
    """SE of a final loss (bootstrap over documents) and the paired SE of the difference of two
    runs on the same eval set (documents resampled jointly), for the pairs the analyses compare."""
    import torch

    from scalefit.evals.cli import quiet_libraries
    from scalefit.trainer.precision import format_se, precision_table, target_summary, write_precision

    quiet_libraries()
    torch.set_num_threads(threads)
    if out_path:
        output_file("--out", out_path)
    table = precision_table(spec_path, suite_dir, corpus_dir, pairs=pairs or None, dataset=dataset,
                            target_se=target_se, progress=not as_json)
    if out_path:
        write_precision(table, out_path)
    if as_json:
        click.echo(table.to_json(orient="records"))
        return
    for r in table.itertuples():
        click.echo(f"{r.a} - {r.b}: {r.difference:+.4f} (paired SE {format_se(r.paired_se)}; "
                   f"SE of each {format_se(r.se_a)}, {format_se(r.se_b)}; {r.n_docs} "
                   f"document{'' if r.n_docs == 1 else 's'})")
    if target_se is not None:
        click.echo(target_summary(table, corpus_dir))
    if out_path:
        click.echo(f"wrote {out_path}")


@suite.command("report")
@click.argument("data_dir", default="data/suites/mini", type=click.Path(exists=True, file_okay=False))
def report_cmd(data_dir):
    """Plot a measured suite (DATA_DIR/runs.csv and checkpoints.parquet) into DATA_DIR/plots and
    print its checks as JSON: loss falls with N and with D, larger models lower at equal tokens (the long runs' checkpoints from the shortest grid run's
    length on).

    DATA_DIR defaults to data/suites/mini below the current folder: the shipped suite when run
    from the repository, whose plots it rewrites (copy the folder to plot it elsewhere)."""
    from scalefit.trainer.report import write_plots

    click.echo(dumps(write_plots(data_dir, progress=True), indent=1))  # the bar on stderr: stdout stays JSON
