"""A real PostgreSQL server for the results store's tests.

- ``postgres_server``: one server for the whole session, made with ``initdb`` and started
  with ``pg_ctl`` in a temporary directory on a free loopback port (as the ``postgres``
  user when the tests run as root: the server refuses root). Debian's ``postgresql``
  package provides the binaries (``make test`` installs it when missing). Without them the
  tests that need the server skip locally and fail in CI.
- ``postgres_url``: a fresh database on that server per test, dropped afterwards.
"""

from __future__ import annotations

import glob
import itertools
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures_servers import free_port

USER = "llmops"


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    for d in found:
        if (Path(d) / "pg_ctl").exists() and (Path(d) / "initdb").exists():
            return Path(d)
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


def _version(path: str) -> int:
    part = Path(path).parent.name
    return int(part) if part.isdigit() else 0


@dataclass
class PostgresServer:
    """A running PostgreSQL server that trusts ``llmops`` on 127.0.0.1:``port``."""

    bindir: Path
    datadir: Path
    port: int
    counter: Iterator[int]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t{os.getpid()}_{next(self.counter)}"
        self._client("createdb", name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self._client("dropdb", "--force", "--if-exists", url.rsplit("/", 1)[1])

    def _client(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / tool), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
             *args], check=True, capture_output=True, timeout=60,
        )


def _as_server_user(argv: list[str]) -> list[str]:
    """``argv`` run as ``postgres`` when we are root (the server refuses root)."""
    if os.geteuid() != 0:
        return argv
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]


def _start(bindir: Path, datadir: Path, port: int) -> None:
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(datadir / "data"),
                                    "-A", "trust", "-U", USER, "-E", "UTF8"]), **run)
    opts = (f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200")
    subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(datadir / "data"),
                                    "-l", str(datadir / "server.log"), "-o", opts, "-w",
                                    "start"]), **run)


def _stop(bindir: Path, datadir: Path) -> None:
    subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(datadir / "data"),
                                    "-m", "immediate", "-w", "stop"]),
                   capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
    if bindir is None:
        message = "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    datadir = Path(tempfile.mkdtemp(prefix="llmops-pg-"))
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    port = free_port()
    try:
        _start(bindir, datadir, port)
    except subprocess.CalledProcessError as exc:
        log = datadir / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(datadir, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc.stderr!r}\n{tail}")
    try:
        yield PostgresServer(bindir, datadir, port, itertools.count())
    finally:
        _stop(bindir, datadir)
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh database (no password: the test server trusts loopback)."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)
