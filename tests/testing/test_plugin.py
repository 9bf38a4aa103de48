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


def run(tmp_path: Path, *args: str, opt_in: bool = True, sample: str = SAMPLE) -> str:
    (tmp_path / "test_sample.py").write_text(sample)
    ini = "[pytest]\naddopts = --strict-markers\n"
    if opt_in:
        ini += "ivoa_broker_live = true\n"
    (tmp_path / "pytest.ini").write_text(ini)
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


OTHER_PROJECT = """
import pytest

@pytest.mark.live
def test_their_own_live_test():
    pass

@pytest.mark.adapter_live
def test_opted_in():
    pass
"""


def test_other_projects_live_tests_are_not_touched(tmp_path: Path) -> None:
    """A project that did not opt in keeps its own 'live' marker to itself."""
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "test_in_a_live_folder.py").write_text("def test_x():\n    pass\n")
    text = OTHER_PROJECT.replace("import pytest", "import pytest\n\npytest_plugins = []")
    ini = "[pytest]\nmarkers =\n    live: theirs\n"
    (tmp_path / "pytest.ini").write_text(ini)
    (tmp_path / "test_theirs.py").write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    # their live test and the test in live/ run; only the kit's own marker is skipped
    assert "2 passed, 1 skipped" in done.stdout, done.stdout
