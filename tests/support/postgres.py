"""A throwaway PostgreSQL server for one test session.

The store must behave the same on PostgreSQL as on SQLite, and CI starts from a clean
machine with no database server, so the tests start their own: `initdb` into a temporary
folder (trust authentication, fsync off: the data is thrown away), listen on a free port of
127.0.0.1 only, one fresh database per test, and `pg_ctl stop` at the end. The Debian
package `postgresql` provides the binaries; `make test` installs it. Missing binaries fail
the tests instead of skipping them, so that a machine without PostgreSQL cannot pass
silently.

initdb refuses to run as root, so as root every server command runs as Debian's `postgres`
system user (runuser), which then owns the temporary folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

SUPERUSER = "calibrate_test"
INSTALL_HINT = ("PostgreSQL server binaries (initdb, pg_ctl) were not found: run `make test`, which installs "
                "Debian's `postgresql` package (or `apt-get install postgresql`).")


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here; the message says why and what to do."""


def find_bindir() -> Path:
    """The folder holding initdb and pg_ctl: from pg_config, PATH, or Debian's versioned folders."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True)
    candidates += debian
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise PostgresUnavailable(INSTALL_HINT)


def _version(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in name.split("."))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A running server; `new_database_url()` creates an empty database and returns its URL."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("Running as root, but there is no `postgres` system user to run the "
                                          "PostgreSQL server as (Debian's `postgresql` package creates it).") from None
        self.root = Path(tempfile.mkdtemp(prefix="calibrate-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        if self.as_root:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        self._started = False

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        out = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if out.returncode != 0:
            log = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise PostgresUnavailable(f"`{' '.join(command)}` failed ({out.returncode}):\n{out.stdout}{out.stderr}\n{log}")
        return out

    def start(self) -> PostgresServer:
        self._run("initdb", "--pgdata", str(self.data), "--username", SUPERUSER, "--auth", "trust",
                  "--encoding", "UTF8", "--no-sync", "--no-instructions")
        for attempt in range(3):  # another process may take the free port between our check and the start
            self.port = _free_port()
            options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -F -c max_connections=200"
            try:
                self._run("pg_ctl", "--pgdata", str(self.data), "--log", str(self.log), "--options", options,
                          "--wait", "--timeout", "60", "start")
                self._started = True
                return self
            except PostgresUnavailable:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        try:
            if self._started:
                self._run("pg_ctl", "--pgdata", str(self.data), "--mode", "fast", "--wait", "stop")
        finally:
            self._started = False
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database_url(self) -> str:
        """A new, empty database, so that tests never see each other's rows."""
        import psycopg

        name = f"store_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
