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
        pytest.fail("the `chroma` command (installed with chromadb) is not on PATH: run make setup")
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


def _listen(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]


def start_chroma(path: Path, timeout: float = 60.0) -> ChromaServer:
    """Start ``chroma run`` on a free loopback port and wait until its heartbeat answers."""
    port = _free_port()
    path.mkdir(parents=True, exist_ok=True)
    log_path = path.parent / f"chroma-{port}.log"
    log = log_path.open("wb")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen(
        [*_chroma_command(), "run", "--path", str(path), *_listen(port)],
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


_VOCABULARY = """refund policy shipping days order account password reset invoice billing
support customer return item warranty delivery payment card address email security login
discount coupon subscription plan upgrade cancel renewal tax receipt export report"""
WORDS = _VOCABULARY.split()


def make_doc(seed: int, sections: int = 3, paragraphs: int = 2, words: int = 40) -> str:
    """A deterministic markdown document with headings and paragraphs."""
    import random

    rnd = random.Random(seed)
    parts = [f"# Document {seed}\n"]
    for s in range(sections):
        parts.append(f"## Section {s}\n")
        for _ in range(paragraphs):
            parts.append(" ".join(rnd.choice(WORDS) for _ in range(words)) + ".\n")
    return "\n".join(parts)


@dataclass
class RagProject:
    """A temporary project with a corpus and ``kind: rag`` configs under prompts/handbook/."""

    root: Path

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    def write_config(self, version: str = "v1", **fields: object) -> None:
        import yaml

        config: dict[str, object] = {
            "kind": "rag",
            "sources": "corpus/**/*.md",
            "chunking": {"size": 300, "overlap": 50},
            "embedder": "hash-64",
            "top_k": 3,
            "collection": "handbook",
        }
        config.update(fields)
        path = self.root / "prompts" / "handbook" / f"{version}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))

    def write_doc(self, rel: str, text: str) -> Path:
        path = self.corpus / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def version(self, ref: str = "handbook@v1"):  # type: ignore[no-untyped-def]
        from llmops.prompts import load_registry

        return load_registry(self.project()).resolve(ref)

    def project(self):  # type: ignore[no-untyped-def]
        from llmops.project import load_project

        return load_project(self.root)


@pytest.fixture
def rag_project(tmp_path: Path) -> RagProject:
    """A project with 12 documents (6 in a subfolder) and ``handbook@v1`` on ``hash-64``."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "llmops.yaml").write_text("provider: {kind: local}\n")
    rp = RagProject(root)
    old = time.time_ns() - 60_000_000_000
    for i in range(12):
        path = rp.write_doc(f"{'sub/' if i % 2 else ''}doc{i:02d}.md", make_doc(i))
        # Written a minute ago: a check right after a sync takes the stat-only path.
        os.utime(path, ns=(old, old))
    rp.write_config()
    return rp
