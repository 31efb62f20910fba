"""The published constants shipped in data/published_laws.toml (Kaplan, Hoffmann, Besiroglu,
Porian), read once. Each law's ``published()`` picks the rows that sit beside a fit of it."""
from __future__ import annotations

import tomllib
from functools import lru_cache

from scalefit.data import data_path


@lru_cache(maxsize=1)
def published_laws() -> dict:
    """The whole constants file as a dict."""
    with open(data_path("published_laws.toml"), "rb") as fh:
        return tomllib.load(fh)
