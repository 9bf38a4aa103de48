"""Tokens never show: not in reprs, handles, offers, statuses, errors, logs or URLs."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from canfar_support import config_for
from ivoa_broker_canfar import CanfarAdapter, CanfarConfig
from ivoa_broker_canfar.emulator import EmulatorServer, SkahaEmulator
from pydantic import SecretStr

from ivoa_broker.protocol import (
    AdapterDeps,
    AdapterError,
    CallContext,
    ExecutionRequest,
    InvalidRequest,
    Phase,
    Secret,
)
from ivoa_broker.testing import new_job_id, wait_for_phase
from ivoa_broker.toolkit import REDACTED

REGISTRY_SECRET = "dXNlcjpyZWdpc3RyeS1wYXNzd29yZA=="


def test_config_and_adapter_reprs_hide_tokens(tmp_path: Path) -> None:
    config = CanfarConfig(
        token=SecretStr("service-token-123"), registry_auth=SecretStr(REGISTRY_SECRET)
    )
    adapter = CanfarAdapter("c", config, AdapterDeps(data_dir=tmp_path))
    shown = [
        repr(config),
        str(config),
        config.model_dump_json(),
        repr(adapter),
        str(adapter),
        repr(adapter._client),
        repr(config.model_dump()),
    ]
    for text in shown:
        assert "service-token-123" not in text
        assert REGISTRY_SECRET not in text
    assert "**********" in repr(config)


async def test_a_whole_lifecycle_shows_the_token_nowhere(
    skaha: EmulatorServer,
    token: str,
    deps: AdapterDeps,
    emulator: SkahaEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = config_for(
        skaha.url, token, credentials="delegated-or-service", registry_auth=REGISTRY_SECRET
    )
    ctx = CallContext(owner="alice", credentials=Secret(token))
    seen: list[str] = [repr(ctx)]
    async with CanfarAdapter("c", config, deps) as adapter:
        request = ExecutionRequest(job_id=new_job_id(), command=("echo", "hi"))
        [offer] = await adapter.offers(request, ctx)
        handle = await adapter.submit(request, offer, ctx)
        history = await wait_for_phase(adapter, handle, {Phase.COMPLETED}, ctx=ctx, max_wait=30)
        refs = await adapter.results(handle, ctx)
        seen += [
            str(offer.to_json()),
            handle.to_json(),
            *(repr(s) for s in history),
            await adapter.logs(handle, ctx),
            repr(adapter),
        ]
        seen += [r.path.read_text() for r in refs if r.path is not None]
        seen += [repr(await adapter.list_native(ctx))]
        stop = dataclasses.replace(handle, cancel_requested=True)
        await adapter.cleanup(stop, ctx)
    assert any(r.name.startswith("httpx") for r in caplog.records)  # the logs were seen
    seen += [record.getMessage() for record in caplog.records]
    seen += [str(record.args) for record in caplog.records]
    seen += [path for _, path in emulator.calls]  # never in a URL
    for text in seen:
        assert token not in text
        assert REGISTRY_SECRET not in text


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 500, 503])
async def test_errors_scrub_tokens_a_server_echoes(
    skaha: EmulatorServer,
    token: str,
    deps: AdapterDeps,
    emulator: SkahaEmulator,
    status: int,
) -> None:
    config = config_for(skaha.url, token, retries=0, registry_auth=REGISTRY_SECRET)
    ctx = CallContext()
    async with CanfarAdapter("c", config, deps) as adapter:
        emulator.faults.fail_next(
            status,
            path="/skaha/v1/context",
            body=f"bad header Authorization: Bearer {token} / registry {REGISTRY_SECRET}",
        )
        with pytest.raises(AdapterError) as caught:
            await adapter.offers(ExecutionRequest(job_id="j", command=("true",)), ctx)
    error = caught.value
    for text in (str(error), error.message, error.detail or "", repr(error)):
        assert token not in text
        assert REGISTRY_SECRET not in text
    assert REDACTED in (error.detail or "")


async def test_rejected_delegated_token_is_not_quoted(
    skaha: EmulatorServer, deps: AdapterDeps
) -> None:
    config = CanfarConfig(url=skaha.url, credentials="delegated", default_image="x")
    wrong = "tok-wrong-0123456789"
    async with CanfarAdapter("c", config, deps) as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.list_native(CallContext(credentials=Secret(wrong)))
    assert caught.value.reason == "auth"
    assert wrong not in f"{caught.value} {caught.value.detail}"


async def test_invalid_request_messages_do_not_quote_environment_values(
    canfar: CanfarAdapter, call: CallContext
) -> None:
    # environment values often carry credentials: a refusal names the key only
    request = ExecutionRequest(job_id="j", command=("true",), env={"API_KEY": "s3cr3t=with-equals"})
    with pytest.raises(InvalidRequest) as caught:
        await canfar.offers(request, call)
    assert "API_KEY" in caught.value.message
    assert "s3cr3t" not in caught.value.message
