"""The published constants shipped in data/published_laws.toml (Kaplan, Hoffmann, Besiroglu,
Porian), read once, and the rows of them that sit beside a fit of the same law."""
from __future__ import annotations

import tomllib
from functools import lru_cache

from scalefit.data import data_path


@lru_cache(maxsize=1)
def published_laws() -> dict:
    """The whole constants file as a dict."""
    with open(data_path("published_laws.toml"), "rb") as fh:
        return tomllib.load(fh)


def _params(block: dict, names) -> dict:
    return {k: block[k] for k in names if k in block}


def published_for(law: str) -> dict[str, dict]:
    """{source label: {param: value, 'a': .., 'b': ..}} for a law (empty if none published)."""
    pub = published_laws()
    if law == "kaplan-nd":
        k = pub["kaplan2020"]
        row = dict(k["kaplan-nd"])
        row.update(a=k["allocation"]["a"], b=k["allocation"]["b"])
        return {"Kaplan 2020 (Table 2; eq. 6.1 a, b)": row}
    if law == "chinchilla":
        h = pub["hoffmann2022"]
        b = pub["besiroglu2024"]
        names = ("E", "A", "B", "alpha", "beta")
        rounded = _params(h["approach3"], names)
        unrounded = _params(h["approach3_unrounded"], names)
        besi = _params(b, names)
        for row in (rounded, unrounded, besi):
            s = row["alpha"] + row["beta"]
            row.update(a=row["beta"] / s, b=row["alpha"] / s)
        return {"Hoffmann 2022 Approach 3 (printed)": rounded,
                "Hoffmann 2022 Approach 3 (unrounded)": unrounded,
                "Besiroglu 2024 replication": besi}
    if law == "isoflop":
        h = pub["hoffmann2022"]["approach2"]
        p = pub["porian2024"]
        return {"Hoffmann 2022 Approach 2": {"a": h["a"], "b": h["b"]},
                "Porian 2024 corrected": {"a": p["corrected"]["a"]},
                "Porian 2024 reproducing Kaplan": {"a": p["reproducing_kaplan"]["a"]}}
    return {}
