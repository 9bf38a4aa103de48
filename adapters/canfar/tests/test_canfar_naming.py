"""The session naming rule: skaha-valid, lower-case, reversible where promised."""

from __future__ import annotations

import re
import uuid

import pytest
from ivoa_broker_canfar._naming import (
    MAX_NAME,
    is_ours,
    job_id_from_name,
    replica_from_name,
    replica_name,
    session_name,
)

SKAHA_NAME = re.compile(r"^[a-z0-9-]+$")  # skaha's [A-Za-z0-9-]+, stored lower-case

JOB_IDS = [
    "abc123",
    "conf-1a2b3c4d5e6f",
    uuid.UUID("12345678-1234-5678-1234-567812345678").hex,
    str(uuid.UUID("12345678-1234-5678-1234-567812345678")),
    "MixedCase_Job.7",
    "x",
    "trailing-",
    "ünïcode",
]


@pytest.mark.parametrize("job_id", JOB_IDS)
def test_names_are_valid_for_skaha_and_reversible(job_id: str) -> None:
    name = session_name("ivb", job_id)
    assert SKAHA_NAME.match(name), name
    assert len(name) <= MAX_NAME
    assert is_ours("ivb", name)
    assert job_id_from_name("ivb", name) == job_id
    # skaha hands the name back lower-cased: still decodable
    assert job_id_from_name("ivb", name.upper()) == job_id


def test_plain_ids_stay_readable() -> None:
    assert session_name("ivb", "conf-1a2b") == "ivb-conf-1a2b"


def test_ids_needing_encoding_use_the_x_form() -> None:
    assert session_name("ivb", "Job_1").startswith("ivbx-")


def test_too_long_ids_are_hashed_and_not_claimed_reversible() -> None:
    job_id = "J" * 80
    name = session_name("ivb", job_id)
    assert name.startswith("ivbh-")
    assert SKAHA_NAME.match(name)
    assert len(name) <= MAX_NAME
    assert is_ours("ivb", name)
    assert job_id_from_name("ivb", name) is None
    assert session_name("ivb", job_id) == name  # stable: submit stays idempotent
    assert session_name("ivb", job_id + "2") != name


def test_different_ids_never_share_a_name() -> None:
    ids = ["a-b", "A-b", "a_b", "ab", "a-b-", "ivb-a"]
    names = [session_name("ivb", i) for i in ids]
    assert len(set(names)) == len(ids)


def test_foreign_names_are_not_ours() -> None:
    for name in ("my-notebook", "ivbfoo", "ivc-abc", "notebook-ivb-abc"):
        assert not is_ours("ivb", name)
        assert job_id_from_name("ivb", name) is None


def test_corrupt_encoded_names_decode_to_none() -> None:
    assert job_id_from_name("ivb", "ivbx-0189") is None  # not base32
    assert job_id_from_name("ivb", "ivb--bad") is None


def test_prefix_is_respected() -> None:
    name = session_name("site2", "job-1")
    assert name == "site2-job-1"
    assert not is_ours("ivb", name)
    assert job_id_from_name("site2", name) == "job-1"


def test_empty_job_id_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        session_name("ivb", "")


@pytest.mark.parametrize("job_id", JOB_IDS)
def test_replica_names_carry_job_and_number(job_id: str) -> None:
    for number in (1, 7, 256):
        name = replica_name("ivb", job_id, number)
        assert SKAHA_NAME.match(name), name
        assert len(name) <= MAX_NAME + len("-256")
        assert is_ours("ivb", name)
        parsed = replica_from_name("ivb", name.upper())
        assert parsed is not None
        assert parsed[1] == number
        assert parsed[0] in (job_id, None)  # None only for hashed (too long) ids
        assert job_id_from_name("ivb", name) is None  # never mistaken for a plain job


def test_plain_names_are_not_replicas() -> None:
    assert replica_from_name("ivb", session_name("ivb", "job-1")) is None
    assert replica_from_name("ivb", "other-x-1") is None
