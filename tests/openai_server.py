"""An OpenAI-compatible HTTP server for tests and benchmarks, with fault injection.

Standard library only, so it also runs on its own::

    python tests/openai_server.py --port 8081 --latency-ms 50 [--rate-500 0.3 ...]

Serves ``POST .../chat/completions``, ``POST .../embeddings`` (under ``/v1`` or any other
prefix, such as Azure's ``/openai/deployments/NAME`` or Gemini's ``/v1beta/openai``) and
``GET /v1/models``, plus ``GET /_stats``, ``POST /_reset`` and ``POST /_config`` (JSON:
latency_ms, rate_limit_rps, rate_limit_burst and any :class:`Faults` field) for a server
running in another process. Every request's path, query and headers are recorded.

Answers:
- By default the answer is the last user message, verbatim (as JSON ``{"answer": ...}``
  when a JSON ``response_format`` is asked for). ``max_tokens`` truncates it.
- :meth:`FakeOpenAI.script` queues specific replies (text, raw body, status and headers,
  delay, dropped connection), used first-in first-out by chat requests.
- ``logprobs``/``top_logprobs`` are answered: one entry per token, where a token is a
  word, a digit, a run of spaces or a punctuation mark; a digit's alternatives are the
  other digits, nearer ones more likely.
- Embeddings are deterministic: the normalised sum of one pseudo-random vector per
  lower-cased word, so texts sharing words are similar. ``encoding_format`` base64 or float.

Faults (:class:`Faults`) are drawn per request from a hash of the seed, the path, the
request's messages and how many times those messages were seen before, so a given
request sequence fails the same way on every run, whatever the thread timing. A
``trickle`` fault sends the body one byte every ``trickle_s`` seconds.

Rate limit (:meth:`FakeOpenAI.set_rate_limit`): a token bucket of ``rps`` requests per
second holding at most ``burst``, as OpenAI enforces it. Every answer carries
``x-ratelimit-limit-requests`` (per minute), ``x-ratelimit-remaining-requests`` and
``x-ratelimit-reset-requests`` (time until the bucket is full again); a request that finds
the bucket empty gets a 429 with ``retry-after-ms`` and ``retry-after`` (time until one
request is allowed).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import json
import math
import random
import re
import signal
import struct
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, fields, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_TOKEN = re.compile(r"\d|[^\W\d_]+|\s+|[^\w\s]|_")
_WORD = re.compile(r"\w+")


@dataclass
class Reply:
    """One scripted answer to a chat request.

    Attributes:
        text: the assistant's content (default: the usual echo).
        status: the HTTP status; non-200 sends an OpenAI-shaped error unless ``body`` is set.
        headers: extra response headers (e.g. ``{"Retry-After": "1"}``).
        body: the raw response body, sent as is (with content-type application/json).
        delay_s: extra seconds before answering.
        drop: close the connection without any response.
        top_for: for answer tokens equal to a key, the top alternatives to report.
        finish_reason: as reported.
        null_content: send ``content: null`` (with ``finish_reason``), as a filtered answer.
        trickle_s: send the body one byte every this many seconds.
    """

    text: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay_s: float = 0.0
    drop: bool = False
    top_for: dict[str, dict[str, float]] = field(default_factory=dict)
    finish_reason: str = "stop"
    null_content: bool = False
    trickle_s: float = 0.0

    @classmethod
    def filtered(cls) -> Reply:
        """A 200 whose answer was withheld by a content filter."""
        return cls(null_content=True, finish_reason="content_filter")

    @classmethod
    def trickle(cls, seconds_per_byte: float, text: str | None = None) -> Reply:
        return cls(text=text, trickle_s=seconds_per_byte)

    @classmethod
    def error(cls, status: int = 500, message: str = "internal error") -> Reply:
        return cls(status=status, text=message)

    @classmethod
    def rate_limited(cls, retry_after_s: float = 1.0, *, header: str = "Retry-After") -> Reply:
        """A 429; ``header`` ``retry-after-ms`` sends milliseconds instead of seconds."""
        value = str(int(retry_after_s * 1000)) if header.endswith("-ms") else f"{retry_after_s:g}"
        return cls(status=429, text="rate limit reached", headers={header: value})

    @classmethod
    def malformed(cls) -> Reply:
        return cls(body=b'{"id": "chatcmpl-broken", "choices": [{"message": {"content": "tr')

    @classmethod
    def dropped(cls) -> Reply:
        return cls(drop=True)

    @classmethod
    def slow(cls, seconds: float, text: str | None = None) -> Reply:
        return cls(text=text, delay_s=seconds)


@dataclass
class Faults:
    """Probabilities of injected faults on POST requests (at most one per request)."""

    rate_500: float = 0.0
    rate_429: float = 0.0
    retry_after_s: float = 1.0
    rate_slow: float = 0.0
    slow_s: float = 5.0
    rate_malformed: float = 0.0
    rate_drop: float = 0.0
    rate_trickle: float = 0.0
    trickle_s: float = 0.5
    seed: int = 0

    def pick(self, key: str) -> str | None:
        digest = hashlib.sha256(f"{self.seed}|{key}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        for kind, rate in (("drop", self.rate_drop), ("500", self.rate_500),
                           ("429", self.rate_429), ("malformed", self.rate_malformed),
                           ("slow", self.rate_slow), ("trickle", self.rate_trickle)):
            if u < rate:
                return kind
            u -= rate
        return None


def openai_duration(seconds: float) -> str:
    """A duration as OpenAI writes it in ``x-ratelimit-reset-*``: ``25ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.3g}s"


class TokenBucket:
    """``rate`` units per second, at most ``capacity`` saved up; refilled continuously."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.level = self.capacity
        self.at = time.monotonic()

    def take(self, cost: float, now: float) -> bool:
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now
        if self.level >= min(cost, self.capacity):
            self.level -= cost
            return True
        return False

    def headers(self, kind: str) -> dict[str, str]:
        level = max(0.0, self.level)
        return {
            f"x-ratelimit-limit-{kind}": str(int(self.capacity)),
            f"x-ratelimit-remaining-{kind}": str(int(level)),
            f"x-ratelimit-reset-{kind}": openai_duration((self.capacity - level) / self.rate),
        }

    def wait_for(self, cost: float) -> float:
        return max(0.0, (min(cost, self.capacity) - self.level) / self.rate)


class RequestLog:
    """What the server has seen; every counter is updated under one lock."""

    def __init__(self, keep_bodies: int = 10_000) -> None:
        self.lock = threading.Lock()
        self.total = 0
        self.by_path: Counter[str] = Counter()
        self.by_prompt: Counter[str] = Counter()  # chat requests per last user message
        self.by_messages: Counter[str] = Counter()  # per exact messages (path-qualified)
        self.faults: Counter[str] = Counter()
        self.bodies: deque[dict[str, Any]] = deque(maxlen=keep_bodies)
        self.headers: deque[dict[str, str]] = deque(maxlen=keep_bodies)  # lower-cased names
        self.queries: deque[dict[str, str]] = deque(maxlen=keep_bodies)
        self.paths: deque[str] = deque(maxlen=keep_bodies)  # as requested, without the query
        self.rate_limited = 0  # requests refused by the token bucket
        # time.monotonic() of the first request served: one clock for every process on
        # the machine, so a bench can tell how long a client took to send it
        self.first_at: float | None = None
        self.last_at: float | None = None  # and of the latest one
        self.in_flight = 0
        self.max_in_flight = 0

    def __len__(self) -> int:
        return self.total

    def clear(self) -> None:
        """Forget everything seen (requests still in flight stay counted as such)."""
        with self.lock:
            self.total = 0
            self.rate_limited = 0
            self.first_at = self.last_at = None
            self.max_in_flight = self.in_flight
            for c in (self.by_path, self.by_prompt, self.by_messages, self.faults):
                c.clear()
            for d in (self.bodies, self.headers, self.queries, self.paths):
                d.clear()

    def count(self, path: str | None = None) -> int:
        """Requests seen, all or for one path (e.g. ``/v1/chat/completions``)."""
        with self.lock:
            return self.total if path is None else self.by_path[path]

    def prompt_count(self, text: str) -> int:
        """Chat requests whose last user message was ``text``."""
        with self.lock:
            return self.by_prompt[text]

    def repeated_prompts(self) -> dict[str, int]:
        """Prompts asked more than once, with their counts."""
        with self.lock:
            return {k: v for k, v in self.by_prompt.items() if v > 1}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": self.total,
                "by_path": dict(self.by_path),
                "distinct_prompts": len(self.by_prompt),
                "repeated_prompts": sum(1 for v in self.by_prompt.values() if v > 1),
                "faults": dict(self.faults),
                "rate_limited": self.rate_limited,
                "first_at": self.first_at,
                "last_at": self.last_at,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
            }


def last_user_text(messages: Any) -> str:
    """The text of the last user message ('' if none)."""
    if not isinstance(messages, list):
        return ""
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def tokenize(text: str) -> list[str]:
    """Words, single digits, runs of spaces and punctuation marks: the fake's tokens."""
    return _TOKEN.findall(text)


@functools.lru_cache(maxsize=65536)
def _word_vector(word: str, dim: int) -> tuple[float, ...]:
    rng = random.Random(hashlib.sha256(word.encode()).digest())
    return tuple(rng.gauss(0.0, 1.0) for _ in range(dim))


def embed_text(text: str, dim: int = 384) -> list[float]:
    """A deterministic unit vector; texts that share words have similar vectors."""
    words = _WORD.findall(text.lower()) or [""]
    vec = [0.0] * dim
    for w in words:
        for i, x in enumerate(_word_vector(w, dim)):
            vec[i] += x
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return [x / norm for x in vec]


def _alternatives(token: str, n: int, lp: float) -> list[tuple[str, float]]:
    if token.isdigit() and len(token) == 1:
        d = int(token)
        others = sorted((abs(k - d), k) for k in range(10) if k != d)
        alts = [(str(k), lp - 2.0 - dist) for dist, k in others]
    else:
        alts = [(f"{token}~{i}", lp - 4.0 - i) for i in range(1, 20)]
    return [(token, lp), *alts][:n]


def _logprobs(tokens: list[str], n: int, top_for: dict[str, dict[str, float]]) -> dict[str, Any]:
    content = []
    for tok in tokens:
        given = top_for.get(tok)
        if given:
            lp = given.get(tok, max(given.values()))
            ranked = sorted({tok: lp, **given}.items(), key=lambda kv: -kv[1])[:n]
        else:
            lp = -0.05
            ranked = _alternatives(tok, n, lp)
        content.append({
            "token": tok, "logprob": lp, "bytes": list(tok.encode()),
            "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())}
                             for t, v in ranked],
        })
    return {"content": content, "refusal": None}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    extra_headers: dict[str, str] | None = None  # rate-limit headers of this request
    trickle_s: float = 0.0

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**(self.extra_headers or {}), **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.trickle_s <= 0:
            self.wfile.write(body)
            return
        self.wfile.flush()
        for i in range(len(body)):
            if self.server.fake._stopping.wait(self.trickle_s):
                self.close_connection = True
                return
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind = ("rate_limit_error" if status == 429 else
                "server_error" if status >= 500 else "invalid_request_error")
        self._send(status, {"error": {"message": message, "type": kind, "code": None}}, headers)

    def do_GET(self) -> None:
        fake = self.server.fake
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [
                {"id": fake.model, "object": "model", "created": 0, "owned_by": "llmops-tests"}]})
        elif self.path == "/_stats":
            self._send(200, fake.requests.snapshot())
        else:
            self._error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fake = self.server.fake
        self.extra_headers, self.trickle_s = None, 0.0
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        if path in ("/_reset", "/_config"):
            self._control(path, raw)
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "request body is not JSON")
            return
        log = fake.requests
        with log.lock:
            log.paths.append(path)
            log.queries.append(dict(parse_qsl(url.query)))
            log.headers.append({k.lower(): v for k, v in self.headers.items()})
        if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            with log.lock:
                log.total += 1
                log.by_path[path] += 1
            self._error(401, "Incorrect API key provided")
            return
        if not path.endswith(("/chat/completions", "/embeddings")):
            self._error(404, f"no route POST {self.path}")
            return
        fake.serve(self, path, body)

    def _control(self, path: str, raw: bytes) -> None:
        fake = self.server.fake
        if path == "/_reset":
            fake.reset()
        else:
            conf = json.loads(raw or b"{}")
            if "latency_ms" in conf:
                fake.set_latency(float(conf.pop("latency_ms")))
            if "rate_limit_rps" in conf:
                fake.set_rate_limit(conf.pop("rate_limit_rps"), conf.pop("rate_limit_burst", None))
            fake.set_faults(**conf)
        self._send(200, {"ok": True})


class FakeOpenAI:
    """The server: start it, point the SDK at :attr:`base_url`, script and inspect it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_ms: float = 0.0,
        api_key: str | None = None,
        model: str = "fake-model",
        embedding_dim: int = 384,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.api_key_env = ""  # the env var holding api_key, when a fixture set one
        self.model = model
        self.embedding_dim = embedding_dim
        self.latency_s = latency_ms / 1000
        self.faults = Faults()
        self.requests = RequestLog()
        self.bucket: TokenBucket | None = None
        self._queue: deque[Reply] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def provider_config(self, **overrides: Any) -> dict[str, Any]:
        """A ``provider:`` mapping for llmops.yaml that points at this server."""
        conf = {"kind": "openai", "base_url": self.base_url, "api_key_env": self.api_key_env,
                "model": self.model, "timeout_s": 10, "max_retries": 4}
        conf.update(overrides)
        return conf

    # -- control -----------------------------------------------------------------
    def script(self, *replies: Reply | str) -> None:
        """Queue replies for the next chat requests (a string is a text reply)."""
        with self.requests.lock:
            self._queue.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    def pending(self) -> int:
        """Scripted replies not used yet."""
        with self.requests.lock:
            return len(self._queue)

    def set_latency(self, ms: float) -> None:
        self.latency_s = ms / 1000

    def set_faults(self, **kwargs: Any) -> None:
        """Replace the fault settings, e.g. ``set_faults(rate_500=0.3)``; no args = none."""
        known = {f.name for f in fields(Faults)}
        unknown = set(kwargs) - known
        if unknown:
            raise TypeError(f"unknown fault settings: {sorted(unknown)}")
        self.faults = replace(Faults(), **kwargs)

    def set_rate_limit(self, rps: float | None, burst: float | None = None) -> None:
        """Allow ``rps`` requests a second, ``burst`` (default ``rps``) at once; None: no limit."""
        with self.requests.lock:
            self.bucket = TokenBucket(rps, burst or rps) if rps else None

    def reset(self) -> None:
        """Forget counters, scripted replies, faults, latency and the rate limit."""
        with self.requests.lock:
            self._queue.clear()
            self.bucket = None
        self.requests.clear()
        self.faults = Faults()
        self.latency_s = 0.0

    # -- serving -----------------------------------------------------------------
    def serve(self, h: _Handler, path: str, body: dict[str, Any]) -> None:
        log = self.requests
        chat = path.endswith("/chat/completions")
        key = json.dumps(body.get("messages") if chat else body.get("input"), sort_keys=True)
        with log.lock:
            log.last_at = time.monotonic()
            if log.first_at is None:
                log.first_at = log.last_at
            log.total += 1
            log.by_path[path] += 1
            allowed = self._take_from_bucket(h)
            if chat:
                log.by_prompt[last_user_text(body.get("messages"))] += 1
            seen = log.by_messages[f"{path}|{key}"]
            log.by_messages[f"{path}|{key}"] += 1
            log.bodies.append(body)
        if not allowed:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                h._error(429, "Rate limit reached for requests")
            return
        with log.lock:
            reply = self._queue.popleft() if chat and self._queue else None
            fault = self.faults.pick(f"{path}|{key}|{seen}") if reply is None else None
            if fault:
                log.faults[fault] += 1
            log.in_flight += 1
            log.max_in_flight = max(log.max_in_flight, log.in_flight)
        try:
            self._respond(h, chat, body, reply, fault)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        finally:
            with log.lock:
                log.in_flight -= 1

    def _take_from_bucket(self, h: _Handler) -> bool:
        """One request from the token bucket (under the log's lock); sets the rate headers."""
        if self.bucket is None:
            return True
        allowed = self.bucket.take(1.0, time.monotonic())
        h.extra_headers = self.bucket.headers("requests")
        if not allowed:
            self.requests.rate_limited += 1
            wait = self.bucket.wait_for(1.0)
            h.extra_headers["retry-after-ms"] = str(math.ceil(wait * 1000))
            h.extra_headers["retry-after"] = str(max(1, math.ceil(wait)))
        return allowed

    def _respond(self, h: _Handler, chat: bool, body: dict[str, Any], reply: Reply | None,
                 fault: str | None) -> None:
        delay = self.latency_s + (reply.delay_s if reply else 0.0)
        if fault == "slow":
            delay += self.faults.slow_s
        if delay > 0 and self._stopping.wait(delay):
            h.close_connection = True
            return
        if fault == "drop" or (reply is not None and reply.drop):
            h.close_connection = True  # the socket closes with nothing written
            return
        if fault == "trickle":
            h.trickle_s = self.faults.trickle_s
        elif reply is not None and reply.trickle_s:
            h.trickle_s = reply.trickle_s
        if fault == "500":
            h._error(500, "injected server error")
        elif fault == "429":
            s = self.faults.retry_after_s
            h._error(429, "rate limit reached", {"Retry-After": f"{s:g}",
                                                 "retry-after-ms": str(int(s * 1000))})
        elif fault == "malformed":
            h._send(200, Reply.malformed().body or b"")
        elif reply is not None and reply.body is not None:
            h._send(reply.status, reply.body, reply.headers)
        elif reply is not None and reply.status != 200:
            h._error(reply.status, reply.text or "error", reply.headers)
        elif chat:
            status, payload = self._chat(body, reply)
            h._send(status, payload, reply.headers if reply else None)
        else:
            h._send(*self._embeddings(body))

    def _chat(self, body: dict[str, Any], reply: Reply | None) -> tuple[int, dict[str, Any]]:
        messages = body.get("messages")
        if not body.get("model") or not isinstance(messages, list):
            return 400, {"error": {"message": "model and messages are required"}}
        prompt = last_user_text(messages)
        if reply is not None and reply.text is not None:
            text = reply.text
        else:
            fmt = body.get("response_format") or {}
            json_mode = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
            text = json.dumps({"answer": prompt}) if json_mode else prompt
        tokens = tokenize(text)
        finish = reply.finish_reason if reply else "stop"
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
            text = "".join(tokens)
        lp = None
        if body.get("logprobs"):
            n_top = int(body.get("top_logprobs") or 0)
            lp = _logprobs(tokens, n_top, reply.top_for if reply else {})
        prompt_tokens = sum(len(tokenize(str(m.get("content") or ""))) for m in messages
                            if isinstance(m, dict))
        n = self.requests.total
        content: str | None = None if reply is not None and reply.null_content else text
        return 200, {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "logprobs": lp, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                      "total_tokens": prompt_tokens + len(tokens)},
        }

    def _embeddings(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(t, str) for t in inputs):
            return 400, {"error": {"message": "input must be a string or a list of strings"}}
        dim = int(body.get("dimensions") or self.embedding_dim)
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(inputs):
            vec = embed_text(text, dim)
            emb: Any = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        n_tokens = sum(len(tokenize(t)) for t in inputs)
        return 200, {"object": "list", "data": data, "model": body.get("model") or self.model,
                     "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="OpenAI-compatible fake server with faults")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--api-key", default=None, help="require this bearer key")
    p.add_argument("--rate-limit-rps", type=float, default=None,
                   help="answer 429 beyond this many requests per second (a token bucket)")
    p.add_argument("--rate-limit-burst", type=float, default=None,
                   help="requests the bucket holds (default: one second's worth)")
    for f in fields(Faults):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    args = p.parse_args(argv)
    fake = FakeOpenAI(args.host, args.port, latency_ms=args.latency_ms, api_key=args.api_key)
    fake.set_faults(**{f.name: getattr(args, f.name) for f in fields(Faults)})
    fake.set_rate_limit(args.rate_limit_rps, args.rate_limit_burst)
    fake.start()
    print(f"listening on {fake.base_url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
