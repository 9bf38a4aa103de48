"""Execute one Jupyter notebook on a local kernel: the command of a notebook job.

Run by the job supervisor as ``python -m ivoa_broker_local._nbrun <location>`` (see
:mod:`ivoa_broker_local._notebook`), with the job directory as working directory and
``$IVOA_BROKER_OUTPUT_DIR`` set, and ``$IVOA_BROKER_NOTEBOOK_STATE`` naming the runner's own
writable folder (:data:`STATE_ENV`; the working directory when unset). In order:

1. read the notebook from ``<location>``: an ``http(s)://`` URL or a ``data:`` URL
   (base64 or percent-encoded JSON), at most :data:`MAX_NOTEBOOK_BYTES`;
2. execute its code cells one by one with nbclient on the ``python3`` kernel (ipykernel in
   this interpreter), the kernel's working directory the output folder, so files the
   notebook writes become results; before each cell, ``progress.json`` in the state folder
   says which cell runs (``{"message", "fraction"}``, written atomically); the kernel's
   connection files and IPython's profile stay there too, out of the results;
3. write the executed notebook (with outputs) to the output folder as ``<name>.ipynb``,
   also when a cell fails;
4. exit 0, or 1 after printing ``cell N failed: <error name>: <value>`` to stderr (the
   broker shows the end of stderr in the job's error summary).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["MAX_NOTEBOOK_BYTES", "PROGRESS_FILE", "STATE_ENV", "main", "read_location"]

MAX_NOTEBOOK_BYTES = 16 * 1024 * 1024
PROGRESS_FILE = "progress.json"
#: the environment variable naming the runner's writable state folder
STATE_ENV = "IVOA_BROKER_NOTEBOOK_STATE"
FETCH_TIMEOUT_SECONDS = 30.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def read_location(location: str) -> tuple[bytes, str]:
    """The notebook's bytes and a file name for the executed copy."""
    if location.startswith("data:"):
        header, sep, payload = location[5:].partition(",")
        if not sep:
            raise ValueError("a data: URL needs a ',' before its content")
        if header.endswith(";base64"):
            data = base64.b64decode(payload, validate=False)
        else:
            data = urllib.parse.unquote_to_bytes(payload)
        return data[: MAX_NOTEBOOK_BYTES + 1], "notebook.ipynb"
    scheme = urllib.parse.urlsplit(location).scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"cannot read a notebook from a {scheme or 'relative'!r} location")
    with urllib.request.urlopen(location, timeout=FETCH_TIMEOUT_SECONDS) as reply:
        data = reply.read(MAX_NOTEBOOK_BYTES + 1)
    leaf = urllib.parse.unquote(urllib.parse.urlsplit(location).path.rsplit("/", 1)[-1])
    name = _SAFE_NAME.sub("_", leaf).strip("._") or "notebook"
    return data, name if name.endswith(".ipynb") else f"{name}.ipynb"


def _write_progress(path: Path, message: str, fraction: float) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps({"message": message, "fraction": fraction}))
    os.replace(temp, path)


def _first_line(source: Any) -> str:
    text = "".join(source) if isinstance(source, list) else str(source)
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:60]


def run(location: str, out_dir: Path, progress: Path) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    data, name = read_location(location)
    if len(data) > MAX_NOTEBOOK_BYTES:
        print(f"the notebook is larger than {MAX_NOTEBOOK_BYTES} bytes", file=sys.stderr)
        return 2
    notebook = nbformat.reads(data.decode("utf-8"), as_version=4)  # type: ignore[no-untyped-call]
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=None, resources={"metadata": {"path": out_dir}}
    )
    failed: str | None = None
    _write_progress(progress, f"starting the kernel ({len(code)} code cells)", 0.0)
    with client.setup_kernel():
        for done, index in enumerate(code):
            cell = notebook.cells[index]
            what = _first_line(cell.source)
            _write_progress(
                progress, f"cell {index + 1} of {len(notebook.cells)}: {what}", done / len(code)
            )
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                failed = f"cell {index + 1} failed: {exc.ename}: {exc.evalue}"
                break
    _write_progress(progress, "writing the executed notebook", 1.0)
    nbformat.write(notebook, str(out_dir / name))  # type: ignore[no-untyped-call]
    if failed is not None:
        print(failed, file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ivoa_broker_local._nbrun <notebook location>", file=sys.stderr)
        return 2
    out_dir = Path(os.environ.get("IVOA_BROKER_OUTPUT_DIR", "out")).absolute()
    state = Path(os.environ.get(STATE_ENV) or Path.cwd()).absolute()
    # the kernel's connection files and IPython's profile stay in the state folder
    os.environ.setdefault("JUPYTER_RUNTIME_DIR", str(state / ".jupyter-runtime"))
    os.environ.setdefault("IPYTHONDIR", str(state / ".ipython"))
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return run(args[0], out_dir, state / PROGRESS_FILE)
    except (OSError, ValueError) as exc:
        print(f"cannot run the notebook: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
