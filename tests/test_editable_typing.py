"""mypy finds ``ivoa_broker``'s types through a default editable install.

setuptools' default (PEP 660) editable install of a flat layout is an import hook
that static tools cannot follow; ``package_dir = =.`` in ``setup.cfg`` makes it a
plain ``.pth`` path entry. The test makes an empty virtual environment, installs
the project into it the default way (``pip install --no-deps -e``, with pip's
build isolation) and type-checks a toy plug-in from outside the repository with
``--python-executable`` pointing there.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TOY = """\
from __future__ import annotations

from ivoa_broker.protocol import API_VERSION, ExecutionRequest

version: int = API_VERSION
job_id: str = ExecutionRequest(job_id="toy").job_id
"""
#: the same with a type error mypy can only see if it reads ivoa_broker's types
WRONG = TOY + 'deadline: int = ExecutionRequest(job_id="toy").job_id\n'


def _editable_env(tmp_path: Path) -> Path:
    """An empty virtual environment with ``pip install --no-deps -e <repo>`` in it."""
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
    done = subprocess.run(
        [*pip, "-e", str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return python


def _mypy(python: Path, source: str, where: Path) -> subprocess.CompletedProcess[str]:
    (where / "toy_plugin.py").write_text(source)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--python-executable",
            str(python),
            "toy_plugin.py",
        ],
        cwd=where,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_mypy_follows_a_default_editable_install(tmp_path: Path) -> None:
    python = _editable_env(tmp_path)
    outside = tmp_path / "plugin"
    outside.mkdir()
    good = _mypy(python, TOY, outside)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = _mypy(python, WRONG, outside)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert 'incompatible types in assignment (expression has type "str"' in bad.stdout.lower()
