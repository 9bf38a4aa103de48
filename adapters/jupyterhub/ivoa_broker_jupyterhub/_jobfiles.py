"""The adapter's own folder of one job, under ``AdapterDeps.data_dir/<server>``.

It survives broker restarts (the data dir is persistent) and holds what
must not go into the Handle: the staged inputs, the launch spec (it may
hold environment values), the per-server endpoint token (mode 0600),
markers of what has been done, the batch run's final status, and the
downloaded results.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ivoa_broker.protocol import Secret

__all__ = ["JobFiles"]


class JobFiles:
    def __init__(self, data_dir: Path, server: str) -> None:
        self.root = data_dir / server

    @property
    def inputs(self) -> Path:
        return self.root / "input"

    @property
    def results(self) -> Path:
        return self.root / "results"

    def create(self) -> None:
        self.inputs.mkdir(parents=True, exist_ok=True)

    def _write(self, name: str, data: Any, mode: int = 0o600) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.root / name)

    def _read(self, name: str) -> Any:
        with contextlib.suppress(OSError, ValueError):
            return json.loads((self.root / name).read_text())
        return None

    # the launch spec (command, env, notebook name, kernel)
    def write_spec(self, spec: dict[str, Any]) -> None:
        self._write("spec.json", spec)

    def spec(self) -> dict[str, Any] | None:
        data = self._read("spec.json")
        return data if isinstance(data, dict) else None

    # done markers
    def mark(self, what: str) -> None:
        self._write(what, {"done": True})

    def marked(self, what: str) -> bool:
        return (self.root / what).is_file()

    # the final status of a batch run, as the runner wrote it
    def write_final(self, status: dict[str, Any]) -> None:
        self._write("final.json", status)

    def final(self) -> dict[str, Any] | None:
        data = self._read("final.json")
        return data if isinstance(data, dict) else None

    # the endpoint token
    def write_token(self, token_id: str, token: Secret, endpoint: str) -> None:
        self._write("endpoint.json", {"id": token_id, "token": token.reveal(), "url": endpoint})

    def endpoint(self) -> tuple[str, str] | None:
        """``(token id, endpoint URL)`` once made."""
        data = self._read("endpoint.json")
        if isinstance(data, dict) and "url" in data:
            return str(data["id"]), str(data["url"])
        return None

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
