"""Which remote sessions this instance accepted, for which broker job (``list_native``).

A small JSON file in the instance's data directory, rewritten atomically; the
Handle alone is enough for everything else (status, results, cancel, cleanup).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

__all__ = ["Ledger"]


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, self.path)

    async def sessions(self) -> dict[str, str]:
        """Remote session URL -> broker job id."""
        async with self._lock:
            return self._read()

    async def session_of(self, job_id: str) -> str | None:
        async with self._lock:
            return next((url for url, job in self._read().items() if job == job_id), None)

    async def add(self, url: str, job_id: str) -> None:
        async with self._lock:
            data = self._read()
            data[url] = job_id
            self._write(data)

    async def remove(self, url: str) -> None:
        async with self._lock:
            data = self._read()
            if data.pop(url, None) is not None:
                self._write(data)
