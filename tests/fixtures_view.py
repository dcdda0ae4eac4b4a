"""A running ``llmops view`` over a store filled by two real ``evaluate()`` runs.

The project is evaluated against the fake OpenAI server (the real openai SDK); one case's
question carries a ``<script>`` tag, an ``onerror`` attribute and an e-mail address, so
the outputs that echo it test escaping and masking. Three scorers: ``exact``,
``guardrails`` (the detectors that fire are a score's detail) and a ``rubric`` judge on a
second fake server whose reason names an e-mail address (masked when shown).
"""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.fixtures_eval import build_project
from tests.fixtures_servers import TEST_KEY, TEST_KEY_ENV
from tests.openai_server import FakeOpenAI

HOSTILE = ('<script>window.__pwned = 1</script><img src="x" '
           'onerror="window.__pwned = 2" id="evil"> write to alice@example.com')


@dataclass
class Viewer:
    """The server's base URL and the project it serves."""

    url: str
    root: Path
    run_ids: list[str]


JUDGE_REPLY = '{"score": 4, "reason": "restates the question; ask carol@example.com"}'
SCORERS = [{"exact": {}}, {"guardrails": {"checks": ["pii.email"]}},
           {"rubric": {"criteria": "Restates the question"}}]


def _cases() -> list[dict[str, object]]:
    cases: list[dict[str, object]] = [
        {"id": f"case-{i:02d}", "vars": {"question": f"question number {i}"},
         "expected": f"question number {i}"} for i in range(11)
    ]
    cases.append({"id": "case-hostile", "vars": {"question": HOSTILE}, "expected": HOSTILE})
    return cases


def start_viewer(root: Path) -> tuple[str, object, threading.Thread]:
    """Start the viewer of ``root`` on a free port in a thread: (url, server, thread)."""
    import uvicorn

    from llmops.project import load_project
    from llmops.view.app import create_app
    from llmops.view.serve import bind

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(load_project(root)),
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(url + "/static/view.css", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return url, server, thread


def _commit(root: Path) -> None:
    git = ["git", "-c", "user.name=llmops", "-c", "user.email=dev@llmops.invalid",
           "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "project"]):
        subprocess.run([*git, *args], cwd=root, check=True, capture_output=True)


@pytest.fixture(scope="session")
def viewer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Viewer]:
    """The viewer of a project with two runs of qa (v1 baseline, v2 candidate)."""
    from llmops.eval.run import evaluate

    with (pytest.MonkeyPatch.context() as mp, FakeOpenAI(api_key=TEST_KEY) as fake,
          FakeOpenAI(api_key=TEST_KEY) as judge):
        mp.setenv(TEST_KEY_ENV, TEST_KEY)  # only while evaluating: the viewer needs no key
        fake.api_key_env = judge.api_key_env = TEST_KEY_ENV
        root = build_project(tmp_path_factory.mktemp("view") / "proj", fake.provider_config(),
                             cases=_cases(), labels={"production": "v1", "staging": "v2"},
                             scorers=SCORERS, gate={"max_regression": 0.1})
        config = yaml.safe_load((root / "llmops.yaml").read_text())
        config["judge"] = judge.provider_config()
        (root / "llmops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        judge.script(*[JUDGE_REPLY] * 4 * len(_cases()))  # 2 variants x 2 runs, at most
        _commit(root)  # the runs record the commit they ran at
        run_ids = [evaluate(root, "qa", formats=[]).run_id for _ in range(2)]
    url, server, thread = start_viewer(root)
    try:
        yield Viewer(url=url, root=root, run_ids=run_ids)
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)
