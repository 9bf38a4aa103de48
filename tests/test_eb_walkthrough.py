"""The README's ExecutionBroker walk-through, run as it stands against a broker with the
default settings (what ``make serve`` starts: the local platform only).

The commands are read from the README (the ``sh`` block after ``<!-- eb-walkthrough -->``);
only the broker's address is replaced by the test broker's.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server import BrokerProcess

README = Path(__file__).resolve().parent.parent / "README.md"


def walkthrough() -> str:
    text = README.read_text()
    found = re.search(r"<!-- eb-walkthrough -->\n```sh\n(.*?)```", text, re.DOTALL)
    assert found, "the README lost its ExecutionBroker walk-through"
    return found.group(1)


def test_the_walkthrough_talks_to_the_default_address() -> None:
    assert "http://127.0.0.1:8080/requests" in walkthrough()


def test_readme_walkthrough_runs_verbatim(broker: BrokerProcess, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    script = walkthrough().replace("http://127.0.0.1:8080", broker.url)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "result: 'YES'" in lines
    assert any(line.strip().startswith("phase: OFFERED") for line in lines), lines
    assert lines[-2:] == ["COMPLETED", "42"], lines
    executed = json.loads((tmp_path / "executed.ipynb").read_text())
    (cell,) = executed["cells"]
    assert "".join(cell["outputs"][0]["text"]) == "42\n"
