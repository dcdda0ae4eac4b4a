"""The endpoint recipes in docs/providers.md, each run against the local test server.

For each ``# recipe:`` block the host is swapped for the test server's and every variable
the recipe names is set; the request must arrive at the recipe's path with its query and
headers, and carry the bearer key only when the recipe names a key variable.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from llmops.project import ProviderConfig
from llmops.providers import make_provider
from tests.openai_server import FakeOpenAI

DOC = Path(__file__).resolve().parents[1] / "docs" / "providers.md"
_BLOCK = re.compile(r"```yaml\n# recipe: ([\w-]+)\n(.*?)```", re.S)
_ENV_REF = re.compile(r"\$\{(\w+)\}")


def recipes() -> dict[str, dict[str, Any]]:
    found = {name: yaml.safe_load(body)["provider"] for name, body in _BLOCK.findall(
        DOC.read_text())}
    assert found, f"no recipes in {DOC}"
    return found


RECIPES = recipes()


def test_every_endpoint_the_docs_promise_has_a_recipe() -> None:
    assert {"azure-openai", "azure-openai-deployment", "vllm", "ollama", "litellm",
            "anthropic", "gemini"} <= set(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_reaches_the_endpoint_as_written(name: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = dict(RECIPES[name])
    url = urlsplit(recipe["base_url"])
    headers: dict[str, str] = dict(recipe.get("default_headers") or {})
    variables = {v for value in headers.values() for v in _ENV_REF.findall(value)}
    if recipe.get("api_key_env"):
        variables.add(recipe["api_key_env"])
    for var in variables:
        monkeypatch.setenv(var, f"value-of-{var.lower()}")
    with FakeOpenAI() as fake:
        recipe["base_url"] = f"http://127.0.0.1:{fake.port}{url.path}"
        provider = make_provider(ProviderConfig.model_validate(recipe), cache_path=None)

        async def ask() -> str:
            try:
                c = await provider.complete([{"role": "user", "content": "ping"}], {})
                return c.text
            finally:
                await provider.aclose()

        assert asyncio.run(ask()) == "ping"
        path, query, sent = fake.requests.paths[-1], fake.requests.queries[-1], \
            fake.requests.headers[-1]
    assert path == url.path.rstrip("/") + "/chat/completions"
    assert query == {k: str(v) for k, v in (recipe.get("default_query") or {}).items()}
    for header, value in headers.items():
        expected = _ENV_REF.sub(lambda m: f"value-of-{m.group(1).lower()}", value)
        assert sent[header.lower()] == expected
    if recipe.get("api_key_env"):
        assert sent["authorization"] == f"Bearer value-of-{recipe['api_key_env'].lower()}"
    else:
        assert "authorization" not in sent
    assert sent.get("content-type") == "application/json"


def test_an_unset_header_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.errors import ConfigError

    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    recipe = RECIPES["azure-openai-deployment"]
    with pytest.raises(ConfigError) as info:
        make_provider(ProviderConfig.model_validate(recipe), cache_path=None)
    assert info.value.exit_code == 2
    assert str(info.value) == (
        "default_headers.api-key: environment variable AZURE_OPENAI_API_KEY is not set")


def test_default_query_is_part_of_the_identity() -> None:
    base = {"kind": "openai", "base_url": "http://h/v1", "api_key_env": "", "model": "m"}
    plain = make_provider(ProviderConfig.model_validate(base), cache_path=None)
    versioned = make_provider(ProviderConfig.model_validate(
        {**base, "default_query": {"api-version": "2024-10-21"}}), cache_path=None)
    assert plain.identity == "openai:http://h/v1:m"
    assert versioned.identity == "openai:http://h/v1?api-version=2024-10-21:m"


def test_headers_and_query_only_for_kind_openai() -> None:
    with pytest.raises(ValueError, match="are for kind openai"):
        ProviderConfig.model_validate({"kind": "local", "default_headers": {"a": "b"}})
