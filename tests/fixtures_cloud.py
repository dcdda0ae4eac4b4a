"""Fixtures that start real object stores and Dask clusters on free loopback ports.

- ``s3_server``: moto's S3-compatible HTTP server (``python -m moto.server``), one per
  session; ``s3_env`` points the standard AWS variables at it for one test and gives a
  boto3 client to put objects with.
- ``s3_refusing_server``: a second moto server that checks credentials (IAM auth from the
  first request on), so the test credentials are refused.
- ``s3_faulty``: an HTTP relay in front of the moto server that cuts the connection
  part-way through the answers to some reads (a network fault), with the AWS variables
  pointing at it for one test.
- ``dask_processes``: a ``dask scheduler`` and two ``dask worker`` processes (one thread
  each), for the module; ``.address`` is the scheduler's.
"""

from __future__ import annotations

import http.client
import http.server
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_servers import free_port

ROOT = Path(__file__).resolve().parent.parent
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass
class S3Server:
    """A running moto S3 server."""

    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path

    def env(self) -> dict[str, str]:
        """The variables that point an AWS SDK (and s3fs) at this server."""
        return {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip


def _start_moto(tmp: Path, extra_env: dict[str, str]) -> S3Server:
    port = free_port()
    log = tmp / f"moto-{port}.log"
    env = {**os.environ, **AWS_TEST_ENV, **extra_env}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("moto server exited:\n" + log.read_text(errors="replace")[-2000:])
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
            return S3Server(endpoint, proc, log)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto server did not start within 60 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    server = _start_moto(tmp_path_factory.mktemp("moto"), {})
    try:
        yield server
    finally:
        _stop(server.process)


@pytest.fixture(scope="session")
def s3_refusing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    server = _start_moto(
        tmp_path_factory.mktemp("moto-auth"), {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    )
    try:
        yield server
    finally:
        _stop(server.process)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The AWS variables point at the moto server for this test."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server


@dataclass
class FaultyRelay:
    """Forwards requests to an S3 server; a GET of ``key`` whose byte range starts at or
    after ``cut_from`` gets its headers and half its body, then the connection is cut."""

    endpoint: str
    upstream: str
    key: str = ""
    cut_from: int = 0
    cuts: int = 0  # answers cut so far

    def env(self) -> dict[str, str]:
        return {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def should_cut(self, method: str, path: str, byte_range: str | None) -> bool:
        if method != "GET" or not self.key or not path.split("?")[0].endswith(self.key):
            return False
        start = int(byte_range.split("=")[1].split("-")[0]) if byte_range else 0
        return start >= self.cut_from


def _relay_handler(relay: FaultyRelay) -> type[http.server.BaseHTTPRequestHandler]:
    host, port = relay.upstream.removeprefix("http://").split(":")

    class Relay(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            upstream = http.client.HTTPConnection(host, int(port), timeout=30)
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                upstream.putheader(name, value)
            upstream.endheaders(body)
            answer = upstream.getresponse()
            data = answer.read()
            upstream.close()
            self.send_response_only(answer.status, answer.reason)
            head = self.command == "HEAD"  # its Content-Length is the object's
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection") and (
                    head or name.lower() != "content-length"
                ):
                    self.send_header(name, value)
            if not head:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if head:
                return
            if relay.should_cut(self.command, self.path, self.headers.get("Range")):
                relay.cuts += 1
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = relay

    return Relay


@pytest.fixture
def s3_faulty(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyRelay]:
    """A relay to the moto server that can cut reads part-way; the AWS variables point at
    the relay for this test (objects are put through ``s3_server.client()``)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    relay = FaultyRelay(f"http://127.0.0.1:{server.server_address[1]}", s3_server.endpoint)
    server.RequestHandlerClass = _relay_handler(relay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name, value in relay.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield relay
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class DaskProcesses:
    """A scheduler and its workers, each a ``dask`` command-line process."""

    address: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)


def start_dask_processes(tmp: Path, workers: int, env: dict[str, str]) -> DaskProcesses:
    """``dask scheduler`` on a free port and ``workers`` single-thread ``dask worker``s."""
    pytest.importorskip("distributed")
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    cluster = DaskProcesses(address)

    def spawn(args: list[str], name: str) -> None:
        with (tmp / f"{name}.log").open("wb") as out:
            cluster.processes.append(
                subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=full_env)
            )

    spawn([*dask, "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
          "scheduler")  # fmt: skip
    worker = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
              "--host", "127.0.0.1", "--dashboard-address", ":0", "--no-nanny"]  # fmt: skip
    for i in range(workers):
        spawn(worker, f"worker-{i}")
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=60)
    except Exception:
        stop_dask_processes(cluster)
        logs = "\n".join(p.read_text(errors="replace")[-1500:] for p in tmp.glob("*.log"))
        raise RuntimeError(f"the dask processes did not start:\n{logs}") from None
    return cluster


def stop_dask_processes(cluster: DaskProcesses) -> None:
    for proc in reversed(cluster.processes):
        _stop(proc)
