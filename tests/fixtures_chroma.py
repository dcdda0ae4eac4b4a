"""A real Chroma server for the tests: ``chroma run --path <tmp> --port <free>``.

``chroma_server`` is session-scoped: started on first use (the fixture waits for the
heartbeat), killed at the end of the session. Tests that stop a server start their own
with :func:`start_chroma`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chroma_command() -> list[str]:
    exe = Path(sys.executable).with_name("chroma")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("chroma")
    if found is None:
        pytest.skip("the `chroma` command (installed with chromadb) is not available")
    return [found]


@dataclass
class ChromaServer:
    """A running ``chroma run``."""

    host: str
    port: int
    path: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_chroma(path: Path, timeout: float = 60.0) -> ChromaServer:
    """Start ``chroma run`` on a free loopback port and wait until its heartbeat answers."""
    port = _free_port()
    path.mkdir(parents=True, exist_ok=True)
    log_path = path.parent / f"chroma-{port}.log"
    log = log_path.open("wb")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen(
        [*_chroma_command(), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    server = ChromaServer("127.0.0.1", port, path, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chroma run exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/v2/heartbeat", timeout=1) as r:
                if r.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"chroma run did not answer within {timeout}s ({log_path})")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """One real Chroma server for the session."""
    pytest.importorskip("chromadb")
    server = start_chroma(tmp_path_factory.mktemp("chroma-server") / "data")
    try:
        yield server
    finally:
        server.stop()
