"""Parsing the batched status answer and deriving native states."""

from __future__ import annotations

import pytest
from ivoa_broker_ssh import SSHAdapter
from ivoa_broker_ssh._scripts import RemoteState, native_state, parse_status, run_script

from ivoa_broker.protocol import FatalError, Phase


def test_parse_status_lines() -> None:
    states = parse_status("/w/a|12|1||0|100|\n/w/b|gone\n/w/c|13|0|3|1|100|160\n")
    assert states["/w/a"] == RemoteState("/w/a", gone=False, pid=12, alive=True, started=100)
    assert states["/w/b"].gone
    assert (states["/w/c"].exit_code, states["/w/c"].cancelled, states["/w/c"].ended) == (
        3,
        True,
        160,
    )


@pytest.mark.parametrize(
    "garbage",
    ["/w/a|12|1", "/w/a|x1|1||0||", "/w/a|12|yes||0||", "/w/a|12|1|oops|0||", "\x00\xff"],
)
def test_parse_status_refuses_garbage(garbage: str) -> None:
    with pytest.raises(FatalError):
        parse_status(garbage)


@pytest.mark.parametrize(
    ("state", "cancel_requested", "native", "phase"),
    [
        (RemoteState("d", False), False, "starting", Phase.QUEUED),
        (RemoteState("d", False, pid=5, alive=True), False, "running", Phase.EXECUTING),
        (RemoteState("d", False, pid=5, exit_code=0), False, "exited", Phase.COMPLETED),
        (
            RemoteState("d", False, pid=5, exit_code=0, cancelled=True),
            True,
            "exited",
            Phase.COMPLETED,
        ),
        (RemoteState("d", False, pid=5, exit_code=2), False, "failed", Phase.ERROR),
        (
            RemoteState("d", False, pid=5, exit_code=143, cancelled=True),
            False,
            "cancelled",
            Phase.ABORTED,
        ),
        (RemoteState("d", False, pid=5, exit_code=143), True, "cancelled", Phase.ABORTED),
        (RemoteState("d", False, pid=5), False, "lost", Phase.ERROR),
        (RemoteState("d", False, pid=5, cancelled=True), False, "cancelled", Phase.ABORTED),
    ],
)
def test_native_state(
    state: RemoteState, cancel_requested: bool, native: str, phase: Phase
) -> None:
    assert native_state(state, cancel_requested) == native
    assert SSHAdapter.state_map[native] == phase


def test_run_script_quotes_everything() -> None:
    script = run_script(("printf", "%s\\n", "a b", "$(rm -rf /)", "'"), {"X": "1 $HOME"}, 60)
    assert script == (
        "export X='1 $HOME'\nexec timeout -s TERM 60 printf '%s\\n' 'a b' '$(rm -rf /)' ''\"'\"''\n"
    )
