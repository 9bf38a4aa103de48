"""Does a published session port answer HTTP yet?"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["answers"]


async def answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """True once ``host:port`` accepts a connection and sends an HTTP status line."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        return line.startswith(b"HTTP/")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
