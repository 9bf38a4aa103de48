"""The one boundary where httpx and hub answers become the contract's errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx

from ivoa_broker.protocol import AdapterError, FatalError, TransientError
from ivoa_broker.toolkit import error_for_status, parse_retry_after

__all__ = ["error_for_response", "translated"]


def _hub_message(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        data = response.json()
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return str(data["message"])[:300]
    return response.reason_phrase or str(response.status_code)


def error_for_response(response: httpx.Response, what: str) -> AdapterError:
    """The contract error for a non-success hub answer (the hub's own message kept)."""
    status = response.status_code
    message = f"{what}: JupyterHub answered {status} ({_hub_message(response)})"
    return error_for_status(
        status, message, retry_after=parse_retry_after(response.headers.get("retry-after"))
    )


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn transport trouble and unparsable answers inside the block into AdapterErrors."""
    try:
        yield
    except AdapterError:
        raise
    except httpx.TimeoutException as exc:
        raise TransientError(f"{what}: JupyterHub did not answer in time") from exc
    except httpx.TransportError as exc:
        raise TransientError(f"{what}: cannot reach JupyterHub ({type(exc).__name__})") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise FatalError(f"{what}: JupyterHub sent an answer that does not parse") from exc
