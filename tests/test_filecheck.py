"""Runs the lit + filecheck golden IR tests under tests/filecheck as part of pytest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_lit_filecheck_suite() -> None:
    bindir = Path(sys.executable).parent
    lit = shutil.which("lit", path=str(bindir)) or shutil.which("lit")
    assert lit is not None, "lit is not installed (pip install -e '.[test]')"
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [lit, "-v", "-j2", str(HERE / "filecheck")], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-5000:]
    assert "Passed" in proc.stdout, proc.stdout
