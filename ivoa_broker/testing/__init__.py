"""The adapter conformance kit: reusable tests and fakes for plug-in authors.

Public names:

* :class:`AdapterConformance` - subclass it, provide the ``adapter`` and
  ``platform`` fixtures, and every conformance test runs against your adapter
  (see :mod:`ivoa_broker.testing.conformance` for the overridable fixtures);
* :class:`PlatformController`, :class:`PlatformControls`, :class:`Fault`,
  :data:`OPS` - what a platform controller implements and declares;
* :func:`wait_for_phase`, :class:`WakeSignal`, :func:`assert_monotonic`,
  :class:`PhaseTimeout` - bounded polling of ``status_many`` (honours ``deps.wake``);
* :class:`ScriptedCommands` - a scripted ``CommandRunner`` for CLI platforms;
* :class:`StatefulHTTPFake`, :class:`HTTPCall`, :data:`GARBAGE` - an in-memory
  REST service on ``httpx.MockTransport`` for REST platforms;
* :func:`new_job_id`, :func:`expected_error`.

For the end-to-end test through a real broker process over HTTP,
:mod:`ivoa_broker.testing.broker_http` has ``wait_phase`` (a job) and ``wait_session``
(an ExecutionBroker session): UWS blocking GETs, no sleep loops, and ``accept_offer``.
An emulator or fake served over real HTTP in a thread uses
:class:`ivoa_broker.testing.serving.ServerThread` (kernel-chosen loopback ports).

The pytest plugin (:mod:`ivoa_broker.testing.plugin`, loaded automatically once
``ivoa-broker`` is installed) adds ``--adapter-live`` and the ``live`` marker.
"""

from __future__ import annotations

from ivoa_broker.testing.commands import (
    CommandCall,
    CommandRule,
    ScriptedCommands,
    UnexpectedCommand,
)
from ivoa_broker.testing.conformance import AdapterConformance, expected_error, new_job_id
from ivoa_broker.testing.controller import OPS, Fault, PlatformController, PlatformControls
from ivoa_broker.testing.http import GARBAGE, HTTPCall, RecordedRequest, StatefulHTTPFake
from ivoa_broker.testing.waiting import (
    TERMINAL,
    PhaseTimeout,
    WakeSignal,
    assert_monotonic,
    phase_rank,
    wait_for_phase,
)

__all__ = [
    "GARBAGE",
    "OPS",
    "TERMINAL",
    "AdapterConformance",
    "CommandCall",
    "CommandRule",
    "Fault",
    "HTTPCall",
    "PhaseTimeout",
    "PlatformController",
    "PlatformControls",
    "RecordedRequest",
    "ScriptedCommands",
    "StatefulHTTPFake",
    "UnexpectedCommand",
    "WakeSignal",
    "assert_monotonic",
    "expected_error",
    "new_job_id",
    "phase_rank",
    "wait_for_phase",
]
