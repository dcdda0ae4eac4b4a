"""Fixtures that start real model servers on free loopback ports.

- ``openai_server``: a fresh :class:`tests.openai_server.FakeOpenAI` per test. It requires
  a bearer key, which the fixture puts in the env var ``LLMOPS_TEST_OPENAI_KEY``
  (``openai_server.provider_config()`` gives a matching ``provider:`` mapping).
- ``llama_server``: one real ``python -m llama_cpp.server`` on the bundled SmolLM2 for the
  whole session, started on first use and stopped at the end.
"""

from __future__ import annotations

import os
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
from typing import Any

import pytest

from tests.openai_server import FakeOpenAI

TEST_KEY_ENV = "LLMOPS_TEST_OPENAI_KEY"
TEST_KEY = "sk-test-0123456789"
LLAMA_ALIAS = "smollm2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A fresh fake OpenAI endpoint; the key is in ``LLMOPS_TEST_OPENAI_KEY``."""
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    fake = FakeOpenAI(api_key=TEST_KEY)
    fake.api_key_env = TEST_KEY_ENV
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@dataclass
class LlamaServer:
    """A running ``llama_cpp.server``."""

    base_url: str
    model: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def provider_config(self, **overrides: Any) -> dict[str, Any]:
        """A ``provider:`` mapping for llmops.yaml (no key needed)."""
        conf = {"kind": "openai", "base_url": self.base_url, "api_key_env": "",
                "model": self.model, "timeout_s": 120, "max_retries": 2}
        conf.update(overrides)
        return conf

    def log_tail(self, n: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited ({proc.returncode}):\n"
                               + log.read_text(errors="replace")[-2000:])
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server not ready after {timeout:g} s:\n"
                       + log.read_text(errors="replace")[-2000:])


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """The real llama.cpp OpenAI-compatible server on the embedded model."""
    from llmops.providers.local import bundled_model_path

    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
           "--n_threads", "2", "--model_alias", LLAMA_ALIAS]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", LLAMA_ALIAS, proc, log)
    try:
        _wait_ready(server.base_url, proc, log, timeout=120)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
