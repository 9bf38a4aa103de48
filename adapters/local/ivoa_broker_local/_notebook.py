"""Notebook jobs on the local platform: a ``jupyter-notebook`` request becomes a batch job.

A request with a ``notebook`` location (the ExecutionBroker's ``jupyter-notebook``
executable, or UWS ``notebook=``) and no command or image is run, not opened: the job's
command is ``<python> <path of _nbrun.py> <location>`` (:mod:`._nbrun`), executed by
the usual supervisor, so limits, cancel, restart and cleanup are those of any local job.
The executed notebook and every file it writes are results; a failing cell ends the job
in ERROR naming the cell; while it runs, the cell being executed is the job's progress.

Only ``http(s)://`` and ``data:`` locations are read (the ExecutionBroker refuses
``file:``); the kernel is ``python3`` from ipykernel in the adapter's interpreter.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

from ivoa_broker.protocol import ExecutionRequest, Progress

from . import _nbrun
from ._nbrun import PROGRESS_FILE, STATE_ENV

#: the runner script, run by path (``python -m`` would import the package and the core)
NBRUN = Path(_nbrun.__file__).resolve()

__all__ = [
    "STATE_DIR",
    "STATE_ENV",
    "as_batch",
    "is_notebook",
    "notebook_problem",
    "read_progress",
    "runtime_paths",
    "state_dir",
]

#: the runner's writable folder inside the job directory (progress, kernel files): the
#: only part of the job directory besides ``out/`` a sandboxed notebook job may write
STATE_DIR = "notebook"

_SCHEMES = ("http://", "https://", "data:")
_NEEDS = ("nbclient", "nbformat", "ipykernel")


def is_notebook(request: ExecutionRequest) -> bool:
    """A notebook to execute: a location, and neither a command nor an image."""
    return bool(request.notebook) and not request.command and not request.image


def notebook_problem(request: ExecutionRequest) -> str | None:
    """Why this notebook request cannot run here (cheap), ``None`` if it can."""
    location = request.notebook or ""
    if not location.lower().startswith(_SCHEMES):
        return (
            f"the local adapter reads notebooks from http(s):// or data: locations only "
            f"(notebook={location[:80]!r})"
        )
    missing = [name for name in _NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        return (
            "the local adapter cannot execute notebooks: "
            f"{', '.join(missing)} not installed (pip install ivoa-broker-local)"
        )
    return None


def as_batch(request: ExecutionRequest, python: str) -> ExecutionRequest:
    """The batch job that executes the request's notebook."""
    assert request.notebook is not None
    return dataclasses.replace(
        request,
        kind="batch",
        notebook=None,
        command=(python, str(NBRUN), request.notebook),
    )


def runtime_paths(argv: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """What a sandboxed notebook job must see read-only: the runner and this Python.

    The runner is a stand-alone script (it imports neither this package nor the core),
    so the broker's own source tree, which may hold its store and config under
    ``make serve``, stays hidden; the interpreter's prefix and the virtualenv's hold
    only installed packages (nbclient, ipykernel and the kernel's own imports).
    """
    if not _runs_the_runner(argv):
        return ()
    return tuple(dict.fromkeys((str(NBRUN), sys.prefix, sys.base_prefix)))


def _runs_the_runner(argv: list[str] | tuple[str, ...]) -> bool:
    """Whether ``argv`` is a notebook job's command (:func:`as_batch`): python, runner, ..."""
    return len(argv) >= 2 and argv[1] == str(NBRUN)


def state_dir(argv: list[str] | tuple[str, ...], job_dir: Path) -> Path | None:
    """The runner's state folder of a notebook job (``None`` for any other command)."""
    if not _runs_the_runner(argv):
        return None
    return job_dir / STATE_DIR


def read_progress(job_dir: Path) -> Progress | None:
    """The progress the notebook runner last wrote (blocking; ``None`` if none)."""
    try:
        data = json.loads((job_dir / STATE_DIR / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        return None
    fraction = data.get("fraction")
    return Progress(
        data["message"][:200], float(fraction) if isinstance(fraction, int | float) else None
    )
