"""Fixtures that start real object stores and Dask clusters on free loopback ports.

- ``s3_server``: moto's S3-compatible HTTP server (``python -m moto.server``), one per
  session; ``s3_env`` points the standard AWS variables at it for one test and gives a
  boto3 client to put objects with.
- ``s3_refusing_server``: a second moto server that checks credentials (IAM auth from the
  first request on), so the test credentials are refused.
- ``dask_processes``: a ``dask scheduler`` and two ``dask worker`` processes (one thread
  each), for the module; ``.address`` is the scheduler's.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
