from __future__ import annotations

import random
import uuid

import pytest
from ivoa_broker_jupyterhub._naming import (
    job_id_from_server,
    server_name,
    split_native,
    valid_server,
)

# job ids as the broker makes them (uuid4), always the same ones: pytest-xdist workers must collect
# the same parameters
UUIDS = [str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4)) for seed in range(20)]


@pytest.mark.parametrize("job_id", [*UUIDS, "conf-abc123", "a", "x1-y2"])
def test_server_names_are_hub_safe_slugs_and_read_back(job_id: str) -> None:
    name = server_name("ivb", job_id)
    assert valid_server(name), name
    assert job_id_from_server("ivb", name) == job_id


@pytest.mark.parametrize("job_id", ["Upper-Case", "a" * 40, "x--y", "-lead", "ünï"])
def test_other_job_ids_get_a_marked_name_that_is_not_read_back(job_id: str) -> None:
    name = server_name("ivb", job_id)
    assert valid_server(name), name
    assert name.startswith("ivbh")
    assert job_id_from_server("ivb", name) is None


def test_foreign_names_are_not_ours() -> None:
    assert job_id_from_server("ivb", "") is None
    assert job_id_from_server("ivb", "my-server") is None
    assert job_id_from_server("ivb", "ivbu" + "1" * 26) is None


def test_native_ids() -> None:
    assert split_native("alice/ivb-x") == ("alice", "ivb-x")
    with pytest.raises(ValueError, match="native id"):
        split_native("no-slash")
