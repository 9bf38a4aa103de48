"""Pure parts: state mapping, what Slurm prints (the shapes seen on the 22.05 test cluster),
the sbatch/REST encodings of a job, run-time rounding, and CLI errors -> protocol errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ivoa_broker_slurm._cli import command_error
from ivoa_broker_slurm._cluster import (
    Needs,
    Partition,
    accounting_kind,
    nodes_from_scontrol,
    partitions_from_scontrol,
    refusal,
)
from ivoa_broker_slurm._config import Choice, SlurmConfig
from ivoa_broker_slurm._mapping import Refused, minutes_left, plan
from ivoa_broker_slurm._records import accounting_jobs, controller_jobs, cpu_seconds, size_bytes
from ivoa_broker_slurm._spec import JOB_PATH, JobSpec
from ivoa_broker_slurm._ssh import remote_script
from ivoa_broker_slurm._states import base_state, end_reason, phase_of

from ivoa_broker.protocol import (
    AuthError,
    CommandResult,
    EndReason,
    ExecutionRequest,
    FatalError,
    InvalidRequest,
    NoCapacity,
    Phase,
    Resources,
    TransientError,
)

NODE = (
    "NodeName=vm Arch=x86_64 CoresPerSocket=1 CPUAlloc=0 CPUEfctv=8 CPUTot=8 CPULoad=0.10 "
    "AvailableFeatures=(null) ActiveFeatures=(null) Gres=gpu:2 NodeAddr=127.0.0.1 "
    "RealMemory=4096 AllocMem=0 FreeMem=20000 Sockets=8 Boards=1 State=IDLE "
    "Partitions=debug,short BootTime=1796163810 SlurmdStartTime=1796164863"
)
PARTITIONS = (
    "PartitionName=debug AllowGroups=ALL Default=YES MaxNodes=UNLIMITED MaxTime=01:00:00 "
    "MinNodes=0 Nodes=vm State=UP TotalCPUs=8 TotalNodes=1 MaxMemPerNode=UNLIMITED\n"
    "PartitionName=short AllowGroups=ALL Default=NO MaxNodes=UNLIMITED MaxTime=00:02:00 "
    "MinNodes=0 Nodes=vm State=UP TotalCPUs=8 TotalNodes=1 MaxMemPerNode=1024\n"
)


def test_states() -> None:
    assert phase_of("PENDING", "Resources") is Phase.QUEUED
    assert phase_of("PENDING", "JobHeldUser") is Phase.HELD
    assert phase_of("COMPLETING", None) is Phase.EXECUTING
    assert phase_of("OUT_OF_MEMORY", None) is Phase.ERROR
    assert phase_of("CANCELLED", None) is Phase.ABORTED
    assert phase_of("WHATEVER", None) is Phase.UNKNOWN
    assert base_state("CANCELLED by 0") == "CANCELLED"
    assert end_reason("TIMEOUT", False) is EndReason.TIMEOUT
    assert end_reason("NODE_FAIL", False) is EndReason.NODE_FAILURE
    assert end_reason("CANCELLED", True) is None
    assert end_reason("CANCELLED", False) is EndReason.CANCELLED_BY_PLATFORM


def test_controller_jobs_raw_wait_status() -> None:
    doc = {
        "jobs": [
            {"job_id": 7, "name": "ivb-a", "comment": "c", "job_state": "FAILED",
             "state_reason": "NonZeroExitCode", "exit_code": 512, "start_time": 1796164868,
             "end_time": 1796164869},
            {"job_id": 8, "job_state": "CANCELLED", "state_reason": "None", "exit_code": 15},
        ]
    }  # fmt: skip
    found = controller_jobs(doc, "squeue")
    assert (found["7"].exit_code, found["7"].signal, found["7"].reason) == (2, 0, "NonZeroExitCode")
    assert found["7"].started_at == datetime.fromtimestamp(1796164868, UTC)
    assert (found["8"].exit_code, found["8"].signal, found["8"].reason) == (0, 15, None)
    with pytest.raises(FatalError):
        controller_jobs({"nothing": []}, "squeue")


def test_sacct_lines_with_steps_and_usage() -> None:
    fields = ("JobIDRaw", "JobName", "State", "ExitCode", "Start", "End", "ElapsedRaw",
              "TotalCPU", "MaxRSS")  # fmt: skip
    text = (
        "3|sbatch|FAILED|0:9|1796164868|1796164871|3|00:01.500||\n"
        "3.batch|batch|CANCELLED by 0|0:9|1796164868|1796164871|3|00:01.500|65284K|\n"
        "4|ivb-x|COMPLETED|0:0|1796164868|1796164869|1|1-02:03:04.5||\n"
    )
    found = accounting_jobs(text, fields, "sacct")
    assert set(found) == {"3", "4"}
    assert (found["3"].state, found["3"].exit_code, found["3"].signal) == ("FAILED", 0, 9)
    assert found["3"].usage is not None and found["3"].usage.max_rss_bytes == 65284 * 1024
    assert found["4"].usage is not None and found["4"].usage.cpu_seconds == 93784.5
    assert cpu_seconds("garbage") is None and size_bytes("2G") == 2 * 1024**3
    with pytest.raises(FatalError):
        accounting_jobs("1|x\n", fields, "sacct")


def test_cluster_from_scontrol_and_refusals() -> None:
    nodes = nodes_from_scontrol(NODE)
    assert (nodes[0].cpus, nodes[0].memory_mb, nodes[0].gpus) == (8, 4096, 2)
    debug, short = partitions_from_scontrol(PARTITIONS, nodes)
    assert (debug.default, debug.max_time_minutes, debug.max_memory_mb) == (True, 60, 4096)
    assert (short.max_time_minutes, short.max_memory_mb) == (2, 1024)
    assert refusal(debug, Needs(cores=8, mem_mb=4096, gpus=2, time_minutes=60)) is None
    said = refusal(short, Needs(mem_mb=2000))
    assert said is not None and "MaxMemPerNode is 1024 MB" in said
    assert "not UP" in (refusal(Partition("down", up=False), Needs()) or "")
    assert accounting_kind({"AccountingStorageType": "accounting_storage/slurmdbd"}) == "sacct"
    assert accounting_kind({"JobCompType": "jobcomp/filetxt"}) == "jobcomp"
    assert accounting_kind({}) == "none"


def test_spec_encodings() -> None:
    spec = JobSpec(
        name="ivb-j", comment="ivoa-broker:i:j", job_root="/jobs", command=("echo", "a b"),
        env={"X": "it's"}, partition="debug", cpus_per_task=2, mem_mb=100, gpus=1,
        time_minutes=3,
    )  # fmt: skip
    args = spec.sbatch_args()
    for expected in ("--job-name=ivb-j", "--comment=ivoa-broker:i:j", "--partition=debug",
                     "--cpus-per-task=2", "--mem=100M", "--gres=gpu:1", "--time=3",
                     "--output=/jobs/%j.stdout.txt", f"--export=PATH={JOB_PATH}"):  # fmt: skip
        assert expected in args
    assert not [a for a in args if a.startswith(("--qos", "--account", "--nodes"))]
    script = spec.script()
    assert "exec echo 'a b'" in script and "export X='it'\"'\"'s'" in script
    job = spec.rest_job()
    assert (job["time_limit"], job["memory_per_node"], job["gres"]) == (3, 100, "gpu:1")
    assert job["standard_output"] == "/jobs/%j.stdout.txt"


def test_run_time_is_minutes_rounded_up() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ask = ExecutionRequest(job_id="j", command=("true",), deadline=now + timedelta(seconds=61))
    assert minutes_left(ask, None, now) == 2
    walltime = ExecutionRequest(job_id="j", command=("true",),
                                resources=Resources(walltime_seconds=60))  # fmt: skip
    assert minutes_left(walltime, None, now) == 1
    assert minutes_left(ExecutionRequest(job_id="j", command=("true",)), 7, now) == 7
    with pytest.raises(Refused):
        minutes_left(ExecutionRequest(job_id="j", command=("x",), deadline=now), None, now)


def test_plan_extensions_and_images() -> None:
    config = SlurmConfig(qos=Choice(default="normal", allowed=("normal", "high")))
    request = ExecutionRequest(job_id="j", command=("true",), extensions={"slurm.qos": "high"})
    assert plan(request, config).qos == "high"
    assert plan(ExecutionRequest(job_id="j", command=("true",)), config).qos == "normal"
    with pytest.raises(Refused, match="not one of"):
        plan(ExecutionRequest(job_id="j", command=("t",), extensions={"slurm.qos": "x"}), config)
    image = ExecutionRequest(job_id="j", command=("ls",), image="docker://alpine")
    with pytest.raises(Refused, match="container"):
        plan(image, config)
    runner = SlurmConfig(container_runner="apptainer")
    assert plan(image, runner).command == ("apptainer", "exec", "docker://alpine", "ls")
    with pytest.raises(ValueError, match="not in allowed"):
        Choice(default="a", allowed=("b",))


def test_command_errors_map_to_the_protocol() -> None:
    def result(stderr: str, rc: int = 1) -> CommandResult:
        return CommandResult(("sbatch",), rc, "", stderr)

    said = {
        "sbatch: error: Batch job submission failed: Unable to contact slurm controller "
        "(connect failure)": TransientError,
        "sbatch: error: Munge encode failed: Failed to access socket": AuthError,
        "sbatch: error: Batch job submission failed: Invalid account or account/partition "
        "combination specified": InvalidRequest,
        "sbatch: error: QOSMaxSubmitJobPerUserLimit": NoCapacity,
        "something new": FatalError,
    }
    for text, cls in said.items():
        assert type(command_error(result(text), "sbatch")) is cls, text
    assert type(command_error(result("", 127), "sbatch")) is FatalError


def test_remote_script_quotes_and_feeds_input() -> None:
    script = remote_script(["sbatch", "--comment=a b"], input="#!/bin/sh\necho $HOME\n",
                           env={"SLURM_CONF": "/x y/slurm.conf"}, cwd="/tmp")  # fmt: skip
    assert "cd /tmp" in script
    assert "export SLURM_CONF='/x y/slurm.conf'" in script
    assert "exec sbatch '--comment=a b' <<'IVB_INPUT_" in script
    assert "echo $HOME" in script  # quoted here-document: nothing expands
