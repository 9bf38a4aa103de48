"""django-uws (PyPI, with Django 4.2) run for real, once per test session.

django-uws is a Django REST framework app, not a server: the fixture writes a minimal Django
project (settings, URLconf mounting ``uws.urls`` under ``/uws/``, a SQLite database, two
users with HTTP Basic) into a per-run folder and serves it with ``manage.py runserver
--noreload`` on a free loopback port. Celery runs tasks eagerly in memory (no broker).

django-uws lives in its own virtualenv, apart from the suite's: ``ensure_venv()`` makes it
once (``python -m venv`` + ``pip install``; idempotent, also run by
``.ci/install.d/50-conformance-peers.sh``) under ``$CONFORMANCE_PEERS_DIR`` (default
``~/.cache/ivoa-broker-conformance``). Only the standard library is needed for that step, so
``python3 conformance_django_uws.py --venv-only`` runs before the project is installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

REQUIREMENTS = ("django>=4.2,<4.3", "django-uws==0.2.dev370864")
USERS = {"alice": "alice-django-pw-0001", "bob": "bob-django-pw-0002"}
PEERS_DIR = Path(
    os.environ.get("CONFORMANCE_PEERS_DIR", Path.home() / ".cache" / "ivoa-broker-conformance")
)
VENV = PEERS_DIR / "django-uws-venv"
START_TIMEOUT = 60.0

SETTINGS = """\
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "conformance-test-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
    "rest_framework", "uws",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.BasicAuthentication"],
}
USE_TZ = True
CELERY_TASK_ALWAYS_EAGER = True
UWS_WORKERS = []
"""
URLS = """\
from django.urls import include, path
urlpatterns = [path("uws/", include("uws.urls"))]
"""
CELERY_APP = """\
from celery import Celery
app = Celery("conformance", broker="memory://", backend="cache+memory://")
app.conf.task_always_eager = True
"""
MANAGE = """\
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
import celery_app  # noqa: F401  (eager, in-memory Celery for django-uws's tasks)
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"""


def python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> str | None:
    """Make the django-uws virtualenv if it is missing; None, or why it cannot be made."""
    if python().exists():
        return None
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    with (PEERS_DIR / "django-uws.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python().exists():
            return None
        partial = VENV.with_name(VENV.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        steps = (
            [sys.executable, "-m", "venv", str(partial)],
            [
                str(partial / "bin" / "pip"),
                "install",
                "-q",
                "--disable-pip-version-check",
                *REQUIREMENTS,
            ],
        )
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                shutil.rmtree(partial, ignore_errors=True)
                return f"cannot install django-uws ({' '.join(step[:3])}): {done.stderr[-500:]}"
        partial.rename(VENV)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class DjangoUWS:
    """django-uws served by Django's runserver; ``base`` is its ``/uws`` URL."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="conformance-django-uws-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/uws"
        self.server: subprocess.Popen[bytes] | None = None

    def _manage(self, *args: str) -> None:
        done = subprocess.run(
            [str(python()), str(self.dir / "manage.py"), *args],
            capture_output=True,
            text=True,
            cwd=self.dir,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed: {done.stderr[-2000:]}")

    def __enter__(self) -> DjangoUWS:
        import httpx  # not needed by ensure_venv(), which the CI install runs without it

        try:
            for name, text in (
                ("settings.py", SETTINGS),
                ("urls.py", URLS),
                ("celery_app.py", CELERY_APP),
                ("manage.py", MANAGE),
            ):
                (self.dir / name).write_text(text)
            self._manage("migrate", "--noinput")
            for user, password in USERS.items():
                self._manage(
                    "shell",
                    "-c",
                    "from django.contrib.auth.models import User; "
                    f"User.objects.create_user({user!r}, password={password!r})",
                )
            with (self.dir / "serve.log").open("wb") as log:
                self.server = subprocess.Popen(
                    [
                        str(python()),
                        "manage.py",
                        "runserver",
                        "--noreload",
                        f"127.0.0.1:{self.port}",
                    ],
                    cwd=self.dir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.server.poll() is not None:
                    raise RuntimeError("runserver exited: " + (self.dir / "serve.log").read_text())
                with contextlib.suppress(httpx.HTTPError):
                    httpx.get(self.base + "/jobs/", timeout=5)
                    return self
                time.sleep(0.3)
            raise RuntimeError(f"django-uws did not answer on {self.base}")
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait(timeout=5)
            self.server = None
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    why = ensure_venv()
    if why:
        raise SystemExit(why)
    if sys.argv[1:] == ["--venv-only"]:
        raise SystemExit(0)
    with DjangoUWS() as peer:
        print(peer.base, "users:", ", ".join(f"{u}:{p}" for u, p in USERS.items()), flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on kill, too
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
