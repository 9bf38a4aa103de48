"""The kit works without asyncio_mode=auto: its async tests and fixtures are marked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_kit_run_passes_in_strict_mode(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "asyncio_mode=strict",
            "-k",
            "lifecycle or guard or submit_failure or restart",
            str(ROOT / "tests" / "testing" / "test_kit_reference.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    tail = done.stdout[-2000:]
    assert done.returncode == 0, tail
    assert " passed" in tail and "skipped" not in tail.split("passed")[0], tail
