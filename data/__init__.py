"""Tables that ship with scalefit: published constants, suite registries, measured suite results.

Installed, this folder is the package ``scalefit.data``; ``data_path`` finds a file in it the
same way from an editable checkout and from a wheel.
"""
from importlib import resources
from pathlib import Path


def data_path(*parts: str) -> Path:
    """Absolute path of a shipped data file, e.g. ``data_path("published_laws.toml")``."""
    return Path(str(resources.files(__name__).joinpath(*parts)))


# The measured mini suite's tables: every command that defaults to shipped data reads them here.
MINI_RUNS = ("suites", "mini", "runs.csv")
MINI_CHECKPOINTS = ("suites", "mini", "checkpoints.parquet")
MINI_FINALS = ("suites", "mini", "finals.parquet")
INIT_STUDY_CHECKPOINTS = ("suites", "mini", "init", "checkpoints.parquet")
