"""Test-only adapters for tests/eb_http, registered by the ``*.dist-info`` next to
this file when this directory is on ``PYTHONPATH`` (nothing is installed).

* ``ebtest-container``: a container platform that runs the container's command
  as a local process (the image is ignored), so an ExecutionBroker
  docker-container request really runs to COMPLETED in a test;
* ``ebtest-slow``: ``offers`` never answers (the broker's offer deadline must cut it);
* ``ebtest-failing``: ``offers`` raises.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from ivoa_broker_local import LocalAdapter

from ivoa_broker.protocol import CallContext, ExecutionRequest, Handle, Offer


def _no_image(request: ExecutionRequest) -> ExecutionRequest:
    return replace(request, image=None)


class ContainerAsProcess(LocalAdapter):
    plugin = "ebtest-container"
    capabilities = replace(LocalAdapter.capabilities, images=True)

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        return super().explain_refusal(_no_image(request))

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        return await super().offers(_no_image(request), ctx)

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        return await super().submit(_no_image(request), offer, ctx)


class SlowOffers(LocalAdapter):
    plugin = "ebtest-slow"
    capabilities = replace(LocalAdapter.capabilities, images=True)

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        await asyncio.Event().wait()  # never set: only the deadline ends this
        return []


class FailingOffers(LocalAdapter):
    plugin = "ebtest-failing"
    capabilities = replace(LocalAdapter.capabilities, images=True)

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        raise RuntimeError("offers exploded")
