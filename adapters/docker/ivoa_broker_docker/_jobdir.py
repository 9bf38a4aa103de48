"""The per-job folder on the broker host: output files, saved logs, the saved end.

``{data_dir}/jobs/{container name}/`` holds ``output/`` (bind-mounted into the
container, or filled through the archive API), ``input/`` (the inputs the core staged,
bind-mounted read-only), ``stdout.txt``/``stderr.txt``,
``stopped`` (the broker stopped the container) and ``end.json`` (the last
status, kept when the container is removed by ``release``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ivoa_broker.protocol import EndReason, Phase, ResultRef, StagedInput, Status

__all__ = ["JobDir"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_RESERVED = frozenset({"stdout", "stderr"})
_TEXT = {".txt", ".log", ".csv", ".json", ".xml", ".vot", ".html"}


@dataclass(frozen=True)
class JobDir:
    root: Path

    @classmethod
    def of(cls, data_dir: Path, native_id: str) -> JobDir:
        return cls(data_dir / "jobs" / _UNSAFE.sub("_", native_id))

    @property
    def output(self) -> Path:
        return self.root / "output"

    def create(self, *, world_writable: bool) -> None:
        self.output.mkdir(parents=True, exist_ok=True)
        if world_writable:  # a non-root container user must be able to write its results
            self.output.chmod(0o1777)

    @property
    def input(self) -> Path:
        return self.root / "input"

    def place_inputs(self, staged: Sequence[StagedInput]) -> None:
        """Hard-link (or copy, across file systems) the staged files into ``input/``, read-only
        (blocking: call it in a worker thread). They keep the core's names (``000-<name>``...)."""
        self.input.mkdir(parents=True, exist_ok=True)
        for item in staged:
            dest = self.input / Path(item.path).name  # never outside input/
            try:
                os.link(item.path, dest)
            except OSError:
                shutil.copyfile(item.path, dest)
            dest.chmod(0o444)
        self.input.chmod(0o555)

    def remove(self) -> None:
        if self.input.is_dir():  # read-only for the job; writable again to be emptied
            self.input.chmod(0o755)
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------- stop marker

    def mark_stopped(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "stopped").touch()

    @property
    def stopped(self) -> bool:
        return (self.root / "stopped").exists()

    # ---------------------------------------------------------------- results

    def save_logs(self, stdout: bytes, stderr: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "stdout.txt").write_bytes(stdout)
        (self.root / "stderr.txt").write_bytes(stderr)

    def results(self) -> list[ResultRef]:
        refs: list[ResultRef] = []
        for name in ("stdout", "stderr"):
            path = self.root / f"{name}.txt"
            if path.is_file():
                refs.append(
                    ResultRef(id=name, path=path, mime_type="text/plain", size=path.stat().st_size)
                )
        seen = {r.id for r in refs}
        if self.output.is_dir():
            for path in sorted(
                p for p in self.output.rglob("*") if p.is_file() and not p.is_symlink()
            ):
                rid = _UNSAFE.sub("_", str(path.relative_to(self.output)).replace("/", "__"))
                if rid in _RESERVED or rid in seen or rid.startswith("."):
                    rid = f"output-{rid.lstrip('.')}"
                seen.add(rid)
                mime = "text/plain" if path.suffix in _TEXT else "application/octet-stream"
                refs.append(ResultRef(id=rid, path=path, mime_type=mime, size=path.stat().st_size))
        return refs

    # -------------------------------------------------------------- saved end

    def save_end(self, status: Status) -> None:
        data: dict[str, Any] = {
            "phase": status.phase.value,
            "native_state": status.native_state,
            "message": status.message,
            "exit_code": status.exit_code,
            "signal": status.signal,
            "reason": status.reason.value if status.reason else None,
            "started_at": status.started_at.isoformat() if status.started_at else None,
            "ended_at": status.ended_at.isoformat() if status.ended_at else None,
        }
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / "end.json.tmp"
        tmp.write_text(json.dumps(data))
        tmp.replace(self.root / "end.json")

    def saved_end(self) -> Status | None:
        path = self.root / "end.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return Status(
            phase=Phase(data["phase"]),
            native_state=data["native_state"],
            message=data.get("message"),
            exit_code=data.get("exit_code"),
            signal=data.get("signal"),
            reason=EndReason(data["reason"]) if data.get("reason") else None,
            started_at=_when(data.get("started_at")),
            ended_at=_when(data.get("ended_at")),
        )


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
