"""The sweep engine: which checkpoints (suites, grid), loading one (checkpoints), the loop and its
resumable parts (engine, parts), where checkpoints are measured (executors: local or Ray, in
ray_executor), the registry of measurements (measurements; `weights` lives in weights, `loss`
and `tasks` in scalefit.evals), weight fingerprints (integrity; the flags are scalefit.integrity),
run metadata (runinfo) and the closing report."""
