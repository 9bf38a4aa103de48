"""Inputs staged by the core, put into the job directory (``in/``) at launch.

The core downloads a job's ``http(s)`` inputs before ``submit`` and hands them
over as local files that exist only while ``submit`` runs
(``ExecutionRequest.staged_inputs``). The adapter lists them in the job spec
(:data:`SPEC_KEY`); :func:`place` hard-links them (or copies them, across file
systems) into ``<job_dir>/in/`` before the supervisor starts. The job finds the
folder in ``$IVOA_BROKER_INPUT_DIR``, the files in the order of the ``input``
parameters, named ``000-<name>``, ``001-<name>``, ...
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ivoa_broker.protocol import JSON, ExecutionRequest

__all__ = ["INPUT_DIR", "INPUT_DIR_ENV", "SPEC_KEY", "place", "spec_entries"]

INPUT_DIR = "in"
INPUT_DIR_ENV = "IVOA_BROKER_INPUT_DIR"
SPEC_KEY = "staged_inputs"


def spec_entries(request: ExecutionRequest) -> list[JSON]:
    """The job spec's list of staged files: ``[source path, file name]`` pairs."""
    return [[staged.path, Path(staged.path).name] for staged in request.staged_inputs]


def place(job_dir: Path, spec: dict[str, Any]) -> None:
    """Link (or copy) the spec's staged inputs into ``<job_dir>/in/`` (blocking)."""
    entries = spec.get(SPEC_KEY) or []
    if not entries:
        return
    target = job_dir / INPUT_DIR
    target.mkdir(mode=0o755)
    for source, name in entries:
        dest = target / Path(str(name)).name  # never outside in/
        try:
            os.link(source, dest)
        except OSError:
            shutil.copyfile(source, dest)
        dest.chmod(0o444)
