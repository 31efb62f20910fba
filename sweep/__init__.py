"""The sweep engine: which checkpoints (suites, grid), loading one (checkpoints), the loop and its
resumable parts (engine, parts), the registry of measurements (measurements; `weights` lives in
weights, `loss` and `tasks` in scalefit.evals), run metadata (runinfo) and the closing report."""
