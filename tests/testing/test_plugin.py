"""The pytest plugin: the live marker is skipped unless --adapter-live selects it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SAMPLE = """
import pytest

@pytest.mark.live
def test_live(adapter_live):
    assert adapter_live("ssh")

def test_offline():
    pass
"""


def run(tmp_path: Path, *args: str) -> str:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def test_live_tests_skip_without_option(tmp_path: Path) -> None:
    out = run(tmp_path)
    assert "1 passed, 1 skipped" in out
    assert "--adapter-live" in out


def test_live_tests_run_for_selected_plugin(tmp_path: Path) -> None:
    assert "2 passed" in run(tmp_path, "--adapter-live=ssh,local")
    assert "2 passed" in run(tmp_path, "--adapter-live")
    assert "1 failed, 1 passed" in run(tmp_path, "--adapter-live=slurm")
