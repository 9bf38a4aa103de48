"""What a batch machine reported, kept in the adapter's data directory.

Per job (keyed by its native id): ``secret.sha256`` (the digest of the callback secret,
written at submit), ``results/`` (stdout, stderr, the files of ``out/``) and
``exit.json``, written last so results are in place before the job reads as ended.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
import shutil
from datetime import datetime
from pathlib import Path

from ivoa_broker.protocol import FatalError, InvalidRequest, ResultRef, utcnow

from ._states import ExitMarker

__all__ = ["RESULT_NAME", "Staging", "sha256"]

RESULT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Staging:
    def __init__(self, root: Path) -> None:
        self.root = root

    def dir(self, native: str) -> Path:
        safe = native.replace(":", "-")
        if not RESULT_NAME.match(safe):
            raise InvalidRequest("not a native id of this adapter")
        return self.root / safe

    def remember_secret(self, native: str, digest: str) -> None:
        path = self.dir(native)
        path.mkdir(parents=True, exist_ok=True)
        (path / "secret.sha256").write_text(digest)

    def secret_digest(self, native: str) -> str | None:
        try:
            return (self.dir(native) / "secret.sha256").read_text().strip() or None
        except FileNotFoundError:
            return None

    def marker(self, native: str) -> ExitMarker | None:
        path = self.dir(native) / "exit.json"
        try:
            data = json.loads(path.read_text())
            return ExitMarker(
                int(data["exit_code"]),
                datetime.fromisoformat(data["received_at"]),
                bool(data.get("timed_out", False)),
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise FatalError("the stored exit marker is unreadable", detail=str(exc)) from None

    def stage(
        self, native: str, exit_code: int, files: dict[str, bytes], timed_out: bool = False
    ) -> None:
        job = self.dir(native)
        results = job / "results"
        results.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            tmp = results / f".{name}.part"
            tmp.write_bytes(data)
            tmp.replace(results / name)
        marker = {
            "exit_code": exit_code,
            "received_at": utcnow().isoformat(),
            "timed_out": timed_out,
        }
        tmp = job / ".exit.json.part"
        tmp.write_text(json.dumps(marker))
        tmp.replace(job / "exit.json")

    def results(self, native: str) -> list[ResultRef]:
        if self.marker(native) is None:
            return []
        refs = []
        for path in sorted((self.dir(native) / "results").glob("*")):
            if path.is_file() and not path.name.startswith("."):
                mime = (
                    "text/plain"
                    if path.name in ("stdout", "stderr")
                    else (mimetypes.guess_type(path.name)[0] or "application/octet-stream")
                )
                refs.append(
                    ResultRef(id=path.name, path=path, mime_type=mime, size=path.stat().st_size)
                )
        return refs

    def output(self, native: str) -> str | None:
        results = self.dir(native) / "results"
        parts = [
            (results / n).read_text(errors="replace")
            for n in ("stdout", "stderr")
            if (results / n).is_file()
        ]
        return "".join(parts) if parts else None

    def remove(self, native: str) -> None:
        shutil.rmtree(self.dir(native), ignore_errors=True)
