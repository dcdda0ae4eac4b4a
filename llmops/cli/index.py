"""`llmops index`: build, check and sync the Chroma index of a RAG config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops.cli._app import load, write_json

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.prompts import PromptVersion

app = typer.Typer(
    help="RAG indexes: build, check freshness, sync incrementally.", no_args_is_help=True
)

RefArg = Annotated[str, typer.Argument(metavar="NAME@REF", help="A `kind: rag` version.")]
JsonOption = Annotated[
    str | None, typer.Option("--json", metavar="PATH", help="Write JSON to PATH ('-' = stdout).")
]


def _resolve(ref: str) -> tuple[Project, PromptVersion]:
    from llmops.prompts import load_registry

    project = load()
    return project, load_registry(project).resolve(ref)


def _say(line: str) -> None:
    typer.echo(line, err=True)


@app.command()
def check(
    ref: RefArg,
    json_path: JsonOption = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Also reconcile with Chroma's real contents.")
    ] = False,
) -> None:
    """Does the index still match its sources? Exit 1 when stale."""
    from llmops.rag import check_index

    project, version = _resolve(ref)
    report = check_index(project, version, verify=verify)
    if json_path is not None:
        write_json(report.to_json(), json_path)
    if json_path != "-":
        _print_check(report.to_json())
    if not report.fresh:
        raise typer.Exit(1)


def _print_check(r: dict[str, Any]) -> None:
    state = "fresh" if r["fresh"] else "STALE"
    typer.echo(f"{r['ref']}: {state} (collection {r['collection']})")
    typer.echo(
        f"  sources: {r['up_to_date']} up to date, {len(r['new'])} new,"
        f" {len(r['changed'])} changed, {len(r['deleted'])} deleted;"
        f" staleness {r['staleness_ratio']:.2%} of sources,"
        f" {r['staleness_ratio_chunks']:.2%} of chunks"
    )
    c = r["chunks"]
    typer.echo(
        f"  chunks: {c['indexed']} indexed, {c['to_embed']} to embed, {c['to_delete']} to delete"
    )
    if r["oldest_indexed_at"]:
        typer.echo(f"  oldest indexed at {r['oldest_indexed_at']}; last sync {r['last_synced_at']}")
    for reason in r["reasons"]:
        typer.echo(f"  - {reason}")
    for label in ("new", "changed", "deleted"):
        for path in r[label][:10]:
            typer.echo(f"    {label}: {path}")
        if len(r[label]) > 10:
            typer.echo(f"    ... and {len(r[label]) - 10} more {label}")
    for item in r["unreadable"]:
        typer.echo(f"  skipped {item['path']}: {item['problem']}")


@app.command()
def sync(ref: RefArg, json_path: JsonOption = None) -> None:
    """Embed only new chunks, delete stale ones; switch to a new config's collection when done."""
    _run(ref, json_path, full=False)


@app.command()
def build(ref: RefArg, json_path: JsonOption = None) -> None:
    """Like sync, but re-read every source and sweep the whole collection."""
    _run(ref, json_path, full=True)


def _run(ref: str, json_path: str | None, *, full: bool) -> None:
    from llmops.rag import sync_index

    project, version = _resolve(ref)
    result = sync_index(project, version, full=full, progress=_say).to_json()
    if json_path is not None:
        write_json(result, json_path)
    for problem in result["problems"]:
        _say(f"warning: {problem['path']}: {problem['problem']} (skipped)")
    for skipped in result["skipped"]:
        _say(f"warning: {skipped['path']}: {skipped['reason']} (skipped)")
    if json_path == "-":
        return
    typer.echo(
        f"{result['ref']}: {result['mode']} done in {result['seconds']:.1f}s"
        f" (collection {result['collection']}{', now active' if result['switched'] else ''})"
    )
    typer.echo(
        f"  {result['sources_total']} sources ({result['sources_read']} read,"
        f" {result['sources_removed']} removed); chunks: {result['chunks_embedded']} embedded,"
        f" {result['chunks_reused']} reused, {result['chunks_deleted']} deleted,"
        f" {result['chunks_total']} in the index"
    )
