"""Probe: a job cannot read the broker's secrets or another owner's results.

Both rest on the local adapter's default bubblewrap sandbox (its ``_sandbox.py``): a job
runs as ``nobody`` in its own namespaces and sees only its own folder and the system.
"""

from __future__ import annotations

from tests.probe.conftest import ALICE, BOB, Probe, create, settle


def _stdout(probe: Probe, client_token: str, job: str) -> str:
    client = probe.alice if client_token == ALICE else probe.bob
    response = client.get(f"/jobs/{job}/results/stdout")
    return response.text if response.status_code == 200 else ""


def test_a_job_cannot_read_the_token_file(probe: Probe) -> None:
    tokens = probe.broker.workdir / "tokens.txt"
    job = create(probe.bob, {"cmd": "cat", "args": str(tokens), "PHASE": "RUN"})
    settle(probe.bob, job)
    out = _stdout(probe, BOB, job)
    assert ALICE not in out and BOB not in out


def test_a_job_cannot_read_another_owners_results(probe: Probe) -> None:
    marker = "alice-private-result-5d1e"
    mine = create(probe.alice, {"cmd": "echo", "args": marker, "PHASE": "RUN"})
    assert settle(probe.alice, mine) == "COMPLETED"
    work = probe.broker.workdir / "broker-work"
    snoop = create(
        probe.bob,
        {
            # the pattern matches the marker but not its own text (bob's job spec)
            "cmd": "sh",
            "args": ["-c", f"grep -rho '{marker[:-1]}[{marker[-1]}]' {work} 2>/dev/null; true"],
            "PHASE": "RUN",
        },
    )
    settle(probe.bob, snoop)
    assert marker not in _stdout(probe, BOB, snoop)
