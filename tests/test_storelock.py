"""The SQLite store serves one process: a second broker on the same file is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivoa_broker import storelock
from tests.server import BrokerProcess


def test_second_holder_is_refused_with_advice(tmp_path: Path) -> None:
    db = tmp_path / "broker.db"
    first = storelock.hold(db)
    try:
        # POSIX record locks are per process: a second process is needed to see the refusal
        import subprocess
        import sys

        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import pathlib, sys; from ivoa_broker import storelock; "
                "storelock.hold(pathlib.Path(sys.argv[1]))",
                str(db),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert probe.returncode != 0
        assert "single-process" in probe.stderr
        assert "PostgreSQL" in probe.stderr
    finally:
        first.release()
    storelock.hold(db).release()  # free again once released


def test_a_second_broker_on_the_same_store_does_not_start(tmp_path: Path) -> None:
    first = BrokerProcess(tmp_path).start()
    try:
        second = BrokerProcess(tmp_path)
        with pytest.raises(RuntimeError, match="single-process"):
            second.start(timeout=60)
    finally:
        first.stop()
