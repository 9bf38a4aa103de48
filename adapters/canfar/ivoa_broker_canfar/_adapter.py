"""The CANFAR adapter: mapping and policy over :class:`SkahaClient`."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from ivoa_broker.protocol import (
    AdapterDeps,
    AdapterError,
    AuthError,
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
    deadline_after,
    utcnow,
)
from ivoa_broker_canfar._catalog import CatalogCache
from ivoa_broker_canfar._client import SkahaClient
from ivoa_broker_canfar._config import CanfarConfig
from ivoa_broker_canfar._mapping import CannotServe, Plan, plan
from ivoa_broker_canfar._models import SessionInfo
from ivoa_broker_canfar._naming import is_ours, job_id_from_name, session_name
from ivoa_broker_canfar._states import GONE, STATE_MAP, failure_reason, phase_for

__all__ = ["CanfarAdapter"]

_ENDED = (Phase.COMPLETED, Phase.ERROR)


class CanfarAdapter(BaseAdapter[CanfarConfig]):
    """Runs broker jobs as CANFAR skaha sessions (headless batch jobs and
    interactive notebook/desktop/carta/contributed/firefly sessions)."""

    plugin = "canfar"
    config_model = CanfarConfig
    capabilities = Capabilities(
        kinds=frozenset({"batch", "interactive"}),
        images=True,
        gpus=True,
        logs=True,
        results=True,
    )
    state_map = STATE_MAP
    poll_interval = timedelta(seconds=10)

    def __init__(
        self,
        name: str,
        config: CanfarConfig,
        deps: AdapterDeps,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(name, config, deps)
        self.settings = config
        self._client = SkahaClient(config, transport=transport)
        self._catalog = CatalogCache(self._client, config.cache_seconds)
        # failure reasons read from view=events, per session (they never change)
        self._reasons: dict[str, tuple[str | None, int | None, bool]] = {}

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    # -------------------------------------------------------------- credentials

    def _token(self, ctx: CallContext) -> Secret | None:
        mode = self.settings.credentials
        service = self.settings.token
        if mode != "service" and ctx.credentials:
            return ctx.credentials
        if mode == "delegated":
            raise AuthError(
                "this CANFAR platform runs jobs with the caller's own token, "
                "and the request carries none"
            )
        if service is not None:
            return Secret(service.get_secret_value())
        if self.settings.x509_proxy is not None:
            return None
        raise AuthError("no CANFAR credentials: neither a delegated nor a service token")

    # ------------------------------------------------------------------- health

    async def health(self) -> Health:
        try:
            token = self._token(CallContext())
        except AuthError:
            token = None  # delegated-only: probe without credentials
        try:
            await self._client.context(token)
        except AuthError as exc:
            if token is None:
                return Health(ok=True, message="reachable (credentials come with each call)")
            return Health(ok=False, message=exc.message)
        except AdapterError as exc:
            return Health(ok=False, message=exc.message)
        return Health(ok=True, message=f"skaha at {self.settings.api_url}")

    # ------------------------------------------------------------------- offers

    async def _plan(self, request: ExecutionRequest, ctx: CallContext) -> Plan:
        catalog = await self._catalog.get(self._token(ctx))
        return plan(request, catalog, self.settings)

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        """One best-effort offer to start now, or ``[]`` if CANFAR cannot run it."""
        try:
            chosen = await self._plan(request, ctx)
        except CannotServe:
            return []
        res = chosen.resources(request.resources.walltime_seconds)
        summary = f"CANFAR {chosen.type} session, {chosen.image}"
        if chosen.cores is not None or chosen.ram_gb is not None:
            summary += f", {chosen.cores or 'flexible'} cores, {chosen.ram_gb or 'flexible'} GiB"
        if chosen.gpus:
            summary += f", {chosen.gpus} GPU"
        return [
            Offer(
                adapter=self.name,
                offer_id=uuid.uuid4().hex,
                summary=summary,
                resources=res,
                start=utcnow(),
                expires_at=deadline_after(self.settings.offer_seconds),
                reserved=False,
                terms=chosen.terms(),
                warnings=(
                    *chosen.warnings,
                    "best effort: CANFAR cannot reserve, the session starts when resources allow",
                ),
            )
        ]

    # ------------------------------------------------------------------- submit

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        """Start the session named after the job; idempotent per ``request.job_id``."""
        token = self._token(ctx)
        try:
            chosen = await self._plan(request, ctx)
        except CannotServe as exc:
            raise InvalidRequest(f"CANFAR cannot run this request: {exc}") from None
        if offer.terms and dict(offer.terms) != chosen.terms():
            raise InvalidRequest(
                "the offer no longer matches what CANFAR provides; ask for new offers"
            )
        name = session_name(self.settings.name_prefix, request.job_id)
        found = await self._find(name, token)
        if found is None:
            try:
                native_id = await self._client.create_session(chosen.form(name), token)
            except (TransientError, FatalError):
                # skaha may have created it before the answer was lost
                with contextlib.suppress(AdapterError):
                    found = await self._find(name, token)
                if found is None:
                    raise
                native_id = found.id
        else:
            native_id = found.id
        return Handle(
            adapter=self.name,
            native_id=native_id,
            state={"name": name, "type": chosen.type, "job_id": request.job_id},
        )

    async def _find(self, name: str, token: Secret | None) -> SessionInfo | None:
        for session in await self._client.list_sessions(token):
            if session.name.lower() == name:
                return session
        return None

    # ------------------------------------------------------------------- status

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        """One ``GET /v1/session`` for all handles; sessions not listed are omitted
        (or ABORTED when the broker asked for the cancel)."""
        if not handles:
            return {}
        token = self._token(ctx)
        listed = {s.id: s for s in await self._client.list_sessions(token)}
        found: dict[str, Status] = {}
        for handle in handles:
            session = listed.get(handle.native_id)
            if session is not None:
                found[handle.native_id] = await self._status(handle, session, token)
            elif handle.cancel_requested:
                found[handle.native_id] = Status(
                    phase=Phase.ABORTED, native_state=GONE, message="session deleted on request"
                )
        return found

    async def _status(self, handle: Handle, session: SessionInfo, token: Secret | None) -> Status:
        interactive = session.type != "headless"
        message: str | None = None
        exit_code: int | None = None
        expired = False
        if STATE_MAP.get(session.status) is Phase.ERROR:
            message, exit_code, expired = await self._reason(session.id, token)
        phase = phase_for(
            session.status,
            cancel_requested=handle.cancel_requested,
            interactive=interactive,
            expired=expired,
        )
        if phase is Phase.COMPLETED:
            exit_code = 0 if not interactive else None
            if expired:
                message = "the session reached its expiry time"
        elif phase is Phase.ERROR and message is None:
            message = f"the CANFAR session ended with status {session.status}"
        elif phase is Phase.ABORTED:
            message = "session being deleted on request"
        endpoint = session.connect_url if interactive and session.status == "Running" else None
        return Status(
            phase=phase,
            native_state=session.status,
            message=message,
            exit_code=exit_code,
            started_at=session.start_time,
            endpoint=endpoint,
        )

    async def _reason(
        self, native_id: str, token: Secret | None
    ) -> tuple[str | None, int | None, bool]:
        if native_id not in self._reasons:
            try:
                events = await self._client.session_text(native_id, "events", token)
            except AdapterError:
                return None, None, False  # try again next poll
            self._reasons[native_id] = failure_reason(events)
        return self._reasons[native_id]

    # ------------------------------------------------------------ cancel, clean

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        """``DELETE`` the session unless it has ended already (then there is nothing
        to stop and it keeps its COMPLETED/ERROR ending); "already gone" is fine."""
        token = self._token(ctx)
        try:
            session = await self._client.get_session(handle.native_id, token)
        except NotFound:
            return
        if session.status == "Terminating" or STATE_MAP.get(session.status) in _ENDED:
            return
        await self._delete(handle.native_id, token)

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        """Delete the session whatever its state (404 is success) and the files
        staged for it."""
        token = self._token(ctx)
        try:
            await self._client.get_session(handle.native_id, token)
        except NotFound:
            pass
        else:
            await self._delete(handle.native_id, token)
        self._reasons.pop(handle.native_id, None)
        await asyncio.to_thread(shutil.rmtree, self._staging(handle), True)

    async def _delete(self, native_id: str, token: Secret | None) -> None:
        with contextlib.suppress(NotFound, Conflict):
            await self._client.delete_session(native_id, token)

    async def renew(
        self, handle: Handle, deadline: datetime, ctx: CallContext
    ) -> datetime | None:
        """Extend an interactive session (``action=renew``); returns the new expiry.

        skaha renews by its own fixed lifetime, whatever ``deadline`` is."""
        token = self._token(ctx)
        await self._client.renew_session(handle.native_id, token)
        return (await self._client.get_session(handle.native_id, token)).expiry_time

    # ------------------------------------------------------------ logs, results

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        return await self._client.session_text(handle.native_id, "logs", self._token(ctx))

    def _staging(self, handle: Handle) -> Path:
        return self.deps.data_dir / "canfar" / handle.native_id

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        """The container log and the Kubernetes events, staged into ``data_dir``."""
        token = self._token(ctx)
        folder = self._staging(handle)
        texts: dict[str, str] = {}
        try:
            texts["logs"] = await self._client.session_text(handle.native_id, "logs", token)
            texts["events"] = await self._client.session_text(handle.native_id, "events", token)
        except NotFound:
            if not (folder / "logs.txt").exists():
                raise
        if texts:
            await asyncio.to_thread(_write, folder, texts)
        refs = []
        for view in ("logs", "events"):
            path = folder / f"{view}.txt"
            if path.exists():
                refs.append(
                    ResultRef(id=view, path=path, mime_type="text/plain", size=path.stat().st_size)
                )
        return refs

    # ---------------------------------------------------------------- orphans

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        """Session id -> broker job id for every session named by this broker
        (sessions already ``Terminating`` are on their way out and not listed)."""
        prefix = self.settings.name_prefix
        found = {}
        for session in await self._client.list_sessions(self._token(ctx)):
            if is_ours(prefix, session.name) and session.status != "Terminating":
                job_id = job_id_from_name(prefix, session.name)
                if job_id is not None:
                    found[session.id] = job_id
        return found


def _write(folder: Path, texts: Mapping[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for view, text in texts.items():
        (folder / f"{view}.txt").write_text(text, encoding="utf-8")
