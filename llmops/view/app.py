"""The Starlette application behind ``llmops view``: read-only pages and ``/api/`` JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from llmops.errors import LlmopsError, UserError
from llmops.view import compare, indexes, pages, trends

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.store import ResultsStore

# Nothing but the package's own files: an output carrying a script cannot run it.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
STATIC = Path(__file__).parent / "static"


class NoStore(Exception):
    """The project has no results store yet."""


class Viewer:
    """The pages of one project, each answering as HTML or (under ``/api/``) JSON."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.env = Environment(loader=PackageLoader("llmops.view", "templates"),
                               autoescape=select_autoescape(default=True))
        self.env.filters["num"] = _num
        self.env.filters["pct"] = _pct
        self.env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=1, default=str)

    @contextmanager
    def store(self) -> Iterator[ResultsStore]:
        if not self.project.store.exists():
            raise NoStore
        from llmops.store import open_store

        with open_store(self.project.store, readonly=True) as store:
            if not store.has_schema():  # a PostgreSQL database no `llmops eval` wrote to yet
                raise NoStore
            yield store

    # --- pages -----------------------------------------------------------------------

    def runs(self, request: Request) -> dict[str, Any]:
        q = request.query_params
        filters = pages.RunFilters(
            suite=q.get("suite") or None, prompt=q.get("prompt") or None,
            since=q.get("since") or None, until=q.get("until") or None,
            page=_int(q.get("page"), 1))
        label = q.get("label") or None
        with self.store() as store:
            if label:
                filters.run_ids = self._label_runs(store, label, filters.prompt)
            data = pages.runs_page(store, filters)
            data["prompts"] = trends.prompt_names(store)
        data["filters"] = {"suite": filters.suite or "", "prompt": filters.prompt or "",
                           "label": label or "", "since": filters.since or "",
                           "until": filters.until or ""}
        data["suites"] = sorted(self.project.config.suites)
        return data

    def _label_runs(self, store: ResultsStore, label: str, prompt: str | None) -> set[str]:
        """Runs that evaluated the version ``label`` points at (of ``prompt``, or any)."""
        from llmops.prompts import load_registry

        registry = load_registry(self.project)
        run_ids: set[str] = set()
        for name in [prompt] if prompt else registry.names():
            try:
                version = registry.resolve(f"{name}@{label}")
            except LlmopsError:
                continue
            run_ids |= {v.run_id for v, _, _ in store.variants_with_digest(version.digest)}
        return run_ids

    def run(self, request: Request) -> dict[str, Any]:
        q = request.query_params
        filters = pages.CaseFilters(scorer=q.get("scorer") or None,
                                    status=q.get("status") or None, q=q.get("q") or None,
                                    page=_int(q.get("page"), 1))
        with self.store() as store:
            data = pages.run_page(store, request.path_params["run_id"], filters)
        data["filters"] = {"scorer": filters.scorer or "", "status": filters.status or "",
                           "q": filters.q or ""}
        return data

    def compare(self, request: Request) -> dict[str, Any]:
        q = request.query_params
        page = _int(q.get("page"), 1)
        if q.get("run_a") and q.get("run_b"):
            with self.store() as store:
                data = compare.compare_runs(self.project, store, q["run_a"], q["run_b"],
                                            prompt=q.get("prompt") or None, page=page)
        elif q.get("a") and q.get("b"):
            with self.store() as store:
                data = compare.compare_versions(self.project, store, q["a"], q["b"],
                                                run=q.get("run") or None,
                                                suite=q.get("suite") or None, page=page)
        else:
            raise UserError("say what to compare: ?a=NAME@V1&b=NAME@V2[&run=RUN] "
                            "or ?run_a=RUN&run_b=RUN")
        data["query"] = {k: v for k, v in q.items() if k != "page"}
        return data

    def history(self, request: Request) -> dict[str, Any]:
        name = request.path_params.get("name") or request.query_params.get("prompt") or ""
        suite = request.query_params.get("suite") or None
        with self.store() as store:
            names = trends.prompt_names(store)
            if not name and names:
                name = names[0]
            data = trends.history_page(store, name, suite=suite) if name else {
                "name": "", "points": [], "chart_svg": "", "runs": [], "scorers": []}
        data["prompts"] = names
        return data

    def guard(self, request: Request) -> dict[str, Any]:
        with self.store() as store:
            return trends.guard_page(store)

    def indexes(self, request: Request) -> dict[str, Any]:
        return indexes.index_page(self.project)

    # --- plumbing --------------------------------------------------------------------

    def render(self, template: str, data: dict[str, Any], status: int = 200) -> HTMLResponse:
        html = self.env.get_template(template).render(
            **data, store_where=self.project.store.where)
        return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP})

    def endpoint(self, build: Callable[[Request], dict[str, Any]], template: str,
                 *, api: bool) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            try:
                data = build(request)
            except NoStore:
                return self._fail(api, 200, "no_store", self._no_store_text())
            except LlmopsError as exc:
                status = 404 if isinstance(exc, UserError) and exc.message.startswith(
                    "no run ") else 400
                text = exc.message + (f" ({exc.hint})" if exc.hint else "")
                return self._fail(api, status, "not_found" if status == 404 else "bad_request",
                                  text)
            if api:
                return JSONResponse(data)
            return self.render(template, data)

        return handle

    def _no_store_text(self) -> str:
        return (f"No results store yet at {self.project.store.where}: run `llmops eval` "
                "in this project to create one, then reload this page.")

    def _fail(self, api: bool, status: int, kind: str, message: str) -> Response:
        if api:
            return JSONResponse({"error": kind, "message": message}, status_code=status)
        return self.render("message.html", {"kind": kind, "message": message}, status)


def create_app(project: Project) -> Starlette:
    """The viewer of ``project``'s results store (read-only)."""
    viewer = Viewer(project)
    table = [("/", viewer.runs, "runs.html", "/api/runs"),
             ("/runs/{run_id}", viewer.run, "run.html", "/api/runs/{run_id}"),
             ("/compare", viewer.compare, "compare.html", "/api/compare"),
             ("/history", viewer.history, "history.html", "/api/history"),
             ("/history/{name}", viewer.history, "history.html", "/api/history/{name}"),
             ("/guard", viewer.guard, "guard.html", "/api/guard"),
             ("/indexes", viewer.indexes, "indexes.html", "/api/indexes")]
    routes: list[Any] = []
    for path, build, template, api_path in table:
        routes.append(Route(path, viewer.endpoint(build, template, api=False)))
        routes.append(Route(api_path, viewer.endpoint(build, template, api=True)))
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))

    async def not_found(request: Request, exc: Exception) -> Response:
        api = request.url.path.startswith("/api/")
        return viewer._fail(api, 404, "not_found", f"no page at {request.url.path}")

    async def server_error(request: Request, exc: Exception) -> Response:
        api = request.url.path.startswith("/api/")
        return viewer._fail(api, 500, "error", f"{type(exc).__name__}: the page failed")

    return Starlette(routes=routes, exception_handlers={404: not_found, 500: server_error})


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _num(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"
