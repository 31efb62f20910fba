"""The layered install: the core analyses tables without torch; a command that needs the [eval]
extra says which extra to install (exit 2) instead of a traceback.

Each case runs in a fresh interpreter where the extra's modules cannot be imported, as on a
machine with only `pip install scalefit`.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from scalefit.data import data_path

BLOCK = ("import sys\n"
         "class NoExtra:\n"  # a finder that says the extra's modules are not installed
         "    blocked = ('torch', 'transformers', 'lm_eval', 'safetensors', 'tokenizers')\n"
         "    def find_spec(self, name, path=None, target=None):\n"
         "        if name.split('.')[0] in self.blocked:\n"
         "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
         "sys.meta_path.insert(0, NoExtra())\n"
         "from scalefit.cli import main\n"
         "sys.argv = ['scalefit'] + sys.argv[1:]\n"
         "main()\n")


def run_without_extra(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", BLOCK, *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.mark.parametrize("args", [
    ["eval", "--suite", "pythia", "--models", "70m", "--steps", "0", "--dataset", "x=y.jsonl",
     "--out", "OUT"],
    ["weights", "--suite", "pythia", "--models", "70m", "--steps", "0", "--out", "OUT"],
    ["suite", "train", "--spec", "SPEC"],
])
def test_command_needing_the_eval_extra_says_so(args, tmp_path):
    args = [a.replace("OUT", str(tmp_path / "out")).replace("SPEC", str(data_path("suites", "mini.toml")))
            for a in args]
    done = run_without_extra(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "pip install 'scalefit[eval]'" in lines[0]


def test_core_commands_run_without_torch(tmp_path):
    done = run_without_extra("fit", "chinchilla", "--bootstrap", "0", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"law": "chinchilla"' in done.stdout
    done = run_without_extra("--help", cwd=tmp_path)
    assert done.returncode == 0 and "compare" in done.stdout and "eval" in done.stdout
