"""Start a throw-away OpenSSH server on loopback (used by the test fixtures).

``start_sshd(base)`` writes into ``base``: a host key, a user key pair, an
``authorized_keys``, a ``known_hosts`` for the client, an ``sshd_config`` and
a remote work directory; then runs ``sshd -D -e -f sshd_config`` on a free
127.0.0.1 port and waits until it answers. ``SSHServer.stop()`` terminates it
by pid. Needs Debian's ``openssh-server`` (``apt-get install -y openssh-server``);
as root the user is root.

Run it by hand: ``python sshd_server.py /tmp/sshd`` prints the environment for
``--adapter-live=ssh`` runs (IVOA_SSH_*) and serves until Ctrl-C.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
START_TIMEOUT = 15.0


class SSHDUnavailable(RuntimeError):
    """sshd is not installed or cannot run here (tests skip with this reason)."""


@dataclass
class SSHServer:
    process: subprocess.Popen[bytes]
    port: int
    user: str
    base: Path
    client_key: Path
    known_hosts: Path
    authorized_keys: Path
    work_dir: Path
    host_key: Path

    def known_hosts_line(self, port: int) -> str:
        """A known_hosts line trusting this server's host key on ``port``."""
        return f"[127.0.0.1]:{port} {(self.base / 'host_key_entry').read_text()}\n"

    @property
    def public_key(self) -> str:
        return self.client_key.with_suffix(".pub").read_text()

    def env(self) -> dict[str, str]:
        return {
            "IVOA_SSH_HOST": "127.0.0.1",
            "IVOA_SSH_PORT": str(self.port),
            "IVOA_SSH_USER": self.user,
            "IVOA_SSH_KEY_FILE": str(self.client_key),
            "IVOA_SSH_KNOWN_HOSTS": str(self.known_hosts),
            "IVOA_SSH_WORK_DIR": str(self.work_dir),
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


def start_sshd(base: Path, *, host_key: Path | None = None, trust_client: bool = True) -> SSHServer:
    """Start sshd in ``base``; reuse ``host_key`` if given; ``trust_client=False``
    gives a server that refuses every key (for authentication failures)."""
    if not Path(SSHD).is_file():
        raise SSHDUnavailable(f"{SSHD} not found: apt-get install -y openssh-server")
    if shutil.which("ssh-keygen") is None:
        raise SSHDUnavailable("ssh-keygen not found: apt-get install -y openssh-client")
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    client_key = base / "client_ed25519"
    if host_key is None:
        host_key = base / "host_ed25519"
        _keygen(host_key, "ivoa-broker-test-host")
    _keygen(client_key, "ivoa-broker-test-client")
    authorized = base / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text() if trust_client else "")
    authorized.chmod(0o600)
    work_dir = base / "remote" / "jobs"
    port = _free_port()
    user = getpass.getuser()
    host_pub = host_key.with_suffix(".pub").read_text().split()
    known_hosts = base / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (base / "host_key_entry").write_text(f"{host_pub[0]} {host_pub[1]}")
    sftp = SFTP_SERVER if Path(SFTP_SERVER).is_file() else "internal-sftp"
    config = base / "sshd_config"
    config.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {base / "sshd.pid"}
AuthorizedKeysFile {authorized}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel ERROR
MaxStartups 100:30:200
Subsystem sftp {sftp}
"""
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    check = subprocess.run(
        [SSHD, "-t", "-f", str(config)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise SSHDUnavailable(f"sshd refuses its configuration: {check.stderr.strip()}")
    log = open(base / "sshd.log", "wb")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
    )
    log.close()
    server = SSHServer(
        process, port, user, base, client_key, known_hosts, authorized, work_dir, host_key
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise SSHDUnavailable(f"sshd exited: {(base / 'sshd.log').read_text()[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise SSHDUnavailable(f"sshd did not answer on port {port}")
        time.sleep(0.05)


if __name__ == "__main__":
    srv = start_sshd(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ivoa-broker-sshd"))
    for key, value in srv.env().items():
        print(f"export {key}={value}")
    try:
        srv.process.wait()
    except KeyboardInterrupt:
        srv.stop()
