"""``executionbroker``: a platform that is another IVOA ExecutionBroker.

* **offers**: the neutral request becomes the remote's EB request (``POST
  /requests``, JSON, within ``offer_timeout``); each remote OFFERED session becomes a
  local Offer (``offer_id`` = the remote session URL, expiring a second before the
  remote's). The remote's NO reasons become offer warnings, or, without offers, the
  refusal the core shows in ``meta.messages``. A slow or down remote is a named
  :class:`TransientError`.
* **accept_offer** (before the front commits a client's accept) accepts the remote
  offer (``phase: ACCEPTED``); a remote 404/410 is :class:`NotFound` (the front answers
  410), a 409 :class:`Conflict`, with the remote's reason. **reject_offer** declines the
  unchosen remote offers (or undoes an accept whose local commit failed).
* **submit** uses the session ``accept_offer`` confirmed, else accepts the remote offer
  itself (UWS jobs). The Handle's ``native_id`` is the remote session URL, its state the
  remote UWS job URL.
* **status / results / cancel / cleanup / renew** go through the remote's UWS view
  of the session (``/jobs/{id}``: phase, jobInfo, results; ``PHASE=ABORT``;
  ``DELETE``) and its session updates (run-time extension).
* **loops**: the hop list (``labels["eb.hops"]``, filled by the receiving broker from
  ``X-IVOA-Broker-Hops``) is sent on; a remote already on it, or a chain of
  ``max_hops``, is refused.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from ivoa_broker.protocol import (
    AdapterDeps,
    AdapterError,
    BaseAdapter,
    CallContext,
    Capabilities,
    Conflict,
    ExecutionRequest,
    FatalError,
    Handle,
    Health,
    InvalidRequest,
    NotFound,
    Offer,
    Phase,
    ResultRef,
    Secret,
    Status,
    TransientError,
    utcnow,
)
from ivoa_broker_federation._client import RemoteBroker
from ivoa_broker_federation._config import FederationConfig
from ivoa_broker_federation._documents import (
    SESSION_PHASES,
    UWS_PHASES,
    parse_uws_job,
    read_offerset,
    refusal,
    request_document,
    session_status,
    uws_job_url,
)
from ivoa_broker_federation._ledger import Ledger

__all__ = ["ExecutionBrokerAdapter"]

HOPS_LABEL = "eb.hops"
_REMEMBERED = 256
_ENDED = frozenset({Phase.COMPLETED, Phase.ERROR, Phase.ABORTED})
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _phase_update(value: str) -> dict[str, str]:
    return {"kind": "uri:enum-value-update", "path": "phase", "value": value}


class ExecutionBrokerAdapter(BaseAdapter[FederationConfig]):
    """Forwards work to one remote ExecutionBroker; see the module docstring."""

    plugin = "executionbroker"
    config_model = FederationConfig
    state_map: ClassVar[Mapping[str, Phase]] = {**UWS_PHASES, **SESSION_PHASES}
    poll_interval = timedelta(seconds=2)
    capabilities = Capabilities(
        kinds=frozenset({"batch", "interactive"}),
        images=True,
        gpus=True,
        logs=False,
        results=True,
        adopt=True,
    )

    def __init__(self, name: str, config: FederationConfig, deps: AdapterDeps) -> None:
        super().__init__(name, config, deps)
        self.node = config.node or urlsplit(config.base_url).netloc or config.base_url
        self._remote_id = config.remote_id
        self._refusals: OrderedDict[str, str] = OrderedDict()
        self._client: RemoteBroker | None = None
        #: remote session URL -> the caller's forwarded token (never stored, never logged)
        self._forwarded: dict[str, Secret] = {}
        self.ledger = Ledger(Path(self.deps.data_dir) / "sessions.json")

    # ------------------------------------------------------------ lifecycle

    def _secrets(self) -> list[Secret]:
        found = [self.config.token, *self.config.account_tokens.values()]
        return [Secret(s.get_secret_value()) for s in found if s is not None]

    async def open(self) -> None:
        self._client = RemoteBroker(
            self.config.base_url, self.node, self._secrets(), self.config.timeout
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def remote(self) -> RemoteBroker:
        if self._client is None:
            raise FatalError(f"{self.name} is not open")
        return self._client

    def _token(self, account: str | None, ctx: CallContext | None = None) -> Secret | None:
        if self.config.forward_credentials and ctx is not None and ctx.credentials is not None:
            return ctx.credentials
        if account is not None and account in self.config.account_tokens:
            return Secret(self.config.account_tokens[account].get_secret_value())
        if self.config.token is not None:
            return Secret(self.config.token.get_secret_value())
        return None

    def _handle_token(self, handle: Handle) -> Secret | None:
        forwarded = self._forwarded.get(handle.native_id)
        if forwarded is not None:
            return forwarded
        account = handle.state.get("account")
        return self._token(account if isinstance(account, str) else None)

    # --------------------------------------------------------------- checks

    def _static_refusal(self, request: ExecutionRequest) -> str | None:
        why = refusal(request, self.config.default_image)
        if why:
            return why
        hops = [h for h in request.labels.get(HOPS_LABEL, "").split(",") if h]
        if len(hops) >= self.config.max_hops:
            return (
                f"not forwarded to {self.node}: the request already passed through "
                f"{len(hops)} brokers (max_hops {self.config.max_hops})"
            )
        if self._remote_id is not None and self._remote_id in hops:
            return f"not forwarded to {self.node}: it already handled this request (loop)"
        return None

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        return self._static_refusal(request) or self._refusals.get(request.job_id)

    def _remember(self, job_id: str, why: str) -> None:
        self._refusals[job_id] = why[:2000]
        while len(self._refusals) > _REMEMBERED:
            self._refusals.popitem(last=False)

    async def health(self) -> Health:
        try:
            response = await self.remote.request(
                "GET", f"{self.remote.base_url}/sessions?last=1", "health", self._token(None)
            )
        except AdapterError as exc:
            return Health(ok=False, message=exc.message)
        if response.status_code >= 400:
            return Health(ok=False, message=f"{self.node} answered HTTP {response.status_code}")
        return Health(ok=True, message=f"remote broker {self.node} answers")

    # --------------------------------------------------------------- offers

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        if self._static_refusal(request):
            return []
        doc = request_document(request, self.config.default_image)
        try:
            body, remote_id = await self.remote.post_request(
                doc,
                self._token(request.account, ctx),
                request.labels.get(HOPS_LABEL, ""),
                self.config.offer_timeout,
            )
        except TransientError as exc:
            if exc.detail and exc.detail.startswith("HTTP 508"):
                self._remember(
                    request.job_id,
                    f"{self.node} refused to forward it again: the request loops back (HTTP 508)",
                )
                return []
            raise
        except AdapterError as exc:
            if isinstance(exc, InvalidRequest):
                self._remember(request.job_id, f"{self.node} refused the request: {exc.message}")
                return []
            raise
        if remote_id:
            self._remote_id = remote_id
        found, reasons = read_offerset(body, request.resources)
        notes = tuple(f"{self.node}: {r}" for r in reasons)
        if not found:
            self._remember(
                request.job_id, "; ".join(notes) or f"{self.node} answered NO (no reason given)"
            )
            return []
        out = []
        for remote in found:
            expires = remote.expires - timedelta(seconds=1) if remote.expires else None
            where = f"{self.node}/{remote.platform}" if remote.platform else self.node
            out.append(
                Offer(
                    adapter=self.name,
                    offer_id=remote.url,
                    summary=f"on remote broker {where}: {remote.description}"[:500],
                    resources=remote.resources,
                    start=remote.start,
                    expires_at=expires,
                    reserved=False,
                    terms={
                        "node": self.node,
                        "remote_platform": remote.platform,
                        "remote_session": remote.url,
                    },
                    warnings=tuple(f"{self.node}: {w}" for w in remote.warnings) + notes,
                )
            )
        return out

    # --------------------------------------------------------------- submit

    def _check_runnable(self, request: ExecutionRequest) -> None:
        if not request.command and not request.notebook and not request.image:
            raise InvalidRequest("nothing to run: no command, image or notebook")
        why = self._static_refusal(request)
        if why:
            raise InvalidRequest(why)

    def _handle(self, url: str, session: Mapping[str, object], request: ExecutionRequest) -> Handle:
        job = uws_job_url(session)
        state: dict[str, str | None] = {"job": job, "account": request.account}
        return Handle(adapter=self.name, native_id=url, state=state)

    def _remote_url(self, offer: Offer) -> str:
        url = str(offer.terms.get("remote_session") or offer.offer_id)
        if not self.remote.owns(url):
            raise InvalidRequest(f"offer {offer.offer_id[:100]} is not one of {self.node}'s")
        return url

    async def _accept_remote(
        self, url: str, request: ExecutionRequest, token: Secret | None
    ) -> dict[str, object]:
        """The remote's accept of its offer ``url`` for ``request.job_id`` (recorded in
        the ledger first, so a crash in between leaves a findable session)."""
        await self.ledger.add(url, request.job_id)
        try:
            response = await self.remote.update(url, _phase_update("ACCEPTED"), token)
            if response.status_code in (404, 409, 410):
                said = self.remote.boundary.said(response)
                why = "has expired" if response.status_code == 410 else "was refused"
                gone = NotFound if response.status_code in (404, 410) else Conflict
                raise gone(
                    f"accepting the offer of {self.node} {why} "
                    f"(HTTP {response.status_code}): {said}",
                    detail=f"HTTP {response.status_code}",
                )
            self.remote.boundary.check(response, "accepting the offer")
            try:
                answer = response.json()
            except ValueError:
                answer = None
        except TransientError:
            raise  # maybe accepted: the ledger keeps it findable (list_native)
        except AdapterError:
            await self.ledger.remove(url)
            raise
        return answer if isinstance(answer, dict) else {}

    def _keep_credentials(self, url: str, ctx: CallContext) -> None:
        """A forwarded caller's token, for the later calls of this session (memory only)."""
        if self.config.forward_credentials and ctx.credentials is not None:
            self._forwarded[url] = ctx.credentials

    async def accept_offer(
        self, offer: Offer, request: ExecutionRequest, ctx: CallContext
    ) -> Offer:
        """The remote's accept, before the front broker commits its own."""
        self._check_runnable(request)
        url = self._remote_url(offer)
        if offer.expires_at is not None and offer.expires_at <= utcnow():
            raise NotFound(f"the offer of {self.node} has expired; ask for new offers")
        token = self._token(request.account, ctx)
        accepted = await self._accept_remote(url, request, token)
        self._keep_credentials(url, ctx)
        return replace(offer, terms={**offer.terms, "remote_job": uws_job_url(accepted)})

    async def reject_offer(self, offer: Offer, ctx: CallContext) -> None:
        """Decline the remote offer (or, if this instance accepted it, undo that)."""
        url = str(offer.terms.get("remote_session") or offer.offer_id)
        if not self.remote.owns(url):
            return
        account = self.config.identity.resolve(ctx.owner)
        if url in await self.ledger.sessions():
            job = offer.terms.get("remote_job")
            state = {"job": job if isinstance(job, str) else None, "account": account}
            await self.cleanup(Handle(self.name, url, state), ctx)
            return
        response = await self.remote.update(
            url, _phase_update("REJECTED"), self._token(account, ctx)
        )
        if response.status_code not in (404, 409, 410):
            self.remote.boundary.check(response, "rejecting the offer")

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        self._check_runnable(request)
        token = self._token(request.account, ctx)
        url = self._remote_url(offer)
        job = offer.terms.get("remote_job")
        if isinstance(job, str) and job:  # accepted by accept_offer already
            state: dict[str, str | None] = {"job": job, "account": request.account}
            return Handle(adapter=self.name, native_id=url, state=state)
        existing = await self.ledger.session_of(request.job_id)
        if existing is not None:
            if existing != url:  # leave the unused remote offer declined, not dangling
                with contextlib.suppress(AdapterError):
                    await self.remote.update(url, _phase_update("REJECTED"), token)
            session = await self.remote.get_json(existing, "the session", token)
            return self._handle(existing, session, request)
        if offer.expires_at is not None and offer.expires_at <= utcnow():
            raise Conflict(f"the offer of {self.node} has expired; ask for new offers")
        try:
            accepted = await self._accept_remote(url, request, token)
        except NotFound as exc:  # after the accept, the contract's word is Conflict
            raise Conflict(exc.message, detail=exc.detail) from None
        self._keep_credentials(url, ctx)
        return self._handle(url, accepted, request)

    # --------------------------------------------------------------- status

    async def _job_url(self, handle: Handle) -> str | None:
        """The remote UWS job of a session: from the Handle, else from the session
        document (a bare Handle, as list_native's orphans have)."""
        job = handle.state.get("job")
        if isinstance(job, str) and job:
            return job
        session = await self.remote.get_json(
            handle.native_id, "the session", self._handle_token(handle)
        )
        return uws_job_url(session)

    async def status(self, handle: Handle, ctx: CallContext) -> Status:
        token = self._handle_token(handle)
        job = await self._job_url(handle)
        if job is None:
            return session_status(await self.remote.get_json(handle.native_id, "a session", token))
        text = await self.remote.get_xml(job, "the job", token)
        try:
            return parse_uws_job(text).status
        except ValueError as exc:
            raise FatalError(f"{self.node} answered the job with garbage: {exc}") from None

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        job = await self._job_url(handle)
        if job is None:
            return []
        token = self._handle_token(handle)
        try:
            parsed = parse_uws_job(await self.remote.get_xml(job, "the job", token))
        except ValueError as exc:
            raise FatalError(f"{self.node} answered the job with garbage: {exc}") from None
        where = Path(self.deps.data_dir) / _SAFE.sub("_", handle.native_id.rsplit("/", 1)[-1])
        out: list[ResultRef] = []
        for rid, href in parsed.results:
            if not self.remote.owns(href):
                out.append(ResultRef(id=rid, url=href))
                continue
            path = where / (_SAFE.sub("_", rid) or "result")
            size = await self.remote.download(href, path, token)
            out.append(ResultRef(id=rid, path=path, size=size))
        return out

    # -------------------------------------------------------- cancel/cleanup

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        token = self._handle_token(handle)
        try:
            job = await self._job_url(handle)
        except NotFound:
            return  # gone: success
        if job is not None:
            response = await self.remote.request(
                "POST", f"{job}/phase", "cancelling the job", token, data={"PHASE": "ABORT"}
            )
        else:
            response = await self.remote.update(handle.native_id, _phase_update("CANCELLED"), token)
        if response.status_code in (404, 409, 410):
            return  # finished or gone: success
        if response.status_code == 403 and job is not None:
            # UWS answers 403 to aborting an ended job: success if it has ended
            with contextlib.suppress(AdapterError, ValueError):
                ended = parse_uws_job(await self.remote.get_xml(job, "the job", token))
                if ended.status.phase in _ENDED:
                    return
        self.remote.boundary.check(response, "cancelling the job")

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        token = self._handle_token(handle)
        try:
            job = await self._job_url(handle)
        except NotFound:
            job = None
        if job is None:
            with contextlib.suppress(NotFound):
                await self.cancel(handle, ctx)
        else:
            response = await self.remote.request("DELETE", job, "deleting the job", token)
            if response.status_code not in (404, 410):
                self.remote.boundary.check(response, "deleting the job")
        await self.ledger.remove(handle.native_id)
        self._forwarded.pop(handle.native_id, None)

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        return await self.ledger.sessions()

    async def renew(self, handle: Handle, deadline: datetime, ctx: CallContext) -> datetime | None:
        job = await self._job_url(handle)
        if job is None:
            return None
        token = self._handle_token(handle)
        try:
            parsed = parse_uws_job(await self.remote.get_xml(job, "the job", token))
        except ValueError as exc:
            raise FatalError(f"{self.node} answered the job with garbage: {exc}") from None
        begin = parsed.start or parsed.creation or utcnow()
        if parsed.execution_duration <= 0:
            return None  # unlimited on the remote
        current = begin + timedelta(seconds=parsed.execution_duration)
        delta = math.ceil((deadline - current).total_seconds())
        if delta <= 0:
            return current
        update = {
            "kind": "uri:integer-delta-update",
            "path": "schedule.available.duration",
            "delta": delta,
        }
        response = await self.remote.update(handle.native_id, update, token)
        self.remote.boundary.check(response, "extending the run time")
        return current + timedelta(seconds=delta)
