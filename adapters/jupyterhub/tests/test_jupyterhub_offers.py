"""Offers from the hub's configuration (no hub needed)."""

from __future__ import annotations

import pytest
from ivoa_broker_jupyterhub import JupyterHubConfig, Profile
from ivoa_broker_jupyterhub._offers import choose, user_options
from pydantic import SecretStr, ValidationError

from ivoa_broker.protocol import ExecutionRequest, Resources

GiB = 2**30
PROFILES = (
    Profile(slug="small", cores=2, memory_bytes=4 * GiB),
    Profile(slug="gpu", cores=8, memory_bytes=32 * GiB, gpus=1, user_options={"flavor": "a100"}),
)


def _config(**kw: object) -> JupyterHubConfig:
    return JupyterHubConfig(token=SecretStr("t" * 32), **kw)  # type: ignore[arg-type]


def _nb(**kw: object) -> ExecutionRequest:
    return ExecutionRequest(job_id="j", notebook="http://x/nb.ipynb", **kw)  # type: ignore[arg-type]


def test_one_offer_per_fitting_profile_with_its_resources() -> None:
    choices, reason = choose(_config(profiles=PROFILES), _nb(resources=Resources(cores=1)))
    assert reason is None
    assert [c.slug for c in choices] == ["small", "gpu"]
    assert choices[0].resources.cores == 2
    assert choices[0].resources.memory_bytes == 4 * GiB
    big, _ = choose(_config(profiles=PROFILES), _nb(resources=Resources(gpus=1)))
    assert [c.slug for c in big] == ["gpu"]


def test_refusals_name_the_reason() -> None:
    config = _config(profiles=PROFILES)
    none, reason = choose(config, _nb(resources=Resources(cores=64)))
    assert none == []
    assert reason is not None
    assert "small has 2 cores" in reason
    assert "gpu has 8 cores" in reason
    assert "named servers" in (choose(_config(allow_named_servers=False), _nb())[1] or "")
    assert "no GPUs" in (choose(_config(), _nb(resources=Resources(gpus=1)))[1] or "")
    assert "image" in (choose(_config(), _nb(image="docker.io/x:1"))[1] or "")
    assert "notebook" in (choose(_config(), ExecutionRequest(job_id="j"))[1] or "")
    limited = _config(max_walltime_seconds=3600)
    assert "run time" in (choose(limited, _nb(resources=Resources(walltime_seconds=7200)))[1] or "")
    unknown = _nb(extensions={"jupyterhub.profile": "huge"})
    assert "no profile 'huge'" in (choose(config, unknown)[1] or "")


def test_user_options_from_profile_and_extensions() -> None:
    config = _config(profiles=PROFILES, accepts_image=True)
    request = _nb(
        image="docker.io/lab:1",
        extensions={"jupyterhub.profile": "gpu", "jupyterhub.mount": "scratch", "slurm.x": "y"},
    )
    assert user_options(config, request, "gpu") == {
        "flavor": "a100",
        "mount": "scratch",
        "image": "docker.io/lab:1",
    }
    assert user_options(config, _nb(), "small") == {"profile": "small"}


def test_config_checks_and_secret_never_shown() -> None:
    config = _config()
    assert "t" * 32 not in repr(config)
    assert config.service_token().reveal() == "t" * 32
    with pytest.raises(ValidationError):
        _config(default_profile="nope")
    with pytest.raises(ValidationError):
        JupyterHubConfig(token=SecretStr("a"), token_file="/x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        _config(profiles=(Profile(slug="a"), Profile(slug="a")))
