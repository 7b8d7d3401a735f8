"""Run Python in a subprocess where `tanet_hf` cannot be imported, to test remote-code loading honestly."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

_BLOCKER = """
import sys
class _BlockTanetHf:
    def find_spec(self, name, path=None, target=None):
        if name == "tanet_hf" or name.startswith("tanet_hf."):
            raise ImportError("tanet_hf is deliberately not importable in this process")
        return None
sys.meta_path.insert(0, _BlockTanetHf())
sys.path[:] = [p for p in sys.path if p and not p.rstrip("/").endswith("/src")]
"""


def run_python_without_tanet_hf(code: str, cwd: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `code` with this interpreter in `cwd`, with any import of `tanet_hf` failing. Raises on non-zero exit."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    script = _BLOCKER + "\n" + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(f"subprocess failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-4000:]}")
    return result
