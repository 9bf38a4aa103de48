"""ExecutionRequest -> skaha parameters: types, images, rounding, argument rules."""

from __future__ import annotations

from typing import Any

import pytest
from ivoa_broker_canfar import CanfarConfig
from ivoa_broker_canfar._mapping import GIB, CannotServe, Catalog, plan, round_up
from ivoa_broker_canfar._models import ContextInfo, ImageInfo
from pydantic import SecretStr

from ivoa_broker.protocol import ExecutionRequest, InvalidRequest, Resources

TERMINAL = "images.canfar.net/skaha/terminal:1.1.2"
NOTEBOOK = "images.canfar.net/skaha/base-notebook:latest"
CATALOG = Catalog(
    context=ContextInfo(cores=(1, 2, 4, 8), memory_gb=(1, 2, 4, 8, 16), gpus=(1, 2)),
    images=(
        ImageInfo(TERMINAL, ("headless",)),
        ImageInfo(NOTEBOOK, ("notebook", "headless")),
        ImageInfo("images.canfar.net/skaha/desktop:latest", ("desktop",)),
        ImageInfo("images.canfar.net/skaha/carta:4.1", ("carta",)),
    ),
    hosts=("images.canfar.net",),
)
CONFIG = CanfarConfig(token=SecretStr("t"))


def req(**kw: Any) -> ExecutionRequest:
    kw.setdefault("image", TERMINAL)
    return ExecutionRequest(job_id="j1", **kw)


@pytest.mark.parametrize(
    ("wanted", "options", "chosen"),
    [
        (1, (1, 2, 4), 1),
        (1.5, (1, 2, 4), 2),
        (3, (4, 1, 2), 4),
        (5, (1, 2, 4), None),
        (0.1, (1,), 1),
        (4, (), None),
    ],
)
def test_round_up(wanted: float, options: tuple[int, ...], chosen: int | None) -> None:
    assert round_up(wanted, options) == chosen


def test_headless_command_env_and_resources_become_form_parameters() -> None:
    chosen = plan(
        req(
            command=("python3", "-c", "print(1)", "--flag"),
            env={"B": "2", "A": "one"},
            resources=Resources(cores=2, memory_bytes=4 * GIB, gpus=1),
        ),
        CATALOG,
        CONFIG,
    )
    assert chosen.form("ivb-j1") == {
        "name": "ivb-j1",
        "image": TERMINAL,
        "type": "headless",
        "cores": "2",
        "ram": "4",
        "gpus": "1",
        "cmd": "python3",
        "args": "-c print(1) --flag",
        # the canfar client's replica variables, always there for headless sessions
        "env": ["A=one", "B=2", "REPLICA_ID=1", "REPLICA_COUNT=1"],
    }
    assert chosen.warnings == ()


def test_resources_round_up_and_say_so() -> None:
    chosen = plan(req(resources=Resources(cores=3, memory_bytes=5 * GIB + 1)), CATALOG, CONFIG)
    assert (chosen.cores, chosen.ram_gb) == (4, 8)
    text = " | ".join(chosen.warnings)
    assert "cores rounded up from 3 to 4" in text
    assert "memory rounded up" in text
    assert "to 8 GiB" in text
    granted = chosen.resources(None)
    assert granted.cores == 4.0
    assert granted.memory_bytes == 8 * GIB


def test_unasked_resources_stay_flexible() -> None:
    chosen = plan(req(), CATALOG, CONFIG)
    form = chosen.form("n")
    assert not {"cores", "ram", "gpus"} & set(form)
    assert chosen.resources(None).cores is None


@pytest.mark.parametrize(
    "resources",
    [Resources(cores=9), Resources(memory_bytes=17 * GIB), Resources(gpus=3)],
)
def test_more_than_the_largest_option_cannot_be_served(resources: Resources) -> None:
    with pytest.raises(CannotServe, match="at most"):
        plan(req(resources=resources), CATALOG, CONFIG)


def test_gpus_cannot_be_served_where_none_exist() -> None:
    no_gpus = Catalog(ContextInfo((1,), (1,), ()), CATALOG.images, CATALOG.hosts)
    with pytest.raises(CannotServe, match="no GPUs"):
        plan(req(resources=Resources(gpus=1)), no_gpus, CONFIG)


def test_unlisted_image_needs_registry_credentials_and_names_the_nearest_ones() -> None:
    with pytest.raises(InvalidRequest) as caught:
        plan(req(image="images.canfar.net/skaha/terminal:1.1"), CATALOG, CONFIG)
    message = caught.value.message
    assert "lists no public image images.canfar.net/skaha/terminal:1.1" in message
    assert f"nearest: {TERMINAL}" in message
    assert "registry_auth" in message


def test_unlisted_image_of_a_trusted_registry_is_taken_with_registry_credentials() -> None:
    private = "images.canfar.net/myproject/pipeline:2.0"
    with_auth = CanfarConfig(token=SecretStr("t"), registry_auth=SecretStr("dTpw"))
    chosen = plan(req(image=private, command=("run",)), CATALOG, with_auth)
    assert chosen.image == private
    assert any("not listed" in w for w in chosen.warnings)


@pytest.mark.parametrize(
    ("short", "full"),
    [
        ("skaha/terminal:1.1.2", TERMINAL),
        ("skaha/base-notebook", NOTEBOOK),
        ("images.canfar.net/skaha/base-notebook", NOTEBOOK),
    ],
)
def test_short_image_names_are_expanded_as_the_canfar_client_does(short: str, full: str) -> None:
    assert plan(req(image=short), CATALOG, CONFIG).image == full


def test_fractional_resources_whose_integer_part_is_an_option_pass_unchanged() -> None:
    chosen = plan(
        req(resources=Resources(cores=1.5, memory_bytes=2 * GIB + GIB // 2)), CATALOG, CONFIG
    )
    assert (chosen.cores, chosen.ram_gb) == (1.5, 2.5)
    assert (chosen.form("n")["cores"], chosen.form("n")["ram"]) == ("1.5", "2.5")
    assert chosen.warnings == ()


def test_replicas_extension() -> None:
    chosen = plan(req(command=("run",), extensions={"canfar.replicas": "3"}), CATALOG, CONFIG)
    assert chosen.replicas == 3
    assert chosen.terms()["replicas"] == 3
    env = chosen.form("n-2", 2)["env"]
    assert list(env) == ["REPLICA_ID=2", "REPLICA_COUNT=3"]
    for bad in ("0", "x", "257"):
        with pytest.raises(InvalidRequest, match="replicas"):
            plan(req(extensions={"canfar.replicas": bad}), CATALOG, CONFIG)
    with pytest.raises(InvalidRequest, match="headless"):
        plan(
            req(kind="interactive", image=NOTEBOOK, extensions={"canfar.replicas": "2"}),
            CATALOG,
            CONFIG,
        )


def test_unknown_image_without_neighbours_says_only_that() -> None:
    with pytest.raises(InvalidRequest) as caught:
        plan(req(image="images.canfar.net/zzz/qqqqqqqqqqqqqqqqqq:9"), CATALOG, CONFIG)
    assert "nearest" not in caught.value.message


def test_image_of_another_registry_is_not_for_canfar() -> None:
    with pytest.raises(CannotServe, match="not on a CANFAR registry"):
        plan(req(image="docker.io/library/python:3.12"), CATALOG, CONFIG)


def test_image_type_mismatch_is_only_a_warning_as_skaha_does_not_check_labels() -> None:
    chosen = plan(req(image="images.canfar.net/skaha/desktop:latest"), CATALOG, CONFIG)
    assert any("labelled for desktop sessions, not headless" in w for w in chosen.warnings)


def test_no_image_uses_the_configured_default_or_cannot_serve() -> None:
    with pytest.raises(CannotServe, match="no image"):
        plan(req(image=None), CATALOG, CONFIG)
    configured = CanfarConfig(token=SecretStr("t"), default_image=TERMINAL)
    assert plan(req(image=None), CATALOG, configured).image == TERMINAL


@pytest.mark.parametrize(
    ("extensions", "notebook", "expected"),
    [
        ({"canfar.type": "desktop"}, None, "desktop"),
        ({"canfar.type": "carta"}, None, "carta"),
        ({}, "https://example.org/nb.ipynb", "notebook"),
        ({}, None, "notebook"),  # default_interactive_type
    ],
)
def test_interactive_session_type(
    extensions: dict[str, str], notebook: str | None, expected: str
) -> None:
    request = ExecutionRequest(
        job_id="j", kind="interactive", extensions=extensions, notebook=notebook
    )
    chosen = plan(request, CATALOG, CONFIG)
    assert chosen.type == expected
    assert expected in next(i.types for i in CATALOG.images if i.id == chosen.image)
    assert any("no image asked for" in w for w in chosen.warnings)
    if notebook:
        assert any(notebook in w for w in chosen.warnings)
    assert "cmd" not in chosen.form("n")


def test_interactive_with_a_command_is_refused() -> None:
    request = ExecutionRequest(job_id="j", kind="interactive", image=NOTEBOOK, command=("ls",))
    with pytest.raises(InvalidRequest, match="only be given to headless"):
        plan(request, CATALOG, CONFIG)


def test_interactive_with_env_is_refused() -> None:
    request = ExecutionRequest(job_id="j", kind="interactive", image=NOTEBOOK, env={"A": "1"})
    with pytest.raises(InvalidRequest, match="only be given to headless"):
        plan(request, CATALOG, CONFIG)


@pytest.mark.parametrize(
    ("kind", "stype"),
    [("batch", "notebook"), ("interactive", "headless"), ("interactive", "jupyterhub")],
)
def test_session_type_must_fit_the_kind(kind: Any, stype: str) -> None:
    request = ExecutionRequest(
        job_id="j", kind=kind, image=NOTEBOOK, extensions={"canfar.type": stype}
    )
    with pytest.raises(InvalidRequest, match=r"canfar\.type"):
        plan(request, CATALOG, CONFIG)


@pytest.mark.parametrize(
    "command",
    [
        ("echo", "two words"),
        ("echo", ""),
        ("echo", 'say"hi'),
        ("echo", "a\\b"),
        ('ec"ho',),
        ("echo", "tab\there"),
    ],
)
def test_arguments_skaha_would_mangle_are_refused(command: tuple[str, ...]) -> None:
    with pytest.raises(InvalidRequest, match="skaha"):
        plan(req(command=command), CATALOG, CONFIG)


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"A": "x=y"}, "skaha drops"),
        ({"A": ""}, "skaha drops"),
        ({"A": 'q"'}, "skaha drops"),
        ({"1A": "x"}, "not valid"),
        ({"A-B": "x"}, "not valid"),
    ],
)
def test_environment_skaha_would_mangle_is_refused(env: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        plan(req(command=("true",), env=env), CATALOG, CONFIG)


def test_terms_carry_what_is_granted() -> None:
    chosen = plan(req(resources=Resources(cores=3)), CATALOG, CONFIG)
    assert chosen.terms() == {
        "type": "headless",
        "image": TERMINAL,
        "cores": 4,
        "ram_gb": None,
        "gpus": None,
    }


def test_inputs_cannot_be_staged() -> None:
    with pytest.raises(CannotServe, match="inputs"):
        plan(req(inputs=("https://example.org/a.fits",)), CATALOG, CONFIG)
