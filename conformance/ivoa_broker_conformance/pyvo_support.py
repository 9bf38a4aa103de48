"""pyvo as an optional client: import it or skip, parse with warnings caught."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from ivoa_broker_conformance.probe import CheckRun

T = TypeVar("T")


def import_pyvo(t: CheckRun) -> Any:
    try:
        import pyvo
    except ImportError:
        t.skip(
            "pyvo is not installed (optional dependency: pip install "
            "'ivoa-broker-conformance[pyvo]')"
        )
    return pyvo


def caught(t: CheckRun, what: str, func: Callable[[], T]) -> T:
    """Run ``func``; exceptions and pyvo/astropy warnings (bar ERFA's) fail the check."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", module="erfa")
        warnings.filterwarnings("ignore", message=".*dubious year.*")
        try:
            value = func()
        except Exception as exc:
            t.fail(f"{what} raised {type(exc).__name__}: {exc}")
    relevant = [w for w in seen if "erfa" not in type(w.message).__name__.lower()]
    t.expect(
        not relevant,
        f"{what} warned: "
        + "; ".join(f"{type(w.message).__name__}: {w.message}" for w in relevant[:5]),
    )
    return value


def parse_job_strict(t: CheckRun, body: bytes) -> Any:
    from pyvo.io.uws import parse_job

    return caught(t, "pyvo.io.uws.parse_job", lambda: parse_job(io.BytesIO(body)))
