"""A real PostgreSQL server for the results store's tests.

- ``postgres_server``: one server for the whole session, made with ``initdb`` and started
  with ``pg_ctl`` in a temporary directory on a free loopback port (as the ``postgres``
  user when the tests run as root: the server refuses root). Debian's ``postgresql``
  package provides the binaries (``make test`` installs it when missing). Without them the
  tests that need the server fail, naming what to install.
- ``postgres_url``: a fresh database on that server per test, dropped afterwards.
- ``password_url``: a fresh database owned by a role that must give its password.
- ``store_backend``: runs a test on both backends (the project's SQLite file, then
  ``LLMOPS_STORE`` set to a fresh PostgreSQL database), with a row counter for either.
"""

from __future__ import annotations

import glob
import itertools
import os
import shlex
import shutil
import sqlite3
import subprocess
import tempfile
import time
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

    def password_database(self, user: str, password: str) -> str:
        """A new database owned by ``user``, who must give ``password`` (scram-sha-256
        from 127.0.0.1, before the trust rule); returns its URL with the password."""
        import psycopg

        hba = self.datadir / "data" / "pg_hba.conf"
        rule = f"host all {user} 127.0.0.1/32 scram-sha-256\n"
        with psycopg.connect(self.url(), autocommit=True) as db:
            if not db.execute("select 1 from pg_roles where rolname = %s", (user,)).fetchone():
                db.execute(f'create role "{user}" login password \'{password}\'')
            if rule not in hba.read_text():
                hba.write_text(rule + hba.read_text())  # in place: the owner stays
                db.execute("select pg_reload_conf()")
                _wait_for_password_rule(self.url().replace(USER, user, 1))
            name = f"t{os.getpid()}_{next(self.counter)}"
            db.execute(f'create database "{name}" owner "{user}"')
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{name}"

    def _client(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / tool), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
             *args], check=True, capture_output=True, timeout=60,
        )


def _wait_for_password_rule(url_without_password: str) -> None:
    """Until the server has reloaded pg_hba.conf: a connection without the password fails."""
    import psycopg

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            psycopg.connect(url_without_password, connect_timeout=5).close()
        except psycopg.OperationalError:
            return
        time.sleep(0.05)
    raise AssertionError("the PostgreSQL server did not reload pg_hba.conf")


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
        # The team store is a core feature: without a server its tests fail, never skip.
        pytest.fail("PostgreSQL server binaries not found: `make test` installs them"
                    " (Debian: apt-get install postgresql)")
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, PostgreSQL needs the 'postgres' user to run as"
                        " (Debian's postgresql package creates it)")
    # Under /tmp (not $TMPDIR): the server user must be able to reach it.
    datadir = Path(tempfile.mkdtemp(prefix="llmops-pg-", dir="/tmp"))
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


@pytest.fixture
def password_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL, password included, of a fresh database whose owner needs that password."""
    url = postgres_server.password_database("team", "Tm-s3cr3t-pw-4f9e")
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@dataclass
class StoreBackend:
    """The results store a test's projects use: their SQLite file, or ``LLMOPS_STORE``."""

    name: str  # sqlite | postgresql
    url: str | None = None  # the PostgreSQL database's URL

    def count(self, root: Path, sql: str) -> int:
        """``select count(*) ...`` on the store of the project at ``root``; 0 while the
        store is not there yet (a SQLite file not yet created, a table not yet made)."""
        if self.url is not None:
            import psycopg

            try:
                with psycopg.connect(self.url, connect_timeout=5) as db:
                    row = db.execute(sql).fetchone()
            except psycopg.Error:
                return 0
        else:
            db_path = root / ".llmops" / "results.db"
            if not db_path.exists():
                return 0
            try:
                con = sqlite3.connect(db_path, timeout=5)
                try:
                    row = con.execute(sql).fetchone()
                finally:
                    con.close()
            except sqlite3.Error:
                return 0
        return int(row[0]) if row else 0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                  ) -> StoreBackend:
    """Run the test once on each backend: ``LLMOPS_STORE`` unset (the project's SQLite
    file), then set to a fresh database on the test PostgreSQL server. Subprocesses
    started with ``os.environ`` inherit it."""
    if request.param == "sqlite":
        monkeypatch.delenv("LLMOPS_STORE", raising=False)
        return StoreBackend("sqlite")
    url: str = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("LLMOPS_STORE", url)
    return StoreBackend("postgresql", url)
