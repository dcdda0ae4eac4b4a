"""Where the logs are: paths, directories, globs, ``-`` and fsspec URLs, as sources.

URLs are opened with fsspec (``s3://`` needs the ``s3`` extra, ``gs://`` the ``gcs``
extra, ``az://`` the ``adlfs`` package). Credentials come the standard way of each store
(for S3: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, instance
roles); an S3 endpoint other than AWS is taken from ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``. A directory or a URL prefix stands for every file under it, in
name order, except hidden files and files whose name starts with ``_`` (``_SUCCESS``,
``_metadata``). A problem with one input never stops the others: it is the source's
``error``.
"""

from __future__ import annotations

import glob
import io
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from llmops.guard.sources import GZIP_MAGIC, Source

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PARQUET_MAGIC = b"PAR1"
GLOB_CHARS = re.compile(r"[*?\[]")
URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")
EXTRA_OF = {
    "s3": "pip install 'llmops-prompts[s3]'", "s3a": "pip install 'llmops-prompts[s3]'",
    "gs": "pip install 'llmops-prompts[gcs]'", "gcs": "pip install 'llmops-prompts[gcs]'",
    "az": "pip install adlfs", "abfs": "pip install adlfs", "abfss": "pip install adlfs",
    "http": "pip install aiohttp", "https": "pip install aiohttp",
}  # fmt: skip
BLOCK_SIZE = 4 << 20  # bytes fetched per request when reading a remote file


def open_sources(paths: Iterable[str | Path]) -> list[Source]:
    """Every input file named by ``paths``, in order; directories and globs expanded."""
    out: list[Source] = []
    for raw in paths:
        given = str(raw)
        if given == "-":
            out.append(Source("-", kind="stream"))
        elif URL.match(given):
            out.extend(_url_sources(given))
        else:
            out.extend(_local_sources(given))
    return out


def _visible(name: str) -> bool:
    return not name.startswith((".", "_"))


def _local_sources(given: str) -> list[Source]:
    path = Path(given)
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and all(_visible(part) for part in p.relative_to(path).parts)
        )
        if not files:
            return [Source(given, error="is a directory with no log files in it")]
        return [_local_file(str(p)) for p in files]
    if not path.exists() and GLOB_CHARS.search(given):
        matches = sorted(m for m in glob.glob(given, recursive=True) if Path(m).is_file())
        if not matches:
            return [Source(given, error="no file matches this pattern")]
        return [_local_file(m) for m in matches]
    return [_local_file(given)]


def _local_file(path: str) -> Source:
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        source = Source(path, kind=_kind(head), size=os.path.getsize(path))
    except FileNotFoundError:
        return Source(path, error="file not found")
    except PermissionError:
        return Source(path, error="permission denied")
    except OSError as exc:
        return Source(path, error=f"cannot read: {exc.strerror or exc}")
    if source.kind == "parquet":
        _describe_parquet(source)
    return source


def _kind(head: bytes) -> str:
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head == ZSTD_MAGIC:
        return "zstd"
    if head == PARQUET_MAGIC:
        return "parquet"
    return "plain"


def _describe_parquet(source: Source) -> None:
    from llmops.guard.inputs.parquet import describe

    try:
        source.columns, source.row_groups = describe(source.path, source.remote)
    except ImportError:
        source.error = "reading Parquet needs pyarrow (pip install 'llmops-prompts[export]')"
    except Exception as exc:  # pyarrow's errors are many; each is this file's problem
        source.error = f"not a readable Parquet file: {_one_line(exc)}"


# --- URLs ----------------------------------------------------------------------------


def storage_options(protocol: str) -> dict[str, Any]:
    """Options fsspec does not take from the environment by itself."""
    if protocol in ("s3", "s3a"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        return {"endpoint_url": endpoint} if endpoint else {}
    return {}


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path inside it.

    Raises:
        ImportError: with the install command that brings the missing package.
    """
    protocol = URL.match(url).group(1).lower()  # type: ignore[union-attr]
    try:
        import fsspec
    except ImportError:
        raise ImportError(
            f"reading URLs needs fsspec ({EXTRA_OF.get(protocol, 'pip install fsspec')})"
        ) from None
    try:
        return fsspec.core.url_to_fs(url, **storage_options(protocol))  # type: ignore[no-any-return]
    except ImportError:
        hint = EXTRA_OF.get(protocol, "see fsspec's list of implementations")
        raise ImportError(
            f"reading {protocol}:// URLs needs a package that is missing ({hint})"
        ) from None
    except ValueError as exc:  # an unknown protocol
        raise ImportError(f"unsupported URL: {_one_line(exc)}") from None


def open_binary(
    path: str,
    remote: bool = False,
    block: int = BLOCK_SIZE,
    size: int | None = None,
    in_order: bool = False,
) -> BinaryIO:
    """Open a local file or a URL for reading bytes (seekable, unless ``in_order``).

    A URL is read ``block`` bytes per request (a byte range reads about its own size);
    an S3 object whose ``size`` is known is opened without asking for it again. A web
    server's file read ``in_order`` is one GET, read from start to end.
    """
    if not remote:
        return open(path, "rb", buffering=1 << 20)
    fs, inner = filesystem(path)
    if in_order and _web(path):  # a web server need not answer range requests
        return fs.open(inner, "rb", block_size=0)  # type: ignore[no-any-return]
    known = {"size": size} if size and path.startswith(("s3://", "s3a://")) else {}
    raw = fs.open(inner, "rb", block_size=block, cache_type="none", **known)
    return io.BufferedReader(raw, buffer_size=block)  # readline(limit), as a file has


def _web(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _url_sources(url: str) -> list[Source]:
    try:
        fs, inner = filesystem(url)
    except ImportError as exc:
        return [Source(url, error=str(exc))]
    protocol = URL.match(url).group(1).lower()  # type: ignore[union-attr]
    web = protocol in ("http", "https")  # '?' starts a query there, not a pattern
    try:
        if GLOB_CHARS.search(inner) and not web:
            names = sorted(fs.glob(inner))
            files = [n for n in names if fs.isfile(n)]
            if not files:
                return [Source(url, error="no object matches this pattern")]
        else:
            info = fs.info(inner)
            if info.get("type") == "directory" and not web:
                files = sorted(n for n in fs.find(inner) if _visible_under(n, inner))
                if not files:
                    return [Source(url, error="no objects under this prefix")]
            else:
                return [_url_file(fs, url, inner, info)]
    except Exception as exc:
        return [Source(url, error=describe_failure(exc))]
    return [_url_file(fs, _unstrip(fs, n, protocol), n, None) for n in files]


def _visible_under(name: str, prefix: str) -> bool:
    rest = name[len(prefix.rstrip("/")) :].strip("/")
    return all(_visible(part) for part in rest.split("/") if part)


def _unstrip(fs: Any, inner: str, protocol: str) -> str:
    if protocol in ("http", "https"):
        return inner
    return f"{protocol}://{inner}"


def _url_file(fs: Any, url: str, inner: str, info: dict[str, Any] | None) -> Source:
    try:
        info = info or fs.info(inner)
        with fs.open(inner, "rb", block_size=1 << 16) as f:
            head = f.read(4)
    except Exception as exc:
        return Source(url, error=describe_failure(exc))
    kind = _kind(head)
    size = int(info.get("size") or 0)
    if kind == "plain" and (_web(url) or not size):
        kind = "stream"  # a web server need not answer range requests: read it in order
    source = Source(url, kind=kind, size=size, remote=True)
    if kind == "parquet":
        _describe_parquet(source)
    return source


def describe_failure(exc: BaseException) -> str:
    """One line for a store's refusal: not found, access denied, or what it said."""
    if isinstance(exc, FileNotFoundError):
        return "not found (no such bucket, container or object)"
    if isinstance(exc, PermissionError):
        return f"access denied (the credentials were refused: {_one_line(exc)})"
    name = type(exc).__name__
    if "Credential" in name:
        return f"no credentials ({_one_line(exc)})"
    return f"cannot read: {_one_line(exc)}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"
