"""Pure parts: result ids, the state table, native ids, process identity."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ivoa_broker_local import LocalAdapter
from ivoa_broker_local._jobdir import ExitRecord, JobDir, is_native_id, native_id_for, tail
from ivoa_broker_local._procs import ProcIdentity, identify, is_alive
from ivoa_broker_local._results import decode_result_id, encode_result_id, list_results
from ivoa_broker_local._states import (
    CANCELLED,
    EXITED_0,
    EXITED_NONZERO,
    RUNNING,
    SIGNALLED,
    START_FAILED,
    STATE_MAP,
    VANISHED,
    Limits,
    describe_exit,
    describe_vanished,
)

from ivoa_broker.protocol import Phase

URL_UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
NAMES = [
    "plain.txt",
    "a b.txt",
    "sub/dir/x.fits",
    "sub~2Fdir",
    "~",
    "~~41",
    "ünïcödé/€.csv",
    "stdout",
    "stderr",
    "sub/stdout",
    "stdoutx",
    "%2F..%2F",
    "..hidden",
]


@pytest.mark.parametrize("name", NAMES)
def test_result_ids_are_url_safe_and_decode_back(name: str) -> None:
    rid = encode_result_id(name)
    assert set(rid) <= URL_UNRESERVED
    assert rid not in ("stdout", "stderr", ".", "..")
    assert decode_result_id(rid) == name


def test_result_ids_are_injective_over_tricky_names() -> None:
    ids = [encode_result_id(n) for n in NAMES]
    assert len(set(ids)) == len(NAMES)
    assert encode_result_id("sub/dir/x.fits") == "sub~2Fdir~2Fx.fits"
    assert encode_result_id("stdout") == "~73tdout"


@pytest.mark.parametrize("bad", ["a~", "a~4", "a~zz", "a/b", "a b", "~2f"])
def test_malformed_result_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="result id"):
        decode_result_id(bad)


def test_results_skip_symlinks_and_never_leave_out(tmp_path: Path) -> None:
    job = tmp_path / "job"
    (job / "out" / "d").mkdir(parents=True)
    (job / "stdout").write_text("o")
    (job / "stderr").write_text("e")
    (job / "out" / "d" / "r.fits").write_bytes(b"SIMPLE")
    secret = tmp_path / "secret"
    secret.write_text("s")
    (job / "out" / "link").symlink_to(secret)
    (job / "out" / "dirlink").symlink_to(tmp_path)
    refs = list_results(job, max_files=10)
    assert [(r.id, r.mime_type, r.size) for r in refs] == [
        ("stdout", "text/plain", 1),
        ("stderr", "text/plain", 1),
        ("d~2Fr.fits", "application/fits", 6),
    ]
    # a job that replaces out/ by a symlink gets no files listed
    os.rename(job / "out", tmp_path / "real-out")
    (job / "out").symlink_to(tmp_path / "real-out")
    assert [r.id for r in list_results(job, max_files=10)] == ["stdout", "stderr"]


def test_results_are_capped_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    for name in ("c", "a", "b"):
        (tmp_path / "out" / name).write_text(name)
    assert [r.id for r in list_results(tmp_path, max_files=2)] == ["a", "b"]


def test_state_map_covers_every_native_state_and_only_adapter_phases() -> None:
    produced = {RUNNING, EXITED_0, EXITED_NONZERO, SIGNALLED, CANCELLED, START_FAILED, VANISHED}
    assert set(STATE_MAP) == produced
    assert LocalAdapter.state_map is STATE_MAP
    assert STATE_MAP[RUNNING] is Phase.EXECUTING
    assert STATE_MAP[EXITED_0] is Phase.COMPLETED
    assert STATE_MAP[CANCELLED] is Phase.ABORTED
    assert {STATE_MAP[s] for s in (EXITED_NONZERO, SIGNALLED, START_FAILED, VANISHED)} == {
        Phase.ERROR
    }


def _exit(**kw: object) -> ExitRecord:
    fields: dict[str, object] = {
        "returncode": None,
        "signal": None,
        "error": None,
        "started_at": datetime(2026, 1, 1, tzinfo=UTC),
        "ended_at": datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
        "cpu_seconds": 0.5,
        "max_rss_bytes": 1000,
        "term_requested": False,
        "never_started": False,
    }
    fields.update(kw)
    return ExitRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "cancel", "limits", "state", "code", "words"),
    [
        (_exit(returncode=0), False, Limits(), EXITED_0, 0, None),
        (_exit(returncode=0, term_requested=True), True, Limits(), EXITED_0, 0, None),
        (_exit(returncode=2), False, Limits(), EXITED_NONZERO, 2, "exited with code 2"),
        (_exit(returncode=143, term_requested=True), True, Limits(), CANCELLED, 143, "cancelled"),
        (_exit(signal=15), True, Limits(), CANCELLED, 143, "SIGTERM"),
        (_exit(signal=9), True, Limits(), CANCELLED, 137, "SIGKILL after the grace"),
        (_exit(signal=15), False, Limits(), SIGNALLED, 143, "outside the broker"),
        (_exit(signal=24), False, Limits(cpu_seconds=5), SIGNALLED, 152, "CPU-time limit"),
        (
            _exit(signal=9, cpu_seconds=6.0),
            False,
            Limits(cpu_seconds=5),
            SIGNALLED,
            137,
            "CPU-time limit",
        ),
        (_exit(signal=11), False, Limits(memory_bytes=2**20), SIGNALLED, 139, "memory limit"),
        (_exit(signal=11), False, Limits(), SIGNALLED, 139, "SIGSEGV"),
        (
            _exit(returncode=127, error="could not start 'x'"),
            False,
            Limits(),
            START_FAILED,
            127,
            "x",
        ),
        (_exit(signal=15, never_started=True), True, Limits(), CANCELLED, None, "before"),
    ],
)
def test_describe_exit(
    record: ExitRecord,
    cancel: bool,
    limits: Limits,
    state: str,
    code: int | None,
    words: str | None,
) -> None:
    ending = describe_exit(record, cancel_requested=cancel, limits=limits, stderr_tail="")
    assert (ending.native_state, ending.exit_code) == (state, code)
    if words is None:
        assert ending.message is None
    else:
        assert ending.message is not None
        assert words in ending.message


def test_memory_words_in_stderr_name_the_limit() -> None:
    ending = describe_exit(
        _exit(returncode=1),
        cancel_requested=False,
        limits=Limits(memory_bytes=3 * 2**20),
        stderr_tail="Traceback ...\nMemoryError\n",
    )
    assert ending.message is not None
    assert "memory limit exceeded" in ending.message
    assert "3.0 MiB" in ending.message
    assert ending.message.endswith("MemoryError")


def test_an_unreadable_exit_record_is_vanished_not_a_crash(tmp_path: Path) -> None:
    job = JobDir(tmp_path, "j")
    job.path.mkdir()
    job.exit_file.write_text('{"returncode": "not a number"}')
    record = job.read_exit()
    assert record is not None
    ending = describe_exit(record, cancel_requested=False, limits=Limits(), stderr_tail="")
    assert ending.native_state == VANISHED
    assert ending.message is not None
    assert "unreadable" in ending.message


def test_vanished_is_error_unless_cancelled() -> None:
    assert describe_vanished(cancel_requested=False, pid=42).native_state == VANISHED
    assert describe_vanished(cancel_requested=True, pid=42).native_state == CANCELLED


@pytest.mark.parametrize(
    ("job_id", "same"),
    [
        ("abc-123", True),
        ("Job.1_x", True),
        ("../etc", False),
        ("a/b", False),
        ("", False),
        ("_x", False),
        ("x" * 200, False),
    ],
)
def test_native_ids_are_safe_directory_names(job_id: str, same: bool) -> None:
    native = native_id_for(job_id)
    assert (native == job_id) is same
    assert is_native_id(native)
    assert "/" not in native
    assert native not in (".", "..")


def test_tail_reads_the_end_and_drops_the_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("first line\nsecond\nthird\n")
    assert tail(path, 1000) == "first line\nsecond\nthird\n"
    assert tail(path, 10) == "…third\n"
    assert tail(tmp_path / "missing", 10) == ""


def test_process_identity_survives_only_for_the_same_process() -> None:
    me = identify(os.getpid())
    assert me is not None
    assert is_alive(me)
    assert not is_alive(ProcIdentity(me.pid, me.start_ticks + 1, me.boot_id))
    assert not is_alive(ProcIdentity(me.pid, me.start_ticks, "another-boot"))
