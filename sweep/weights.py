"""The `weights` measurement: weight statistics of every tensor of a checkpoint (scalefit.weightstats).

The adapter between the sweep engine and the pure weightstats layer: a loaded model (from
`scalefit eval --weights`) or a checkpoint folder (from `scalefit weights`, which never builds the
model) goes in, the long (tensor, group, layer, stat, value) rows come out to the `weights` table.
Both commands write the same part name and record the same facts (`weights_record`), so `eval
--weights` resumes a `scalefit weights` folder, and `scalefit weights` a weights-only `eval
--weights` folder (one holding eval results it refuses: its report would replace the eval's). A
mixture-of-experts model measured as loaded (a pickle checkpoint, which `eval --weights` cannot read as stored) gives its
folder's rows: transformers 5 fuses each layer's experts on load, and weightstats cuts them back
into the folder's per-expert matrices and names (groups.split_experts, read from transformers'
conversion_mapping); only a fusion that mapping does not describe stays whole, 3-d, in the same groups.
"""
from __future__ import annotations

from pathlib import Path

from scalefit.errors import InputError, warn
from scalefit.sweep.engine import Measurement
from scalefit.sweep.measurements import MeasurementKind, register_measurement
from scalefit.sweep.suites import schedule_fact_models, schedule_facts


def weight_stats_function():
    """`scalefit.weightstats.measure.weight_stats_table`, or None where that layer is not installed."""
    try:
        from scalefit.weightstats.measure import weight_stats_table
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("scalefit"):
            return None
        raise
    return weight_stats_table


def weights_device(device: str | None):
    """The device the statistics are computed on: 'auto' is CUDA where there is one, else where
    each tensor already is (None)."""
    import torch

    from scalefit.options import torch_device

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else None
    return torch_device("--device", device)


def check_stat_names(names, flag: str, *, also: str = "", numeric: bool = True) -> None:
    """Refuse, before measuring, a statistic of `flag` that no weights sweep writes (the near name
    offered, else the known ones and `also`, the flag's other words) and, with `numeric`, one naming a
    category (best_family: a plot of its codes says nothing): the one check of `weights --stat` and
    `suite sweep --stats`. The names are a probe's (weightstats.measure.measurable_stats, on a healthy
    and a diverged matrix), not a folder's first part's, which could be diverged, damaged or older.
    A derived statistic (t_xi: scalefit.derived_stats) is known where its source is, when `numeric`
    (it is computed when plotted, never stored, so a table cannot keep it)."""
    if not names:
        return
    from scalefit.derived_stats import with_derivable
    from scalefit.errors import known, suggestion
    from scalefit.schema import refuse_categorical
    from scalefit.weightstats.measure import measurable_stats

    rows = measurable_stats()
    measured = set(rows["stat"].dropna().astype(str))
    if numeric:
        measured = with_derivable(measured)
    unknown = [s for s in names if s not in measured]
    if unknown:
        raise InputError(f"{flag} {', '.join(unknown)}: no such statistic is measured by a weights sweep"
                         + suggestion(unknown[0], sorted(measured), otherwise=f" (known: {known(measured)}{also})"))
    if numeric:
        for stat in names:
            refuse_categorical(rows, stat, flag)


def weights_options(fit_families: bool = True, spectra: bool = True) -> dict:
    """What the `weights` rows depend on, keyed by the `scalefit weights` flags: recorded in the
    folder by both commands that write them, so neither adds rows of another setting."""
    return {"--no-families": not fit_families, "--no-spectra": not spectra}


def weights_record(measurement: Measurement, device_type: str, suite=None, models=()) -> None:
    """Record on a `weights` measurement the facts it keeps beside its flags (`weights_options`), one
    record for `scalefit weights` and `eval --weights` alike, so either resumes the other and a re-run
    under a changed suite spec is refused: the device kind the statistics are summed on (cpu and
    cuda sum in other orders), and the tokens and LR of each suite member in `models` (its rows'
    tokens and lr columns; none for a --checkpoint folder, whose rows carry neither)."""
    facts = schedule_facts(suite, models) if suite is not None else {}
    measurement.options.update({"--device": device_type, **facts})
    measurement.of_model.update(schedule_fact_models(models) if facts else {})


def weights_measurement(**options) -> Measurement:
    """Weight statistics of the loaded model or checkpoint folder, rows to the `weights` table.

    `options` go to `weight_stats_table` (device, fit_families, spectra, ...).
    """
    table_fn = weight_stats_function()
    if table_fn is None:
        raise InputError("--weights: this installation has no scalefit.weightstats.measure.weight_stats_table")

    def measure(source, info):
        table = table_fn(source, model=info.model, step=info.step, **options)
        bad = table[(table["stat"] == "nonfinite") & (table["tensor"] != "*")]
        if len(bad):  # a diverged checkpoint is measured, and said so, rather than failed or hidden
            warn(f"{info.model} step {info.step}: {len(bad)} weight tensors hold NaN or inf "
                 f"({int(bad['value'].sum()):,} elements): their rows carry only count and nonfinite")
        return table

    return Measurement(name="weights", fn=measure, table="weights",
                       options=weights_options(options.get("fit_families", True), options.get("spectra", True)))


WEIGHTS = register_measurement(MeasurementKind(
    "weights", table="weights", build=lambda **options: [weights_measurement(**options)],
    summary="moments, quantiles, tails, spectra and fitted families of every tensor and group"))


def weights_source(options: dict) -> str:
    """What a folder's record of `weights` says its rows are statistics of: the stored tensors, or
    (recorded by a scalefit from before they were, with --dtype bfloat16/float16) the model as
    loaded in that dtype, its weights rounded first. A float32 load holds stored values exactly."""
    dtype = options.get("--dtype")
    return f"the model as loaded in {dtype}" if dtype in ("bfloat16", "float16") else "the stored tensors"


def check_weights_source(before: dict, out_dir, measurement) -> None:
    """Refuse to add statistics of the stored tensors to a folder whose weight statistics are of a
    model loaded in half precision (an earlier `eval --weights`): one table would mix both."""
    from scalefit.sweep.parts import has_results

    then = weights_source(before)
    if then != "the stored tensors" and has_results(out_dir, measurement):
        raise InputError(f"--out {out_dir}: its weight statistics are of {then} (an earlier scalefit); eval "
                         "--weights now measures the stored tensors, as scalefit weights does: measure into a "
                         "new --out")


def stored_weights(**options):
    """The `weights` measurement of the checkpoint as stored, not as loaded: a bfloat16 load rounds
    float32 and float16 weights first, so `eval --weights` read the files `scalefit weights` reads
    (the loaded checkpoint's folder; statistics summed on the model's device), and both write the
    same rows. A checkpoint without safetensors (pickle .bin, --allow-bin) is measured as loaded
    where that load holds its tensors exactly (float32 holds fp16, bf16 and fp32 values), else refused."""
    def measure_stored(model, info):
        import torch

        from scalefit.weightstats.measure import safetensors_files

        folder = Path(info.folder) if info.folder else None
        try:
            stored = folder is not None and folder.is_dir() and bool(safetensors_files(folder))
        except InputError:  # no safetensors in the folder
            stored = False
        weight = next(model.parameters())
        if stored:
            return weights_measurement(device=str(weight.device), **options).fn(folder, info)
        if weight.dtype not in (torch.float32, torch.float64):
            raise InputError(f"{info.location}: no safetensors weights to measure as stored, and the model loaded "
                             f"in {str(weight.dtype).replace('torch.', '')} rounds them; measure --weights with "
                             "--dtype float32 (it holds fp16, bf16 and fp32 weights exactly)")
        return weights_measurement(**options).fn(model, info)
    return measure_stored
