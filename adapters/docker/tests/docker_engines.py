"""The project's own start/stop of private container engines for the tests.

``ContainerEngines.start()`` runs **dockerd** (Debian ``docker.io``) and
**rootful Podman's Docker-compatible API service** (``podman system service``),
each on a private unix socket with all of its state in one fresh folder of
this run (dockerd: ``--data-root``, ``--exec-root``, ``--pidfile``, its own
containerd under them, an empty ``--config-file``, no default bridge, no
iptables rules; podman: ``--root``, ``--runroot``, ``--tmpdir``,
``--network-config-dir`` and a private ``CONTAINERS_CONF``), so two runs on one
machine never meet and the machine's default daemons and sockets are not
touched. It imports a tiny busybox image built from local files (no registry
is reachable) and creates a per-run bridge network for published session ports.
``stop()`` ends both daemons by pid and removes their bridges and state.

Two Podman workarounds for this kind of machine (in the private containers.conf):
root lacks CAP_SYS_RESOURCE, so Podman's default ``nofile=1048576`` ulimit fails
in setrlimit (set to the hard limit we have); crun refuses cgroup v1 hybrid
layouts, so the runtime is runc.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import docker

IMAGE = "localhost/tiny:latest"
BUSYBOX = Path("/bin/busybox")
APPLETS = (
    "sh",
    "echo",
    "sleep",
    "cat",
    "ls",
    "id",
    "env",
    "httpd",
    "true",
    "false",
    "dd",
    "head",
    "mkdir",
    "touch",
    "test",
    "stat",
    "wc",
)


def missing() -> str | None:
    """Why the engines cannot run here (None: they can)."""
    for tool in ("dockerd", "podman", "runc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (run .ci/install.d/30-containers.sh)"
    if not BUSYBOX.is_file():
        return "busybox-static is not installed (/bin/busybox)"
    if os.geteuid() != 0:
        return "dockerd and rootful podman need root"
    return None


def tiny_image_tar() -> bytes:
    """A busybox rootfs: /bin/busybox, applet links, /www/index.html, a nobody user."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "etc", "www", "proc", "sys", "dev", "output"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        add_file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        add_file(
            "etc/passwd", b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
        )
        add_file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        add_file("www/index.html", b"ok\n")
    return buf.getvalue()


@dataclass
class Engine:
    kind: str  # "docker" | "podman"
    socket: Path
    pid: int
    network: str  # per-run bridge network for published session ports
    bridge: str

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> docker.APIClient:
        return docker.APIClient(base_url=self.host, version="1.41", timeout=60)


@dataclass
class ContainerEngines:
    base: Path
    engines: dict[str, Engine] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls) -> ContainerEngines:
        # short path: unix socket paths are limited to 108 bytes
        base = Path(tempfile.mkdtemp(prefix="ivbd-", dir="/tmp"))
        self = cls(base)
        try:
            (base / "tiny.tar").write_bytes(tiny_image_tar())
            tag = uuid.uuid4().hex[:6]
            docker_proc = self._spawn_dockerd()
            podman_proc = self._spawn_podman()
            self.engines["docker"] = self._ready("docker", docker_proc, f"ivbd{tag}")
            self.engines["podman"] = self._ready("podman", podman_proc, f"ivbp{tag}")
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(
        self, argv: list[str], log: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with open(self.base / log, "wb") as out:  # the daemon keeps its own copy of the fd
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                # in the engines' own folder: a runtime drops files in its working folder
                # (an OOM kill left an empty `oom` at the repository root)
                cwd=self.base,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def _spawn_dockerd(self) -> subprocess.Popen[bytes]:
        b = self.base
        (b / "daemon.json").write_text("{}")
        return self._spawn(
            [
                "dockerd",
                "-H",
                f"unix://{b}/docker.sock",
                "--config-file",
                f"{b}/daemon.json",
                "--data-root",
                f"{b}/d-data",
                "--exec-root",
                f"{b}/d-exec",
                "--pidfile",
                f"{b}/dockerd.pid",
                "--storage-driver",
                "overlay2",
                "--bridge",
                "none",
                "--iptables=false",
                "--ip-masq=false",
            ],
            "dockerd.log",
        )

    def podman_argv(self) -> list[str]:
        b = self.base
        return [
            "podman",
            "--root",
            f"{b}/p-root",
            "--runroot",
            f"{b}/p-run",
            "--storage-driver",
            "vfs",
            "--tmpdir",
            f"{b}/p-tmp",
            "--network-config-dir",
            f"{b}/p-net",
            "--cgroup-manager",
            "cgroupfs",
            "--runtime",
            "runc",
            "--events-backend",
            "file",
        ]

    def podman_env(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(self.base / "containers.conf")}

    def _spawn_podman(self) -> subprocess.Popen[bytes]:
        b = self.base
        for d in ("p-tmp", "p-net"):
            (b / d).mkdir()
        hard = subprocess.run(
            ["sh", "-c", "ulimit -Hn"], capture_output=True, text=True
        ).stdout.strip()
        (b / "containers.conf").write_text(
            f'[containers]\ndefault_ulimits = ["nofile={hard}:{hard}", "nproc=4096:4096"]\n'
            '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        )
        return self._spawn(
            [*self.podman_argv(), "system", "service", "--time=0", f"unix://{b}/podman.sock"],
            "podman.log",
            env=self.podman_env(),
        )

    def _ready(self, kind: str, proc: subprocess.Popen[bytes], bridge: str) -> Engine:
        sock = self.base / f"{kind}.sock"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log = self.base / f"{kind}{'d' if kind == 'docker' else ''}.log"
                raise RuntimeError(f"{kind} exited {proc.returncode}: {log.read_text()[-2000:]}")
            if sock.exists():
                try:
                    api = docker.APIClient(base_url=f"unix://{sock}", version="1.41", timeout=10)
                    api.ping()
                    break
                except Exception:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not answer on {sock} within 60 s")
            time.sleep(0.2)
        with open(self.base / "tiny.tar", "rb") as tar:
            api.import_image_from_data(tar.read(), repository="localhost/tiny", tag="latest")
        api.create_network(
            f"ivb-{bridge}", driver="bridge", options={"com.docker.network.bridge.name": bridge}
        )
        api.close()
        return Engine(kind, sock, proc.pid, f"ivb-{bridge}", bridge)

    def stop(self) -> None:
        for engine in self.engines.values():
            try:
                api = engine.client()
                for c in api.containers(all=True):
                    api.remove_container(c["Id"], force=True, v=True)
                api.remove_network(engine.network)
                api.close()
            except Exception:
                pass
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for engine in self.engines.values():
            subprocess.run(["ip", "link", "delete", engine.bridge], capture_output=True)
        # dockerd's overlay mounts and podman's runroot mounts are gone with the daemons
        subprocess.run(["umount", "-R", str(self.base / "d-exec")], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
