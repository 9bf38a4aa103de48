"""Control flow of a check: a failed expectation or a reason to skip."""

from __future__ import annotations


class CheckFailed(Exception):
    """An expectation of the check did not hold."""


class CheckSkipped(Exception):
    """The check cannot run against this service; the message says why."""


class CheckBlocked(Exception):
    """A prerequisite of the check failed; the message names the cause (and its check)."""
