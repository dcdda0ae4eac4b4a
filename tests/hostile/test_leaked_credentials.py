"""Credentials that an endpoint or a config would have put on display.

Attack → answer:

- a gateway that quotes the ``Authorization`` header in its 401 body, with a key of a
  shape no secrets detector knows → the key's value is replaced by ``[$VARIABLE]`` in the
  terminal, ``summary.md``, ``junit.xml``, ``report.html``, ``results.json``, ``runs show``
  and the results store itself (not one byte of the key in any file of the project);
- ``base_url: http://user:password@host/v1`` → shown and stored as ``http://***@host/v1``,
  in errors and in the provider identity a run records;
- an ``sk-`` key in an endpoint error → masked in the store's error column too, not only
  where outputs are shown.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures_eval import build_project
from tests.hostile._measure import LLMOPS
from tests.openai_server import FakeOpenAI, Reply

KEY_ENV = "LLMOPS_GATEWAY_KEY"
KEY = "gw7Hq2xZ9pL4mN8vR1tY6"  # no detector knows this shape
PASSWORD = "pa55-w0rd-Kx81"
SK_KEY = "sk-proj-Zx81Lq0Pw7Mn4Vb2Rt6Yu9Ia3So5De1Fg"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv(KEY_ENV, KEY)
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LLMOPS, "--project", str(root), *args],
                          capture_output=True, text=True, timeout=120)


def _every_byte_under(root: Path) -> bytes:
    """Every file llmops wrote (``llmops.yaml`` is the user's own)."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*"))
                    if p.is_file() and p.name != "llmops.yaml")


def _eval_all_formats(root: Path) -> subprocess.CompletedProcess[str]:
    return _run(root, "eval", "qa", "--prompt", "qa@v1", "--format", "md,json,junit,html",
                "--json", str(root / "out.json"))


def test_a_key_quoted_back_by_a_gateway_is_never_written(
    gateway: FakeOpenAI, tmp_path: Path
) -> None:
    gateway.script(*[Reply.error(401, f"rejected header 'Authorization: Bearer {KEY}'")] * 4)
    config = gateway.provider_config(api_key_env=KEY_ENV, max_retries=0)
    root = build_project(tmp_path / "p", config, n_cases=4)
    res = _eval_all_formats(root)
    assert res.returncode == 3, res.stderr
    assert "rejected header" in res.stderr + res.stdout
    shown = _run(root, "runs", "show", json.loads((root / "out.json").read_text())["run_id"])
    for text in (res.stdout, res.stderr, shown.stdout, shown.stderr):
        assert KEY not in text
    assert f"[${KEY_ENV}]" in res.stderr + res.stdout
    assert KEY.encode() not in _every_byte_under(root)  # reports, results.json, the store


def test_credentials_in_base_url_are_never_written(gateway: FakeOpenAI, tmp_path: Path) -> None:
    gateway.script(*[Reply.error(400, "bad request")] * 4)
    url = gateway.base_url.replace("http://", f"http://admin:{PASSWORD}@")
    root = build_project(tmp_path / "p", gateway.provider_config(base_url=url, max_retries=0),
                         n_cases=4)
    res = _eval_all_formats(root)
    assert res.returncode == 3, res.stderr
    assert "http://***@127.0.0.1" in res.stderr + res.stdout
    assert PASSWORD not in res.stdout + res.stderr
    assert PASSWORD.encode() not in _every_byte_under(root)


def test_an_sk_key_in_an_endpoint_error_is_masked_in_the_store(
    gateway: FakeOpenAI, tmp_path: Path
) -> None:
    gateway.script(*[Reply.error(400, f"key {SK_KEY} has no access to this model")] * 4)
    root = build_project(tmp_path / "p", gateway.provider_config(max_retries=0), n_cases=4)
    res = _eval_all_formats(root)
    assert res.returncode == 3, res.stderr
    assert SK_KEY.encode() not in _every_byte_under(root)
    assert "has no access" in res.stderr + res.stdout
