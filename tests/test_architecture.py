"""The direction of imports between the layers, read from the source (every import statement,
including the lazy ones inside functions): weightstats is pure, scaling reads tables and never
torch, and the packages form no cycle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> folder in the repository (pyproject's package-dir)
PACKAGES = {"scalefit.scaling": "scaling", "scalefit.evals": "evals",
            "scalefit.weightstats": "weightstats", "scalefit.sweep": "sweep",
            "scalefit.trainer": "trainer", "scalefit.data": "data", "scalefit": "src/scalefit"}
LAYERS = ("scalefit.scaling", "scalefit.evals", "scalefit.weightstats", "scalefit.sweep",
          "scalefit.trainer")
HEAVY = ("torch", "transformers", "lm_eval", "safetensors", "tokenizers")


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in ``path`` names (absolute imports only)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def package_imports(package: str) -> dict[str, set[str]]:
    """{file: modules it imports} for every .py file of one package folder."""
    folder = ROOT / PACKAGES[package]
    files = folder.rglob("*.py") if package != "scalefit" else folder.glob("*.py")
    return {str(f.relative_to(ROOT)): imported_modules(f) for f in files}


def layer_of(module: str) -> str | None:
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def offending(package: str, forbidden) -> list[str]:
    out = []
    for file, modules in package_imports(package).items():
        for module in sorted(modules):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{file} imports {module}")
    return out


def test_weightstats_imports_no_other_layer():
    bad = offending("scalefit.weightstats", [l for l in LAYERS if l != "scalefit.weightstats"])
    assert not bad, "\n".join(bad)


def test_scaling_reads_tables_never_torch():
    bad = offending("scalefit.scaling", [*HEAVY, *(l for l in LAYERS if l != "scalefit.scaling")])
    assert not bad, "\n".join(bad)


def test_core_imports_no_layer():
    """src/scalefit (errors, tables, schema, schedule, atomic, ...) sits below every layer; the
    CLI names subcommands by string and imports them lazily, never by an import statement."""
    bad = offending("scalefit", LAYERS)
    assert not bad, "\n".join(bad)


def test_no_cycle_between_packages():
    graph = {layer: set() for layer in LAYERS}
    for layer in LAYERS:
        for modules in package_imports(layer).values():
            graph[layer].update(t for m in modules if (t := layer_of(m)) not in (None, layer))
    state = {}

    def visit(node, path):
        if state.get(node) == "done":
            return
        if state.get(node) == "open":
            pytest.fail("import cycle: " + " -> ".join(path + [node]))
        state[node] = "open"
        for nxt in sorted(graph[node]):
            visit(nxt, path + [node])
        state[node] = "done"

    for layer in LAYERS:
        visit(layer, [])


def test_the_checker_sees_an_import(tmp_path):
    """imported_modules reads lazy imports inside functions too."""
    f = tmp_path / "m.py"
    f.write_text("def g():\n    from scalefit.evals.loss import measure_loss\n    import torch\n")
    assert {"scalefit.evals.loss", "torch"} <= imported_modules(f)


# README: imports go one way, trainer -> evals -> sweep -> weightstats -> core (scaling beside them)
DOWNWARD = ("scalefit.trainer", "scalefit.evals", "scalefit.sweep", "scalefit.weightstats")


@pytest.mark.parametrize("layer", DOWNWARD[1:])
def test_a_layer_imports_none_above_it(layer):
    """sweep/cli.py imported trainer.sweep for the statistics a weights sweep measures (2297ea0): no
    cycle yet (the check above), but the order the README states, broken."""
    above = DOWNWARD[:DOWNWARD.index(layer)]
    bad = offending(layer, [*above, "scalefit.scaling"])
    assert not bad, "\n".join(bad)


def test_no_module_but_a_command_imports_a_command_module():
    """A result's text or a report read its function from a click module (laws/report.py from
    schedule_cli, Calibration.__str__ from calibrate_cli): the command shells sit on top of what a
    notebook calls, never under it."""
    bad = []
    for layer in (*LAYERS, "scalefit"):
        for file, modules in package_imports(layer).items():
            name = Path(file).name
            if name.endswith("cli.py") or name in ("__init__.py", "__main__.py"):
                continue
            bad += [f"{file} imports {m}" for m in sorted(modules) if m.startswith("scalefit")
                    and (m.split(".")[-1] == "cli" or m.split(".")[-1].endswith("_cli"))]
    assert not bad, "\n".join(bad)
