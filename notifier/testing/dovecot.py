"""A real IMAP server for tests and the demo: Dovecot (Debian package ``dovecot-imapd``) started on
loopback with its own configuration, a throwaway maildir and one user, and stopped afterwards.

``with DovecotServer(cert=..., key=...) as imap:`` (in a directory of its own under the system temp
directory, which the unprivileged mail user can reach, removed afterwards) gives ``imap.url(cafile)`` (an
``imaps://`` mailbox URL) and ``imap.deliver(raw)`` (IMAP APPEND, as a mail server's delivery would
leave a message). Nothing here is a mock: the reader under test speaks IMAP to Dovecot."""

from __future__ import annotations

import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from imapclient import IMAPClient

from notifier.testing.smtp import free_port

__all__ = ["DOVECOT", "DovecotServer"]

DOVECOT = "/usr/sbin/dovecot"
_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = notifier-{port}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
default_internal_user = {internal}
default_login_user = {login}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
"""


@dataclass
class DovecotServer:
    cert: Path
    key: Path
    user: str = "replies"
    password: str = "replies-secret"
    port: int = 0  # IMAPS
    plain_port: int = 0  # IMAP with STARTTLS required before login
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="notifier-dovecot-")))
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, cafile: Path | None = None, folder: str = "INBOX") -> str:
        query = f"?cafile={quote(str(cafile))}" if cafile else ""
        return f"imaps://{self.user}:{quote(self.password)}@127.0.0.1:{self.port}/{folder}{query}"

    def start(self) -> DovecotServer:
        if not Path(DOVECOT).exists():
            raise RuntimeError(f"{DOVECOT} is missing: apt-get install dovecot-imapd (make test does)")
        self.port = self.port or free_port()
        self.plain_port = self.plain_port or free_port()
        for sub in ("run", "state", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        uid, gid, internal, login = _accounts()
        self.root.chmod(0o755)  # mail processes run as an unprivileged user and must reach their home
        os.chown(self.root / "home", uid, gid)
        (self.root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n", encoding="utf-8")
        for pem in (self.cert, self.key):  # Dovecot reads these as root before dropping privileges
            shutil.copy(pem, self.root / pem.name)
        config = self.root / "dovecot.conf"
        config.write_text(
            _CONFIG.format(
                root=self.root,
                port=self.port,
                plain_port=self.plain_port,
                cert=self.root / self.cert.name,
                key=self.root / self.key.name,
                uid=uid,
                gid=gid,
                internal=internal,
                login=login,
            ),
            encoding="utf-8",
        )
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 15
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                self.stop()
                raise RuntimeError(f"Dovecot did not start on 127.0.0.1:{self.port}: {err.strip()}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def client(self, cafile: Path) -> Any:
        context = ssl.create_default_context(cafile=str(cafile))
        client = IMAPClient("127.0.0.1", port=self.port, ssl=True, ssl_context=context, timeout=10)
        client.login(self.user, self.password)
        return client

    def deliver(self, cafile: Path, *messages: bytes, folder: str = "INBOX") -> None:
        """Put messages in the mailbox, as a mail server's delivery would."""
        client = self.client(cafile)
        try:
            for raw in messages:
                client.append(folder, raw)
        finally:
            client.logout()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _accounts() -> tuple[int, int, str, str]:
    """Who mail processes run as (never root: Dovecot refuses), and Dovecot's own two accounts."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid(), pwd.getpwuid(os.getuid()).pw_name, pwd.getpwuid(os.getuid()).pw_name
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid, "dovecot", "dovenull"
