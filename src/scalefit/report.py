"""Writing a command's results: JSON on stdout, and a report folder (Markdown, CSV, PNG+SVG)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def to_jsonable(obj):
    """Convert numpy scalars/arrays, NaN and inf, dataclasses-as-dicts into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def dumps(obj, *, indent: int | None = 2, default=None) -> str:
    """One JSON document, NaN/inf written as null so every parser accepts it (``default``: how
    to write what JSON has no form for, as json.dumps takes it)."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False, default=default)


def save_figure(fig, out_dir, stem: str) -> list[Path]:
    """Save a matplotlib figure as PNG and SVG in out_dir; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = out_dir / f"{stem}.{ext}"
        fig.savefig(path, dpi=130 if ext == "png" else None, bbox_inches="tight")
        paths.append(path)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return paths


def write_text(out_dir, name: str, text: str) -> Path:
    """Write a text file (the Markdown report, a JSON dump) into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_text(text)
    return path


def write_printed_report(out_dir, title: str, text: str, figure: str) -> Path:
    """report.md holding what a command printed (as a code block) and its figure: --out promises
    a Markdown report also of the commands whose report is their terminal text."""
    return write_text(out_dir, "report.md", f"# {title}\n\n```\n{text}\n```\n\n![{figure}]({figure}.png)\n")


def markdown_table(df, floatfmt: str = ".4g") -> str:
    """A DataFrame as a GitHub Markdown table (no extra dependency such as tabulate)."""
    def cell(value):
        if isinstance(value, (float, np.floating)):
            return format(float(value), floatfmt) if math.isfinite(value) else ""
        return str(value)

    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body])
