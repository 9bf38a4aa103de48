"""Native states of a remote job and their UWS phases.

The adapter derives a native state from the job directory (see ``_scripts``):

=========== ========= ==================================================
native      phase     when
=========== ========= ==================================================
starting    QUEUED    the directory exists, the process has no pid yet
running     EXECUTING the process group leader is alive, no exit file
exited      COMPLETED the exit file says 0
failed      ERROR     the exit file says non-zero, no cancel was asked
cancelled   ABORTED   a cancel was asked and the job did not exit with 0
lost        ERROR     the process is gone without writing an exit code
=========== ========= ==================================================
"""

from __future__ import annotations

from collections.abc import Mapping

from ivoa_broker.protocol import Phase

STATE_MAP: Mapping[str, Phase] = {
    "starting": Phase.QUEUED,
    "running": Phase.EXECUTING,
    "exited": Phase.COMPLETED,
    "failed": Phase.ERROR,
    "cancelled": Phase.ABORTED,
    "lost": Phase.ERROR,
}
