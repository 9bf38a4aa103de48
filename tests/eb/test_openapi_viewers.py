"""``/openapi.yaml`` in the real tools people read it with: Redocly's CLI lints it with no
problem, and Swagger UI and Redoc (their npm bundles, offline) render it in headless Debian
chromium with no warning or error on the console and every operation shown.

The document rendered is the packaged one, which ``tests/eb/test_openapi.py`` proves equal to
what ``GET /openapi.yaml`` serves. Each viewer page reports through ``<pre>`` elements that
``chromium --dump-dom`` prints: one ``probe-message`` per console warning/error, uncaught error
or viewer error, and ``probe-done`` with the number of operations shown. A broken document is
rendered first as a control: the probe must see its error, or the check proves nothing.
"""

from __future__ import annotations

import functools
import html
import http.server
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ivoa_broker.eb.openapi import dump_openapi, load_openapi

VIEWERS = Path("/opt/openapi-viewers/node_modules")  # .ci/install.d/55-openapi-viewers.sh
REDOCLY = VIEWERS / ".bin" / "redocly"
LINT_CONFIG = Path(__file__).with_name("redocly.yaml")
OPERATIONS = sum(
    1
    for item in load_openapi()["paths"].values()
    for method in item
    if method in ("get", "put", "post", "delete", "patch", "options", "head")
)

pytestmark = pytest.mark.slow

_PROBE = """<script>
function __note(kind, text) {
  const pre = document.createElement("pre");
  pre.className = "probe-" + kind;
  pre.textContent = text;
  document.documentElement.appendChild(pre);
}
for (const level of ["warn", "error"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    __note("message", level + ": " + args.map(String).join(" "));
    original(...args);
  };
}
window.addEventListener("error", (e) => __note("message", "uncaught: " + e.message));
window.addEventListener("unhandledrejection", (e) => __note("message", "rejected: " + e.reason));
</script>"""

_SWAGGER = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="swagger-ui-dist/swagger-ui.css">PROBE</head>
<body><div id="ui"></div>
<script src="swagger-ui-dist/swagger-ui-bundle.js"></script>
<script>
const url = new URL("SPEC", location.href).href;
const ui = SwaggerUIBundle({url: url, dom_id: "#ui", onComplete: async () => {
  for (const e of ui.errSelectors.allErrors().toJS()) __note("message", "swagger-ui: " + e.message);
  // every $ref resolved, as an expanded operation would
  const resolved = await ui.fn.resolve({url: url});
  for (const e of resolved.errors || []) __note("message", "swagger-ui resolve: " + e.message);
  __note("done", String(document.querySelectorAll(".opblock").length));
}});
</script></body></html>"""

_REDOC = """<!doctype html><html><head><meta charset="utf-8">PROBE</head>
<body><div id="redoc"></div>
<script src="redoc/bundles/redoc.standalone.js"></script>
<script>
Redoc.init("SPEC", {}, document.getElementById("redoc"), (error) => {
  if (error) __note("message", "redoc: " + error);
  setTimeout(() => __note("done",
    String(document.querySelectorAll("[data-section-id^='operation/']").length)), 500);
});
</script></body></html>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The viewers' bundles and the documents on a loopback HTTP server of this run."""
    if not (VIEWERS / "redoc").is_dir() or not (VIEWERS / "swagger-ui-dist").is_dir():
        pytest.skip("redoc / swagger-ui-dist not installed (.ci/install.d/55-openapi-viewers.sh)")
    root = tmp_path_factory.mktemp("viewers")
    for bundle in ("redoc", "swagger-ui-dist"):
        (root / bundle).symlink_to(VIEWERS / bundle)
    (root / "openapi.yaml").write_text(dump_openapi())
    broken = dump_openapi().replace("#/components/schemas/", "#/components/schemas/Missing", 1)
    (root / "broken.yaml").write_text(broken)
    for name, page in (("swagger", _SWAGGER), ("redoc", _REDOC)):
        for spec in ("openapi.yaml", "broken.yaml"):
            text = page.replace("PROBE", _PROBE).replace("SPEC", spec)
            (root / f"{name}-{spec.removesuffix('.yaml')}.html").write_text(text)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".yaml": "application/yaml",
    }

    def log_message(self, format: str, *args: object) -> None:
        pass


def _render(url: str, profile: Path) -> tuple[list[str], int | None]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian chromium is not installed (.ci/install.d/45-chromium.sh)")
    done = subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={profile}", "--virtual-time-budget=60000", "--dump-dom", url,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    dom = done.stdout
    messages = [
        html.unescape(m) for m in re.findall(r'<pre class="probe-message">(.*?)</pre>', dom, re.S)
    ]
    count = re.search(r'<pre class="probe-done">(\d+)</pre>', dom)
    return messages, int(count.group(1)) if count else None


@pytest.mark.parametrize("viewer", ["swagger", "redoc"])
def test_viewer_renders_the_document_without_warnings(
    site: str, viewer: str, tmp_path: Path
) -> None:
    messages, _ = _render(f"{site}/{viewer}-broken.html", tmp_path / "control")
    assert messages, f"{viewer}: the probe saw nothing wrong in a broken document"
    messages, shown = _render(f"{site}/{viewer}-openapi.html", tmp_path / "real")
    assert messages == []
    assert shown == OPERATIONS, f"{viewer} showed {shown} of {OPERATIONS} operations"


def test_redocly_lint_finds_no_problem(tmp_path: Path) -> None:
    if not REDOCLY.exists():
        pytest.skip("@redocly/cli not installed (.ci/install.d/55-openapi-viewers.sh)")
    document = tmp_path / "openapi.yaml"
    document.write_text(dump_openapi())
    done = subprocess.run(
        [str(REDOCLY), "lint", "--config", str(LINT_CONFIG), "--format", "json", str(document)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REDOCLY_TELEMETRY": "off",
             "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"},
        check=False,
    )  # fmt: skip
    start = done.stdout.find("{")
    report = yaml.safe_load(done.stdout[start:]) if start >= 0 else None
    assert report is not None, done.stdout + done.stderr
    problems = [(p["ruleId"], p["severity"], p["message"]) for p in report["problems"]]
    assert problems == []
    assert done.returncode == 0, done.stderr
