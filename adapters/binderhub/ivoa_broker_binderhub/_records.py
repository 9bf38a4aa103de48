"""What the adapter knows of each job, kept in its data folder (survives restarts).

One JSON file per job (``jobs/<native id>.json``, no secrets) and the session token
apart (``tokens/<native id>``, mode 0600).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ivoa_broker.protocol import Secret

__all__ = ["Record", "RecordStore"]


@dataclass
class Record:
    job_id: str
    path: str
    submitted_at: str
    phase: str = "submitted"
    message: str = ""
    log: list[str] = field(default_factory=list)
    server_user: str | None = None
    server_name: str | None = None
    url: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    cancelled: bool = False
    drops: int = 0
    #: the session carries this job's tag on the hub (``_tags``)
    tagged: bool = False


class RecordStore:
    def __init__(self, base: Path) -> None:
        self.jobs = base / "jobs"
        self.tokens = base / "tokens"
        self.jobs.mkdir(parents=True, exist_ok=True)
        self.tokens.mkdir(parents=True, exist_ok=True)
        self.tokens.chmod(0o700)

    def load(self, native_id: str) -> Record | None:
        try:
            return Record(**json.loads((self.jobs / f"{native_id}.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, native_id: str, record: Record) -> None:
        tmp = self.jobs / f".{native_id}.tmp"
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(self.jobs / f"{native_id}.json")

    def all(self) -> dict[str, Record]:
        found = {}
        for path in self.jobs.glob("*.json"):
            record = self.load(path.stem)
            if record is not None:
                found[path.stem] = record
        return found

    def save_token(self, native_id: str, token: Secret) -> None:
        path = self.tokens / native_id
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token.reveal())

    def token(self, native_id: str) -> Secret | None:
        try:
            return Secret((self.tokens / native_id).read_text())
        except OSError:
            return None

    def remove(self, native_id: str) -> None:
        for path in (self.jobs / f"{native_id}.json", self.tokens / native_id):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
