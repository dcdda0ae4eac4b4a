"""`llmops prompts`: list, show, render, check, lock and promote prompt versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops.cli._app import load, write_json

if TYPE_CHECKING:
    from llmops.prompts import PromptVersion, Registry

app = typer.Typer(
    help="Versioned prompts and RAG configs.",
    no_args_is_help=True,
)

JsonOption = Annotated[
    str | None, typer.Option("--json", metavar="PATH", help="Write JSON to PATH ('-' = stdout).")
]


def _registry() -> Registry:
    from llmops.prompts import load_registry

    return load_registry(load())


def _rel(registry: Registry, path: Path) -> str:
    try:
        return str(path.relative_to(registry.root))
    except ValueError:
        return str(path)


def _lock_state(version: PromptVersion) -> str:
    if version.edited:
        return "EDITED"
    return "locked" if version.locked else "-"


def _row(registry: Registry, version: PromptVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "kind": version.kind,
        "digest": version.digest,
        "labels": registry.labels_of(version),
        "locked": version.locked,
        "edited": version.edited,
        "path": _rel(registry, version.path),
        "description": version.description,
    }


def _table(headers: list[str], rows: list[list[str]]) -> str:
    # Plain aligned columns: cheap to import, and easy to grep in scripts.
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


@app.command("list")
def list_(json_path: JsonOption = None) -> None:
    """List versions with their digest, labels and lock state."""
    registry = _registry()
    versions = registry.all()
    if json_path is not None:
        write_json([_row(registry, v) for v in versions], json_path)
        return
    if not versions:
        typer.echo(f"no prompt versions under {_rel(registry, registry.prompts_dir)}/")
        return
    table = [
        [
            v.name,
            v.version,
            v.kind,
            v.short_digest,
            ",".join(registry.labels_of(v)) or "-",
            _lock_state(v),
        ]
        for v in versions
    ]
    typer.echo(_table(["NAME", "VERSION", "KIND", "DIGEST", "LABELS", "LOCK"], table))


def _show_json(registry: Registry, version: PromptVersion) -> dict[str, Any]:
    data = _row(registry, version)
    if version.kind == "prompt":
        data.update(
            variables=version.variables,
            params=version.params,
            messages=version.messages,
            rag=version.rag,
            rag_digest=version.rag_digest,
        )
    elif version.rag_config is not None:
        data["rag_config"] = version.rag_config.model_dump()
    return data


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@LABEL.")],
    json_path: JsonOption = None,
) -> None:
    """Show one version: its digest, labels, lock state and messages."""
    registry = _registry()
    version = registry.resolve(ref)
    if json_path is not None:
        write_json(_show_json(registry, version), json_path)
        return
    lock_text = {"-": "unlocked", "locked": "locked", "EDITED": "EDITED since it was locked"}
    fields = [
        ("digest", version.digest),
        ("file", _rel(registry, version.path)),
        ("labels", ", ".join(registry.labels_of(version)) or "-"),
        ("lock", lock_text[_lock_state(version)]),
        ("description", version.description or "-"),
    ]
    if version.kind == "prompt":
        fields.append(("variables", ", ".join(version.variables) or "-"))
        if version.rag is not None:
            target = registry.resolve(version.rag)
            fields.append(("rag", f"{version.rag} -> {target.ref} ({target.short_digest})"))
        fields.append(("params", json.dumps(version.params)))
    elif version.rag_config is not None:
        fields.extend(
            (k, v if isinstance(v, str) else json.dumps(v))
            for k, v in version.rag_config.model_dump().items()
        )
    typer.echo(f"{version.ref} ({version.kind})")
    typer.echo("\n".join(f"  {k + ':':<13}{v}" for k, v in fields))
    for message in version.messages:
        typer.echo(f"\n--- {message['role']}")
        typer.echo(message["content"], nl=not message["content"].endswith("\n"))


def _variables(var: list[str], vars_file: Path | None) -> dict[str, Any]:
    from llmops._yaml import read_text
    from llmops.errors import UserError

    values: dict[str, Any] = {}
    if vars_file is not None:
        text = read_text(vars_file, UserError)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"invalid JSON: {exc.msg}", file=vars_file, line=exc.lineno) from None
        if not isinstance(data, dict):
            raise UserError("expected a JSON object of variable values", file=vars_file, line=1)
        values.update(data)
    for item in var:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--var {item!r} is not KEY=VALUE", hint="e.g. --var question=Hi")
        values[key] = value
    return values


@app.command()
def render(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@LABEL.")],
    var: Annotated[
        list[str] | None,
        typer.Option("--var", metavar="KEY=VALUE", help="A variable (repeatable)."),
    ] = None,
    vars_file: Annotated[
        Path | None, typer.Option("--vars", metavar="FILE.json", help="Variables as a JSON object.")
    ] = None,
    json_path: JsonOption = None,
) -> None:
    """Render a version's messages exactly as an evaluation would."""
    from llmops.prompts import render_messages

    values = _variables(var or [], vars_file)
    registry = _registry()
    version = registry.resolve(ref)
    messages = render_messages(version, values)
    if json_path is not None:
        write_json(
            {
                "prompt": version.name,
                "version": version.version,
                "digest": version.digest,
                "params": version.params,
                "messages": messages,
            },
            json_path,
        )
        return
    for i, message in enumerate(messages):
        typer.echo(("\n" if i else "") + f"[{message['role']}]")
        typer.echo(message["content"], nl=not message["content"].endswith("\n"))


@app.command()
def check(
    json_path: JsonOption = None,
    full: Annotated[
        bool, typer.Option("--full", help="Also re-parse the templates of locked versions.")
    ] = False,
) -> None:
    """Check templates and the lock; exit 1 if a locked version changed."""
    from llmops.prompts import check as run_check
    from llmops.prompts import load_registry

    project = load()
    report = run_check(load_registry(project), full=full, project=project)
    if json_path is not None:
        write_json(report.to_json(), json_path)
    else:
        for edited in report.edited:
            typer.echo(
                f"{edited.path}: {edited.ref} is locked but was edited "
                "(restore it and make the change in a new version)"
            )
            typer.echo(edited.diff, nl=not edited.diff.endswith("\n"))
        for ref in report.deleted:
            typer.echo(f"{ref} is locked but its file was deleted (restore it, or `lock --prune`)")
        for ref in report.rag_moved:
            typer.echo(
                f"note: {ref}: its rag reference now resolves to another config "
                "(`llmops prompts lock` records the new digest)"
            )
        summary = (
            f"{report.n_versions} versions: {report.n_locked} locked, "
            f"{len(report.unlocked)} unlocked, {len(report.edited)} edited, "
            f"{len(report.deleted)} deleted"
        )
        typer.echo(("ok: " if report.ok else "FAILED: ") + summary)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def lock(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Versions to lock (default: every version).")
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Only forget locked versions whose file was deleted; lock nothing.",
        ),
    ] = False,
) -> None:
    """Record the digest of versions in prompts/llmops.lock."""
    from llmops.prompts import lock as run_lock

    registry = _registry()
    result = run_lock(registry, refs or None, prune=prune)
    for ref in result.added:
        typer.echo(f"locked {ref}")
    for ref in result.refreshed:
        typer.echo(f"refreshed {ref} (its rag reference resolves to a new config)")
    for ref in result.pruned:
        typer.echo(f"forgot {ref} (file deleted)")
    if prune and not result.changed:
        typer.echo("nothing to prune: every locked version still has its file")
    elif not result.changed:
        typer.echo("lock file already up to date")


@app.command()
def promote(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to promote.")],
    label: Annotated[
        str, typer.Option("--label", "-l", help="The label to move, e.g. production.")
    ],
) -> None:
    """Point a label at a version (and lock it); also how you roll back."""
    from llmops.prompts import promote as run_promote

    result = run_promote(_registry(), ref, label)
    if result.newly_locked:
        typer.echo(f"locked {result.name}@{result.version}")
    if result.previous == result.version:
        typer.echo(f"{result.name}: {label} already points to {result.version}")
    else:
        typer.echo(f"{result.name}: {label} {result.previous or '(new)'} -> {result.version}")


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="The prompt's name.")],
    from_: Annotated[
        str | None,
        typer.Option("--from", metavar="VERSION",
                     help="Version or label to copy (default: the newest version)."),
    ] = None,
) -> None:
    """Start the next version of a prompt (unlocked, ready to edit and evaluate)."""
    from llmops.prompts.new import new_version

    registry = _registry()
    path = new_version(registry, name, from_)
    typer.echo(f"wrote {_rel(registry, path)}: edit it, then `llmops eval` compares it "
               "with production")
