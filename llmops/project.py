"""The project: ``llmops.yaml`` loaded into typed models, and where the project lives."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from llmops._yaml import load_yaml, pydantic_error
from llmops.errors import ConfigError
from llmops.severity import Severity

if TYPE_CHECKING:
    from llmops.store import StoreLocation

CONFIG_NAME = "llmops.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RateLimitConfig(_Strict):
    """Caps on the request rate, known ahead of time, and how long to wait out 429s."""

    rpm: float | None = Field(default=None, gt=0)  # requests per minute
    tpm: float | None = Field(default=None, gt=0)  # tokens per minute (prompt + max_tokens)
    max_wait_s: float = Field(default=300, gt=0)  # answering only 429s this long stops the run


class ProviderConfig(_Strict):
    """A model endpoint, an application target or recorded answers: the model under test,
    or the judge."""

    kind: Literal["local", "openai", "python", "recorded"] = "local"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    model: str | None = None
    model_path: str | None = None  # local only: a GGUF file; default: the bundled SmolLM2
    target: str | None = None  # python only: "package.module:function"
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    timeout_s: float = Field(default=60, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    params: dict[str, Any] = Field(default_factory=dict)
    default_headers: dict[str, str] = Field(default_factory=dict)  # openai only; ${VAR} expands
    default_query: dict[str, str] = Field(default_factory=dict)  # openai only
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    cache: bool | None = None  # default: on for endpoints, off for python targets

    @model_validator(mode="after")
    def _kind_fields(self) -> ProviderConfig:
        if self.kind == "python" and not self.target:
            raise ValueError("kind python needs `target: package.module:function`")
        if self.target and self.kind != "python":
            raise ValueError(f"`target` is for kind python, not {self.kind}")
        if (self.default_headers or self.default_query) and self.kind != "openai":
            raise ValueError("`default_headers` and `default_query` are for kind openai")
        return self


def _not_recorded(judge: ProviderConfig | None) -> ProviderConfig | None:
    if judge is not None and judge.kind == "recorded":
        raise ValueError("a judge cannot be kind recorded: it has to answer new questions")
    return judge


class EmbedderConfig(_Strict):
    """The embedding model used by the similarity scorer and RAG indexes."""

    model: str = "all-MiniLM-L6-v2"
    kind: Literal["local", "openai"] = "local"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    batch_size: int = Field(default=64, ge=1)
    # kind openai only: the same connection settings as a provider's
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    timeout_s: float = Field(default=60, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    default_headers: dict[str, str] = Field(default_factory=dict)
    default_query: dict[str, str] = Field(default_factory=dict)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)

    def endpoint(self) -> ProviderConfig:
        """The ``kind: openai`` provider settings this embedder's endpoint is called with."""
        return ProviderConfig(
            kind="openai",
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            model=self.model,
            max_concurrency=self.max_concurrency,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            default_headers=self.default_headers,
            default_query=self.default_query,
            rate_limit=self.rate_limit,
        )


class GateConfig(_Strict):
    """When a suite's run fails."""

    min_mean: dict[str, float] = Field(default_factory=dict)
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    max_regression: float | None = Field(default=None, ge=0)


class SuiteConfig(_Strict):
    """One prompt evaluated on one eval set with a list of scorers."""

    prompt: str
    evalset: str
    scorers: list[dict[str, Any]] = Field(default_factory=list)
    gate: GateConfig = Field(default_factory=GateConfig)
    query: str | None = None  # RAG: template of the retrieval query; default the question
    provider: ProviderConfig | None = None  # default: the project's provider
    judge: ProviderConfig | None = None  # default: the project's judge

    _judge_kind = field_validator("judge")(_not_recorded)

    @field_validator("scorers", mode="before")
    @classmethod
    def _scorer_entries(cls, value: Any) -> Any:
        # Accept `- exact` as shorthand for `- exact: {}`.
        if isinstance(value, list):
            return [{item: {}} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("scorers")
    @classmethod
    def _one_key_each(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for item in value:
            if len(item) != 1:
                raise ValueError("each scorer is one {name: options} mapping")
            options = next(iter(item.values()))
            if options is not None and not isinstance(options, dict):
                raise ValueError("scorer options must be a mapping")
        return value


class PolicyConfig(_Strict):
    """User-defined banned terms and patterns for the policy detector."""

    banned_terms: list[str] = Field(default_factory=list)
    banned_patterns: list[str] = Field(default_factory=list)
    severity: Severity = "medium"


class GuardConfig(_Strict):
    """The ``guard:`` section: detector settings shared by scan and the guardrail scorer."""

    checks: list[str] | None = None
    fail_on: Severity = "low"
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    roles: dict[str, list[str]] | None = None  # detector category -> roles it scans
    json_schema: dict[str, Any] | None = None
    # a log scan where a larger share of records gave no text to scan is not "ok"
    max_without_text: float = Field(default=0.05, ge=0, le=1)


class ProjectConfig(_Strict):
    """Everything in ``llmops.yaml``."""

    provider: ProviderConfig = Field(default_factory=ProviderConfig)
    judge: ProviderConfig | None = None
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)

    _judge_kind = field_validator("judge")(_not_recorded)
    store: str = ".llmops/results.db"
    prompts_dir: str = "prompts"
    reports_dir: str = "reports"
    plugins: list[str] = Field(default_factory=list)
    suites: dict[str, SuiteConfig] = Field(default_factory=dict)
    guard: GuardConfig = Field(default_factory=GuardConfig)


class Project:
    """A loaded project: its root directory and its config."""

    def __init__(self, root: Path, config: ProjectConfig, config_path: Path | None) -> None:
        self.root = root
        self.config = config
        self.config_path = config_path

    @property
    def judge(self) -> ProviderConfig:
        """The rubric judge's endpoint.

        When not set: the provider under test if it is a model (``openai``, ``local``);
        an application target or recorded answers cannot judge, so then the embedded
        model (the default provider).
        """
        return judge_for(self.config.judge, self.config.provider)

    def provider_for(self, suite: SuiteConfig) -> ProviderConfig:
        """What answers ``suite``'s cases: its own ``provider:``, else the project's."""
        return suite.provider or self.config.provider

    def judge_for(self, suite: SuiteConfig) -> ProviderConfig:
        """``suite``'s rubric judge: its ``judge:``, the project's, else by its provider."""
        return judge_for(suite.judge or self.config.judge, self.provider_for(suite))

    @property
    def prompts_dir(self) -> Path:
        return self.root / self.config.prompts_dir

    @property
    def store(self) -> StoreLocation:
        """The results store: ``LLMOPS_STORE``, else ``store:`` (a path or a URL)."""
        from llmops.store import locate

        return locate(self.config.store, self.root)

    @property
    def reports_dir(self) -> Path:
        return self.path(self.config.reports_dir)

    @property
    def state_dir(self) -> Path:
        """Where caches, the Chroma store and manifests live (``.llmops/``)."""
        return self.root / ".llmops"

    def path(self, relative: str | Path) -> Path:
        """Resolve a path from the config against the project root."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    def suite(self, name: str) -> SuiteConfig:
        try:
            return self.config.suites[name]
        except KeyError:
            known = ", ".join(sorted(self.config.suites)) or "none"
            raise ConfigError(
                f"unknown suite {name!r}", file=self.config_path, hint=f"known suites: {known}"
            ) from None


def judge_for(judge: ProviderConfig | None, provider: ProviderConfig) -> ProviderConfig:
    """The judge ``judge:`` names, else ``provider`` if it is a model, else the default."""
    if judge is not None:
        return judge
    return provider if provider.kind in ("openai", "local") else ProviderConfig()


def find_root(start: Path | None = None) -> Path | None:
    """The nearest directory at or above ``start`` holding ``llmops.yaml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    return None


def load_project(path: Project | str | Path | None = None) -> Project:
    """Load the project at ``path`` (a directory or a config file), else cwd or a parent.

    ``LLMOPS_PROJECT`` in the environment stands in for ``path`` when it is not given; a
    loaded :class:`Project` is returned as it is (every function of the API takes either).
    """
    if isinstance(path, Project):
        return path
    if path is None and os.environ.get("LLMOPS_PROJECT"):
        path = os.environ["LLMOPS_PROJECT"]
    if path is not None:
        p = Path(path)
        config_path = p if p.suffix in (".yaml", ".yml") else p / CONFIG_NAME
        if not config_path.is_file():
            raise ConfigError("no llmops.yaml here", file=config_path, hint="run `llmops init`")
    else:
        root = find_root()
        if root is None:
            raise ConfigError(
                f"no {CONFIG_NAME} in {Path.cwd()} or its parents",
                hint="run `llmops init` or pass --project DIR",
            )
        config_path = root / CONFIG_NAME
    doc = load_yaml(config_path, ConfigError)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", file=config_path, line=1)
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(doc, exc, ConfigError) from None
    from llmops._credentials import key_variables, remember_keys

    remember_keys(key_variables(config.model_dump()))  # their values are masked everywhere
    return Project(config_path.parent.resolve(), config, config_path)


def as_project(project: Project | str | Path | None) -> Project:
    """``project`` itself when loaded, else the project at that path (or the cwd's)."""
    return load_project(project)
