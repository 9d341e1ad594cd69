"""A real PostgreSQL server for the tests: Debian's ``postgresql`` in a temporary data
directory, on a free port on 127.0.0.1, started and stopped by the tests themselves.

The binaries are found on PATH or under the Debian layout (``postgresql/<version>/bin``
below ``/usr/lib``), by glob. PostgreSQL refuses to run as root: as root, the server
runs as the ``postgres`` user the package creates, in a directory given to it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from support.processes import free_port

__all__ = ["PostgresServer", "find_postgres_bin"]

_DEBIAN_GLOB = os.path.join(os.sep, "usr", "lib", "postgresql", "*", "bin")


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, or None if not installed."""
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("postgres") is not None:
        return Path(initdb).parent
    found = sorted(glob.glob(os.path.join(_DEBIAN_GLOB, "initdb")))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """One throwaway cluster with trust authentication for the user ``peernode``."""

    user = "peernode"

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="peernode-pg-"))
        self.port = free_port("127.0.0.1")
        self.process: subprocess.Popen[bytes] | None = None
        self._run_as: str | None = None
        if os.geteuid() == 0:
            self._run_as = "postgres"
            account = pwd.getpwnam("postgres")
            os.chown(self.dir, account.pw_uid, account.pw_gid)

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _command(self, *argv: str) -> list[str]:
        return [str(self.bin_dir / argv[0]), *argv[1:]]

    def start(self) -> None:
        if not self.data.exists():
            subprocess.run(
                self._command("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust",
                              "-E", "UTF8", "--no-sync"),
                check=True, capture_output=True, user=self._run_as,
            )
        self.process = subprocess.Popen(
            self._command("postgres", "-D", str(self.data), "-p", str(self.port),
                          "-c", "listen_addresses=127.0.0.1", "-k", str(self.dir),
                          "-c", "fsync=off", "-c", "max_connections=50"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=self._run_as,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not start on port {self.port}") from None
                time.sleep(0.05)

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t_{os.urandom(6).hex()}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # smart shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def remove(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.dir)
